"""The dialog engine through its ports alone (bot/dialogs/ports.py): a fake chat and the real storage,
no PTB Application. A dialog's result — what its persist hook returned on the final step — reaches
the receiver its starter registered, and the receiver's reply is what the user sees."""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from bot.dialogs.engine import CALLBACK_PREFIX, Dialog, DialogEngine
from bot.dialogs.ports import DialogChat, DialogResult, DialogRun, DialogSave, Extra, Reply
from bot.dialogs.steps import Choice, Review, Text
from bot.i18n import Translator

USER = 4242


@dataclass
class FakeBot:
    sent: list[str] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(100))

    async def send_message(self, chat_id: int, text: str, **kw: Any) -> SimpleNamespace:
        self.sent.append(text)
        return SimpleNamespace(message_id=next(self.ids), chat_id=chat_id)

    async def edit_message_reply_markup(self, *a: Any, **kw: Any) -> None:
        return None


@dataclass
class FakeChat:
    """A private chat with one user, as the engine sees an update."""

    services: Any
    bot: FakeBot
    text: str = ""
    query: Any = None
    replies: list[Reply] = field(default_factory=list)
    user_id: int = USER
    chat_id: int = USER

    async def lang(self) -> str:
        return "en"

    async def take_dialog(self) -> Any:
        return await self.services.storage.get_dialog(self.user_id, self.chat_id)

    async def allowed(self, roles: Any) -> bool:
        return True

    async def reply(self, template: str, ctx: Any) -> None:
        self.replies.append(Reply(template, dict(ctx)))


async def _load(run: DialogRun) -> Extra:
    return {"patent": SimpleNamespace(title="A patent")}  # what the borrowed step templates show


async def _persist(save: DialogSave) -> str | None:
    # the result travels as persist's return value, not through the dialog's ctx
    return f"{save.ctx['subject']}:{save.answers['note']}:{save.answers['tx_kind']}" if save.final else None


TOY = Dialog("toy", (Text("note", max_len=50, min_len=2, template="dlg_rnote_note"),
                     Choice("tx_kind", options=("transfer", "license"), template="dlg_rnote_note"),
                     Review("review", template="dlg_rnote_note")), load=_load, persist=_persist)


async def test_the_result_reaches_the_receiver_its_starter_registered(storage):
    await storage.load_actor(USER, USER, "Tester", None, "en", "zh")
    services = SimpleNamespace(storage=storage, i18n=Translator(), catalog=None, outbox=None,
                               clock=lambda: dt.datetime.now(dt.timezone.utc))
    engine = DialogEngine()
    engine.register(TOY)
    received: list[DialogResult] = []

    async def receiver(chat: DialogChat, result: DialogResult) -> Reply:
        received.append(result)
        return Reply("dialog_done", {"value": result.value})

    engine.hand_results("toy", receiver)
    bot = FakeBot()
    chat = FakeChat(services, bot)
    await engine.start(chat, "toy", {"subject": "a7"})
    assert (await storage.get_dialog(USER, USER)).step == "note"

    chat.text = "  fine work  "
    assert await engine.on_text(chat)
    snap = await storage.get_dialog(USER, USER)
    assert snap.step == "tx_kind" and snap.data["answers"] == {"note": "fine work"}

    chat.text = "license"  # typed instead of tapped
    assert await engine.on_text(chat)
    snap = await storage.get_dialog(USER, USER)
    assert snap.step == "review" and not received

    async def press(data: str) -> None:
        answered = []

        async def answer(text: Any = None, **kw: Any) -> None:
            answered.append(text)

        message = SimpleNamespace(message_id=snap.message_id)
        chat.query = SimpleNamespace(data=data, message=message, answer=answer,
                                     edit_message_reply_markup=bot.edit_message_reply_markup)
        await engine.on_callback(chat)
        chat.query = None

    await press(f"{CALLBACK_PREFIX}:{snap.version}:x")
    assert [r.value for r in received] == ["a7:fine work:license"]
    assert received[0].ctx["subject"] == "a7" and received[0].user_id == USER
    assert chat.replies == [Reply("dialog_done", {"value": "a7:fine work:license"})]
    assert await storage.get_dialog(USER, USER) is None


async def test_without_a_receiver_the_dialogs_own_finish_speaks(storage):
    await storage.load_actor(USER, USER, "Tester", None, "en", "zh")
    services = SimpleNamespace(storage=storage, i18n=Translator(), catalog=None, outbox=None,
                               clock=lambda: dt.datetime.now(dt.timezone.utc))

    async def finish(result: DialogResult) -> Reply:
        return Reply("dialog_cancelled", {"note": result.answers["note"]})

    engine = DialogEngine()
    engine.register(Dialog("one", (Text("note", template="dlg_rnote_note"),), load=_load, finish=finish))
    chat = FakeChat(services, FakeBot())
    await engine.start(chat, "one", {})
    chat.text = "ok"
    await engine.on_text(chat)
    assert chat.replies == [Reply("dialog_cancelled", {"note": "ok"})]


async def test_an_answer_that_meets_a_concurrent_change_is_applied_again_not_dropped(storage):
    """Another update of the user (handled by another process) moves the dialog between this answer's
    read and its save: the save is stale, and the answer is applied again to the state now stored."""
    await storage.load_actor(USER, USER, "Tester", None, "en", "zh")
    services = SimpleNamespace(storage=storage, i18n=Translator(), catalog=None, outbox=None,
                               clock=lambda: dt.datetime.now(dt.timezone.utc))
    engine = DialogEngine()
    engine.register(TOY)
    chat = FakeChat(services, FakeBot())
    await engine.start(chat, "toy", {"subject": "a7"})
    before = await storage.get_dialog(USER, USER)
    reads = 0

    async def take_dialog() -> Any:
        nonlocal reads
        reads += 1
        if reads == 1:  # this update read the state; then the concurrent change commits
            await storage.save_dialog(before, "note", {**before.data, "ctx": {"subject": "a7", "touched": True}})
            return before
        return await storage.get_dialog(USER, USER)

    chat.take_dialog = take_dialog
    chat.text = "typed place"
    assert await engine.on_text(chat)
    snap = await storage.get_dialog(USER, USER)
    assert reads == 2  # read again after the stale save
    assert snap.step == "tx_kind" and snap.data["answers"] == {"note": "typed place"}
    assert snap.data["ctx"].get("touched")  # the concurrent change is kept too
