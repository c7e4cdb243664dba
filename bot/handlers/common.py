"""Helpers shared by the thin handlers: who is the user, in which language, and how to answer."""
from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext
from bot.i18n import fit_message
from bot.models import User

log = logging.getLogger(__name__)


async def current_user(update: Update, context: BotContext) -> User | None:
    """The DB user behind this update (created or refreshed once per update)."""
    if context._user is not None:
        return context._user
    tg = update.effective_user
    if tg is None:
        return None
    s = context.services
    context._user = await s.storage.touch_user(tg.id, tg.first_name or "", tg.username, tg.language_code,
                                               s.settings.default_language)
    return context._user


async def user_lang(update: Update, context: BotContext) -> str:
    user = await current_user(update, context)
    return user.language if user else context.services.i18n.default


async def reply(update: Update, context: BotContext, template: str, /, *,
                keyboard: InlineKeyboardMarkup | None = None, **ctx: Any) -> Message | None:
    """Render ``template`` in the user's language and send it to the chat of this update."""
    lang = await user_lang(update, context)
    text = fit_message(context.i18n.render(lang, template, **ctx))
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard,
                                          link_preview_options={"is_disabled": True})


async def on_error(update: object, context: BotContext) -> None:
    """Last line of defence: log, tell the user politely, never crash the handler loop."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        lang = context._user.language if context._user else context.services.i18n.default
        if update.callback_query is not None:
            await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, context.i18n.render(lang, "error"),
                                       parse_mode=ParseMode.HTML)
    except TelegramError:
        log.warning("could not tell the user about the error", exc_info=True)
    # the update failed: later handler groups (e.g. search after a dialog step) must not run on it
    raise ApplicationHandlerStop


async def require(update: Update, context: BotContext, *roles) -> bool:
    """Role check inside the handler: True if the user holds one of ``roles``; otherwise a refusal."""
    from bot.roles import roles_of

    user = await current_user(update, context)
    if user is not None:
        held = await roles_of(context.services.storage, context.services.settings.admin_ids, user.id)
        if held.has(*roles):
            return True
    if update.callback_query is not None:
        lang = await user_lang(update, context)
        try:
            await update.callback_query.answer(context.i18n.render(lang, "role_required_toast"), show_alert=True)
        except TelegramError:
            pass
        return False
    await reply(update, context, "role_required", roles=[r.value for r in roles])
    return False
