"""Market-side evaluation: enterprise/expert ratings, leads (expressions of interest), transactions,
enterprise profiles and the expert pool."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (Enterprise, EnterpriseRating, Institution, InventorPatent, Lead, LeadStatus, LinkStatus, Patent,
                        Role,
                        RoleGrant, SelfAssessment, Transaction, User, utcnow)
from bot.storage.base import StorageBase
from bot.storage.ownership import OwnershipQueries
from bot.storage.patents import PatentRow

RATING_COLUMNS = ("prospect", "improvement_needs", "improvement_text", "cooperation_intents",
                  "price_expectation", "comment")
OPEN_LICENCE_AGE_YEARS = 5


@dataclass(frozen=True)
class RatingSummary:
    count: int
    experts: int
    mean_prospect: float | None
    intents: dict[str, int]


@dataclass(frozen=True)
class LeadView:
    id: int
    patent: PatentRow
    requester_id: int
    requester_name: str
    requester_username: str | None
    enterprise: str | None
    inventor_id: int | None
    status: str


@dataclass(frozen=True)
class NewLead:
    id: int
    inventor_id: int | None  # who is asked (the patent's first registered inventor)
    created: bool            # False: this requester asked about this patent before


@dataclass(frozen=True)
class TransactionView:
    id: int
    patent_id: str
    kind: str
    date: dt.date
    filed: bool
    counterparty: str | None
    enterprise_id: int | None
    industrialised: bool
    product_filing_status: str | None


class RatingQueries(StorageBase):
    # -- ratings ----------------------------------------------------------------------------------
    async def rating_columns(self, rater_id: int, patent_id: str) -> dict[str, Any] | None:
        async with self.session() as s:
            r = await s.scalar(select(EnterpriseRating).where(EnterpriseRating.patent_id == patent_id,
                                                              EnterpriseRating.rater_id == rater_id))
            return {c: getattr(r, c) for c in RATING_COLUMNS} if r else None

    async def save_rating(self, s: AsyncSession, rater_id: int, patent_id: str, columns: dict[str, Any], *,
                          is_expert: bool, enterprise_id: int | None) -> bool:
        """Create or update (one per rater and patent) inside the caller's transaction; True if new."""
        r = await s.scalar(select(EnterpriseRating).where(EnterpriseRating.patent_id == patent_id,
                                                          EnterpriseRating.rater_id == rater_id))
        before = None
        if r is None:
            r = EnterpriseRating(patent_id=patent_id, rater_id=rater_id)
            s.add(r)
        else:
            before = {c: getattr(r, c) for c in RATING_COLUMNS}
        for k, v in columns.items():
            setattr(r, k, v)
        r.is_expert, r.enterprise_id = is_expert, enterprise_id
        await s.flush()
        self.audit(s, rater_id, "update_rating" if before else "create_rating", "rating", str(r.id), before,
                   {**columns, "patent": patent_id, "expert": is_expert})
        return before is None

    async def rating_summary(self, patent_id: str) -> RatingSummary:
        async with self.session() as s:
            rows = list(await s.execute(select(EnterpriseRating.prospect, EnterpriseRating.is_expert,
                                               EnterpriseRating.cooperation_intents)
                                        .where(EnterpriseRating.patent_id == patent_id)))
        prospects = [p for p, _e, _i in rows if p]
        intents = Counter(i for _p, _e, ints in rows for i in (ints or []))
        return RatingSummary(len(rows), sum(1 for _p, e, _i in rows if e),
                             round(sum(prospects) / len(prospects), 1) if prospects else None, dict(intents))

    async def feedback_recipients(self, s: AsyncSession, patent_id: str) -> set[int]:
        """Who hears about market feedback on a patent: its confirmed inventors and its institution's office
        (a pending or declined claim hears nothing)."""
        inventors = set(await OwnershipQueries.confirmed_inventors(s, patent_id))
        inst = await s.scalar(select(Patent.institution_id).where(Patent.id == patent_id))
        return inventors | await OwnershipQueries.office_users(s, inst)

    # -- leads --------------------------------------------------------------------------------------
    async def create_lead(self, s: AsyncSession, patent_id: str, requester_id: int, message: str | None
                          ) -> NewLead | None:
        """Record interest once per requester and patent, in the caller's transaction (the question
        to the inventor commits with it); None if the patent has no registered inventor to ask."""
        existing = await s.scalar(select(Lead).where(Lead.patent_id == patent_id, Lead.requester_id == requester_id))
        if existing is not None:
            return NewLead(existing.id, existing.inventor_id, False)
        confirmed = await OwnershipQueries.confirmed_inventors(s, patent_id)
        if not confirmed:
            return None
        inventor = confirmed[0]
        lead = Lead(patent_id=patent_id, requester_id=requester_id, inventor_id=inventor, message=message)
        s.add(lead)
        await s.flush()
        self.audit(s, requester_id, "create_lead", "lead", str(lead.id), None,
                   {"patent": patent_id, "inventor": inventor})
        return NewLead(lead.id, inventor, True)

    async def lead(self, lead_id: int) -> LeadView | None:
        async with self.session() as s:
            row = (await s.execute(select(Lead, Patent, User).join(Patent, Patent.id == Lead.patent_id)
                                   .join(User, User.id == Lead.requester_id).where(Lead.id == lead_id))).first()
            if row is None:
                return None
            lead, patent, requester = row
            ent = await s.scalar(select(Enterprise.name).join(RoleGrant, RoleGrant.enterprise_id == Enterprise.id)
                                 .where(RoleGrant.user_id == requester.id, RoleGrant.revoked_at.is_(None)).limit(1))
            return LeadView(lead.id, PatentRow.of(patent), requester.id, requester.first_name, requester.username,
                            ent, lead.inventor_id, lead.status)

    async def decide_lead(self, s: AsyncSession, lead_id: int, inventor_id: int, decision: LeadStatus) -> bool:
        """Accept or decline a pending lead of this inventor, in the caller's transaction. Guarded on
        the status: False for an unknown lead, another inventor's, or one decided already."""
        still_confirmed = (select(InventorPatent.user_id).where(
            InventorPatent.user_id == inventor_id, InventorPatent.patent_id == Lead.patent_id,
            InventorPatent.status == LinkStatus.CONFIRMED.value).correlate(Lead).exists())
        res = await s.execute(update(Lead).where(Lead.id == lead_id, Lead.inventor_id == inventor_id,
                                                 Lead.status == LeadStatus.PENDING.value, still_confirmed)
                              .values(status=decision.value, decided_at=utcnow()))
        if res.rowcount != 1:
            return False
        self.audit(s, inventor_id, "decide_lead", "lead", str(lead_id), {"status": LeadStatus.PENDING.value},
                   {"status": decision.value})
        return True

    async def leads_for(self, user_id: int, *, consented_only: bool) -> list[LeadView]:
        """Leads a user may see: their own, or (agencies) all that inventors accepted."""
        async with self.session() as s:
            q = select(Lead.id)
            q = q.where(Lead.status == LeadStatus.ACCEPTED.value) if consented_only else q.where(
                (Lead.requester_id == user_id) | (Lead.inventor_id == user_id))
            ids = list(await s.scalars(q.order_by(Lead.id.desc()).limit(50)))
        return [v for i in ids if (v := await self.lead(i)) is not None]

    # -- transactions -------------------------------------------------------------------------------
    async def record_transaction(self, s: AsyncSession, actor_id: int, patent_id: str, *, kind: str, date: dt.date,
                                 filed: bool, counterparty: str | None, enterprise_id: int | None) -> int:
        t = Transaction(patent_id=patent_id, kind=kind, date=date, filed=filed, counterparty=counterparty,
                        enterprise_id=enterprise_id, recorded_by=actor_id)
        s.add(t)
        await s.flush()
        self.audit(s, actor_id, "record_transaction", "transaction", str(t.id), None,
                   {"patent": patent_id, "kind": kind, "date": date.isoformat(), "filed": filed,
                    "counterparty": counterparty})
        return t.id

    async def transactions_of(self, patent_id: str) -> list[TransactionView]:
        async with self.session() as s:
            rows = await s.scalars(select(Transaction).where(Transaction.patent_id == patent_id).order_by(Transaction.id))
            return [TransactionView(t.id, t.patent_id, t.kind, t.date, t.filed, t.counterparty, t.enterprise_id,
                                    t.industrialised, t.product_filing_status) for t in rows]

    @staticmethod
    async def transaction_for_update(s: AsyncSession, transaction_id: int) -> tuple[Transaction, int | None] | None:
        """A transaction and the institution of its patent, in the caller's transaction."""
        row = (await s.execute(select(Transaction, Patent.institution_id)
                               .join(Patent, Patent.id == Transaction.patent_id)
                               .where(Transaction.id == transaction_id))).first()
        return (row[0], row[1]) if row is not None else None

    def mark_industrialised(self, s: AsyncSession, t: Transaction, actor_id: int) -> None:
        """The patented product is on the market; the enterprise is reminded to file it."""
        t.industrialised = True
        t.product_filing_status = "reminded"
        self.audit(s, actor_id, "mark_industrialised", "transaction", str(t.id), {"industrialised": False},
                   {"industrialised": True})

    def set_filing_status(self, s: AsyncSession, t: Transaction, user_id: int, status: str) -> None:
        """The enterprise (or the office) records the 专利密集型产品 filing status."""
        before = t.product_filing_status
        t.product_filing_status = status
        self.audit(s, user_id, "filing_status", "transaction", str(t.id), {"status": before}, {"status": status})

    async def enterprise_users(self, s: AsyncSession, enterprise_id: int) -> list[int]:
        return list(await s.scalars(select(RoleGrant.user_id).where(
            RoleGrant.enterprise_id == enterprise_id, RoleGrant.role == Role.ENTERPRISE.value,
            RoleGrant.revoked_at.is_(None))))

    async def open_licence_candidates(self, today: dt.date, institution_ids: set[int] | None = None,
                                      limit: int = 20, ended_markers: tuple[str, ...] = ()
                                      ) -> tuple[list[tuple[PatentRow, str | None]], int]:
        """Granted more than five years ago, not implemented (per the self-assessment, or no
        transaction) and not ended (no legal status containing one of ``ended_markers``): candidates
        for an open licence (开放许可), oldest grant first, with the holding institution's name; and how
        many there are in all. ``institution_ids``: only theirs."""
        cutoff = today.replace(year=today.year - OPEN_LICENCE_AGE_YEARS)
        async with self.session() as s:
            implemented = select(SelfAssessment.patent_id).where(SelfAssessment.implemented.is_(True))
            traded = select(Transaction.patent_id)
            where = [Patent.grant_date.is_not(None), Patent.grant_date <= cutoff, Patent.id.not_in(implemented),
                     Patent.id.not_in(traded)]
            if ended_markers:
                where.append(or_(Patent.legal_status.is_(None), not_(or_(
                    *(Patent.legal_status.icontains(m, autoescape=True) for m in ended_markers)))))
            if institution_ids is not None:
                where.append(Patent.institution_id.in_(sorted(institution_ids)))
            total = int(await s.scalar(select(func.count()).select_from(Patent).where(*where)) or 0)
            rows = await s.execute(select(Patent, Institution.name)
                                   .outerjoin(Institution, Institution.id == Patent.institution_id)
                                   .where(*where).order_by(Patent.grant_date, Patent.id).limit(limit))
            return [(PatentRow.of(p), inst) for p, inst in rows], total

    # -- enterprises and experts ------------------------------------------------------------------
    async def enterprise_profile(self, enterprise_id: int) -> dict[str, Any] | None:
        async with self.session() as s:
            e = await s.get(Enterprise, enterprise_id)
            return {"name": e.name, "kind": e.kind, "industries": list(e.industries or [])} if e else None

    async def save_enterprise_profile(self, s: AsyncSession, actor_id: int, enterprise_id: int, kind: str | None,
                                      industries: list[str]) -> None:
        e = await s.get(Enterprise, enterprise_id)
        if e is None:
            return
        before = {"kind": e.kind, "industries": list(e.industries or [])}
        e.kind = kind or e.kind
        e.industries = list(industries)
        self.audit(s, actor_id, "enterprise_profile", "enterprise", str(enterprise_id), before,
                   {"kind": e.kind, "industries": e.industries})

    async def experts(self, industry: str | None = None) -> list[tuple[int, str, str | None, str]]:
        """(user id, name, username, industry) of the expert pool, optionally one field."""
        async with self.session() as s:
            q = (select(User.id, User.first_name, User.username, RoleGrant.industry)
                 .join(RoleGrant, RoleGrant.user_id == User.id)
                 .where(RoleGrant.role == Role.EXPERT.value, RoleGrant.revoked_at.is_(None)))
            if industry:
                q = q.where(RoleGrant.industry == industry)
            return [tuple(r) for r in await s.execute(q.order_by(RoleGrant.industry, User.id))]

    async def rating_counts(self) -> int:
        async with self.session() as s:
            return int(await s.scalar(select(func.count()).select_from(EnterpriseRating)) or 0)


