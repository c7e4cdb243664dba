"""/deadlines (officers, admins): the plan's deadlines and their own, and the dialog to add one.
Reminders go to subscribers of "deadline reminders" (officers have it by default); see bot/scheduler.py."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.calendar import local_today
from bot.context import BotContext
from bot.departments import dept_token, parse
from bot.events import OVERDUE_WINDOW
from bot.handlers.common import reply, require, sender_roles, user_lang
from bot.models import Role


async def deadlines_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    services = context.services
    today = local_today(services.clock())
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    items = await services.storage.deadlines_from(today - OVERDUE_WINDOW)
    scopes = {d.id: parse(d.departments or []) for d in items}
    names = await services.storage.department_names(i for _, ids in scopes.values() for i in ids)
    shown = [{"title": L.deadline_title.get(d.key or "", d.title), "due": d.due_date.isoformat(),
              "days_left": (d.due_date - today).days, "leads": d.lead_days or [],
              "scope": [L.dept_kind.get(k, k) for k in scopes[d.id][0]]
                       + [names[i] for i in scopes[d.id][1] if i in names]} for d in items]
    kb = InlineKeyboardMarkup([[InlineKeyboardButton(L.btn_new_deadline, callback_data="dl:n")],
                               [InlineKeyboardButton(L.btn_subscriptions, callback_data="sb:m")]])
    await reply(update, context, "deadline_list", items=shown, today=today.isoformat(), keyboard=kb)


async def new_deadline(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    roles = await sender_roles(update, context)
    # an officer's deadline is for their own department(s); an admin's for every department
    departments = sorted({dept_token(g.department_id) for g in roles.grants
                          if g.role == Role.OFFICER.value and g.department_id is not None})
    await context.services.dialogs.start(update, context, "deadline", {"departments": departments})


def register(app: Application) -> None:
    app.add_handler(CommandHandler("deadlines", deadlines_command))
    app.add_handler(CallbackQueryHandler(new_deadline, pattern=r"^dl:n$"))
