"""Leads: an enterprise's (or agency's) interest in a patent is put to the patent's first confirmed
inventor (one the institution's office confirmed; bot/services/ownership.py), who accepts (the
requester then gets the inventor's contact) or declines, once; the patent's office is told of the
request. Each push commits with the change that causes it."""
from __future__ import annotations

import enum
from typing import Any

from bot.delivery.notify import push, wake
from bot.models import LeadStatus, User
from bot.storage import LeadView, PatentRow
from bot.telegram.callbacks import ACCEPT, DECLINE, DecideLead


class InterestResult(enum.Enum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"  # this requester asked about this patent before
    NO_INVENTOR = "no_inventor"    # no inventor's link is confirmed: there is no one to ask


class LeadDecision(enum.Enum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NOT_YOURS = "not_yours"              # unknown, or put to another inventor
    ALREADY_DECIDED = "already_decided"  # a double tap, or answered in /leads meanwhile


async def express_interest(services: Any, patent: PatentRow, requester_id: int, company: str | None
                           ) -> InterestResult:
    """Ask the patent's inventor, with accept / decline buttons in their language."""
    st = services.storage
    async with st.session() as s:
        lead = await st.create_lead(s, patent.id, requester_id, None)
        if lead is None:
            return InterestResult.NO_INVENTOR
        if not lead.created:
            return InterestResult.ALREADY_SENT
        inventor = await st.get_user(lead.inventor_id, session=s)
        labels = services.i18n.label_module(inventor.language if inventor else None)
        markup = {"inline_keyboard": [[
            {"text": labels.btn_accept, "callback_data": DecideLead(ACCEPT, lead.id).pack()},
            {"text": labels.btn_decline, "callback_data": DecideLead(DECLINE, lead.id).pack()}]]}
        await push(s, services, lead.inventor_id, "notify_lead", key=f"lead:{lead.id}:ask", reply_markup=markup,
                   patent=patent, company=company)
        for office in sorted(await st.office_users(s, patent.institution_id) - {lead.inventor_id}):
            await push(s, services, office, "notify_lead_office", key=f"lead:{lead.id}:office:{office}",
                       patent=patent, company=company)
    wake(services)
    return InterestResult.SENT


async def decide(services: Any, lead_id: int, inventor: User, accept: bool) -> tuple[LeadDecision, LeadView | None]:
    """Only the inventor asked may decide, while their link stays confirmed (storage checks it); the
    requester hears the answer (with the inventor's contact when accepted)."""
    st = services.storage
    lead = await st.lead(lead_id)
    if lead is None or lead.inventor_id != inventor.id:
        return LeadDecision.NOT_YOURS, lead
    async with st.session() as s:
        if not await st.decide_lead(s, lead_id, inventor.id, LeadStatus.ACCEPTED if accept else LeadStatus.DECLINED):
            return LeadDecision.ALREADY_DECIDED, lead
        await push(s, services, lead.requester_id, "lead_accepted" if accept else "lead_declined",
                   key=f"lead:{lead_id}:decided", patent=lead.patent,
                   inventor={"name": inventor.first_name, "username": inventor.username})
    wake(services)
    return (LeadDecision.ACCEPTED if accept else LeadDecision.DECLINED), lead