class DigestQueries(StorageBase):
    """Matched pushes: who wants which industries/keywords, and what became transferable since."""

    async def digest_recipients(self) -> dict[int, dict[str, Any]]:
        """user id → {"industries": set, "keywords": list, "last": datetime|None} for enterprises (their
        profile's industries), experts (their field) and explicit industry/keyword subscriptions."""
        from bot.models import Subscription

        out: dict[int, dict[str, Any]] = {}

        def entry(uid: int) -> dict[str, Any]:
            return out.setdefault(uid, {"industries": set(), "keywords": [], "last": None})

        async with self.session() as s:
            rows = await s.execute(select(RoleGrant.user_id, RoleGrant.role, RoleGrant.industry, Enterprise.industries)
                                   .outerjoin(Enterprise, Enterprise.id == RoleGrant.enterprise_id)
                                   .where(RoleGrant.role.in_([Role.ENTERPRISE.value, Role.EXPERT.value]),
                                          RoleGrant.revoked_at.is_(None)))
            for uid, role, industry, ent_industries in rows:
                e = entry(uid)
                if role == Role.EXPERT.value and industry:
                    e["industries"].add(industry)
                e["industries"].update(ent_industries or [])
            subs = await s.execute(select(Subscription.user_id, Subscription.topic_kind, Subscription.topic_value)
                                   .where(Subscription.active.is_(True),
                                          Subscription.topic_kind.in_(["industry", "keyword"])))
            for uid, kind, value in subs:
                if kind == "industry":
                    entry(uid)["industries"].add(value)
                elif value:
                    entry(uid)["keywords"].append(value)
            if out:
                users = await s.execute(select(User.id, User.last_digest_at, User.blocked_bot)
                                        .where(User.id.in_(list(out))))
                for uid, last, blocked in users:
                    if blocked:
                        out.pop(uid, None)
                    else:
                        out[uid]["last"] = last
        return {uid: e for uid, e in out.items() if e["industries"] or e["keywords"]}

    async def newly_transferable(self, since: dt.datetime) -> list[tuple[str, str | None, dt.datetime]]:
        """(patent id, industry, submitted_at) of assessments submitted since ``since`` and offered for
        transfer, licence or equity."""
        from bot.storage.library import TRANSFERABLE_INTENTS, VISIBLE

        async with self.session() as s:
            rows = await s.execute(select(SelfAssessment.patent_id, SelfAssessment.industry_field,
                                          SelfAssessment.submitted_at, SelfAssessment.intents)
                                   .where(SelfAssessment.status.in_(VISIBLE), SelfAssessment.submitted_at > since))
            return [(pid, ind, at) for pid, ind, at, intents in rows if TRANSFERABLE_INTENTS & set(intents or [])]

    async def mark_digest_sent(self, s: AsyncSession, user_id: int, when: dt.datetime) -> None:
        await s.execute(update(User).where(User.id == user_id).values(last_digest_at=when))
