"""Expert evaluation on request (专家库 → 评估): an enterprise, the patent's office or an officer asks; the
pool experts of the patent's industry field are invited a few at a time through the outbox; the first
to accept rates the patent with the rating dialog; the requester and the institution's office get the
result. A round nobody accepts within ``EXPERT_REQUEST_HOURS`` passes to the next experts, and the
request expires when the pool is used up; an expert who accepted and has not rated by then is
reminded once, and one period after the reminder the request passes to the next experts. The
time-based part is ``ExpertRequestJob``, computed from the database on every pass.
"""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.jobs import PeriodicJob
from bot.delivery.notify import push, wake
from bot.models import ExpertRequest, ExpertRequestStatus, Role, User
from bot.services.roles import RoleSet
from bot.storage.expert_requests import ExpertRequestView
from bot.storage.patents import PatentRow
from bot.telegram.callbacks import AcceptEvaluation, DeclineEvaluation

EXPERTS_PER_ROUND = 3


class RequestResult(enum.Enum):
    SENT = "sent"
    ALREADY_REQUESTED = "already"  # this requester's earlier request for the patent is still open
    NO_FIELD = "no_field"          # the patent has no industry field yet: no pool to ask
    NO_EXPERTS = "no_experts"      # nobody in the pool of that field
    NOT_ALLOWED = "not_allowed"


class AcceptResult(enum.Enum):
    ACCEPTED = "accepted"
    TAKEN = "taken"            # invited, but another expert took it, or it passed on / expired
    NOT_INVITED = "not_invited"


def may_request(roles: RoleSet, patent: PatentRow) -> bool:
    """Enterprises, officers and admins for any patent; a tech-transfer office for its institution's."""
    return roles.has(Role.ENTERPRISE, Role.OFFICER, Role.ADMIN) or (
        patent.institution_id is not None and patent.institution_id in roles.institutions(Role.TECH_TRANSFER))


def timeout(services: Any) -> dt.timedelta:
    return dt.timedelta(hours=services.settings.expert_request_hours)


async def _invite(s: AsyncSession, services: Any, request_id: int, patent: Any, expert_ids: list[int]) -> int:
    sent = 0
    for uid in expert_ids:
        user = await s.get(User, uid)
        labels = services.i18n.label_module(user.language if user else None)
        markup = {"inline_keyboard": [[
            {"text": labels.btn_evaluation_accept, "callback_data": AcceptEvaluation(request_id).pack()},
            {"text": labels.btn_evaluation_decline, "callback_data": DeclineEvaluation(request_id).pack()}]]}
        sent += int(await push(s, services, uid, "evaluation_invitation", key=f"exreq:{request_id}:invite:{uid}",
                               reply_markup=markup, patent=patent, hours=services.settings.expert_request_hours))
    return sent


async def request_evaluation(services: Any, patent: PatentRow, requester_id: int, roles: RoleSet
                             ) -> tuple[RequestResult, int]:
    """Ask the first experts of the patent's field; (result, experts invited)."""
    if not may_request(roles, patent):
        return RequestResult.NOT_ALLOWED, 0
    st = services.storage
    now = services.clock()
    async with st.session() as s:
        industry = await st.patent_industry(s, patent.id)
        if not industry:
            return RequestResult.NO_FIELD, 0
        if await st.open_expert_request(s, patent.id, requester_id) is not None:
            return RequestResult.ALREADY_REQUESTED, 0
        experts = await st.next_pool_experts(s, 0, patent.id, industry, {requester_id}, EXPERTS_PER_ROUND)
        if not experts:
            return RequestResult.NO_EXPERTS, 0
        r = st.create_expert_request(s, patent.id, requester_id, industry, now)
        await s.flush()
        st.invite_experts(s, r.id, experts, 1)
        st.audit(s, requester_id, "request_evaluation", "expert_request", str(r.id), None,
                 {"patent": patent.id, "industry": industry, "experts": experts})
        await _invite(s, services, r.id, patent, experts)
    wake(services)
    return RequestResult.SENT, len(experts)


async def accept(services: Any, request_id: int, expert_id: int) -> tuple[AcceptResult, ExpertRequestView | None]:
    st = services.storage
    view = await st.expert_request(request_id)
    async with st.session() as s:
        if view is None or not await st.was_invited(s, request_id, expert_id):
            return AcceptResult.NOT_INVITED, None
        if not await st.accept_expert_request(s, request_id, expert_id, services.clock()):
            return AcceptResult.TAKEN, view
        await push(s, services, view.requester_id, "evaluation_accepted", key=f"exreq:{request_id}:accepted",
                   request=view)
    wake(services)
    return AcceptResult.ACCEPTED, view


