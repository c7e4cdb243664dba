"""Inventors: /mypatents, asking to link patents, starting or resuming a self-assessment."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.dialogs.self_assessment import columns_to_answers
from bot.handlers.common import button_handlers, current_user, reply, require, user_lang
from bot.handlers.dialog_chat import start_dialog
from bot.models import AssessmentStatus, LinkStatus, Role
from bot.telegram.callbacks import AssessPatent, LinkPatent, MyPatents
from bot.vocabulary import suggest_industry

MY_PATENTS_SHOWN = 20


async def my_patents(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.INVENTOR):
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    user = await current_user(update, context)
    lang = await user_lang(update, context)
    items = (await context.services.storage.my_patents(user.id))[:MY_PATENTS_SHOWN]
    notes = await context.services.storage.reviewer_notes(user.id)  # returned ones: what to change
    labels = context.i18n.label_module(lang)
    # only a link the office confirmed opens the self-assessment; pending and declined ones are listed
    rows = [[InlineKeyboardButton(f"📝 {i + 1}. {it.patent.title}"[:60], callback_data=AssessPatent(it.patent.id).pack())]
            for i, it in enumerate(items) if it.link is LinkStatus.CONFIRMED]
    rows.append([InlineKeyboardButton(labels.btn_link_patent, callback_data=LinkPatent().pack())])
    await reply(update, context, "my_patents", items=items, total=len(items), status=labels.status,
                link_status=labels.link_status, notes=notes,
                waiting=any(it.link is LinkStatus.PENDING for it in items), keyboard=InlineKeyboardMarkup(rows))


async def link_start(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.INVENTOR):
        return
    await update.callback_query.answer()
    await start_dialog(update, context, "link", {})


async def assess_start(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.INVENTOR):
        return
    query = update.callback_query
    pressed = AssessPatent.parse(query.data)
    patent_id = pressed.patent_id if pressed else ""
    storage = context.services.storage
    user = await current_user(update, context)
    patent = await storage.get_patent(patent_id) if pressed else None
    if patent is None or not await storage.is_confirmed(user.id, patent_id):
        # forged or stale callback data, or a link the office has not confirmed: never act on a patent
        # that isn't the user's
        await query.answer(context.i18n.render(await user_lang(update, context), "expired_button"), show_alert=True)
        return
    await query.answer()
    existing = await storage.assessment_columns(user.id, patent_id)
    answers = columns_to_answers(existing[0]) if existing else {}
    ctx = {"patent_id": patent_id, "suggested_industry": suggest_industry(patent.title, patent.abstract),
           # a returned assessment opens with the office's note above the answers to change
           "reviewer_note": (await storage.reviewer_notes(user.id)).get(patent_id)}
    # a draft continues at its first unanswered step; a submitted one opens on the review card
    at = "review" if existing and existing[1] != AssessmentStatus.DRAFT.value else None
    await start_dialog(update, context, "assess", ctx, answers, at=at)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("mypatents", my_patents))
    app.add_handlers(button_handlers({MyPatents: my_patents, LinkPatent: link_start, AssessPatent: assess_start}))
