"""/export: the standard-format export as two Telegram documents (CSV for Excel, XLSX)."""
from __future__ import annotations

import io

from telegram import InputFile, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.io.export import build_export, export_names
from bot.handlers.common import reply, require, sender_roles
from bot.models import Role


async def export_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN, Role.TECH_TRANSFER):
        return
    services = context.services
    roles = await sender_roles(update, context)
    # officers and admins export everything; a tech-transfer office exports its own institution
    scope = None if roles.has(Role.OFFICER, Role.ADMIN) else roles.institutions(Role.TECH_TRANSFER)
    files = build_export(await services.storage.export_data(scope))
    csv_name, xlsx_name = export_names(services.clock())
    chat_id = update.effective_chat.id
    await reply(update, context, "export_ready", files=files)
    await context.bot.send_document(chat_id, InputFile(io.BytesIO(files.csv), filename=csv_name))
    await context.bot.send_document(chat_id, InputFile(io.BytesIO(files.xlsx), filename=xlsx_name))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("export", export_command))
