"""/needs: an enterprise's technology needs (post, change, close); the holders' one-tap answers to a
need put to them; the enterprise's consent to exchange contacts with a holder who offered help."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.dialogs.ports import Answers
from bot.handlers.common import (alert, button_handlers, current_user, drop_keyboard, reply, require,
                                 sender_roles, show, user_lang)
from bot.handlers.dialog_chat import start_dialog
from bot.models import Role
from bot.services import needs
from bot.services.needs import AnswerResult, ConsentResult
from bot.services.roles import RoleSet
from bot.storage.needs import NeedView
from bot.telegram.callbacks import (ACCEPT, DECLINE, FROM_LEADS, HELP, AnswerNeed, CloseNeed, DecideNeedLead, EditNeed,
                                    NewNeed)


def _enterprise_ids(roles: RoleSet | None) -> set[int]:
    if roles is None:
        return set()
    return {g.enterprise_id for g in roles.grants if g.role == Role.ENTERPRISE.value and g.enterprise_id}


async def needs_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE):
        return
    await _list(update, context)


async def _list(update: Update, context: BotContext) -> None:
    roles = await sender_roles(update, context)
    ent = roles.first(Role.ENTERPRISE)
    items = await context.services.storage.needs_of(ent.enterprise_id)
    labels = context.i18n.label_module(await user_lang(update, context))
    rows = [[InlineKeyboardButton(labels.btn_need_new, callback_data=NewNeed().pack())]]
    for i, n in enumerate(items):
        if n.open:
            rows.append([InlineKeyboardButton(labels.btn_need_edit(n=i + 1), callback_data=EditNeed(n.id).pack()),
                         InlineKeyboardButton(labels.btn_need_close(n=i + 1), callback_data=CloseNeed(n.id).pack())])
    # offers of help answered here as in their push (which may have been missed or deleted)
    offers = await context.services.storage.pending_offers(ent.enterprise_id)
    for i, d in enumerate(offers):
        rows.append([InlineKeyboardButton(labels.btn_accept_n(n=f"#{i + 1}"),
                                          callback_data=DecideNeedLead(ACCEPT, d.id, FROM_LEADS).pack()),
                     InlineKeyboardButton(labels.btn_decline_n(n=f"#{i + 1}"),
                                          callback_data=DecideNeedLead(DECLINE, d.id, FROM_LEADS).pack())])
    await show(update, context, "needs_list", InlineKeyboardMarkup(rows), needs=items, offers=offers,
               company=ent.scope_name)


async def new_need(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE):
        return
    await update.callback_query.answer()
    ent = (await sender_roles(update, context)).first(Role.ENTERPRISE)
    await start_dialog(update, context, "need", {"enterprise_id": ent.enterprise_id})


def _answers(need: NeedView) -> Answers:
    return {"n_problem": need.problem, "n_field": need.industry, "n_budget": need.budget,
            "n_coop": need.cooperation, "n_deadline": need.deadline.isoformat()}


async def _own_open_need(update: Update, context: BotContext, need_id: int) -> NeedView | None:
    need = await context.services.storage.need(need_id)
    if need is None or not need.open or need.enterprise_id not in _enterprise_ids(await sender_roles(update, context)):
        return None
    return need


async def edit_need(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE):
        return
    pressed = EditNeed.parse(update.callback_query.data)
    need = await _own_open_need(update, context, pressed.need_id) if pressed else None
    if need is None:  # another enterprise's, closed, or forged
        await alert(update, context, "expired_button")
        return
    await update.callback_query.answer()
    await start_dialog(update, context, "need", {"enterprise_id": need.enterprise_id, "need_id": need.id},
                       _answers(need), at="review")


async def close_need(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE):
        return
    pressed = CloseNeed.parse(update.callback_query.data)
    user = await current_user(update, context)
    closed = await needs.close(context.services, pressed.need_id, _enterprise_ids(await sender_roles(update, context)),
                               user.id) if pressed else None
    if closed is None:
        await alert(update, context, "expired_button")
        return
    await update.callback_query.answer()
    await _list(update, context)
    await reply(update, context, "need_closed", need=closed)


async def answer_need(update: Update, context: BotContext) -> None:
    """Only a holder the need was put to may answer, once; anyone else's press changes nothing."""
    pressed = AnswerNeed.parse(update.callback_query.data)
    if pressed is None:
        await alert(update, context, "expired_button")
        return
    user = await current_user(update, context)
    result, delivery = await needs.answer(context.services, pressed.need_id, user.id, pressed.answer == HELP)
    if result is AnswerResult.NOT_YOURS:
        await alert(update, context, "expired_button")
        return
    if result is AnswerResult.ALREADY_ANSWERED:
        await alert(update, context, "need_answer_gone")
        await drop_keyboard(update)
        return
    await update.callback_query.answer()
    await drop_keyboard(update)
    await reply(update, context, "need_help_sent" if result is AnswerResult.HELPING else "need_passed",
                delivery=delivery)


async def decide_lead(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE):
        return
    pressed = DecideNeedLead.parse(update.callback_query.data)
    if pressed is None:
        await alert(update, context, "expired_button")
        return
    accept = pressed.decision == ACCEPT
    user = await current_user(update, context)
    result, delivery = await needs.decide_lead(context.services, pressed.delivery_id, user,
                                               _enterprise_ids(await sender_roles(update, context)), accept)
    if result is ConsentResult.NOT_YOURS:
        await alert(update, context, "expired_button")
        return
    await update.callback_query.answer()
    if pressed.source == FROM_LEADS:
        await _list(update, context)  # /needs redrawn in place, the offer now decided
    else:
        await drop_keyboard(update)
    if result is ConsentResult.ALREADY_DECIDED:
        await reply(update, context, "lead_gone")
        return
    await reply(update, context, "need_lead_decided", accepted=accept, delivery=delivery)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("needs", needs_command))
    app.add_handlers(button_handlers({NewNeed: new_need, EditNeed: edit_need,
                                      CloseNeed: close_need, AnswerNeed: answer_need, DecideNeedLead: decide_lead}))
