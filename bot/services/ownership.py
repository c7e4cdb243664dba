"""Who may call a patent theirs. A patent's institution is what the base library says (its import);
an inventor's link never changes it. An inventor of that institution asks to link the patent, and
the institution's tech-transfer office confirms or declines, once; the request reaches the office and
the answer reaches the inventor through the outbox, each committed with the change. Nothing is
confirmed automatically: the imported inventor list is shown to the office as a hint, because a
Telegram name is whatever its user typed. Only a confirmed inventor assesses the patent, hears about
leads and ratings (bot/storage/ratings.py, bot/storage/assessments.py enforce it)."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from bot.delivery.notify import push, wake
from bot.models import LinkStatus, Role, utcnow
from bot.services.roles import RoleSet
from bot.storage.ownership import name_listed
from bot.storage.patents import PatentRow
from bot.telegram.callbacks import CONFIRM, DECLINE, DecideLink


class LinkResult(enum.Enum):
    REQUESTED = "requested"                  # new: the office was asked
    PENDING = "pending"                      # asked before, still waiting for the office
    CONFIRMED = "confirmed"                  # already the inventor's
    DECLINED = "declined"                    # the office declined it before; asking again changes nothing
    NOT_FOUND = "not_found"
    UNKNOWN_INSTITUTION = "unknown_institution"  # the base library names no institution: nobody can confirm
    OTHER_INSTITUTION = "other_institution"  # the patent belongs to an institution the inventor is not of


@dataclass(frozen=True)
class LinkOutcome:
    result: LinkResult
    patent: PatentRow | None = None
    offices: int = 0  # how many office users were asked (0: the institution has none registered yet)


class LinkDecision(enum.Enum):
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    NOT_FOUND = "not_found"              # no such patent or no such request
    NOT_YOURS = "not_yours"              # the patent is another institution's
    ALREADY_DECIDED = "already_decided"  # a double tap, a replay, or another office user first


@dataclass(frozen=True)
class LinkDecisionOutcome:
    result: LinkDecision
    patent: PatentRow | None = None
    inventor_name: str = ""


_EXISTING = {LinkStatus.PENDING: LinkResult.PENDING, LinkStatus.CONFIRMED: LinkResult.CONFIRMED,
             LinkStatus.DECLINED: LinkResult.DECLINED}


def decide_buttons(labels: Any, inventor_id: int, patent_id: str) -> list[dict]:
    return [{"text": labels.btn_link_confirm, "callback_data": DecideLink(CONFIRM, inventor_id, patent_id).pack()},
            {"text": labels.btn_link_decline, "callback_data": DecideLink(DECLINE, inventor_id, patent_id).pack()}]


async def request_link(services: Any, user_id: int, roles: RoleSet, patent_id: str) -> LinkOutcome:
    """An inventor asks to link a patent of their own institution; its office hears of it."""
    st = services.storage
    patent = await st.get_patent(patent_id)
    if patent is None:
        return LinkOutcome(LinkResult.NOT_FOUND)
    if patent.institution_id is None:
        return LinkOutcome(LinkResult.UNKNOWN_INSTITUTION, patent)
    if patent.institution_id not in roles.institutions(Role.INVENTOR):
        return LinkOutcome(LinkResult.OTHER_INSTITUTION, patent)
    async with st.session() as s:
        earlier = await st.request_link(s, user_id, patent_id)
        if earlier is not None:
            return LinkOutcome(_EXISTING[earlier], patent)
        inventor = await st.get_user(user_id, session=s)
        offices = await st.office_users(s, patent.institution_id)
        for office in sorted(offices):
            office_user = await st.get_user(office, session=s)
            labels = services.i18n.label_module(office_user.language if office_user else None)
            await push(s, services, office, "notify_link_request", key=f"link:{user_id}:{patent_id}:ask:{office}",
                       reply_markup={"inline_keyboard": [decide_buttons(labels, user_id, patent_id)]},
                       patent=patent, inventor=inventor, inventor_id=user_id,
                       listed=name_listed(inventor.first_name if inventor else "", patent.inventors))
    wake(services)
    return LinkOutcome(LinkResult.REQUESTED, patent, len(offices))


def may_decide(roles: RoleSet, patent: PatentRow) -> bool:
    """The office of the patent's institution decides; nobody decides for a patent without one."""
    return patent.institution_id is not None and patent.institution_id in roles.institutions(Role.TECH_TRANSFER)


async def decide_link(services: Any, office_id: int, roles: RoleSet, inventor_id: int, patent_id: str, *,
                      confirm: bool) -> LinkDecisionOutcome:
    """Confirm or decline a pending link, once; the inventor's notice commits with the decision."""
    st = services.storage
    patent = await st.get_patent(patent_id)
    if patent is None:
        return LinkDecisionOutcome(LinkDecision.NOT_FOUND)
    if not may_decide(roles, patent):
        return LinkDecisionOutcome(LinkDecision.NOT_YOURS)
    decision = LinkStatus.CONFIRMED if confirm else LinkStatus.DECLINED
    async with st.session() as s:
        inventor = await st.get_user(inventor_id, session=s)
        name = inventor.first_name if inventor else str(inventor_id)
        if not await st.decide_link(s, inventor_id, patent_id, office_id, decision, utcnow()):
            known = await st.link_status(inventor_id, patent_id, session=s)
            return LinkDecisionOutcome(LinkDecision.NOT_FOUND if known is None else LinkDecision.ALREADY_DECIDED,
                                       patent, name)
        await push(s, services, inventor_id, "notify_link_confirmed" if confirm else "notify_link_declined",
                   key=f"link:{inventor_id}:{patent_id}:{decision.value}", patent=patent)
    wake(services)
    return LinkDecisionOutcome(LinkDecision.CONFIRMED if confirm else LinkDecision.DECLINED, patent, name)
