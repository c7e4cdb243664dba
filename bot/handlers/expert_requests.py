"""Expert evaluation on request: the 🧑‍🔬 button on a patent card, the invited experts' accept / pass,
and the rating dialog's result, which completes the requests the expert accepted for that patent."""
from __future__ import annotations

from telegram import InlineKeyboardButton, Update
from telegram.ext import Application

from bot.context import BotContext
from bot.dialogs.ports import DialogChat, DialogResult, Reply
from bot.dialogs.rating import RATING, columns_to_answers
from bot.handlers.common import (alert, button_handlers, current_user, drop_keyboard, reply, require,
                                 sender_roles)
from bot.handlers.dialog_chat import start_dialog
from bot.models import Role
from bot.services import expert_requests
from bot.services.expert_requests import AcceptResult, RequestResult
from bot.services.roles import RoleSet
from bot.storage import PatentRow
from bot.telegram.callbacks import AcceptEvaluation, DeclineEvaluation, RequestEvaluation

_REPLIES = {RequestResult.SENT: "evaluation_requested", RequestResult.ALREADY_REQUESTED: "evaluation_already",
            RequestResult.NO_FIELD: "evaluation_no_field", RequestResult.NO_EXPERTS: "evaluation_no_experts"}


def evaluation_buttons(roles: RoleSet | None, patent: PatentRow, labels) -> list[list[InlineKeyboardButton]]:
    """The patent card's 🧑‍🔬 row, for those who may ask for an evaluation of this patent."""
    if roles is None or not expert_requests.may_request(roles, patent):
        return []
    return [[InlineKeyboardButton(labels.btn_evaluation_request, callback_data=RequestEvaluation(patent.id).pack())]]




async def request_evaluation(update: Update, context: BotContext) -> None:
    pressed = RequestEvaluation.parse(update.callback_query.data)
    services = context.services
    patent = await services.storage.get_patent(pressed.patent_id) if pressed else None
    if patent is None:
        await alert(update, context, "expired_button")
        return
    user = await current_user(update, context)
    result, invited = await expert_requests.request_evaluation(services, patent, user.id,
                                                               await sender_roles(update, context))
    if result is RequestResult.NOT_ALLOWED:
        await alert(update, context, "role_required_toast")
        return
    await update.callback_query.answer()
    await reply(update, context, _REPLIES[result], patent=patent, invited=invited)


async def accept_evaluation(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.EXPERT):
        return
    pressed = AcceptEvaluation.parse(update.callback_query.data)
    user = await current_user(update, context)
    result, request = (await expert_requests.accept(context.services, pressed.request_id, user.id)
                       if pressed else (AcceptResult.NOT_INVITED, None))
    if result is AcceptResult.NOT_INVITED:  # forged, or another expert's invitation
        await alert(update, context, "expired_button")
        return
    await update.callback_query.answer()
    await drop_keyboard(update)
    if result is AcceptResult.TAKEN:
        await reply(update, context, "evaluation_taken", request=request)
        return
    existing = await context.services.storage.rating_columns(user.id, request.patent_id)
    ctx = {"patent_id": request.patent_id, "is_expert": True, "enterprise_id": None, "rater_name": user.first_name}
    await start_dialog(update, context, "rate", ctx, columns_to_answers(existing) if existing else {},
                       at="review" if existing else None)


async def decline_evaluation(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.EXPERT):
        return
    pressed = DeclineEvaluation.parse(update.callback_query.data)
    user = await current_user(update, context)
    if pressed is None or not await expert_requests.decline(context.services, pressed.request_id, user.id):
        await alert(update, context, "expired_button")
        return
    await update.callback_query.answer()
    await drop_keyboard(update)
    await reply(update, context, "evaluation_declined")


async def rated(chat: DialogChat, result: DialogResult) -> Reply:
    """The rating dialog's result: its own answer, after the requests this rating fulfils are done."""
    said = await RATING.finish(result)
    await expert_requests.after_rating(result.services, result.user_id, result.ctx["patent_id"], result.answers)
    return said


def register(app: Application) -> None:
    app.add_handlers(button_handlers({RequestEvaluation: request_evaluation, AcceptEvaluation: accept_evaluation,
                                      DeclineEvaluation: decline_evaluation}))
