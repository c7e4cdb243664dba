"""/start (with deep-link payloads), /help, /lang, unknown commands and non-text messages."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from bot.handlers.common import current_user, reply, user_lang
from bot.handlers import roles
from bot.i18n import LANGUAGES
from bot.handlers.inline import PATENT_PREFIX
from bot.roles import INVITE_PREFIX


async def start(update: Update, context: BotContext) -> None:
    user = await current_user(update, context)
    payload = context.args[0] if context.args else ""
    if payload.startswith(INVITE_PREFIX):
        await roles.redeem(update, context, payload[len(INVITE_PREFIX):])
        return
    if payload.startswith(PATENT_PREFIX):
        from bot.handlers.search import show_card

        if await show_card(update, context, payload[len(PATENT_PREFIX):], back=None, edit=False):
            return
    if payload:
        await reply(update, context, "start_bad_link")  # unknown payload: say so, then the welcome
    count = await context.services.storage.count_patents()
    await reply(update, context, "start", name=user.first_name if user else "", patent_count=count)


async def help_command(update: Update, context: BotContext) -> None:
    await reply(update, context, "help")


async def lang_command(update: Update, context: BotContext) -> None:
    lang = await user_lang(update, context)
    i18n = context.i18n
    kb = InlineKeyboardMarkup([[InlineKeyboardButton(i18n.label(lang, f"btn_lang_{code}"),
                                                     callback_data=f"lang:{code}") for code in LANGUAGES]])
    await reply(update, context, "lang_choose", keyboard=kb)


async def lang_chosen(update: Update, context: BotContext) -> None:
    query = update.callback_query
    code = (query.data or "").split(":", 1)[-1]
    user = await current_user(update, context)
    if code not in LANGUAGES or user is None:
        await query.answer(context.i18n.render(await user_lang(update, context), "expired_button"))
        return
    await context.services.storage.set_language(user.id, code)
    user.language = code
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
    app.add_handler(CallbackQueryHandler(lang_chosen, pattern=r"^lang:"))


def register_fallbacks(app: Application) -> None:
    """Added last to group 0 (first match wins): anything no feature handled gets a clear answer."""
    app.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND,
                                   unsupported_message))
    app.add_handler(CallbackQueryHandler(unknown_button))
