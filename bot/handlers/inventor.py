"""Inventors: /mypatents, linking patents, starting or resuming a self-assessment."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.dialogs.self_assessment import columns_to_answers, suggest_industry
from bot.handlers.common import button_handlers, current_user, reply, require, sender_roles, user_lang
from bot.handlers.dialog_chat import start_dialog
from bot.models import AssessmentStatus, Role
from bot.telegram.callbacks import AssessPatent, LinkPatent, MyPatents

MY_PATENTS_SHOWN = 20


async def my_patents(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.INVENTOR):
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    user = await current_user(update, context)
    lang = await user_lang(update, context)
    items = await context.services.storage.my_patents(user.id)
    notes = await context.services.storage.reviewer_notes(user.id)  # returned ones: what to change
    labels = context.i18n.label_module(lang)
    rows = [[InlineKeyboardButton(f"📝 {i + 1}. {p.title}"[:60], callback_data=AssessPatent(p.id).pack())]
            for i, (p, _status) in enumerate(items[:MY_PATENTS_SHOWN])]
    rows.append([InlineKeyboardButton(labels.btn_link_patent, callback_data=LinkPatent().pack())])
    await reply(update, context, "my_patents", items=items[:MY_PATENTS_SHOWN], total=len(items),
                status=labels.status, notes=notes, keyboard=InlineKeyboardMarkup(rows))


async def link_start(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.INVENTOR):
        return
    await update.callback_query.answer()
    roles = await sender_roles(update, context)
    grant = roles.first(Role.INVENTOR)
    await start_dialog(update, context, "link",
                       {"institution_id": grant.institution_id if grant else None})


async def assess_start(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.INVENTOR):
        return
    query = update.callback_query
    pressed = AssessPatent.parse(query.data)
    patent_id = pressed.patent_id if pressed else ""
    storage = context.services.storage
    user = await current_user(update, context)
    patent = await storage.get_patent(patent_id) if pressed else None
    if patent is None or not await storage.is_linked(user.id, patent_id):
        # forged or stale callback data: never act on a patent that isn't the user's
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
