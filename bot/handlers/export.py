"""/export: the standard-format export as two Telegram documents (CSV code form, XLSX for people),
limited to what the sender may see (bot/services/exports.py)."""
from __future__ import annotations

import asyncio
import io

from telegram import InputFile, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import reply, require, sender_roles, user_lang
from bot.io.export import build_export, export_names
from bot.models import Role
from bot.services.exports import export_scope


async def export_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN, Role.TECH_TRANSFER):
        return
    services = context.services
    scope = await export_scope(services.storage, await sender_roles(update, context))
    if scope is None:  # an officer without a department, say
        await reply(update, context, "role_required", roles=[Role.OFFICER.value, Role.TECH_TRANSFER.value])
        return
    lang = context.i18n.lang(await user_lang(update, context))
    data = await services.storage.export_data(scope)
    # openpyxl takes about a second for a few thousand rows: off the event loop, other chats go on
    files = await asyncio.to_thread(build_export, data, lang)
    csv_name, xlsx_name = export_names(services.clock())
    chat_id = update.effective_chat.id
    await reply(update, context, "export_ready", files=files)
    await context.bot.send_document(chat_id, InputFile(io.BytesIO(files.csv), filename=csv_name))
    await context.bot.send_document(chat_id, InputFile(io.BytesIO(files.xlsx), filename=xlsx_name))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("export", export_command))
