"""The institution's tech-transfer office reviews submitted self-assessments (batch review)."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import button_handlers, current_user, reply, require, sender_roles, user_lang
from bot.handlers.dialog_chat import start_dialog
from bot.models import Role
from bot.services import reviews
from bot.services.reviews import ReviewResult
from bot.telegram.callbacks import ApproveAssessment, ReturnAssessment, ReviewPage

PAGE = 5
_DECIDED = {ReviewResult.APPROVED: "review_approved", ReviewResult.RETURNED: "review_returned"}


async def review_list(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.TECH_TRANSFER):
        return
    offset = 0
    if update.callback_query is not None:
        pressed = ReviewPage.parse(update.callback_query.data)
        offset = pressed.offset if pressed else 0
        await update.callback_query.answer()
    roles = await sender_roles(update, context)
    lang = await user_lang(update, context)
    labels = context.i18n.label_module(lang)
    items, total = [], 0
    for inst in sorted(roles.institutions(Role.TECH_TRANSFER)):
        got, n = await context.services.storage.submitted_for_institution(inst, limit=PAGE, offset=offset)
        items += got
        total += n
    if not items:
        await reply(update, context, "review_empty")
        return
    rows = [[InlineKeyboardButton(f"{labels.btn_approve} {offset + i + 1}",
                                  callback_data=ApproveAssessment(a.id).pack()),
             InlineKeyboardButton(f"{labels.btn_return} {offset + i + 1}", callback_data=ReturnAssessment(a.id).pack())]
            for i, a in enumerate(items)]
    if offset + PAGE < total:
        rows.append([InlineKeyboardButton(labels.btn_more, callback_data=ReviewPage(offset + PAGE).pack())])
    await reply(update, context, "review_list", items=items, total=total, offset=offset, opt=labels.opt,
                field=labels.field, keyboard=InlineKeyboardMarkup(rows))


async def approve(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.TECH_TRANSFER):
        return
    pressed = ApproveAssessment.parse(update.callback_query.data)
    template, ctx = (await apply_review(update, context, pressed.assessment_id, approve=True, note=None)
                     if pressed else ("review_gone", {}))
    await update.callback_query.answer()
    await reply(update, context, template, **ctx)


async def return_with_note(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.TECH_TRANSFER):
        return
    pressed = ReturnAssessment.parse(update.callback_query.data)
    aid = pressed.assessment_id if pressed else None
    await update.callback_query.answer()
    roles = await sender_roles(update, context)
    patent = await reviews.reviewable(context.services, aid, roles) if aid is not None else None
    if patent is None:
        await reply(update, context, "review_gone")
        return
    await start_dialog(update, context, "rnote", {"assessment_id": aid,
                                                  "patent_id": patent.id})


async def apply_review(update: Update, context: BotContext, assessment_id: int, *, approve: bool,
                       note: str | None) -> tuple[str, dict]:
    """Record the decision (once) and tell the inventor. Returns what to show the reviewer."""
    user = await current_user(update, context)
    outcome = await reviews.decide(context.services, assessment_id, user.id, await sender_roles(update, context),
                                   approve=approve, note=note)
    template = _DECIDED.get(outcome.result)
    if template is None:  # unknown, another institution's, or decided already
        return "review_gone", {}
    return template, {"patent": outcome.patent}


def register(app: Application) -> None:
    app.add_handler(CommandHandler("review", review_list))
    app.add_handlers(button_handlers({ReviewPage: review_list, ApproveAssessment: approve,
                                      ReturnAssessment: return_with_note}))
