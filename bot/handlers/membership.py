"""The user blocks or unblocks the bot (Telegram's ``my_chat_member`` update in a private chat)."""
from __future__ import annotations

from telegram import ChatMember, Update
from telegram.ext import Application, ChatMemberHandler

from bot.context import BotContext


async def private_membership(update: Update, context: BotContext) -> None:
    """Blocked: out of every audience at once (instead of at the next failed push). Unblocked: back,
    with the subscriptions they had. No reply either way — a blocked chat can't be written to, and an
    unblock is not a conversation."""
    change = update.my_chat_member
    if change is None or change.chat.type != "private" or change.from_user is None:
        return
    blocked = change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT)
    await context.services.storage.set_blocked(change.from_user.id, blocked)


def register(app: Application) -> None:
    app.add_handler(ChatMemberHandler(private_membership, ChatMemberHandler.MY_CHAT_MEMBER))
