"""Subscriptions: who gets which pushes (topics) and the audiences of broadcasts.

A topic is ``(topic_kind, topic_value)``:

* ``department`` / department id — notices of events organised by that department
* ``county`` / county name (``""`` = city level) — events held in that county
* ``event_kind`` / matchmaking | roadshow | deal
* ``industry`` / an industry field key (bot/vocabulary.INDUSTRIES)
* ``deadlines`` / ``""`` — deadline reminders of the plan's task table and officers' own deadlines
* ``event_reminders`` / ``""`` — 1-day / 1-hour reminders of events one signed up for (created on signup)

Unsubscribing sets ``active = False`` (the row stays, so defaults are not re-applied). Officers get
their department, county and deadline reminders by default, applied lazily (see
``ensure_officer_defaults``): the first time they open /subscriptions or an audience is computed.
A ``_defaults`` marker row per officer grant records that it happened.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import String, and_, cast, exists, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Department, Role, RoleGrant, Subscription, User
from bot.storage.base import StorageBase

DEPARTMENT, COUNTY, EVENT_KIND, INDUSTRY, DEADLINES, EVENT_REMINDERS = (
    "department", "county", "event_kind", "industry", "deadlines", "event_reminders")
TOPIC_KINDS = (DEPARTMENT, COUNTY, EVENT_KIND, INDUSTRY, DEADLINES, EVENT_REMINDERS)
DEFAULTS_MARK = "_defaults"

Topic = tuple[str, str]


@dataclass(frozen=True)
class Recipient:
    """One user of an audience, with the subscription that made them one (its unsubscribe button)."""

    user_id: int
    language: str
    subscription_id: int
    topic_kind: str
    topic_value: str


@dataclass(frozen=True)
class SubscriptionView:
    id: int
    topic_kind: str
    topic_value: str
    active: bool


def _insert(session: AsyncSession):
    bind = session.bind if session.bind is not None else session.sync_session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(Subscription)


async def upsert_subscriptions(session: AsyncSession, rows: Iterable[dict]) -> int:
    """INSERT … ON CONFLICT DO NOTHING (an existing row, active or not, is left as it is)."""
    rows = [{"active": True, **r} for r in rows]
    if not rows:
        return 0
    total = 0
    for i in range(0, len(rows), 500):
        stmt = _insert(session).values(rows[i:i + 500]).on_conflict_do_nothing(
            index_elements=["user_id", "topic_kind", "topic_value"])
        total += (await session.execute(stmt)).rowcount
    return total


class SubscriptionQueries(StorageBase):
    async def ensure_officer_defaults(self, user_id: int | None = None, *,
                                      session: AsyncSession | None = None) -> int:
        """Subscribe officers (all, or ``user_id``) to their department, county and deadline
        reminders — once per officer grant. Returns the number of grants handled."""
        if session is None:
            async with self.session() as s:
                return await self.ensure_officer_defaults(user_id, session=s)
        mark = Subscription.__table__.alias("mark")
        q = (select(RoleGrant.user_id, RoleGrant.department_id, Department.county)
             .join(Department, Department.id == RoleGrant.department_id)
             .where(RoleGrant.role == Role.OFFICER.value, RoleGrant.revoked_at.is_(None),
                    ~exists().where(mark.c.user_id == RoleGrant.user_id, mark.c.topic_kind == DEFAULTS_MARK,
                                    mark.c.topic_value == literal("dept:") + cast(RoleGrant.department_id, String))))
        if user_id is not None:
            q = q.where(RoleGrant.user_id == user_id)
        grants = (await session.execute(q)).all()
        rows = []
        for uid, dept_id, county in grants:
            rows += [{"user_id": uid, "topic_kind": DEPARTMENT, "topic_value": str(dept_id)},
                     {"user_id": uid, "topic_kind": COUNTY, "topic_value": county or ""},
                     {"user_id": uid, "topic_kind": DEADLINES, "topic_value": ""},
                     {"user_id": uid, "topic_kind": DEFAULTS_MARK, "topic_value": f"dept:{dept_id}",
                      "active": False}]
        await upsert_subscriptions(session, rows)
        return len(grants)

    async def subscriptions_of(self, user_id: int) -> list[SubscriptionView]:
        async with self.session() as s:
            rows = await s.scalars(select(Subscription).where(Subscription.user_id == user_id,
                                                              Subscription.topic_kind.in_(TOPIC_KINDS))
                                   .order_by(Subscription.id))
            return [SubscriptionView(r.id, r.topic_kind, r.topic_value, r.active) for r in rows]

    async def toggle_subscription(self, user_id: int, kind: str, value: str) -> bool:
        """Subscribe if not subscribed, else unsubscribe; returns the new state."""
        if kind not in TOPIC_KINDS:
            raise ValueError(kind)
        async with self.session() as s:
            res = await s.execute(update(Subscription).where(
                Subscription.user_id == user_id, Subscription.topic_kind == kind,
                Subscription.topic_value == value).values(active=~Subscription.active)
                .returning(Subscription.active))
            got = res.scalar_one_or_none()
            if got is None:
                await upsert_subscriptions(s, [{"user_id": user_id, "topic_kind": kind, "topic_value": value}])
                got = True
            self.audit(s, user_id, "subscribe" if got else "unsubscribe", "subscription", f"{kind}:{value}",
                       None, {"active": bool(got)})
            return bool(got)

    async def deactivate_subscription(self, s: AsyncSession, subscription_id: int, user_id: int) -> Topic | None:
        """Switch off exactly that subscription, and only the owner's; its topic, or None if it was
        not on (or is not theirs)."""
        res = await s.execute(update(Subscription).where(
            Subscription.id == subscription_id, Subscription.user_id == user_id,
            Subscription.active.is_(True), Subscription.topic_kind.in_(TOPIC_KINDS)).values(active=False)
            .returning(Subscription.topic_kind, Subscription.topic_value))
        row = res.first()
        if row is None:
            return None
        self.audit(s, user_id, "unsubscribe", "subscription", f"{row[0]}:{row[1]}", None, {"active": False})
        return row[0], row[1]

    @staticmethod
    async def subscription_topic(s: AsyncSession, subscription_id: int, user_id: int) -> Topic | None:
        """The topic of one of the user's subscriptions, on or off."""
        row = (await s.execute(select(Subscription.topic_kind, Subscription.topic_value).where(
            Subscription.id == subscription_id, Subscription.user_id == user_id,
            Subscription.topic_kind.in_(TOPIC_KINDS)))).first()
        return (row[0], row[1]) if row is not None else None

    async def recipients(self, session: AsyncSession, topics: Sequence[Topic], *,
                         exclude: Iterable[int] = (), only: Iterable[int] | None = None) -> list[Recipient]:
        """Active subscribers of any of ``topics`` (users who blocked the bot left out), one entry per
        user: the subscription of the first topic in ``topics`` order that they hold. ``only``
        restricts the audience to those users (e.g. an event's confirmed attendees)."""
        topics = list(dict.fromkeys(topics))
        if not topics:
            return []
        cond = or_(*(and_(Subscription.topic_kind == k, Subscription.topic_value == v) for k, v in topics))
        rows = (await session.execute(
            select(Subscription.id, Subscription.user_id, Subscription.topic_kind, Subscription.topic_value,
                   User.language)
            .join(User, User.id == Subscription.user_id)
            .where(cond, Subscription.active.is_(True), User.blocked_bot.is_(False),
                   *([Subscription.user_id.in_(sorted(set(only)))] if only is not None else [])))).all()
        rank = {t: i for i, t in enumerate(topics)}
        skip = set(exclude)
        best: dict[int, tuple] = {}
        for sid, uid, kind, value, lang in rows:
            if uid in skip:
                continue
            r = rank[(kind, value)]
            if uid not in best or r < best[uid][0]:
                best[uid] = (r, sid, kind, value, lang)
        return [Recipient(uid, lang, sid, kind, value) for uid, (_, sid, kind, value, lang) in sorted(best.items())]

    async def department_names(self, ids: Iterable[int]) -> dict[int, str]:
        ids = sorted({int(i) for i in ids})
        if not ids:
            return {}
        async with self.session() as s:
            return dict((await s.execute(select(Department.id, Department.name).where(Department.id.in_(ids)))).all())

    async def department_of(self, department_id: int) -> Department | None:
        async with self.session() as s:
            return await s.get(Department, department_id)
