"""Inventors' patents and self-assessments, and the tech-transfer office's review of them."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import AssessmentStatus, InventorPatent, LinkStatus, Patent, SelfAssessment, User, utcnow
from bot.storage.base import StorageBase
from bot.storage.changes import KIND_ASSESSMENT, record_changes
from bot.storage.patents import PatentRow

ASSESSMENT_COLUMNS = ("industry_field", "maturity", "scenarios", "scenario_text", "prospect", "intents",
                      "implemented", "implemented_how", "licence_kind", "payment_kind", "open_licence",
                      "price_range", "contact_pref")


@dataclass(frozen=True)
class AssessmentView:
    id: int
    patent: PatentRow
    inventor_id: int
    status: str
    columns: dict[str, Any]
    reviewer_note: str | None
    inventor_name: str = ""
    inventor_username: str | None = None


@dataclass(frozen=True)
class ReviewSubject:
    """An assessment as its reviewer sees it before deciding."""
    id: int
    inventor_id: int
    patent: PatentRow
    status: AssessmentStatus


_T = SelfAssessment.__table__
# built once (every answer in the self-assessment dialog runs them)
_SELECT_OWN = select(_T).where(_T.c.patent_id == bindparam("b_patent"), _T.c.inventor_id == bindparam("b_user"))
_INSERT = insert(_T)
_L = InventorPatent.__table__
_CONFIRMED = select(_L.c.user_id).where(_L.c.user_id == bindparam("b_user"), _L.c.patent_id == bindparam("b_patent"),
                                        _L.c.status == LinkStatus.CONFIRMED.value)
_UPDATE_BY_ID = update(_T).where(_T.c.id == bindparam("b_id"))
_VISIBLE = (AssessmentStatus.SUBMITTED.value, AssessmentStatus.REVIEWED.value)


def _columns(a: SelfAssessment) -> dict[str, Any]:
    return {c: getattr(a, c) for c in ASSESSMENT_COLUMNS}


def _view(a: SelfAssessment, p: Patent, u: User) -> AssessmentView:
    return AssessmentView(a.id, PatentRow.of(p), a.inventor_id, a.status, _columns(a), a.reviewer_note,
                          u.first_name, u.username)


class AssessmentQueries(StorageBase):
    async def reviewer_notes(self, user_id: int) -> dict[str, str]:
        """patent id → the office's note on an inventor's returned assessment, until it is resubmitted
        (an edit after the return makes it a draft; the note stays until the next submission)."""
        async with self.session() as s:
            rows = await s.execute(select(SelfAssessment.patent_id, SelfAssessment.reviewer_note).where(
                SelfAssessment.inventor_id == user_id, SelfAssessment.reviewer_note.is_not(None),
                SelfAssessment.status.in_([AssessmentStatus.RETURNED.value, AssessmentStatus.DRAFT.value])))
            return {pid: note for pid, note in rows if note}

    async def assessment_columns(self, user_id: int, patent_id: str) -> tuple[dict[str, Any], str] | None:
        async with self.session() as s:
            a = await s.scalar(select(SelfAssessment).where(SelfAssessment.patent_id == patent_id,
                                                            SelfAssessment.inventor_id == user_id))
            return (_columns(a), a.status) if a else None

    async def save_assessment(self, s: AsyncSession, user_id: int, patent_id: str, columns: dict[str, Any],
                              *, submit: bool = False, now: Any = None) -> bool:
        """Write the answers so far (in the caller's transaction); ``submit`` also submits for review.
        False, writing nothing, unless the office confirmed the inventor's link to the patent.

        Any edit of a submitted or reviewed assessment makes it a draft again until re-submitted.
        Core statements on the session's connection: a dialog step runs this on every answer."""
        conn = await s.connection()
        if (await conn.execute(_CONFIRMED, {"b_user": user_id, "b_patent": patent_id})).first() is None:
            return False
        row = (await conn.execute(_SELECT_OWN, {"b_patent": patent_id, "b_user": user_id})).first()
        before = None if row is None else {**{c: getattr(row, c) for c in ASSESSMENT_COLUMNS}, "status": row.status}
        changed = before is None or any(before.get(k) != v for k, v in columns.items())
        if not (changed or submit):
            return True
        values = dict(columns)
        if submit:
            values.update(status=AssessmentStatus.SUBMITTED.value, reviewer_note=None,
                          submitted_at=now or utcnow())  # the service clock, so schedules (digests) agree
        else:
            values["status"] = AssessmentStatus.DRAFT.value
        if row is None:
            res = await conn.execute(_INSERT, {"patent_id": patent_id, "inventor_id": user_id, **values})
            assessment_id = res.inserted_primary_key[0]
        else:
            await conn.execute(_UPDATE_BY_ID, {"b_id": row.id, **values})
            assessment_id = row.id
        if submit or (before is not None and before["status"] in _VISIBLE):
            # the search filters see submitted and reviewed assessments only: a draft's answers don't count
            await record_changes(conn, KIND_ASSESSMENT, [patent_id])
        await self.audit_core(conn, user_id, "submit_assessment" if submit else "save_assessment", "assessment",
                              str(assessment_id), _jsonable(before),
                              _jsonable({**columns, "status": values["status"], "patent": patent_id}))
        return True

    async def submitted_for_institutions(self, institution_ids: set[int], *, limit: int = 5, offset: int = 0
                                         ) -> tuple[list[AssessmentView], int]:
        """Submitted assessments of the institutions' patents, oldest first, with their inventors."""
        if not institution_ids:
            return [], 0
        base = (select(SelfAssessment, Patent, User).join(Patent, Patent.id == SelfAssessment.patent_id)
                .join(User, User.id == SelfAssessment.inventor_id)
                # an assessment counts while its inventor's link is confirmed (a migrated claim the
                # office declined leaves its old assessment behind, out of review)
                .join(InventorPatent, (InventorPatent.user_id == SelfAssessment.inventor_id)
                      & (InventorPatent.patent_id == SelfAssessment.patent_id)
                      & (InventorPatent.status == LinkStatus.CONFIRMED.value))
                .where(Patent.institution_id.in_(sorted(institution_ids)),
                       SelfAssessment.status == AssessmentStatus.SUBMITTED.value))
        async with self.session() as s:
            total = await s.scalar(select(func.count()).select_from(base.subquery()))
            rows = await s.execute(base.order_by(SelfAssessment.submitted_at, SelfAssessment.id)
                                   .limit(limit).offset(offset))
            return [_view(a, p, u) for a, p, u in rows], int(total or 0)

    async def assessment_view(self, assessment_id: int) -> AssessmentView | None:
        async with self.session() as s:
            row = (await s.execute(select(SelfAssessment, Patent, User)
                                   .join(Patent, Patent.id == SelfAssessment.patent_id)
                                   .join(User, User.id == SelfAssessment.inventor_id)
                                   .where(SelfAssessment.id == assessment_id))).first()
            return _view(*row) if row else None

    @staticmethod
    async def review_subject(s: AsyncSession, assessment_id: int) -> ReviewSubject | None:
        row = (await s.execute(select(SelfAssessment, Patent).join(Patent, Patent.id == SelfAssessment.patent_id)
                               .where(SelfAssessment.id == assessment_id))).first()
        if row is None:
            return None
        a, p = row
        return ReviewSubject(a.id, a.inventor_id, PatentRow.of(p), AssessmentStatus(a.status))

    async def record_review(self, s: AsyncSession, assessment_id: int, reviewer_id: int, decision: AssessmentStatus,
                            note: str | None, at: dt.datetime) -> bool:
        """Mark a submitted assessment reviewed or returned, in the caller's transaction. Guarded on
        the status: False when it is not submitted (any more), so a double tap or a second reviewer
        can't decide twice."""
        res = await s.execute(update(SelfAssessment).where(
            SelfAssessment.id == assessment_id, SelfAssessment.status == AssessmentStatus.SUBMITTED.value)
            .values(status=decision.value, reviewer_id=reviewer_id, reviewer_note=note, reviewed_at=at))
        if res.rowcount != 1:
            return False
        patent_id = await s.scalar(select(SelfAssessment.patent_id).where(SelfAssessment.id == assessment_id))
        await record_changes(s, KIND_ASSESSMENT, [patent_id])
        self.audit(s, reviewer_id, "review_assessment", "assessment", str(assessment_id),
                   {"status": AssessmentStatus.SUBMITTED.value}, {"status": decision.value, "note": note})
        return True


def _jsonable(d: dict | None) -> dict | None:
    if d is None:
        return None
    return {k: (v if isinstance(v, (str, int, float, bool, list, type(None))) else str(v)) for k, v in d.items()}
