"""What the guided dialogs need from the rest of the program, and what their hooks receive.

A leaf: at run time it imports nothing from the project, so the engine and the declared dialogs
depend on these shapes, never on the handlers, the PTB context or the ``Services`` dataclass that
satisfy them (``bot/handlers/dialog_chat.py`` adapts one Telegram update to ``DialogChat``;
``bot.context.Services`` is a ``DialogServices``).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from telegram import Bot, CallbackQuery

    from bot.i18n import Translator
    from bot.models import Role
    from bot.search.catalog import PatentCatalog
    from bot.storage import DialogSnapshot, Storage

#: a dialog's answers so far: step name (or a step's typed-text field) → value
Answers = dict[str, Any]
#: what a dialog's ``load`` hook returns for templates and dynamic options (the patent, search hits…)
Extra = Mapping[str, Any]


class DialogServices(Protocol):
    """The services a dialog and its hooks may use."""

    @property
    def storage(self) -> Storage: ...

    @property
    def i18n(self) -> Translator: ...

    @property
    def catalog(self) -> PatentCatalog: ...

    @property
    def outbox(self) -> Any:
        """The push sender while the Application runs, else None (hooks wake it after a commit)."""

    @property
    def scheduler(self) -> Any:
        """The reminder scheduler while the Application runs, else None (woken after a new deadline)."""

    @property
    def clock(self) -> Callable[[], dt.datetime]: ...


class DialogChat(Protocol):
    """One update as the dialog engine sees it: who acts in which chat, the button pressed or the text
    typed, and the few things the engine asks of the handler layer."""

    @property
    def services(self) -> DialogServices: ...

    @property
    def bot(self) -> Bot: ...

    @property
    def user_id(self) -> int: ...

    @property
    def chat_id(self) -> int: ...

    @property
    def query(self) -> CallbackQuery | None: ...

    @property
    def text(self) -> str: ...

    async def lang(self) -> str: ...

    async def take_dialog(self) -> DialogSnapshot | None:
        """The sender's dialog state in this chat (the copy loaded with the user, once)."""

    async def allowed(self, roles: Sequence[Role]) -> bool:
        """The sender holds one of ``roles``; otherwise the sender has been told why not."""

    async def reply(self, template: str, ctx: Mapping[str, Any]) -> None: ...


class Reply(NamedTuple):
    """What to say: a template and its context."""

    template: str
    ctx: Mapping[str, Any]


@dataclass(frozen=True)
class DialogRun:
    """One user's run of a dialog, as its hooks see it."""

    dialog: str
    services: DialogServices
    user_id: int
    ctx: Mapping[str, Any]  # what the starter gave (the patent, the event…)
    answers: Answers


@dataclass(frozen=True)
class DialogSave(DialogRun):
    """``persist``'s argument: write the answers inside the dialog state's own transaction."""

    session: AsyncSession
    final: bool  # the submitting transition: the domain write and the end of the dialog commit together


@dataclass(frozen=True)
class DialogResult(DialogRun):
    """A finished dialog, handed to ``finish`` or to the receiver its starter registered."""

    value: Any  # what ``persist`` returned on the final transition (e.g. the new event), else None


# hooks a Dialog declares
Load = Callable[[DialogRun], Awaitable[Extra]]
Persist = Callable[[DialogSave], Awaitable[Any]]
Finish = Callable[[DialogResult], Awaitable[Reply]]
Cancelled = Callable[[DialogRun], Awaitable[Mapping[str, Any]]]  # the cancel template's context
# the handler side that starts a dialog and wants its result (registered with DialogEngine.hand_results)
Receiver = Callable[[DialogChat, DialogResult], Awaitable[Reply]]

# hooks a Step declares
Condition = Callable[[Answers], bool]  # the step applies only if this holds
Validator = Callable[[str], str]  # typed text → the stored value, or raise steps.Invalid
Options = Callable[[Extra], Sequence[str]]  # option values that depend on the loaded context
OptionLabel = Callable[[str, Extra], str]  # an option value's button label from the loaded context
