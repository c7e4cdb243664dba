"""Routes button presses and typed text to the dialog engine; /cancel."""
from __future__ import annotations

from telegram import Update
from telegram.ext import (Application, ApplicationHandlerStop, CallbackQueryHandler, CommandHandler,
                          MessageHandler, filters)

from bot.context import BotContext
from bot.dialogs.engine import CALLBACK_PREFIX
from bot.handlers.common import reply, via_this_bot


async def dialog_button(update: Update, context: BotContext) -> None:
    await context.services.dialogs.on_callback(update, context)


async def dialog_text(update: Update, context: BotContext) -> None:
    """Runs before every other text handler: text belongs to the active dialog if there is one."""
    if via_this_bot(update, context):
        raise ApplicationHandlerStop  # a card chosen from inline mode answers no dialog step
    if await context.services.dialogs.on_text(update, context):
        raise ApplicationHandlerStop


async def cancel(update: Update, context: BotContext) -> None:
    said = await context.services.dialogs.cancel(update, context)
    template, ctx = said if said is not None else ("nothing_to_cancel", {})
    await reply(update, context, template, **ctx)


def register(app: Application) -> None:
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, dialog_text),
                    group=-1)
    app.add_handler(CommandHandler("cancel", cancel))
    app.add_handler(CallbackQueryHandler(dialog_button, pattern=rf"^{CALLBACK_PREFIX}:"))
