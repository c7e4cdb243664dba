"""/start (with deep-link payloads) and its main menu of buttons, /help, /lang, keeping each chat's
command menu in line with the user's roles (bot/telegram/menus.py), unknown commands and non-text messages."""
from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, TypeHandler, filters

from bot.telegram import menus
from bot.context import BotContext
from bot.handlers.common import button_handlers, current_user, reply, sender_roles, user_lang
from bot.handlers import privacy, roles
from bot.i18n import LANGUAGES
from bot.handlers.inline import PATENT_PREFIX, SEARCH_PREFIX, query_of_start_parameter
from bot.telegram.callbacks import ChooseLanguage, MenuCommand
from bot.services.roles import INVITE_PREFIX

# after every other group: the menu check sees the roles and language the update's handlers left
MENU_GROUP = 100


async def start(update: Update, context: BotContext) -> None:
    user = await current_user(update, context)
    payload = context.args[0] if context.args else ""
    if payload.startswith(INVITE_PREFIX):
        await roles.redeem(update, context, payload[len(INVITE_PREFIX):])
        return
    if payload.startswith(SEARCH_PREFIX) and (wanted := query_of_start_parameter(payload)) is not None:
        from bot.handlers.search import run_search

        await run_search(update, context, wanted)
        return
    if payload.startswith(PATENT_PREFIX):
        from bot.handlers.search import show_card

        if await show_card(update, context, payload[len(PATENT_PREFIX):], back=None, edit=False):
            return
    if payload:
        await reply(update, context, "start_bad_link")  # unknown payload: say so, then the welcome
    count = await context.services.storage.count_patents()
    await reply(update, context, "start", name=user.first_name if user else "", patent_count=count,
                keyboard=await main_menu_keyboard(update, context),
                privacy_notice=await privacy.first_notice(context, user))


async def main_menu_keyboard(update: Update, context: BotContext) -> InlineKeyboardMarkup:
    """Buttons for what this user may do (bot/telegram/menus.py COMMANDS), two to a row."""
    L = context.i18n.label_module(await user_lang(update, context))
    buttons = [InlineKeyboardButton(L.menu_btn[c.name], callback_data=menus.callback_data(c))
               for c in menus.main_menu(menus.held_roles(await sender_roles(update, context)))]
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


async def help_command(update: Update, context: BotContext) -> None:
    held = menus.held_roles(await sender_roles(update, context))
    await reply(update, context, "help", groups=menus.help_groups(held), has_roles=bool(held),
                bot_username=context.bot.username)


def _command_callback(app: Application, name: str) -> Callable[[Update, BotContext], Awaitable[None]] | None:
    """The callback registered for ``/name`` (whichever module registered it)."""
    for group in sorted(app.handlers):
        for handler in app.handlers[group]:
            if isinstance(handler, CommandHandler) and name in handler.commands:
                return handler.callback
    return None


def _as_command(update: Update, context: BotContext, name: str) -> Update:
    """The button press as the user typing ``/name`` in the same chat, so the command's own handler
    runs exactly as for the typed command (it answers with a new message)."""
    query = update.callback_query
    text = f"/{name}"
    message = Message(message_id=query.message.message_id, date=query.message.date or dt.datetime.now(dt.UTC),
                      chat=update.effective_chat, from_user=query.from_user, text=text,
                      entities=(MessageEntity(MessageEntity.BOT_COMMAND, 0, len(text)),))
    message.set_bot(context.bot)
    return Update(update.update_id, message=message)


async def menu_button(update: Update, context: BotContext) -> None:
    """A main-menu button: the command, for a user who may use it."""
    query = update.callback_query
    pressed = MenuCommand.parse(query.data)
    command = menus.BY_NAME.get(pressed.command) if pressed else None
    callback = _command_callback(context.application, command.name) if command else None
    if callback is None or query.message is None or update.effective_chat is None:
        await query.answer(context.i18n.render(await user_lang(update, context), "expired_button"))
        return
    await query.answer()
    if not command.allowed(menus.held_roles(await sender_roles(update, context))):
        # e.g. a menu shown before the role was revoked: the same answer as typing the command
        await reply(update, context, "role_required", roles=[r.value for r in command.roles])
        return
    context.args = []
    await callback(_as_command(update, context, command.name), context)


async def keep_menu_current(update: Update, context: BotContext) -> None:
    """Every private message or button press: refresh the chat's command menu if the user's roles or
    language no longer match the one last set (a cheap comparison otherwise)."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or (update.message is None and update.callback_query is None):
        return
    user = await current_user(update, context)
    if user is None:
        return
    await menus.refresh_chat_menu(context, user, await sender_roles(update, context))


async def lang_command(update: Update, context: BotContext) -> None:
    lang = await user_lang(update, context)
    i18n = context.i18n
    kb = InlineKeyboardMarkup([[InlineKeyboardButton(i18n.label(lang, f"btn_lang_{code}"),
                                                     callback_data=ChooseLanguage(code).pack())
                                for code in LANGUAGES]])
    await reply(update, context, "lang_choose", keyboard=kb)


async def lang_chosen(update: Update, context: BotContext) -> None:
    query = update.callback_query
    pressed = ChooseLanguage.parse(query.data)
    code = pressed.code if pressed else None
    user = await current_user(update, context)
    if code not in LANGUAGES or user is None:
        await query.answer(context.i18n.render(await user_lang(update, context), "expired_button"))
        return
    await context.services.storage.set_language(user.id, code)
    user.language, user.language_chosen = code, True
    await query.answer()
    await query.edit_message_text(context.i18n.render(code, "lang_set"))


async def unknown_command(update: Update, context: BotContext) -> None:
    command = (update.effective_message.text or "").split()[0]
    await reply(update, context, "unknown_command", command=command)


async def unsupported_message(update: Update, context: BotContext) -> None:
    await reply(update, context, "unsupported_message")


async def unknown_button(update: Update, context: BotContext) -> None:
    """Buttons from an older bot version or a forged callback: answer, never ignore."""
    await update.callback_query.answer(context.i18n.render(await user_lang(update, context), "expired_button"))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("lang", lang_command))
    app.add_handlers(button_handlers({ChooseLanguage: lang_chosen, MenuCommand: menu_button}))
    app.add_handler(TypeHandler(Update, keep_menu_current), group=MENU_GROUP)


def register_fallbacks(app: Application) -> None:
    """Added last to group 0 (first match wins): anything no feature handled gets a clear answer."""
    app.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND,
                                   unsupported_message))
    app.add_handler(CallbackQueryHandler(unknown_button))
