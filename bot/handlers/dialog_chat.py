"""One Telegram update as the dialog engine sees it (``bot.dialogs.ports.DialogChat``), and how a
handler starts a dialog."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from telegram import Bot, CallbackQuery, Update

from bot.context import BotContext, Services
from bot.handlers.common import reply, require, take_dialog, user_lang

if TYPE_CHECKING:
    from bot.dialogs.ports import Answers
    from bot.models import Role
    from bot.storage import DialogSnapshot


class TelegramDialogChat:
    __slots__ = ("update", "context")

    def __init__(self, update: Update, context: BotContext):
        self.update = update
        self.context = context

    @property
    def services(self) -> Services:
        return self.context.services

    @property
    def bot(self) -> Bot:
        return self.context.bot

    @property
    def user_id(self) -> int:
        return self.update.effective_user.id

    @property
    def chat_id(self) -> int:
        return self.update.effective_chat.id

    @property
    def query(self) -> CallbackQuery | None:
        return self.update.callback_query

    @property
    def text(self) -> str:
        return self.update.effective_message.text or ""

    async def lang(self) -> str:
        return await user_lang(self.update, self.context)

    async def take_dialog(self) -> DialogSnapshot | None:
        return await take_dialog(self.update, self.context)

    async def allowed(self, roles: Sequence[Role]) -> bool:
        return await require(self.update, self.context, *roles)

    async def reply(self, template: str, ctx: Mapping[str, Any]) -> None:
        await reply(self.update, self.context, template, **ctx)


async def start_dialog(update: Update, context: BotContext, name: str, ctx: Mapping[str, Any],
                       answers: Answers | None = None, *, at: str | None = None) -> None:
    """Start dialog ``name`` for the sender in this chat (replacing any other), at its first open step
    or at ``at``; ``ctx`` is what its hooks and templates are about (the patent, the event…)."""
    await context.services.dialogs.start(TelegramDialogChat(update, context), name, ctx, answers, at=at)
