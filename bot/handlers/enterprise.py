"""Market-side actions on a patent card and around it: rate, express interest (leads), record a
transaction, industrialisation and product filing; enterprise profile; expert pool; open-licence
candidates.
"""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.dialogs.rating import columns_to_answers
from bot.handlers.common import button_handlers, current_user, reply, require, sender_roles, show, user_lang
from bot.handlers.dialog_chat import start_dialog
from bot.handlers.expert_requests import evaluation_buttons
from bot.i18n import LANGUAGES
from bot.search.names import NameResolver, resolver_of_industries
from bot.models import LeadStatus, Role
from bot.services import leads, transactions
from bot.services.leads import InterestResult, LeadDecision
from bot.services.open_licence import open_licence_candidates
from bot.services.transactions import IndustrialisedResult
from bot.storage import PatentCardData
from bot.telegram.callbacks import (ACCEPT, DECLINE, FROM_LEADS, DecideLead, FilingStatus, Interest, MarkIndustrialised,
                                    Rate, RecordTransaction)
from bot.vocabulary import INDUSTRIES


async def card_actions(update: Update, context: BotContext, card: PatentCardData, labels) -> list[list]:
    """Buttons on a patent card for what this user's roles allow."""
    user = await current_user(update, context)
    if user is None:
        return []
    roles = await sender_roles(update, context)
    pid = card.patent.id
    rows: list[list[InlineKeyboardButton]] = []
    row = []
    if roles.has(Role.ENTERPRISE, Role.EXPERT):
        row.append(InlineKeyboardButton(labels.btn_rate, callback_data=Rate(pid).pack()))
    if roles.has(Role.ENTERPRISE, Role.AGENCY):
        row.append(InlineKeyboardButton(labels.btn_interest, callback_data=Interest(pid).pack()))
    if row:
        rows.append(row)
    rows += evaluation_buttons(roles, card.patent, labels)
    if card.patent.institution_id in roles.institutions(Role.TECH_TRANSFER):
        rows.append([InlineKeyboardButton(labels.btn_record_txn, callback_data=RecordTransaction(pid).pack())])
        for t in card.transactions:
            if not t.industrialised:
                rows.append([InlineKeyboardButton(labels.btn_industrialised.format(t.id),
                                                  callback_data=MarkIndustrialised(t.id).pack())])
    return rows


async def _expired(update: Update, context: BotContext) -> None:
    await update.callback_query.answer(context.i18n.render(await user_lang(update, context), "expired_button"),
                                       show_alert=True)


async def rate_start(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE, Role.EXPERT):
        return
    pressed = Rate.parse(update.callback_query.data)
    storage = context.services.storage
    if pressed is None or await storage.get_patent(pressed.patent_id) is None:
        await _expired(update, context)
        return
    pid = pressed.patent_id
    await update.callback_query.answer()
    user = await current_user(update, context)
    roles = await sender_roles(update, context)
    ent = roles.first(Role.ENTERPRISE)
    is_expert = ent is None  # an enterprise user rates for the enterprise; else as an expert
    existing = await storage.rating_columns(user.id, pid)
    ctx = {"patent_id": pid, "is_expert": is_expert, "enterprise_id": ent.enterprise_id if ent else None,
           "rater_name": (ent.scope_name if ent else user.first_name) or user.first_name}
    answers = columns_to_answers(existing) if existing else {}
    await start_dialog(update, context, "rate", ctx, answers, at="review" if existing else None)


_INTEREST_REPLIES = {InterestResult.SENT: "interest_sent", InterestResult.ALREADY_SENT: "interest_already",
                     InterestResult.NO_INVENTOR: "interest_no_inventor"}


async def interest(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE, Role.AGENCY):
        return
    pressed = Interest.parse(update.callback_query.data)
    pid = pressed.patent_id if pressed else ""
    services = context.services
    patent = await services.storage.get_patent(pid) if pressed else None
    if patent is None:
        await _expired(update, context)
        return
    user = await current_user(update, context)
    roles = await sender_roles(update, context)
    ent = roles.first(Role.ENTERPRISE) or roles.first(Role.AGENCY)
    result = await leads.express_interest(services, patent, user.id, ent.scope_name if ent else None)
    await update.callback_query.answer()
    await reply(update, context, _INTEREST_REPLIES[result], patent=patent)


async def decide_lead(update: Update, context: BotContext) -> None:
    pressed = DecideLead.parse(update.callback_query.data)
    if pressed is None:
        await _expired(update, context)
        return
    accept, lead_id = pressed.decision == ACCEPT, pressed.lead_id
    result, lead = await leads.decide(context.services, lead_id, await current_user(update, context), accept)
    if result is LeadDecision.NOT_YOURS:
        await _expired(update, context)  # only the inventor asked may decide; forged ids do nothing
        return
    await update.callback_query.answer()
    if pressed.source == FROM_LEADS:
        await _leads(update, context)  # /leads: the list is redrawn in place, the lead now decided
    else:
        try:
            await update.callback_query.edit_message_reply_markup(None)
        except Exception:  # noqa: BLE001 - the keyboard is cosmetic; the decision is recorded
            pass
    if result is LeadDecision.ALREADY_DECIDED:
        await reply(update, context, "lead_gone")
        return
    await reply(update, context, "lead_decided", accepted=accept, lead=lead)


