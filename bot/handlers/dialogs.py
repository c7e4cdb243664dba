"""Routes button presses and typed text to the dialog engine; /cancel; and receives the results of the
dialogs whose end is the handlers' business (an event's admin card, a review decision), so the
declared dialogs never call up into the handlers."""
from __future__ import annotations

from telegram import Update
from telegram.ext import (Application, ApplicationHandlerStop, CallbackQueryHandler, CommandHandler,
                          MessageHandler, filters)

from bot.context import BotContext
from bot.dialogs.engine import CALLBACK_PREFIX
from bot.dialogs.event import Published
from bot.dialogs.ports import DialogChat, DialogResult, Receiver, Reply
from bot.handlers.common import reply, via_this_bot
from bot.handlers.dialog_chat import TelegramDialogChat
from bot.handlers.events import after_edit, after_publish
from bot.handlers.expert_requests import rated
from bot.handlers.review import apply_review
from bot.services.events import EditOutcome


async def dialog_button(update: Update, context: BotContext) -> None:
    await context.services.dialogs.on_callback(TelegramDialogChat(update, context))


async def dialog_text(update: Update, context: BotContext) -> None:
    """Runs before every other text handler: text belongs to the active dialog if there is one."""
    if via_this_bot(update, context):
        raise ApplicationHandlerStop  # a card chosen from inline mode answers no dialog step
    if await context.services.dialogs.on_text(TelegramDialogChat(update, context)):
        raise ApplicationHandlerStop


async def cancel(update: Update, context: BotContext) -> None:
    said = await context.services.dialogs.cancel(TelegramDialogChat(update, context))
    template, ctx = said if said is not None else ("nothing_to_cancel", {})
    await reply(update, context, template, **ctx)


def _telegram(chat: DialogChat) -> TelegramDialogChat:
    if not isinstance(chat, TelegramDialogChat):  # the handlers run the engine only through this adapter
        raise TypeError(f"not a Telegram update: {chat!r}")
    return chat


async def event_published(chat: DialogChat, result: DialogResult) -> Reply:
    published: Published = result.value
    tg = _telegram(chat)
    return Reply(*await after_publish(tg.update, tg.context, published.event_id, published.recipients))


async def event_edited(chat: DialogChat, result: DialogResult) -> Reply:
    outcome: EditOutcome = result.value
    tg = _telegram(chat)
    edited = {"done": outcome.done, "told": outcome.told, "promoted": outcome.promoted}
    return Reply(*await after_edit(tg.update, tg.context, result.ctx["event_id"], result.answers.get("ee_field", ""),
                                   edited))


async def note_written(chat: DialogChat, result: DialogResult) -> Reply:
    tg = _telegram(chat)
    return Reply(*await apply_review(tg.update, tg.context, result.ctx["assessment_id"], approve=False,
                                     note=result.answers["note"]))


#: dialog name → what receives its result
RECEIVERS: dict[str, Receiver] = {"event": event_published, "event_edit": event_edited, "rnote": note_written,
                                  "rate": rated}


def register(app: Application) -> None:
    engine = app.bot_data["services"].dialogs
    for dialog, receiver in RECEIVERS.items():
        engine.hand_results(dialog, receiver)
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, dialog_text),
                    group=-1)
    app.add_handler(CommandHandler("cancel", cancel))
    app.add_handler(CallbackQueryHandler(dialog_button, pattern=rf"^{CALLBACK_PREFIX}:"))
