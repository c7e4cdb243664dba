"""/privacy (also shown once, with the first /start), /mydata and /deleteme: a user's own personal data."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import button_handlers, current_user, reply, show, user_lang
from bot.models import User
from bot.services.privacy import erase_me, send_my_data
from bot.telegram.callbacks import ConfirmDeleteMe


async def first_notice(context: BotContext, user: User | None) -> bool:
    """True once per user: the first /start carries the short privacy notice (recorded as shown)."""
    if user is None or user.privacy_notice_at is not None:
        return False
    now = context.services.clock()
    if not await context.services.storage.mark_privacy_notice(user.id, now):
        return False
    user.privacy_notice_at = now
    return True


async def privacy_command(update: Update, context: BotContext) -> None:
    await reply(update, context, "privacy", days=context.services.settings.retention_days)


async def mydata_command(update: Update, context: BotContext) -> None:
    user = await current_user(update, context)
    if user is None:
        return
    await send_my_data(context.services, user.id)
    await reply(update, context, "mydata_queued")


async def deleteme_command(update: Update, context: BotContext) -> None:
    lang = await user_lang(update, context)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(context.i18n.label(lang, "btn_deleteme_confirm"),
                                                           callback_data=ConfirmDeleteMe().pack())]])
    await reply(update, context, "deleteme_confirm", keyboard=keyboard)


async def deleteme_confirmed(update: Update, context: BotContext) -> None:
    """Only ever the presser's own data: the button carries no user id."""
    user = await current_user(update, context)
    await update.callback_query.answer()
    if user is None:
        return
    await erase_me(context.services, user.id)
    context._grants = ()  # the menu check at the end of this update sees the roles gone
    user.first_name, user.username, user.phone = "", None, None
    await show(update, context, "deleteme_done")


def register(app: Application) -> None:
    app.add_handler(CommandHandler("privacy", privacy_command))
    app.add_handler(CommandHandler("mydata", mydata_command))
    app.add_handler(CommandHandler("deleteme", deleteme_command))
    app.add_handlers(button_handlers({ConfirmDeleteMe: deleteme_confirmed}))
