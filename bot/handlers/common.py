"""Helpers shared by the thin handlers: who is the user, in which language, and how to answer."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, CallbackQueryHandler

from bot.context import BotContext
from bot.i18n import fit_message
from bot.models import User
from bot.telegram.callbacks import Callback

if TYPE_CHECKING:
    from bot.services.roles import RoleSet
    from bot.storage import DialogSnapshot

log = logging.getLogger(__name__)

Handler = Callable[[Update, BotContext], Awaitable[None]]


def button_handlers(routes: Mapping[type[Callback], Handler]) -> list[CallbackQueryHandler]:
    """The handler of each kind of button (bot/telegram/callbacks.py), matched by the kind's pattern."""
    return [CallbackQueryHandler(handler, pattern=kind.pattern) for kind, handler in routes.items()]


async def current_user(update: Update, context: BotContext) -> User | None:
    """The DB user behind this update (created or refreshed once per update, together with the user's
    role grants and dialog state in this chat: one transaction)."""
    if context._user is not None:
        return context._user
    tg = update.effective_user
    if tg is None:
        return None
    s = context.services
    chat = update.effective_chat
    actor = await s.storage.load_actor(tg.id, chat.id if chat is not None else None, tg.first_name or "",
                                       tg.username, tg.language_code, s.settings.default_language)
    context._user, context._grants = actor.user, actor.grants
    context._dialog, context._dialog_loaded = actor.dialog, True
    return context._user


async def take_dialog(update: Update, context: BotContext) -> DialogSnapshot | None:
    """The sender's dialog state in this chat: the copy loaded with the user the first time, from the
    database after that (the dialog engine may have changed it in between)."""
    await current_user(update, context)
    if context._dialog_loaded:
        snap, context._dialog, context._dialog_loaded = context._dialog, None, False
        return snap
    return await context.services.storage.get_dialog(update.effective_user.id, update.effective_chat.id)


async def sender_roles(update: Update, context: BotContext) -> RoleSet | None:
    """The sender's roles as loaded with the user for this update (None without a user)."""
    from bot.services.roles import RoleSet

    user = await current_user(update, context)
    if user is None:
        return None
    return RoleSet(user.id, tuple(context._grants or ()), user.id in context.services.settings.admin_ids)


async def user_lang(update: Update, context: BotContext) -> str:
    user = await current_user(update, context)
    return user.language if user else context.services.i18n.default


def via_this_bot(update: Update, context: BotContext) -> bool:
    """A message the user posted through this bot's inline mode (a patent card chosen from
    ``@bot query``): its text is the card, not something the user typed to the bot."""
    msg = update.effective_message
    via = getattr(msg, "via_bot", None) if msg is not None else None
    return via is not None and via.id == context.bot.id


async def reply(update: Update, context: BotContext, template: str, /, *,
                keyboard: InlineKeyboardMarkup | None = None, **ctx: Any) -> Message | None:
    """Render ``template`` in the user's language and send it to the chat of this update."""
    lang = await user_lang(update, context)
    text = fit_message(context.i18n.render(lang, template, **ctx))
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(chat.id, text, reply_markup=keyboard,
                                          link_preview_options={"is_disabled": True})


async def show(update: Update, context: BotContext, template: str, keyboard: InlineKeyboardMarkup | None = None,
               **ctx: Any) -> None:
    """A button edits its own message in place (a command, or a message that can't be edited —
    a document, one too old — gets a new one)."""
    query = update.callback_query
    if query is None or query.message is None:
        await reply(update, context, template, keyboard=keyboard, **ctx)
        return
    lang = await user_lang(update, context)
    text = fit_message(context.i18n.render(lang, template, **ctx))
    try:
        if getattr(query.message, "document", None) is not None:
            raise BadRequest("a document: answer below it")
        await query.edit_message_text(text, reply_markup=keyboard,
                                      link_preview_options={"is_disabled": True})
    except BadRequest as e:
        if "not modified" not in str(e).lower():
            await reply(update, context, template, keyboard=keyboard, **ctx)


async def alert(update: Update, context: BotContext, template: str) -> None:
    """Answer the pressed button with ``template`` as an alert the user must close."""
    try:
        await update.callback_query.answer(context.i18n.render(await user_lang(update, context), template),
                                           show_alert=True)
    except TelegramError:
        pass


async def drop_keyboard(update: Update) -> None:
    """Take the buttons off the pressed message once its question is answered."""
    try:
        await update.callback_query.edit_message_reply_markup(None)
    except TelegramError:  # the keyboard is cosmetic; the answer is recorded
        pass


async def on_error(update: object, context: BotContext) -> None:
    """Last line of defence: log, tell the user politely, never crash the handler loop."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        lang = context._user.language if context._user else context.services.i18n.default
        if update.callback_query is not None:
            await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, context.i18n.render(lang, "error"))
    except TelegramError:
        log.warning("could not tell the user about the error", exc_info=True)
    # the update failed: later handler groups (e.g. search after a dialog step) must not run on it
    raise ApplicationHandlerStop


async def require(update: Update, context: BotContext, *roles) -> bool:
    """Role check inside the handler: True if the user holds one of ``roles``; otherwise a refusal."""
    held = await sender_roles(update, context)
    if held is not None and held.has(*roles):
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
