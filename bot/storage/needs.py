"""Technology needs (需求榜): an enterprise's needs, the holders each was put to (once per need and
person) and their answers, and the consent step of the leads those answers open."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (Enterprise, Institution, InventorPatent, NeedDelivery, NeedStatus, Patent, Role, RoleGrant,
                        TechNeed, User)
from bot.storage.base import StorageBase

NEED_FIELDS = ("problem", "industry", "budget", "cooperation", "deadline")
HELP, PASS = "help", "pass"
LEAD_PENDING, LEAD_ACCEPTED, LEAD_DECLINED = "pending", "accepted", "declined"
# ids come from buttons, which may be forged: one that no INTEGER key can hold is simply not found
# (PostgreSQL would refuse to compare it)
ID_MAX = 2**31 - 1


@dataclass(frozen=True)
class NeedView:
    id: int
    enterprise_id: int
    enterprise: str
    author_id: int
    problem: str
    industry: str
    budget: str
    cooperation: str
    deadline: dt.date
    status: str
    delivered: int = 0  # holders the need was put to
    helping: int = 0    # of them, "we can help"

    @property
    def open(self) -> bool:
        return self.status == NeedStatus.OPEN.value


@dataclass(frozen=True)
class DeliveryView:
    """A need as put to one holder, with who they are (for the enterprise's consent question)."""
    id: int
    need: NeedView
    user_id: int
    user_name: str
    username: str | None
    patent_id: str
    patent_title: str
    institution: str | None
    answer: str | None
    lead_status: str | None


@dataclass(frozen=True)
class NeedLead:
    """A holder's offer of help on a need, with the need's author (the enterprise's contact)."""
    delivery: DeliveryView
    author_name: str
    author_username: str | None


@dataclass(frozen=True)
class NeedStats:
    posted: int
    open: int
    delivered: int
    answered: int   # needs with at least one "we can help"
    leads: int      # leads both sides agreed to (contacts shared)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: fields[k] for k in NEED_FIELDS}


def _audit_image(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in _columns(fields).items()}


class NeedQueries(StorageBase):
    async def create_need(self, s: AsyncSession, author_id: int, enterprise_id: int, fields: dict[str, Any]) -> int:
        need = TechNeed(author_id=author_id, enterprise_id=enterprise_id, **_columns(fields))
        s.add(need)
        await s.flush()
        self.audit(s, author_id, "create_need", "need", str(need.id), None, _audit_image(fields))
        return need.id

    async def update_need(self, s: AsyncSession, need_id: int, enterprise_id: int, actor_id: int,
                          fields: dict[str, Any]) -> bool:
        """Change an open need of this enterprise; False for another's, or a closed one."""
        need = await s.get(TechNeed, need_id)
        if need is None or need.enterprise_id != enterprise_id or need.status != NeedStatus.OPEN.value:
            return False
        before = _audit_image({k: getattr(need, k) for k in NEED_FIELDS})
        for k, v in _columns(fields).items():
            setattr(need, k, v)
        self.audit(s, actor_id, "update_need", "need", str(need_id), before, _audit_image(fields))
        return True

    async def close_need(self, s: AsyncSession, need_id: int, enterprise_id: int, actor_id: int,
                         now: dt.datetime) -> bool:
        """Guarded on the owner and the status: False for another enterprise's need or a closed one."""
        res = await s.execute(update(TechNeed).where(TechNeed.id == need_id, TechNeed.enterprise_id == enterprise_id,
                                                     TechNeed.status == NeedStatus.OPEN.value)
                              .values(status=NeedStatus.CLOSED.value, closed_at=now))
        if res.rowcount != 1:
            return False
        self.audit(s, actor_id, "close_need", "need", str(need_id), {"status": NeedStatus.OPEN.value},
                   {"status": NeedStatus.CLOSED.value})
        return True

    @staticmethod
    def _view(need: TechNeed, enterprise: str, delivered: int = 0, helping: int = 0) -> NeedView:
        return NeedView(need.id, need.enterprise_id, enterprise, need.author_id, need.problem, need.industry,
                        need.budget, need.cooperation, need.deadline, need.status, delivered, helping)

    async def need(self, need_id: int, *, session: AsyncSession | None = None) -> NeedView | None:
        if not 0 < need_id <= ID_MAX:
            return None
        if session is None:
            async with self.session() as s:
                return await self.need(need_id, session=s)
        row = (await session.execute(select(TechNeed, Enterprise.name).join(
            Enterprise, Enterprise.id == TechNeed.enterprise_id).where(TechNeed.id == need_id))).first()
        return self._view(*row) if row else None

    async def needs_of(self, enterprise_id: int, limit: int = 20) -> list[NeedView]:
        """The enterprise's needs, open ones first, newest first; with how many holders got each and
        how many offered help."""
        async with self.session() as s:
            counts = dict(list(await s.execute(select(NeedDelivery.need_id, func.count())
                                               .join(TechNeed, TechNeed.id == NeedDelivery.need_id)
                                               .where(TechNeed.enterprise_id == enterprise_id)
                                               .group_by(NeedDelivery.need_id))))
            helping = dict(list(await s.execute(select(NeedDelivery.need_id, func.count())
                                                .join(TechNeed, TechNeed.id == NeedDelivery.need_id)
                                                .where(TechNeed.enterprise_id == enterprise_id,
                                                       NeedDelivery.answer == HELP)
                                                .group_by(NeedDelivery.need_id))))
            rows = await s.execute(select(TechNeed, Enterprise.name)
                                   .join(Enterprise, Enterprise.id == TechNeed.enterprise_id)
                                   .where(TechNeed.enterprise_id == enterprise_id)
                                   .order_by(TechNeed.status.desc(), TechNeed.id.desc()).limit(limit))
            return [self._view(n, name, counts.get(n.id, 0), helping.get(n.id, 0)) for n, name in rows]

    # -- holders ------------------------------------------------------------------------------------
    @staticmethod
    async def patent_holders(s: AsyncSession, patent_ids: list[str]) -> list[tuple[int, str, int | None]]:
        """(user id, patent id, institution id) of whom a need about these patents goes to: the
        tech-transfer offices of the patents' institutions and the patents' registered inventors; each
        person once, for the best-ranked patent they hold (``patent_ids`` is in rank order)."""
        if not patent_ids:
            return []
        insts = dict(list(await s.execute(select(Patent.id, Patent.institution_id).where(Patent.id.in_(patent_ids)))))
        offices: dict[int, list[int]] = {}
        inst_ids = sorted({i for i in insts.values() if i is not None})
        if inst_ids:
            for uid, inst in await s.execute(select(RoleGrant.user_id, RoleGrant.institution_id).where(
                    RoleGrant.role == Role.TECH_TRANSFER.value, RoleGrant.institution_id.in_(inst_ids),
                    RoleGrant.revoked_at.is_(None)).order_by(RoleGrant.user_id)):
                offices.setdefault(inst, []).append(uid)
        inventors: dict[str, list[int]] = {}
        for uid, pid in await s.execute(select(InventorPatent.user_id, InventorPatent.patent_id)
                                        .where(InventorPatent.patent_id.in_(patent_ids))
                                        .order_by(InventorPatent.created_at)):
            inventors.setdefault(pid, []).append(uid)
        out: list[tuple[int, str, int | None]] = []
        seen: set[int] = set()
        for pid in patent_ids:
            if pid not in insts:
                continue
            inst = insts[pid]
            for uid in offices.get(inst, []) + inventors.get(pid, []):
                if uid not in seen:
                    seen.add(uid)
                    out.append((uid, pid, inst))
        return out

    @staticmethod
    async def add_delivery(s: AsyncSession, need_id: int, user_id: int, patent_id: str,
                           institution_id: int | None) -> int | None:
        """Record that the need goes to this person; None if it went to them before."""
        if await s.scalar(select(NeedDelivery.id).where(NeedDelivery.need_id == need_id,
                                                        NeedDelivery.user_id == user_id)) is not None:
            return None
        d = NeedDelivery(need_id=need_id, user_id=user_id, patent_id=patent_id, institution_id=institution_id)
        s.add(d)
        await s.flush()
        return d.id

    async def delivery(self, delivery_id: int, *, session: AsyncSession | None = None) -> DeliveryView | None:
        if not 0 < delivery_id <= ID_MAX:
            return None
        if session is None:
            async with self.session() as s:
                return await self.delivery(delivery_id, session=s)
        row = (await session.execute(
            select(NeedDelivery, User.first_name, User.username, Patent.title, Institution.name)
            .join(User, User.id == NeedDelivery.user_id).join(Patent, Patent.id == NeedDelivery.patent_id)
            .outerjoin(Institution, Institution.id == NeedDelivery.institution_id)
            .where(NeedDelivery.id == delivery_id))).first()
        if row is None:
            return None
        d, name, username, title, inst = row
        need = await self.need(d.need_id, session=session)
        return DeliveryView(d.id, need, d.user_id, name, username, d.patent_id, title, inst, d.answer, d.lead_status)

    async def delivery_to(self, need_id: int, user_id: int) -> DeliveryView | None:
        if not 0 < need_id <= ID_MAX:
            return None
        async with self.session() as s:
            did = await s.scalar(select(NeedDelivery.id).where(NeedDelivery.need_id == need_id,
                                                               NeedDelivery.user_id == user_id))
            return await self.delivery(did, session=s) if did is not None else None

    async def pending_offers(self, enterprise_id: int, limit: int = 10) -> list[DeliveryView]:
        """Holders' offers of help on this enterprise's open needs still waiting for its consent."""
        async with self.session() as s:
            ids = list(await s.scalars(select(NeedDelivery.id).join(TechNeed, TechNeed.id == NeedDelivery.need_id)
                                       .where(TechNeed.enterprise_id == enterprise_id,
                                              TechNeed.status == NeedStatus.OPEN.value,
                                              NeedDelivery.lead_status == LEAD_PENDING)
                                       .order_by(NeedDelivery.answered_at, NeedDelivery.id).limit(limit)))
            return [v for i in ids if (v := await self.delivery(i, session=s)) is not None]

    async def need_leads_for(self, user_id: int, enterprise_id: int | None, limit: int = 20) -> list[NeedLead]:
        """The leads the needs board opened that concern this person: offers of help they made as a
        holder, and offers made on their enterprise's needs; newest answer first."""
        mine = NeedDelivery.user_id == user_id
        if enterprise_id is not None:
            ours = select(TechNeed.id).where(TechNeed.enterprise_id == enterprise_id)
            mine = or_(mine, NeedDelivery.need_id.in_(ours))
        async with self.session() as s:
            ids = list(await s.scalars(select(NeedDelivery.id).where(mine, NeedDelivery.lead_status.is_not(None))
                                       .order_by(NeedDelivery.answered_at.desc(), NeedDelivery.id.desc())
                                       .limit(limit)))
            views = [v for i in ids if (v := await self.delivery(i, session=s)) is not None]
            authors = {uid: (name, username) for uid, name, username in await s.execute(
                select(User.id, User.first_name, User.username)
                .where(User.id.in_(sorted({v.need.author_id for v in views}))))}
            return [NeedLead(v, *authors.get(v.need.author_id, ("", None))) for v in views]

    async def answer_delivery(self, s: AsyncSession, need_id: int, user_id: int, answer: str,
                              now: dt.datetime) -> int | None:
        """The holder's one answer to an open need put to them: the delivery's id, or None (not theirs,
        answered before, or the need closed)."""
        open_need = select(TechNeed.id).where(TechNeed.id == need_id, TechNeed.status == NeedStatus.OPEN.value)
        values: dict[str, Any] = {"answer": answer, "answered_at": now}
        if answer == HELP:
            values["lead_status"] = LEAD_PENDING
        res = await s.execute(update(NeedDelivery).where(
            NeedDelivery.need_id == need_id, NeedDelivery.user_id == user_id, NeedDelivery.answer.is_(None),
            NeedDelivery.need_id.in_(open_need)).values(**values))
        if res.rowcount != 1:
            return None
        did = await s.scalar(select(NeedDelivery.id).where(NeedDelivery.need_id == need_id,
                                                           NeedDelivery.user_id == user_id))
        self.audit(s, user_id, "answer_need", "need", str(need_id), None, {"answer": answer, "delivery": did})
        return did

    async def decide_need_lead(self, s: AsyncSession, delivery_id: int, enterprise_id: int, actor_id: int,
                               accept: bool, now: dt.datetime) -> bool:
        """The enterprise's consent to a holder's offer; guarded on the enterprise and the pending state."""
        own = select(TechNeed.id).where(TechNeed.enterprise_id == enterprise_id)
        decision = LEAD_ACCEPTED if accept else LEAD_DECLINED
        res = await s.execute(update(NeedDelivery).where(
            NeedDelivery.id == delivery_id, NeedDelivery.lead_status == LEAD_PENDING,
            NeedDelivery.need_id.in_(own)).values(lead_status=decision, lead_decided_at=now))
        if res.rowcount != 1:
            return False
        self.audit(s, actor_id, "decide_need_lead", "need_delivery", str(delivery_id), {"lead": LEAD_PENDING},
                   {"lead": decision})
        return True

    # -- officers ---------------------------------------------------------------------------------
    async def need_stats(self, institution_ids: set[int] | None = None) -> NeedStats:
        """Counts over the whole board, or, given ``institution_ids`` (a county officer's scope), over
        the needs put to holders of those institutions and those deliveries only."""
        needs = select(TechNeed.status)
        deliveries = select(NeedDelivery)
        if institution_ids is not None:
            deliveries = deliveries.where(NeedDelivery.institution_id.in_(sorted(institution_ids)))
            needs = needs.where(TechNeed.id.in_(deliveries.with_only_columns(NeedDelivery.need_id)))
        needs, d = needs.subquery(), deliveries.subquery()
        async with self.session() as s:
            posted, still_open = (await s.execute(select(
                func.count(), func.count().filter(needs.c.status == NeedStatus.OPEN.value))
                .select_from(needs))).one()
            delivered, answered, leads = (await s.execute(select(
                func.count(func.distinct(d.c.need_id)),
                func.count(func.distinct(d.c.need_id)).filter(d.c.answer == HELP),
                func.count().filter(d.c.lead_status == LEAD_ACCEPTED)).select_from(d))).one()
        return NeedStats(int(posted), int(still_open), int(delivered), int(answered), int(leads))

    async def needs_for_export(self, institution_ids: set[int] | None) -> list[dict[str, Any]]:
        """One row per need and holder it went to (a need not put to anyone: one row without a holder);
        limited to the needs put to ``institution_ids`` when given."""
        async with self.session() as s:
            q = (select(TechNeed, Enterprise.name, NeedDelivery, Institution.name)
                 .join(Enterprise, Enterprise.id == TechNeed.enterprise_id)
                 .outerjoin(NeedDelivery, NeedDelivery.need_id == TechNeed.id)
                 .outerjoin(Institution, Institution.id == NeedDelivery.institution_id))
            if institution_ids is not None:
                q = q.where(NeedDelivery.institution_id.in_(sorted(institution_ids)))
            rows = []
            for need, company, d, inst in await s.execute(q.order_by(TechNeed.id, NeedDelivery.id)):
                rows.append({"need_id": need.id, "enterprise": company, "problem": need.problem,
                             "industry": need.industry, "budget": need.budget, "cooperation": need.cooperation,
                             "deadline": need.deadline, "status": need.status, "created_at": need.created_at,
                             "institution": inst, "patent_id": d.patent_id if d else None,
                             "answer": d.answer if d else None, "lead": d.lead_status if d else None})
            return rows