async def decline(services: Any, request_id: int, expert_id: int) -> bool:
    """An invited expert passes; when the whole round has passed, the next experts are asked at once."""
    st = services.storage
    async with st.session() as s:
        if not await st.decline_invitation(s, request_id, expert_id):
            return False
        if await st.pending_invitations(s, request_id) == 0:
            r = await s.get(ExpertRequest, request_id)
            if r is not None and r.status == ExpertRequestStatus.REQUESTED.value:
                await _pass_on(s, services, r)
    wake(services)
    return True


async def _pass_on(s: AsyncSession, services: Any, r: ExpertRequest) -> None:
    st = services.storage
    now = services.clock()
    experts = await st.next_pool_experts(s, r.id, r.patent_id, r.industry, {r.requester_id}, EXPERTS_PER_ROUND)
    view = await st.expert_request(r.id, session=s)
    if experts:
        await st.next_round(s, r, experts, now)
        await _invite(s, services, r.id, _PatentTitle(view), experts)
        return
    st.expire_request(s, r, now)
    await push(s, services, r.requester_id, "evaluation_expired", key=f"exreq:{r.id}:expired", request=view)


class _PatentTitle:
    """What the invitation template shows of a patent, from a request's view (no second unit of work)."""

    def __init__(self, view: ExpertRequestView):
        self.id, self.title = view.patent_id, view.patent_title


async def after_rating(services: Any, expert_id: int, patent_id: str, answers: dict[str, Any]) -> int:
    """The expert rated a patent: the requests they accepted for it are done, and each requester and
    the institution's office get the result. Returns the requests completed."""
    st = services.storage
    now = services.clock()
    done = 0
    async with st.session() as s:
        for rid in await st.accepted_requests_of(s, patent_id, expert_id):
            if not await st.complete_expert_request(s, rid, now):
                continue
            done += 1
            view = await st.expert_request(rid, session=s)
            expert = await s.get(User, expert_id)
            # the expert is named to the office (who sees the pool in /experts), not to the requester
            recipients = [view.requester_id] + [u for u in await st.institution_offices(s, view.institution_id)
                                                if u not in (view.requester_id, expert_id)]
            for uid in recipients:
                await push(s, services, uid, "evaluation_result", key=f"exreq:{rid}:result:{uid}", request=view,
                           answers=answers, expert=expert.first_name if expert else "",
                           for_requester=uid == view.requester_id)
    if done:
        wake(services)
    return done


async def run_due(services: Any) -> int:
    """Pass on the rounds nobody accepted in time (or expire them), remind experts late with their
    rating, and pass on the requests of experts still late a period after the reminder."""
    st = services.storage
    now = services.clock()
    before = now - timeout(services)
    n = 0
    async with st.session() as s:
        for r in await st.requests_waiting_since(s, before):
            await _pass_on(s, services, r)
            n += 1
        for r in await st.overdue_accepted_requests(s, before):
            # reminded once and still not rated a period later: the request goes to the next experts
            view = await st.expert_request(r.id, session=s)
            round_ = r.round
            expert_id = await st.release_expert_request(s, r)
            await push(s, services, expert_id, "evaluation_released", key=f"exreq:{r.id}:released:{round_}",
                       request=view)
            await push(s, services, r.requester_id, "evaluation_passed_on", key=f"exreq:{r.id}:passed:{round_}",
                       request=view)
            await _pass_on(s, services, r)
            n += 1
        for r in await st.late_accepted_requests(s, before):
            r.reminded_at = now
            view = await st.expert_request(r.id, session=s)
            await push(s, services, r.expert_id, "evaluation_reminder", key=f"exreq:{r.id}:remind:{r.round}",
                       request=view, hours=services.settings.expert_request_hours)
            n += 1
    if n:
        wake(services)
    return n


EXPERT_REQUEST_INTERVAL = 300.0  # seconds between passes (and at every jump of the program's clock)


class ExpertRequestJob(PeriodicJob):
    """Runs ``run_due`` every few minutes and whenever the program's clock jumps."""

    name = "expert-requests"

    async def tick(self) -> int:
        return await run_due(self.services)
