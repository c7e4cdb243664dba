"""The tech-transfer office's review of submitted self-assessments: who may decide, the decision
(approve, or return with a note for the inventor) and the inventor's notice, which commits with it."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from bot.delivery.notify import push, wake
from bot.models import AssessmentStatus, Role, utcnow
from bot.services.roles import RoleSet
from bot.storage.patents import PatentRow


class ReviewResult(enum.Enum):
    APPROVED = "approved"
    RETURNED = "returned"
    NOT_FOUND = "not_found"
    NOT_YOURS = "not_yours"              # a patent of another institution
    ALREADY_DECIDED = "already_decided"  # not submitted (any more): a double tap, or a second reviewer


@dataclass(frozen=True)
class ReviewOutcome:
    result: ReviewResult
    patent: PatentRow | None = None


def may_review(roles: RoleSet, patent: PatentRow) -> bool:
    """The office of the patent's institution decides."""
    return patent.institution_id in roles.institutions(Role.TECH_TRANSFER)


async def reviewable(services: Any, assessment_id: int, roles: RoleSet) -> PatentRow | None:
    """The patent of a submitted assessment this reviewer may decide, else None."""
    st = services.storage
    async with st.session() as s:
        subject = await st.review_subject(s, assessment_id)
    if subject is None or subject.status is not AssessmentStatus.SUBMITTED or not may_review(roles, subject.patent):
        return None
    return subject.patent


async def decide(services: Any, assessment_id: int, reviewer_id: int, roles: RoleSet, *, approve: bool,
                 note: str | None) -> ReviewOutcome:
    """Approve or return an assessment, once; the inventor's notice commits with the decision."""
    st = services.storage
    async with st.session() as s:
        subject = await st.review_subject(s, assessment_id)
        if subject is None:
            return ReviewOutcome(ReviewResult.NOT_FOUND)
        if not may_review(roles, subject.patent):
            return ReviewOutcome(ReviewResult.NOT_YOURS)
        # wall-clock time, not the program's: a returned and resubmitted assessment's second decision
        # must get a key of its own even under a test's frozen clock
        at = utcnow()
        decision = AssessmentStatus.REVIEWED if approve else AssessmentStatus.RETURNED
        if not await st.record_review(s, assessment_id, reviewer_id, decision, note, at):
            return ReviewOutcome(ReviewResult.ALREADY_DECIDED, subject.patent)
        await push(s, services, subject.inventor_id, "notify_reviewed" if approve else "notify_returned",
                   key=f"review:{assessment_id}:{at.isoformat()}", patent=subject.patent, note=note)
    wake(services)
    return ReviewOutcome(ReviewResult.APPROVED if approve else ReviewResult.RETURNED, subject.patent)
