"""/deadlines (officers, admins): the plan's deadlines and their own, and the dialog to add one.
Reminders go to subscribers of "deadline reminders" (officers have it by default); see bot/delivery/scheduler.py."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.services.calendar import local_today
from bot.context import BotContext
from bot.departments import parse
from bot.services import deadlines as svc
from bot.handlers.common import button_handlers, current_user, require, sender_roles, show, user_lang
from bot.handlers.dialog_chat import start_dialog
from bot.models import Role
from bot.telegram.callbacks import (AskDeleteDeadline, ConfirmDeleteDeadline, DeadlineList, NewDeadline,
                                    SubscriptionsPage)


async def deadlines_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    services = context.services
    today = local_today(services.clock())
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    items = await services.storage.deadlines_from(today - svc.OVERDUE_WINDOW)
    scopes = {d.id: parse(d.departments or []) for d in items}
    names = await services.storage.department_names(i for _, ids in scopes.values() for i in ids)
    shown = [{"title": L.deadline_title.get(d.key or "", d.title), "due": d.due_date.isoformat(),
              "days_left": (d.due_date - today).days, "leads": d.lead_days or [],
              "scope": [L.dept_kind.get(k, k) for k in scopes[d.id][0]]
                       + [names[i] for i in scopes[d.id][1] if i in names]} for d in items]
    roles = await sender_roles(update, context)
    user = await current_user(update, context)
    rows = [[InlineKeyboardButton(L.btn_delete_deadline(title=x["title"])[:64],
                                  callback_data=AskDeleteDeadline(d.id).pack())]
            for d, x in zip(items, shown) if svc.may_delete(d, user.id, roles)]
    rows += [[InlineKeyboardButton(L.btn_new_deadline, callback_data=NewDeadline().pack())],
             [InlineKeyboardButton(L.btn_subscriptions, callback_data=SubscriptionsPage("m").pack())]]
    await show(update, context, "deadline_list", InlineKeyboardMarkup(rows), items=shown, today=today.isoformat())


async def delete_button(update: Update, context: BotContext) -> None:
    """Asks once more (a deadline's reminders go to whole departments)."""
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    query = update.callback_query
    pressed = AskDeleteDeadline.parse(query.data)
    d = await context.services.storage.get_deadline(pressed.deadline_id) if pressed else None
    user = await current_user(update, context)
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    if d is None or not svc.may_delete(d, user.id, await sender_roles(update, context)):
        await query.answer(context.i18n.label(lang, "toast_deadline_gone"), show_alert=True)
        return
    await query.answer()
    kb = InlineKeyboardMarkup([[InlineKeyboardButton(L.btn_delete_deadline_confirm,
                                                     callback_data=ConfirmDeleteDeadline(d.id).pack())],
                               [InlineKeyboardButton(L.btn_keep_deadline, callback_data=DeadlineList().pack())]])
    await show(update, context, "deadline_delete_confirm", kb, title=d.title, due=d.due_date.isoformat())


async def delete_confirm(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    pressed = ConfirmDeleteDeadline.parse(update.callback_query.data)
    user = await current_user(update, context)
    roles = await sender_roles(update, context)
    lang = await user_lang(update, context)
    done = pressed is not None and await svc.delete(context.services, pressed.deadline_id, user.id, roles)
    await update.callback_query.answer(context.i18n.label(lang, "toast_deadline_deleted" if done else "toast_deadline_gone"))
    await deadlines_command(update, context)


async def list_button(update: Update, context: BotContext) -> None:
    await update.callback_query.answer()
    await deadlines_command(update, context)


async def new_deadline(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    departments = svc.departments_for_new(await sender_roles(update, context))
    await start_dialog(update, context, "deadline", {"departments": departments})


def register(app: Application) -> None:
    app.add_handler(CommandHandler("deadlines", deadlines_command))
    app.add_handlers(button_handlers({NewDeadline: new_deadline, DeadlineList: list_button,
                                      AskDeleteDeadline: delete_button, ConfirmDeleteDeadline: delete_confirm}))
