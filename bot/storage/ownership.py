"""Who a patent belongs to: its institution (set by the base library's import, never here) and the
inventors' links to it, each a request that the institution's tech-transfer office decides."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import InventorPatent, LinkStatus, Patent, Role, RoleGrant, SelfAssessment, User
from bot.storage.base import StorageBase
from bot.storage.patents import PatentRow


@dataclass(frozen=True)
class MyPatent:
    """One of an inventor's links, with the status of their own assessment (None = not assessed)."""
    patent: PatentRow
    link: LinkStatus
    assessment: str | None


@dataclass(frozen=True)
class LinkRequest:
    """A pending link as the office sees it before deciding."""
    user_id: int
    first_name: str
    username: str | None
    patent: PatentRow
    requested_at: dt.datetime
    # the imported inventor list (Patent.inventors) contains the requester's Telegram name: a hint for
    # the office only, since anyone can call themselves anything on Telegram
    name_listed: bool


def speaks_for_patent() -> ColumnElement[bool]:
    """A condition on SelfAssessment: it speaks for the patent (card, library, statistics, exports).
    An assessment can only be written over a confirmed link, so this leaves out what a claim that is
    not confirmed (pending, or declined, as migration 0009 left some old ones) wrote. An assessment
    whose link row is gone because its inventor erased their personal data (/deleteme) still speaks:
    the card, the library and the figures others rely on agree and hold."""
    return ~exists().where(InventorPatent.user_id == SelfAssessment.inventor_id,
                           InventorPatent.patent_id == SelfAssessment.patent_id,
                           InventorPatent.status != LinkStatus.CONFIRMED.value)


def name_listed(first_name: str | None, inventors: str | None) -> bool:
    name = (first_name or "").strip()
    return len(name) >= 2 and bool(inventors) and name in inventors


class OwnershipQueries(StorageBase):
    async def request_link(self, s: AsyncSession, user_id: int, patent_id: str) -> LinkStatus | None:
        """Record an inventor's request for a patent, in the caller's transaction. None when it is new;
        else the status of the earlier request, which is left as it is (a declined one stays declined)."""
        existing = await s.get(InventorPatent, (user_id, patent_id))
        if existing is not None:
            return LinkStatus(existing.status)
        s.add(InventorPatent(user_id=user_id, patent_id=patent_id, status=LinkStatus.PENDING.value))
        await s.flush()
        self.audit(s, user_id, "link_patent", "patent", patent_id, None,
                   {"inventor": user_id, "status": LinkStatus.PENDING.value})
        return None

    async def decide_link(self, s: AsyncSession, user_id: int, patent_id: str, decided_by: int | None,
                          decision: LinkStatus, at: dt.datetime) -> bool:
        """Confirm or decline a pending link, in the caller's transaction. Guarded on the status: False
        for an unknown link or one decided already (a double tap, a replayed button, a second office user)."""
        res = await s.execute(update(InventorPatent).where(
            InventorPatent.user_id == user_id, InventorPatent.patent_id == patent_id,
            InventorPatent.status == LinkStatus.PENDING.value)
            .values(status=decision.value, decided_by=decided_by, decided_at=at))
        if res.rowcount != 1:
            return False
        self.audit(s, decided_by, "decide_link", "patent", patent_id, {"inventor": user_id, "status": "pending"},
                   {"inventor": user_id, "status": decision.value})
        return True

    async def link_status(self, user_id: int, patent_id: str, *, session: AsyncSession | None = None
                          ) -> LinkStatus | None:
        if session is not None:
            status = await session.scalar(select(InventorPatent.status).where(
                InventorPatent.user_id == user_id, InventorPatent.patent_id == patent_id))
            return LinkStatus(status) if status else None
        async with self.session() as s:
            return await self.link_status(user_id, patent_id, session=s)

    async def is_confirmed(self, user_id: int, patent_id: str) -> bool:
        return await self.link_status(user_id, patent_id) is LinkStatus.CONFIRMED

    @staticmethod
    async def confirmed_inventors(s: AsyncSession, patent_id: str) -> list[int]:
        """The patent's confirmed inventors, the earliest confirmed first."""
        return list(await s.scalars(select(InventorPatent.user_id).where(
            InventorPatent.patent_id == patent_id, InventorPatent.status == LinkStatus.CONFIRMED.value)
            .order_by(InventorPatent.decided_at, InventorPatent.created_at, InventorPatent.user_id)))

    @staticmethod
    async def office_users(s: AsyncSession, institution_id: int | None) -> set[int]:
        """The holders of the tech-transfer office role of an institution."""
        if institution_id is None:
            return set()
        return set(await s.scalars(select(RoleGrant.user_id).where(
            RoleGrant.role == Role.TECH_TRANSFER.value, RoleGrant.institution_id == institution_id,
            RoleGrant.revoked_at.is_(None))))

    async def my_patents(self, user_id: int) -> list[MyPatent]:
        """An inventor's links (confirmed, pending and declined) with their own assessment's status."""
        async with self.session() as s:
            rows = await s.execute(
                select(Patent, InventorPatent.status, SelfAssessment.status)
                .join(InventorPatent, InventorPatent.patent_id == Patent.id)
                .outerjoin(SelfAssessment, (SelfAssessment.patent_id == Patent.id)
                           & (SelfAssessment.inventor_id == user_id))
                .where(InventorPatent.user_id == user_id)
                .order_by(InventorPatent.created_at, Patent.id))
            return [MyPatent(PatentRow.of(p), LinkStatus(link), status) for p, link, status in rows]

    async def pending_links(self, institution_ids: set[int], *, limit: int, offset: int = 0
                            ) -> tuple[list[LinkRequest], int]:
        """Pending links to the institutions' patents, oldest first, and how many there are."""
        if not institution_ids:
            return [], 0
        base = (select(InventorPatent, Patent, User)
                .join(Patent, Patent.id == InventorPatent.patent_id).join(User, User.id == InventorPatent.user_id)
                .where(Patent.institution_id.in_(sorted(institution_ids)),
                       InventorPatent.status == LinkStatus.PENDING.value))
        async with self.session() as s:
            total = await s.scalar(select(func.count()).select_from(base.subquery()))
            rows = await s.execute(base.order_by(InventorPatent.created_at, InventorPatent.patent_id,
                                                 InventorPatent.user_id).limit(limit).offset(offset))
            return [LinkRequest(u.id, u.first_name, u.username, PatentRow.of(p), link.created_at,
                                name_listed(u.first_name, p.inventors)) for link, p, u in rows], int(total or 0)
