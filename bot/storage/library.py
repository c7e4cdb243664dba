"""The transferable-patent library (转化资源库), search filters and saved searches."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.models import AssessmentStatus, Institution, Patent, SavedQuery, SelfAssessment
from bot.storage.base import StorageBase
from bot.storage.patents import PatentRow
from bot.storage.ownership import speaks_for_patent

TRANSFERABLE_INTENTS = {"transfer", "license", "equity"}
VISIBLE = (AssessmentStatus.SUBMITTED.value, AssessmentStatus.REVIEWED.value)
QUERY_LIMIT = 200


@dataclass(frozen=True)
class AssessedPatent:
    """The facts of one patent's newest visible (submitted or reviewed) self-assessment."""

    patent_id: str
    industry: str | None
    maturity: int | None
    prospect: int | None
    intents: tuple[str, ...]
    implemented: bool | None
    status: str

    @property
    def transferable(self) -> bool:
        return bool(TRANSFERABLE_INTENTS & set(self.intents))

    @property
    def in_library(self) -> bool:
        """Screened into the library: reviewed by the institution and offered for transfer/licence."""
        return self.status == AssessmentStatus.REVIEWED.value and self.transferable


@dataclass(frozen=True)
class PatentCardData:
    patent: PatentRow
    institution: str | None
    assessment: dict[str, Any] | None  # columns of the newest visible assessment
    assessment_status: str | None
    ratings: Any = None  # RatingSummary
    transactions: tuple = ()
    open_licence_candidate: bool = False


def matches(a: AssessedPatent | None, filters: dict[str, Any]) -> bool:
    """Does a patent (with its assessment, or None) pass the search filters?"""
    if not filters:
        return True
    if a is None:
        return False  # every filter is about the self-assessment
    if (v := filters.get("industry")) and a.industry != v:
        return False
    if (v := filters.get("intent")) and v not in a.intents:
        return False
    if (v := filters.get("maturity")) and (a.maturity or 0) < int(v):
        return False
    if (v := filters.get("implemented")) is not None and a.implemented != (v == "yes"):
        return False
    return True


class LibraryQueries(StorageBase):
    async def assessed_patents(self) -> dict[str, AssessedPatent]:
        """patent id → its newest visible assessment (reviewed wins over submitted)."""
        async with self.session() as s:
            rows = await s.execute(
                select(SelfAssessment.patent_id, SelfAssessment.industry_field, SelfAssessment.maturity,
                       SelfAssessment.prospect, SelfAssessment.intents, SelfAssessment.implemented,
                       SelfAssessment.status, SelfAssessment.updated_at)
                .where(SelfAssessment.status.in_(VISIBLE), speaks_for_patent()))
            out: dict[str, tuple] = {}
            for pid, ind, mat, pro, intents, impl, status, updated in rows:
                key = (status == AssessmentStatus.REVIEWED.value, updated)
                if pid not in out or key > out[pid][0]:
                    out[pid] = (key, AssessedPatent(pid, ind, mat, pro, tuple(intents or ()), impl, status))
            return {pid: v[1] for pid, v in out.items()}

    async def filter_ids(self, filters: dict[str, Any]) -> set[str] | None:
        """The patent ids allowed by the filters (None = no filter). The patent type is the patent's
        own; every other filter is about its self-assessment."""
        if not filters:
            return None
        allowed = None
        if ptype := filters.get("ptype"):
            async with self.session() as s:
                allowed = set(await s.scalars(select(Patent.id).where(Patent.patent_type == ptype)))
        rest = {k: v for k, v in filters.items() if k != "ptype"}
        if rest:
            assessed = {pid for pid, a in (await self.assessed_patents()).items() if matches(a, rest)}
            allowed = assessed if allowed is None else allowed & assessed
        return allowed

    async def library(self, path: dict[str, Any]) -> list[AssessedPatent]:
        """Library patents under a browse path (industry → maturity → prospect)."""
        out = []
        for a in (await self.assessed_patents()).values():
            if not a.in_library:
                continue
            if "industry" in path and (a.industry or "other") != path["industry"]:
                continue
            if "maturity" in path and a.maturity != int(path["maturity"]):
                continue
            if "prospect" in path and a.prospect != int(path["prospect"]):
                continue
            out.append(a)
        return sorted(out, key=lambda a: (-(a.prospect or 0), -(a.maturity or 0), a.patent_id))

    @staticmethod
    def count_by(items: list[AssessedPatent], attr: str) -> Counter:
        return Counter((getattr(a, attr) or ("other" if attr == "industry" else 0)) for a in items)

    async def patent_card(self, patent_id: str) -> PatentCardData | None:
        async with self.session() as s:
            row = (await s.execute(select(Patent, Institution.name)
                                   .outerjoin(Institution, Institution.id == Patent.institution_id)
                                   .where(Patent.id == patent_id))).first()
            if row is None:
                return None
            patent, inst = row
            assessments = list(await s.scalars(select(SelfAssessment).where(
                SelfAssessment.patent_id == patent_id, SelfAssessment.status.in_(VISIBLE), speaks_for_patent())))
        best = max(assessments, key=lambda a: (a.status == AssessmentStatus.REVIEWED.value, a.updated_at),
                   default=None)
        cols = None
        if best is not None:
            cols = {c: getattr(best, c) for c in ("industry_field", "maturity", "scenarios", "scenario_text",
                                                  "prospect", "intents", "implemented", "implemented_how",
                                                  "licence_kind", "payment_kind", "open_licence", "price_range")}
        transactions = tuple(await self.transactions_of(patent_id))
        today = dt.date.today()
        old_enough = patent.grant_date is not None and patent.grant_date <= today.replace(year=today.year - 5)
        candidate = old_enough and not transactions and not (cols and cols.get("implemented"))
        return PatentCardData(PatentRow.of(patent), inst, cols, best.status if best else None,
                              await self.rating_summary(patent_id), transactions, candidate)

    async def save_query(self, user_id: int, query: str, filters: dict[str, Any]) -> int:
        async with self.session() as s:
            q = SavedQuery(user_id=user_id, query=query[:QUERY_LIMIT], filters=filters)
            s.add(q)
            await s.flush()
            return q.id

    async def get_query(self, query_id: int, user_id: int) -> tuple[str, dict[str, Any]] | None:
        """A saved search, only for the user who ran it."""
        async with self.session() as s:
            q = await s.get(SavedQuery, query_id)
            if q is None or q.user_id != user_id:
                return None
            return q.query, dict(q.filters or {})
