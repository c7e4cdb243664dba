"""The tech-transfer office's review: what waits for it (inventors' link requests and submitted
self-assessments, with everything needed to decide), who may decide, the decision (approve, or return
with a note for the inventor) and the inventor's notice, which commits with it."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from bot.delivery.notify import push, wake
from bot.models import AssessmentStatus, LinkStatus, Role, utcnow
from bot.services.roles import RoleSet
from bot.storage.assessments import AssessmentView
from bot.storage.ownership import LinkRequest
from bot.storage.patents import PatentRow

PAGE = 5          # assessments per /review page
LINKS_SHOWN = 5   # link requests above the first page (the oldest; each decision makes room)


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


@dataclass(frozen=True)
class ReviewQueue:
    links: list[LinkRequest]
    links_total: int
    assessments: list[AssessmentView]
    assessments_total: int


async def queue(services: Any, roles: RoleSet, offset: int) -> ReviewQueue:
    """What waits for the office of the reviewer's institutions: link requests (first page only) and
    a page of submitted assessments."""
    st = services.storage
    institutions = roles.institutions(Role.TECH_TRANSFER)
    links, links_total = (await st.pending_links(institutions, limit=LINKS_SHOWN) if offset == 0
                          else ([], 0))
    items, total = await st.submitted_for_institutions(institutions, limit=PAGE, offset=offset)
    return ReviewQueue(links, links_total, items, total)


async def readable(services: Any, assessment_id: int, roles: RoleSet) -> AssessmentView | None:
    """An assessment (in any status) of a patent of the reviewer's institution, else None."""
    view = await services.storage.assessment_view(assessment_id)
    return view if view is not None and may_review(roles, view.patent) else None


def may_review(roles: RoleSet, patent: PatentRow) -> bool:
    """The office of the patent's institution decides; nobody decides for a patent without one."""
    return patent.institution_id is not None and patent.institution_id in roles.institutions(Role.TECH_TRANSFER)


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
        if await st.link_status(subject.inventor_id, subject.patent.id, session=s) is not LinkStatus.CONFIRMED:
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
