"""/stats (officers scoped to their department's county; admins: all) and /audit (admins)."""
from __future__ import annotations

import asyncio
import io

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import button_handlers, reply, require, sender_roles, user_lang
from bot.models import Role
from bot.services.audit_view import describe, user_ids_in
from bot.services.stats import build_report, scope_of, text_table, xlsx_bytes
from bot.services.stats_chart import chart_png_off_loop
from bot.telegram.callbacks import StatsXlsx

AUDIT_LIMIT = 15


async def _report(update: Update, context: BotContext):
    services = context.services
    roles = await sender_roles(update, context)
    scope = await scope_of(services.storage, roles)
    if scope is None:
        return None
    return await build_report(services.storage, scope, services.clock())


async def stats_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    report = await _report(update, context)
    if report is None:
        await reply(update, context, "role_required", roles=[Role.OFFICER.value])
        return
    labels = context.i18n.label_module(await user_lang(update, context))
    kb = InlineKeyboardMarkup([[InlineKeyboardButton(labels.btn_stats_xlsx, callback_data=StatsXlsx().pack())]])
    await reply(update, context, "stats", report=report, table=text_table(report, labels), keyboard=kb)
    if report.institutions:
        png = await chart_png_off_loop(report, labels)
        await context.bot.send_photo(update.effective_chat.id, InputFile(io.BytesIO(png), filename="stats.png"))


async def stats_xlsx(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    await update.callback_query.answer()
    report = await _report(update, context)
    if report is None:
        return
    labels = context.i18n.label_module(await user_lang(update, context))
    name = f"stats-{report.now.date().isoformat()}.xlsx"
    data = await asyncio.to_thread(xlsx_bytes, report, labels)
    await context.bot.send_document(update.effective_chat.id, InputFile(io.BytesIO(data), filename=name))


async def audit_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ADMIN):
        return
    target = (context.args or [""])[0][:64]
    if not target:
        await reply(update, context, "audit_usage")
        return
    storage = context.services.storage
    if target.isdigit():  # a user: what they did, and what was done to them
        entries = await storage.audit_entries(actor_id=int(target), limit=AUDIT_LIMIT)
        entries += await storage.audit_entries(entity_kind="user", entity_id=target, limit=AUDIT_LIMIT)
    else:  # a patent, or an assessment/rating/event/... as kind:id
        kind, _, eid = target.partition(":") if ":" in target else ("patent", "", target)
        entries = await storage.audit_entries(entity_kind=kind, entity_id=eid, limit=AUDIT_LIMIT)
        if kind == "patent":
            entries += await storage.audit_entries(mentions_patent=eid, limit=AUDIT_LIMIT)
    entries = sorted({e.id: e for e in entries}.values(), key=lambda e: e.id, reverse=True)[:AUDIT_LIMIT]
    ids = user_ids_in(entries) | ({int(target)} if target.isdigit() else set())
    names = await storage.user_names(ids)
    labels = context.i18n.label_module(await user_lang(update, context))
    lines = describe(entries, names, labels.audit_yes, labels.audit_no)
    target_name = " ".join(names.get(int(target), ("", None))[:1]) if target.isdigit() else ""
    await reply(update, context, "audit", target=target, target_name=target_name, lines=lines)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("stats", stats_command))
    app.add_handlers(button_handlers({StatsXlsx: stats_xlsx}))
    app.add_handler(CommandHandler("audit", audit_command))