async def leads_command(update: Update, context: BotContext) -> None:
    await _leads(update, context)


async def _leads(update: Update, context: BotContext) -> None:
    """Interest requests and their state; an inventor answers the pending ones here as in the push
    (the push may have been missed, muted or deleted)."""
    user = await current_user(update, context)
    roles = await sender_roles(update, context)
    lang = await user_lang(update, context)
    labels = context.i18n.label_module(lang)
    agency = roles.has(Role.AGENCY)
    own = await context.services.storage.leads_for(user.id, consented_only=False)
    consented = await context.services.storage.leads_for(user.id, consented_only=True) if agency else []
    pending = [lead for lead in own if lead.inventor_id == user.id and lead.status == LeadStatus.PENDING]
    others = [lead for lead in own if lead not in pending]
    rows = [[InlineKeyboardButton(labels.btn_accept_n(n=i + 1),
                                  callback_data=DecideLead(ACCEPT, lead.id, FROM_LEADS).pack()),
             InlineKeyboardButton(labels.btn_decline_n(n=i + 1),
                                  callback_data=DecideLead(DECLINE, lead.id, FROM_LEADS).pack())]
            for i, lead in enumerate(pending)]
    ent = roles.first(Role.ENTERPRISE) if roles else None
    need_leads = await context.services.storage.need_leads_for(user.id, ent.enterprise_id if ent else None)
    await show(update, context, "leads", InlineKeyboardMarkup(rows) if rows else None, pending=pending,
               others=others, consented=consented, agency=agency, me=user.id, need_leads=need_leads)


async def txn_start(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.TECH_TRANSFER):
        return
    pressed = RecordTransaction.parse(update.callback_query.data)
    pid = pressed.patent_id if pressed else ""
    services = context.services
    roles = await sender_roles(update, context)
    patent = await services.storage.get_patent(pid) if pressed else None
    if patent is None or patent.institution_id not in roles.institutions(Role.TECH_TRANSFER):
        await _expired(update, context)
        return
    await update.callback_query.answer()
    await start_dialog(update, context, "txn", {"patent_id": pid})


async def mark_industrialised(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.TECH_TRANSFER):
        return
    services = context.services
    pressed = MarkIndustrialised.parse(update.callback_query.data)
    if pressed is None:
        await _expired(update, context)
        return
    user = await current_user(update, context)
    result = await transactions.mark_industrialised(services, pressed.transaction_id, user.id,
                                                    await sender_roles(update, context))
    if result is IndustrialisedResult.ALREADY_MARKED:
        await update.callback_query.answer(context.i18n.label(await user_lang(update, context),
                                                              "toast_industrialised_already"), show_alert=True)
        return
    if result is IndustrialisedResult.NOT_FOUND:
        await _expired(update, context)  # unknown, or another institution's deal
        return
    await update.callback_query.answer()
    await reply(update, context, "industrialised_saved")


async def filing_status(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE, Role.TECH_TRANSFER):
        return
    pressed = FilingStatus.parse(update.callback_query.data)
    status = pressed.status if pressed else None
    if pressed is None or not await transactions.record_filing_status(
            context.services, pressed.transaction_id, await sender_roles(update, context), status):
        await _expired(update, context)
        return
    await update.callback_query.answer()
    labels = context.i18n.label_module(await user_lang(update, context))
    await reply(update, context, "filing_saved", status=labels.filing_status[status])


async def profile_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ENTERPRISE):
        return
    roles = await sender_roles(update, context)
    ent = roles.first(Role.ENTERPRISE)
    profile = await context.services.storage.enterprise_profile(ent.enterprise_id)
    answers = {"ent_kind": profile["kind"], "ent_industries": profile["industries"]} if profile else {}
    await start_dialog(update, context, "eprofile", {"enterprise_id": ent.enterprise_id},
                       {k: v for k, v in answers.items() if v}, at="ent_kind")


async def experts_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN, Role.AGENCY, Role.TECH_TRANSFER):
        return
    typed = " ".join(context.args or []).strip()[:64]
    field = industry_resolver(context).resolve(typed) if typed else None
    if field not in INDUSTRIES:
        field = None
    experts = await context.services.storage.experts(field)
    await reply(update, context, "experts", experts=experts, field=field, unknown=typed if typed and not field else "")


def industry_resolver(context: BotContext) -> NameResolver:
    """What users type for an industry (新能源, new_energy, "New energy", xinnengyuan) -> its code."""
    return resolver_of_industries(context.i18n.label_module(lang) for lang in LANGUAGES)


async def candidates_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN, Role.TECH_TRANSFER, Role.AGENCY):
        return
    rows, total = await open_licence_candidates(context.services.storage, await sender_roles(update, context),
                                                context.services.clock().date())
    await reply(update, context, "candidates", rows=rows, total=total)


def register(app: Application) -> None:
    app.add_handlers(button_handlers({
        Rate: rate_start, Interest: interest, DecideLead: decide_lead, RecordTransaction: txn_start,
        MarkIndustrialised: mark_industrialised, FilingStatus: filing_status}))
    app.add_handler(CommandHandler("leads", leads_command))
    app.add_handler(CommandHandler("profile", profile_command))
    app.add_handler(CommandHandler("experts", experts_command))
    app.add_handler(CommandHandler("candidates", candidates_command))
