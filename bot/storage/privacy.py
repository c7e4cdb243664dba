"""Personal data: one user's own data (``/mydata``), its erasure (``/deleteme``) and the retention
pruning of old push texts, saved searches and audit images (``bot/services/privacy.py``).

What erasure does to each table, and why (aggregate statistics and other people's records stay whole):

- ``users``: the row stays (other rows refer to its id) with the name, username and phone blanked;
- ``role_grants``: revoked (the user leaves every role; ids stay for the audit trail);
- ``inventor_patents``, ``subscriptions``, ``saved_queries``, ``dialog_states``: deleted (the user's own);
- ``outbox_messages`` to the user's chat: deleted, texts and files alike (nothing more is sent);
- ``self_assessments``, ``enterprise_ratings``, ``transactions``, ``event_signups``, ``events``: kept
  under the now nameless id: they are the patents', institutions' and organisers' records and feed
  ``/stats`` (counts, averages, seats); the free text a rater or requester wrote (rating comments and
  needs, a lead's message) is blanked;
- ``leads``: kept (the inventor's record of an interest), the requester's message blanked;
- ``events.organiser_user_id``, ``transactions.recorded_by``, ``deadlines.created_by``,
  ``invites.created_by``, ``role_grants.granted_by``: kept as bare ids (whose record it is stays
  answerable; no name is attached any more);
- ``audit_log``: the rows stay (who did what, when) with their before/after images of this user blanked,
  and one ``erase_personal_data`` row records the erasure itself (counts only).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, null, or_, select, update

from bot.models import (AuditLog, DialogState, EnterpriseRating, Event, EventSignup, InventorPatent, Lead,
                        OutboxMessage, OutboxStatus, RoleGrant, SavedQuery, SelfAssessment, Subscription, User)
from bot.storage.base import StorageBase

_FINISHED = [OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.DROPPED.value]


@dataclass(frozen=True)
class Pruned:
    outbox: int
    saved_queries: int
    audit_images: int


def _row(obj: Any, *names: str) -> dict[str, Any]:
    return {n: getattr(obj, n) for n in names}


class PrivacyQueries(StorageBase):
    async def personal_data(self, user_id: int) -> dict[str, Any] | None:
        """Everything stored about this user that is theirs (not other people's data about them: a lead's
        requester sees their own request, the inventor it went to sees it in /leads). None: no such user."""
        async with self.session() as s:
            user = await s.get(User, user_id)
            if user is None:
                return None
            scalars = s.scalars
            grants = await scalars(select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.id))
            links = await scalars(select(InventorPatent).where(InventorPatent.user_id == user_id))
            assessments = await scalars(select(SelfAssessment).where(SelfAssessment.inventor_id == user_id))
            ratings = await scalars(select(EnterpriseRating).where(EnterpriseRating.rater_id == user_id))
            requests = await scalars(select(Lead).where(Lead.requester_id == user_id))
            received = await scalars(select(Lead).where(Lead.inventor_id == user_id))
            signups = await s.execute(select(EventSignup, Event.title, Event.starts_at)
                                      .join(Event, Event.id == EventSignup.event_id)
                                      .where(EventSignup.user_id == user_id))
            subs = await scalars(select(Subscription).where(Subscription.user_id == user_id))
            searches = await scalars(select(SavedQuery).where(SavedQuery.user_id == user_id))
            actions = await scalars(select(AuditLog).where(AuditLog.actor_id == user_id).order_by(AuditLog.id))
            pushes = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.chat_id == user_id).limit(1))
            return {
                "user": _row(user, "id", "first_name", "username", "phone", "language", "blocked_bot",
                             "created_at", "last_seen_at", "privacy_notice_at"),
                "roles": [_row(g, "role", "scope_key", "created_at", "revoked_at") for g in grants],
                "linked_patents": [_row(x, "patent_id", "created_at") for x in links],
                "self_assessments": [_row(a, "patent_id", "status", "industry_field", "maturity", "scenarios",
                                          "scenario_text", "prospect", "intents", "implemented", "implemented_how",
                                          "licence_kind", "payment_kind", "open_licence", "price_range",
                                          "contact_pref", "submitted_at", "reviewed_at") for a in assessments],
                "ratings": [_row(r, "patent_id", "is_expert", "prospect", "improvement_needs", "improvement_text",
                                 "cooperation_intents", "price_expectation", "comment", "created_at") for r in ratings],
                "interest_requests": [_row(x, "patent_id", "message", "status", "created_at", "decided_at")
                                      for x in requests],
                # requests addressed to the user: what happened to them, not who asked (that is the asker's)
                "interest_received": [_row(x, "patent_id", "status", "created_at", "decided_at") for x in received],
                "event_signups": [{"event": title, "starts_at": starts, "status": su.status,
                                   "created_at": su.created_at} for su, title, starts in signups],
                "subscriptions": [_row(x, "topic_kind", "topic_value", "active") for x in subs],
                "saved_searches": [_row(x, "query", "filters", "created_at") for x in searches],
                "actions": [_row(x, "action", "entity_kind", "entity_id", "created_at") for x in actions],
                "messages_kept": pushes is not None,
            }

    async def erase_personal_data(self, user_id: int, now: dt.datetime) -> dict[str, int]:
        """Erase or anonymise the user's personal data in one transaction (see the module docstring for
        each table); audit-logged with counts only. Returns the counts per table."""
        async with self.session() as s:
            counts: dict[str, int] = {}

            async def run(name: str, statement: Any) -> None:
                counts[name] = (await s.execute(statement)).rowcount or 0

            await run("users", update(User).where(User.id == user_id)
                      .values(first_name="", username=None, phone=None))
            await run("role_grants", update(RoleGrant).where(RoleGrant.user_id == user_id,
                                                             RoleGrant.revoked_at.is_(None)).values(revoked_at=now))
            await run("inventor_patents", delete(InventorPatent).where(InventorPatent.user_id == user_id))
            await run("subscriptions", delete(Subscription).where(Subscription.user_id == user_id))
            await run("saved_queries", delete(SavedQuery).where(SavedQuery.user_id == user_id))
            await run("dialog_states", delete(DialogState).where(DialogState.user_id == user_id))
            await run("outbox_messages", delete(OutboxMessage).where(OutboxMessage.chat_id == user_id))
            await run("enterprise_ratings", update(EnterpriseRating).where(EnterpriseRating.rater_id == user_id)
                      .values(comment=None, improvement_text=None))
            await run("leads", update(Lead).where(Lead.requester_id == user_id).values(message=None))
            await run("audit_log", update(AuditLog).where(
                or_(AuditLog.actor_id == user_id,
                    (AuditLog.entity_kind == "user") & (AuditLog.entity_id == str(user_id))))
                .values(before=null(), after=null()))
            self.audit(s, user_id, "erase_personal_data", "user", str(user_id), None, counts)
            return counts

    async def prune_personal_data(self, before: dt.datetime) -> Pruned:
        """Retention: delete finished pushes (texts and files) and saved searches created before
        ``before``, and blank the before/after images of older audit rows (the rows stay: who did what,
        when). Pushes not yet delivered are kept whatever their age."""
        async with self.session() as s:
            outbox = await s.execute(delete(OutboxMessage).where(OutboxMessage.status.in_(_FINISHED),
                                                                 OutboxMessage.created_at < before))
            searches = await s.execute(delete(SavedQuery).where(SavedQuery.created_at < before))
            images = await s.execute(update(AuditLog).where(
                AuditLog.created_at < before, or_(AuditLog.before.is_not(None), AuditLog.after.is_not(None)))
                .values(before=null(), after=null()))
            return Pruned(outbox.rowcount or 0, searches.rowcount or 0, images.rowcount or 0)

    async def mark_privacy_notice(self, user_id: int, now: dt.datetime) -> bool:
        """Record that the user saw the privacy notice; False if they had seen it already."""
        async with self.session() as s:
            res = await s.execute(update(User).where(User.id == user_id, User.privacy_notice_at.is_(None))
                                  .values(privacy_notice_at=now))
            return res.rowcount == 1
