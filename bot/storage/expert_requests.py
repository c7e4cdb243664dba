"""Expert evaluations on request: the request, the pool experts invited round by round, and the state
it is in (requested → accepted → done, or expired when the pool ran out)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (ExpertInvitation, ExpertRequest, ExpertRequestStatus, InventorPatent, Patent, Role,
                        RoleGrant, SelfAssessment, User)
from bot.storage.base import StorageBase
from bot.storage.needs import ID_MAX

INVITED, ACCEPTED, DECLINED, LAPSED = "invited", "accepted", "declined", "lapsed"
_OPEN = (ExpertRequestStatus.REQUESTED.value, ExpertRequestStatus.ACCEPTED.value)
_VISIBLE_ASSESSMENTS = ("submitted", "reviewed")


@dataclass(frozen=True)
class ExpertRequestView:
    id: int
    patent_id: str
    patent_title: str
    institution_id: int | None
    requester_id: int
    industry: str
    status: str
    expert_id: int | None
    round: int


class ExpertRequestQueries(StorageBase):
    @staticmethod
    async def patent_industry(s: AsyncSession, patent_id: str) -> str | None:
        """The patent's industry field: as imported, else as its inventor's self-assessment says."""
        field = await s.scalar(select(Patent.industry_field).where(Patent.id == patent_id))
        if field:
            return field
        return await s.scalar(select(SelfAssessment.industry_field).where(
            SelfAssessment.patent_id == patent_id, SelfAssessment.industry_field.is_not(None),
            SelfAssessment.status.in_(_VISIBLE_ASSESSMENTS)).order_by(SelfAssessment.updated_at.desc()).limit(1))

    @staticmethod
    async def open_expert_request(s: AsyncSession, patent_id: str, requester_id: int) -> int | None:
        return await s.scalar(select(ExpertRequest.id).where(
            ExpertRequest.patent_id == patent_id, ExpertRequest.requester_id == requester_id,
            ExpertRequest.status.in_(_OPEN)).limit(1))

    def create_expert_request(self, s: AsyncSession, patent_id: str, requester_id: int, industry: str,
                              now: dt.datetime) -> ExpertRequest:
        r = ExpertRequest(patent_id=patent_id, requester_id=requester_id, industry=industry, round=1,
                          round_started_at=now, created_at=now)
        s.add(r)
        return r

    @staticmethod
    async def next_pool_experts(s: AsyncSession, request_id: int, patent_id: str, industry: str, exclude: set[int],
                                limit: int) -> list[int]:
        """Pool experts of the field not yet asked for this request, in a stable order; never the patent's
        own registered inventors (nobody evaluates their own patent) nor those in ``exclude``."""
        asked = select(ExpertInvitation.expert_id).where(ExpertInvitation.request_id == request_id)
        inventors = select(InventorPatent.user_id).where(InventorPatent.patent_id == patent_id)
        ids = await s.scalars(select(RoleGrant.user_id).distinct().join(User, User.id == RoleGrant.user_id).where(
            RoleGrant.role == Role.EXPERT.value, RoleGrant.industry == industry, RoleGrant.revoked_at.is_(None),
            User.blocked_bot.is_(False), RoleGrant.user_id.not_in(asked), RoleGrant.user_id.not_in(inventors))
            .order_by(RoleGrant.user_id))
        return [uid for uid in ids if uid not in exclude][:limit]

    @staticmethod
    def invite_experts(s: AsyncSession, request_id: int, expert_ids: list[int], round_: int) -> None:
        for uid in expert_ids:
            s.add(ExpertInvitation(request_id=request_id, expert_id=uid, round=round_, status=INVITED))

    async def expert_request(self, request_id: int, *, session: AsyncSession | None = None
                             ) -> ExpertRequestView | None:
        if not 0 < request_id <= ID_MAX:
            return None
        if session is None:
            async with self.session() as s:
                return await self.expert_request(request_id, session=s)
        row = (await session.execute(select(ExpertRequest, Patent.title, Patent.institution_id)
                                     .join(Patent, Patent.id == ExpertRequest.patent_id)
                                     .where(ExpertRequest.id == request_id))).first()
        if row is None:
            return None
        r, title, inst = row
        return ExpertRequestView(r.id, r.patent_id, title, inst, r.requester_id, r.industry, r.status,
                                 r.expert_id, r.round)

    async def accept_expert_request(self, s: AsyncSession, request_id: int, expert_id: int,
                                    now: dt.datetime) -> bool:
        """The first invited expert to accept takes the request: guarded on the invitation (still
        open) and on the request (still waiting), so a second expert, a replay or a stranger gets False."""
        invited = select(ExpertInvitation.request_id).where(
            ExpertInvitation.request_id == request_id, ExpertInvitation.expert_id == expert_id,
            ExpertInvitation.status == INVITED)
        res = await s.execute(update(ExpertRequest).where(
            ExpertRequest.id == request_id, ExpertRequest.status == ExpertRequestStatus.REQUESTED.value,
            ExpertRequest.id.in_(invited)).values(status=ExpertRequestStatus.ACCEPTED.value, expert_id=expert_id,
                                                  accepted_at=now))
        if res.rowcount != 1:
            return False
        await s.execute(update(ExpertInvitation).where(ExpertInvitation.request_id == request_id,
                                                       ExpertInvitation.status == INVITED)
                        .values(status=LAPSED))
        await s.execute(update(ExpertInvitation).where(ExpertInvitation.request_id == request_id,
                                                       ExpertInvitation.expert_id == expert_id)
                        .values(status=ACCEPTED))
        self.audit(s, expert_id, "accept_expert_request", "expert_request", str(request_id),
                   {"status": ExpertRequestStatus.REQUESTED.value}, {"status": ExpertRequestStatus.ACCEPTED.value})
        return True

    @staticmethod
    async def was_invited(s: AsyncSession, request_id: int, expert_id: int) -> bool:
        return await s.scalar(select(ExpertInvitation.id).where(ExpertInvitation.request_id == request_id,
                                                                ExpertInvitation.expert_id == expert_id)) is not None

    @staticmethod
    async def decline_invitation(s: AsyncSession, request_id: int, expert_id: int) -> bool:
        if not 0 < request_id <= ID_MAX:
            return False
        res = await s.execute(update(ExpertInvitation).where(
            ExpertInvitation.request_id == request_id, ExpertInvitation.expert_id == expert_id,
            ExpertInvitation.status == INVITED).values(status=DECLINED))
        return res.rowcount == 1

    @staticmethod
    async def pending_invitations(s: AsyncSession, request_id: int) -> int:
        return int(await s.scalar(select(func.count()).select_from(ExpertInvitation).where(
            ExpertInvitation.request_id == request_id, ExpertInvitation.status == INVITED)) or 0)

    @staticmethod
    async def requests_waiting_since(s: AsyncSession, before: dt.datetime) -> list[ExpertRequest]:
        """Requests nobody accepted whose current round started at or before ``before``."""
        return list(await s.scalars(select(ExpertRequest).where(
            ExpertRequest.status == ExpertRequestStatus.REQUESTED.value, ExpertRequest.round_started_at <= before)
            .order_by(ExpertRequest.id).with_for_update()))

    async def next_round(self, s: AsyncSession, r: ExpertRequest, expert_ids: list[int], now: dt.datetime) -> None:
        """The round's unanswered invitations lapse and the next experts are asked."""
        await s.execute(update(ExpertInvitation).where(ExpertInvitation.request_id == r.id,
                                                       ExpertInvitation.status == INVITED).values(status=LAPSED))
        r.round += 1
        r.round_started_at = now
        self.invite_experts(s, r.id, expert_ids, r.round)
        self.audit(s, None, "pass_on_expert_request", "expert_request", str(r.id), None,
                   {"round": r.round, "experts": expert_ids})

    def expire_request(self, s: AsyncSession, r: ExpertRequest, now: dt.datetime) -> None:
        r.status = ExpertRequestStatus.EXPIRED.value
        r.done_at = now
        self.audit(s, None, "expire_expert_request", "expert_request", str(r.id),
                   {"status": ExpertRequestStatus.REQUESTED.value}, {"status": ExpertRequestStatus.EXPIRED.value})

    @staticmethod
    async def late_accepted_requests(s: AsyncSession, before: dt.datetime) -> list[ExpertRequest]:
        """Accepted at or before ``before``, not rated yet and not reminded yet."""
        return list(await s.scalars(select(ExpertRequest).where(
            ExpertRequest.status == ExpertRequestStatus.ACCEPTED.value, ExpertRequest.accepted_at <= before,
            ExpertRequest.reminded_at.is_(None)).order_by(ExpertRequest.id).with_for_update()))

    @staticmethod
    async def overdue_accepted_requests(s: AsyncSession, before: dt.datetime) -> list[ExpertRequest]:
        """Accepted, not rated, and reminded at or before ``before``: the expert has had a second
        period since the reminder."""
        return list(await s.scalars(select(ExpertRequest).where(
            ExpertRequest.status == ExpertRequestStatus.ACCEPTED.value, ExpertRequest.reminded_at <= before)
            .order_by(ExpertRequest.id).with_for_update()))

    async def release_expert_request(self, s: AsyncSession, r: ExpertRequest) -> int:
        """Take an accepted request back from its expert (it waits for the next round again); their
        invitation lapses, so the old accept button no longer works. Returns the expert's id."""
        expert_id = r.expert_id
        r.status = ExpertRequestStatus.REQUESTED.value
        r.expert_id = None
        r.accepted_at = None
        r.reminded_at = None
        await s.execute(update(ExpertInvitation).where(ExpertInvitation.request_id == r.id,
                                                       ExpertInvitation.expert_id == expert_id)
                        .values(status=LAPSED))
        self.audit(s, None, "release_expert_request", "expert_request", str(r.id),
                   {"status": ExpertRequestStatus.ACCEPTED.value, "expert": expert_id},
                   {"status": ExpertRequestStatus.REQUESTED.value})
        return expert_id

    @staticmethod
    async def accepted_requests_of(s: AsyncSession, patent_id: str, expert_id: int) -> list[int]:
        return list(await s.scalars(select(ExpertRequest.id).where(
            ExpertRequest.patent_id == patent_id, ExpertRequest.expert_id == expert_id,
            ExpertRequest.status == ExpertRequestStatus.ACCEPTED.value)))

    async def complete_expert_request(self, s: AsyncSession, request_id: int, now: dt.datetime) -> bool:
        res = await s.execute(update(ExpertRequest).where(
            ExpertRequest.id == request_id, ExpertRequest.status == ExpertRequestStatus.ACCEPTED.value)
            .values(status=ExpertRequestStatus.DONE.value, done_at=now))
        if res.rowcount != 1:
            return False
        self.audit(s, None, "complete_expert_request", "expert_request", str(request_id),
                   {"status": ExpertRequestStatus.ACCEPTED.value}, {"status": ExpertRequestStatus.DONE.value})
        return True

    @staticmethod
    async def institution_offices(s: AsyncSession, institution_id: int | None) -> list[int]:
        if institution_id is None:
            return []
        return list(await s.scalars(select(RoleGrant.user_id).distinct().where(
            RoleGrant.role == Role.TECH_TRANSFER.value, RoleGrant.institution_id == institution_id,
            RoleGrant.revoked_at.is_(None))))

    async def expert_request_counts(self, institution_ids: set[int] | None = None) -> dict[str, int]:
        """Requests per state (requested / accepted / done / expired); given ``institution_ids``, only
        requests about those institutions' patents."""
        q = select(ExpertRequest.status, func.count()).group_by(ExpertRequest.status)
        if institution_ids is not None:
            q = (q.join(Patent, Patent.id == ExpertRequest.patent_id)
                 .where(Patent.institution_id.in_(sorted(institution_ids))))
        async with self.session() as s:
            counts = dict(list(await s.execute(q)))
        return {st.value: int(counts.get(st.value, 0)) for st in ExpertRequestStatus}
