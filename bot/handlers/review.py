"""The institution's tech-transfer office decides inventors' link requests and reviews submitted
self-assessments (batch review)."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import button_handlers, current_user, reply, require, sender_roles, user_lang
from bot.handlers.dialog_chat import start_dialog
from bot.models import Role
from bot.services import ownership, reviews
from bot.services.ownership import LinkDecision
from bot.services.reviews import ReviewResult
from bot.telegram.callbacks import (CONFIRM, DECLINE, ApproveAssessment, AssessmentFullText, DecideLink,
                                    ReturnAssessment, ReviewPage)

_DECIDED = {ReviewResult.APPROVED: "review_approved", ReviewResult.RETURNED: "review_returned"}
_LINK_DECIDED = {LinkDecision.CONFIRMED: "link_decided_confirmed", LinkDecision.DECLINED: "link_decided_declined"}


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
    q = await reviews.queue(context.services, roles, offset)
    if not q.links and not q.assessments:
        await reply(update, context, "review_empty")
        return
    rows = [[InlineKeyboardButton(f"{labels.btn_link_confirm} {i + 1}",
                                  callback_data=DecideLink(CONFIRM, r.user_id, r.patent.id).pack()),
             InlineKeyboardButton(f"{labels.btn_link_decline} {i + 1}",
                                  callback_data=DecideLink(DECLINE, r.user_id, r.patent.id).pack())]
            for i, r in enumerate(q.links)]
    rows += [[InlineKeyboardButton(f"{labels.btn_approve} {offset + i + 1}",
                                   callback_data=ApproveAssessment(a.id).pack()),
              InlineKeyboardButton(f"{labels.btn_return} {offset + i + 1}", callback_data=ReturnAssessment(a.id).pack()),
              InlineKeyboardButton(f"{labels.btn_full_text} {offset + i + 1}",
                                   callback_data=AssessmentFullText(a.id).pack())]
             for i, a in enumerate(q.assessments)]
    if offset + reviews.PAGE < q.assessments_total:
        rows.append([InlineKeyboardButton(labels.btn_more, callback_data=ReviewPage(offset + reviews.PAGE).pack())])
    await reply(update, context, "review_list", links=q.links, links_total=q.links_total, items=q.assessments,
                total=q.assessments_total, offset=offset, opt=labels.opt, field=labels.field,
                keyboard=InlineKeyboardMarkup(rows))


async def full_text(update: Update, context: BotContext) -> None:
    """The abstract (and the patent's base-library facts) of an assessment the office may review."""
    if not await require(update, context, Role.TECH_TRANSFER):
        return
    pressed = AssessmentFullText.parse(update.callback_query.data)
    view = (await reviews.readable(context.services, pressed.assessment_id, await sender_roles(update, context))
            if pressed else None)
    await update.callback_query.answer()
    if view is None:
        await reply(update, context, "review_gone")
        return
    await reply(update, context, "review_full_text", patent=view.patent)


async def decide_link(update: Update, context: BotContext) -> None:
    """The office confirms or declines an inventor's link request (from /review or from the push)."""
    if not await require(update, context, Role.TECH_TRANSFER):
        return
    pressed = DecideLink.parse(update.callback_query.data)
    await update.callback_query.answer()
    if pressed is None:
        await reply(update, context, "link_gone")
        return
    user = await current_user(update, context)
    outcome = await ownership.decide_link(context.services, user.id, await sender_roles(update, context),
                                          pressed.inventor_id, pressed.patent_id, confirm=pressed.decision == CONFIRM)
    template = _LINK_DECIDED.get(outcome.result)
    if template is None:  # unknown, another institution's, or decided already
        await reply(update, context, "link_gone")
        return
    await reply(update, context, template, patent=outcome.patent, inventor_name=outcome.inventor_name)


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
                                      ReturnAssessment: return_with_note, AssessmentFullText: full_text,
                                      DecideLink: decide_link}))
