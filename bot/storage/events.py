"""Matchmaking events (对接会 / 路演推介 / 交易撮合): creation, signups with capacity, waitlist, reminders.

Capacity under concurrency: a signup is one transaction that (1) inserts the signup row — waitlisted,
``ON CONFLICT DO NOTHING`` on (event, user), so a double tap cannot create a second row — and (2)
claims a seat with the conditional ``UPDATE events SET confirmed_count = confirmed_count + 1 WHERE id
= :id AND (capacity = 0 OR confirmed_count < capacity)``. Only when that UPDATE changed a row does the
signup become confirmed. On PostgreSQL the UPDATE row-locks the event and re-checks the condition on
the newest row version (READ COMMITTED), on SQLite writers are serialised: either way 100 concurrent
taps confirm exactly ``capacity`` people. A cancellation of a confirmed seat hands it to the first
waitlisted signup in the same transaction (or gives the seat back).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Department, Event, EventSignup, SignupStatus, User
from bot.storage.base import StorageBase

CONFIRMED = SignupStatus.CONFIRMED.value
WAITLISTED = SignupStatus.WAITLISTED.value
CANCELLED = SignupStatus.CANCELLED.value
PUBLISHED = "published"
CALLED_OFF = "cancelled"  # Event.status of an event its organiser called off


@dataclass(frozen=True)
class Signup:
    """A user's signup after a tap on "sign up"."""
    status: SignupStatus   # CONFIRMED or WAITLISTED
    new: bool              # False: signed up before (a double tap); ``status`` is the one they had
    event: Event
    position: int | None = None  # place on the waitlist (1 = next), for a new waitlisted signup


@dataclass(frozen=True)
class Cancellation:
    previous: SignupStatus | None  # what was cancelled: a seat, a place on the waitlist, or nothing
    event: Event | None
    promoted_user_id: int | None = None  # who got the freed seat


@dataclass(frozen=True)
class CallOff:
    done: bool               # False: already called off (double tap, second organiser) or missing
    event: Event | None
    attendees: list[int]     # everyone who was confirmed or waitlisted, to be told


@dataclass(frozen=True)
class Attendee:
    user_id: int
    first_name: str
    username: str | None
    status: str
    signed_up_at: dt.datetime


@dataclass(frozen=True)
class CountyCount:
    county: str
    held: int
    planned: int


def _open_at(now: dt.datetime):
    """The SQL form of ``bot.services.events.is_open``: for listings and for the guarded UPDATEs that
    must re-check it atomically."""
    return and_(Event.status == PUBLISHED, Event.starts_at > now)


def _signup(event_id: int, user_id: int):
    return and_(EventSignup.event_id == event_id, EventSignup.user_id == user_id)


def _insert_signup(session: AsyncSession):
    bind = session.bind if session.bind is not None else session.sync_session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(EventSignup)


_NOSYNC = {"synchronize_session": False}


class EventQueries(StorageBase):
    # -- events ------------------------------------------------------------------------------------
    async def create_event(self, session: AsyncSession, organiser_id: int, *, title: str, kind: str,
                           starts_at: dt.datetime, place: str | None, online_link: str | None, capacity: int,
                           eligibility: list[str], description: str | None, county: str,
                           department_id: int | None, industry: str | None, now: dt.datetime) -> Event:
        """A published event, in the caller's transaction (its notices are enqueued in the same one)."""
        ev = Event(title=title, kind=kind, starts_at=starts_at, place=place, online_link=online_link,
                   capacity=capacity, eligibility=eligibility, description=description, county=county,
                   organiser_department_id=department_id, organiser_user_id=organiser_id, status=PUBLISHED,
                   confirmed_count=0, industry=industry, reminder_stage=0, created_at=now)
        session.add(ev)
        await session.flush()
        self.audit(session, organiser_id, "create_event", "event", str(ev.id), None,
                   {"title": title, "kind": kind, "starts_at": starts_at.isoformat(), "capacity": capacity,
                    "county": county})
        return ev

    async def get_event(self, event_id: int, *, session: AsyncSession | None = None) -> Event | None:
        if session is not None:
            return await session.get(Event, event_id)
        async with self.session() as s:
            return await s.get(Event, event_id)

    async def upcoming_events(self, now: dt.datetime, *, limit: int = 5, offset: int = 0
                              ) -> tuple[list[Event], int]:
        cond = _open_at(now)
        async with self.session() as s:
            total = await s.scalar(select(func.count()).select_from(Event).where(cond)) or 0
            rows = await s.scalars(select(Event).where(cond).order_by(Event.starts_at, Event.id)
                                   .limit(limit).offset(offset))
            return list(rows), int(total)

    async def organised_by(self, user_id: int, since: dt.datetime, limit: int = 10) -> list[Event]:
        async with self.session() as s:
            return list(await s.scalars(select(Event).where(Event.organiser_user_id == user_id,
                                                            Event.starts_at > since)
                                        .order_by(Event.starts_at, Event.id).limit(limit)))

    async def signup_status(self, event_id: int, user_id: int) -> str | None:
        async with self.session() as s:
            return await s.scalar(select(EventSignup.status).where(_signup(event_id, user_id)))

    async def waitlist_count(self, event_id: int) -> int:
        async with self.session() as s:
            return int(await s.scalar(select(func.count()).select_from(EventSignup).where(
                EventSignup.event_id == event_id, EventSignup.status == WAITLISTED)) or 0)

    async def my_signups(self, user_id: int, now: dt.datetime) -> list[tuple[Event, str]]:
        async with self.session() as s:
            rows = await s.execute(select(Event, EventSignup.status).join(EventSignup, EventSignup.event_id == Event.id)
                                   .where(EventSignup.user_id == user_id,
                                          EventSignup.status.in_([CONFIRMED, WAITLISTED]), _open_at(now))
                                   .order_by(Event.starts_at, Event.id))
            return [(e, st) for e, st in rows]

    async def waitlist_positions(self, user_id: int, event_ids: list[int]) -> dict[int, int]:
        """event id → the user's place on its waiting list (1 = next), in the order ``_promote_first``
        moves people up."""
        if not event_ids:
            return {}
        mine = (select(EventSignup.event_id, EventSignup.created_at, EventSignup.id)
                .where(EventSignup.user_id == user_id, EventSignup.status == WAITLISTED,
                       EventSignup.event_id.in_(event_ids)).subquery())
        ahead = EventSignup.__table__.alias("ahead")
        q = (select(mine.c.event_id, func.count(ahead.c.id))
             .join(ahead, and_(ahead.c.event_id == mine.c.event_id, ahead.c.status == WAITLISTED,
                               or_(ahead.c.created_at < mine.c.created_at,
                                   and_(ahead.c.created_at == mine.c.created_at, ahead.c.id <= mine.c.id))))
             .group_by(mine.c.event_id))
        async with self.session() as s:
            return {int(e): int(n) for e, n in await s.execute(q)}

    async def attendees(self, event_id: int) -> list[Attendee]:
        async with self.session() as s:
            rows = await s.execute(
                select(EventSignup, User.first_name, User.username).join(User, User.id == EventSignup.user_id)
                .where(EventSignup.event_id == event_id, EventSignup.status.in_([CONFIRMED, WAITLISTED]))
                .order_by(EventSignup.status, EventSignup.created_at, EventSignup.id))
            return [Attendee(su.user_id, name or "", username, su.status, su.created_at) for su, name, username in rows]

    async def county_counts(self, year_start: dt.datetime, year_end: dt.datetime, now: dt.datetime
                            ) -> dict[str, CountyCount]:
        """Published events per county this year: held (started before ``now``) and planned."""
        held = func.sum(case((Event.starts_at <= now, 1), else_=0))
        async with self.session() as s:
            rows = await s.execute(select(Event.county, func.count(), held)
                                   .where(Event.status == PUBLISHED, Event.starts_at >= year_start,
                                          Event.starts_at < year_end)
                                   .group_by(Event.county))
            return {c or "": CountyCount(c or "", int(h or 0), int(n) - int(h or 0)) for c, n, h in rows}

    async def department_county(self, department_id: int) -> tuple[str, str] | None:
        async with self.session() as s:
            d = await s.get(Department, department_id)
            return (d.name, d.county or "") if d else None

    # -- signups -----------------------------------------------------------------------------------
    async def sign_up(self, s: AsyncSession, event_id: int, user_id: int, now: dt.datetime) -> Signup:
        """One tap = one signup, in the caller's transaction (its confirmation is enqueued in the same
        one): confirmed while seats last, then waitlisted; never two rows, never more confirmed than
        ``capacity`` (see the module docstring). Whether the event still takes signups is the
        caller's check."""
        res = await s.execute(_insert_signup(s).values(
            event_id=event_id, user_id=user_id, status=WAITLISTED, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["event_id", "user_id"]))
        if res.rowcount != 1:  # signed up before: only a cancelled signup may be renewed
            res = await s.execute(update(EventSignup).where(_signup(event_id, user_id),
                                                            EventSignup.status == CANCELLED)
                                  .values(status=WAITLISTED, created_at=now, updated_at=now)
                                  .execution_options(**_NOSYNC))
            if res.rowcount != 1:
                current = await s.scalar(select(EventSignup.status).where(_signup(event_id, user_id)))
                return Signup(SignupStatus(current), False, await s.get(Event, event_id))
        seat = await s.execute(update(Event).where(
            Event.id == event_id, Event.status == PUBLISHED,
            or_(Event.capacity == 0, Event.confirmed_count < Event.capacity))
            .values(confirmed_count=Event.confirmed_count + 1).execution_options(**_NOSYNC))
        position = None
        if seat.rowcount == 1:
            await s.execute(update(EventSignup).where(_signup(event_id, user_id))
                            .values(status=CONFIRMED, updated_at=now).execution_options(**_NOSYNC))
            status = SignupStatus.CONFIRMED
        else:
            status = SignupStatus.WAITLISTED
            mine = await s.scalar(select(EventSignup.id).where(_signup(event_id, user_id)))
            position = int(await s.scalar(select(func.count()).select_from(EventSignup).where(
                EventSignup.event_id == event_id, EventSignup.status == WAITLISTED,
                or_(EventSignup.created_at < now, and_(EventSignup.created_at == now, EventSignup.id <= mine))))
                or 1)
        ev = await s.get(Event, event_id, populate_existing=True)  # the seat count after the UPDATE
        self.audit(s, user_id, "event_signup", "event", str(event_id), None, {"status": status.value})
        return Signup(status, True, ev, position)

    async def call_off_event(self, s: AsyncSession, event_id: int, actor_id: int) -> CallOff:
        """The organiser calls a published event off, in the caller's transaction (the attendees'
        notices commit with the change). Guarded on the status, so a double tap or a second organiser
        changes nothing and is told nobody."""
        res = await s.execute(update(Event).where(Event.id == event_id, Event.status == PUBLISHED)
                              .values(status=CALLED_OFF).execution_options(**_NOSYNC))
        ev = await s.get(Event, event_id, populate_existing=True)  # as the UPDATE left it
        if res.rowcount != 1:
            return CallOff(False, ev, [])
        uids = list(await s.scalars(select(EventSignup.user_id).where(
            EventSignup.event_id == event_id, EventSignup.status.in_([CONFIRMED, WAITLISTED]))
            .order_by(EventSignup.id)))
        self.audit(s, actor_id, "event_called_off", "event", str(event_id), {"status": PUBLISHED},
                   {"status": CALLED_OFF, "notified": len(uids)})
        return CallOff(True, ev, uids)

    async def edit_event(self, session: AsyncSession, event_id: int, actor_id: int, changes: dict,
                         now: dt.datetime) -> tuple[Event | None, dict, list[tuple[int, str]], list[int]]:
        """The organiser changes an open event, in the caller's transaction (the dialog's, so the
        attendees' notices commit with it). Guarded: nothing changes once the event started or was
        called off (→ event, {}, [], []). A moved start re-arms the 1-day / 1-hour reminders; more
        seats go to the waitlist in order; fewer seats bump nobody already confirmed.
        Returns (event, the old values of what changed, (user, status) of everyone confirmed or
        waitlisted before the change, who was promoted from the waitlist)."""
        ev = await session.get(Event, event_id)
        if ev is None:
            return None, {}, [], []
        before = {k: getattr(ev, k) for k in changes}
        values = dict(changes)
        if "starts_at" in changes:
            values["reminder_stage"] = 0
        res = await session.execute(update(Event).where(Event.id == event_id, _open_at(now))
                                    .values(**values).execution_options(**_NOSYNC))
        await session.refresh(ev)
        if res.rowcount != 1:
            return ev, {}, [], []
        attendees = [(int(u), st) for u, st in (await session.execute(
            select(EventSignup.user_id, EventSignup.status).where(
                EventSignup.event_id == event_id, EventSignup.status.in_([CONFIRMED, WAITLISTED]))
            .order_by(EventSignup.id))).all()]
        promoted: list[int] = []
        while "capacity" in changes and (ev.capacity == 0 or ev.confirmed_count < ev.capacity):
            uid = await self._promote_first(session, event_id, now)
            if uid is None:
                break
            await session.execute(update(Event).where(Event.id == event_id)
                                  .values(confirmed_count=Event.confirmed_count + 1).execution_options(**_NOSYNC))
            await session.refresh(ev)
            promoted.append(uid)
        self.audit(session, actor_id, "event_edited", "event", str(event_id),
                   {k: _plain(v) for k, v in before.items()},
                   {**{k: _plain(v) for k, v in changes.items()}, "promoted": len(promoted)})
        return ev, before, attendees, promoted

    async def cancel_signup(self, s: AsyncSession, event_id: int, user_id: int, now: dt.datetime, *,
                            hand_on: bool) -> Cancellation:
        """Cancel my signup, in the caller's transaction (the promoted person's notice commits with
        it). A confirmed seat goes to the first waitlisted person when ``hand_on`` (the event is
        still open), else back to the pool."""
        res = await s.execute(update(EventSignup).where(_signup(event_id, user_id), EventSignup.status == CONFIRMED)
                              .values(status=CANCELLED, updated_at=now).execution_options(**_NOSYNC))
        if res.rowcount != 1:
            res = await s.execute(update(EventSignup).where(_signup(event_id, user_id),
                                                            EventSignup.status == WAITLISTED)
                                  .values(status=CANCELLED, updated_at=now).execution_options(**_NOSYNC))
            ev = await s.get(Event, event_id)
            if res.rowcount == 1:
                self.audit(s, user_id, "event_cancel", "event", str(event_id), {"status": WAITLISTED}, None)
                return Cancellation(SignupStatus.WAITLISTED, ev)
            return Cancellation(None, ev)
        promoted = await self._promote_first(s, event_id, now) if hand_on else None
        if promoted is None:
            await s.execute(update(Event).where(Event.id == event_id, Event.confirmed_count > 0)
                            .values(confirmed_count=Event.confirmed_count - 1).execution_options(**_NOSYNC))
        ev = await s.get(Event, event_id, populate_existing=True)  # the seat count after the UPDATE
        self.audit(s, user_id, "event_cancel", "event", str(event_id), {"status": CONFIRMED},
                   {"promoted": promoted})
        return Cancellation(SignupStatus.CONFIRMED, ev, promoted)

    async def _promote_first(self, s: AsyncSession, event_id: int, now: dt.datetime) -> int | None:
        while True:
            q = (select(EventSignup.id, EventSignup.user_id)
                 .where(EventSignup.event_id == event_id, EventSignup.status == WAITLISTED)
                 .order_by(EventSignup.created_at, EventSignup.id).limit(1))
            if s.bind.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            first = (await s.execute(q)).first()
            if first is None:
                return None
            res = await s.execute(update(EventSignup).where(EventSignup.id == first.id, EventSignup.status == WAITLISTED)
                                  .values(status=CONFIRMED, updated_at=now).execution_options(**_NOSYNC))
            if res.rowcount == 1:
                return int(first.user_id)

    async def signup_counts(self, event_id: int) -> dict[str, int]:
        async with self.session() as s:
            return dict((await s.execute(select(EventSignup.status, func.count()).where(
                EventSignup.event_id == event_id).group_by(EventSignup.status))).all())

    # -- reminders (bot/delivery/scheduler.py) ------------------------------------------------------------------
    async def events_needing_reminders(self, now: dt.datetime) -> list[Event]:
        """Published events whose next reminder (1 day / 1 hour before the start) is due."""
        async with self.session() as s:
            return list(await s.scalars(select(Event).where(Event.status == PUBLISHED, or_(
                and_(Event.reminder_stage == 0, Event.starts_at <= now + dt.timedelta(days=1)),
                and_(Event.reminder_stage == 1, Event.starts_at <= now + dt.timedelta(hours=1))))
                .order_by(Event.starts_at)))

    async def next_event_reminder(self) -> dt.datetime | None:
        async with self.session() as s:
            day = await s.scalar(select(func.min(Event.starts_at)).where(Event.status == PUBLISHED,
                                                                         Event.reminder_stage == 0))
            hour = await s.scalar(select(func.min(Event.starts_at)).where(Event.status == PUBLISHED,
                                                                          Event.reminder_stage == 1))
        times = [_aware(day) - dt.timedelta(days=1) if day is not None else None,
                 _aware(hour) - dt.timedelta(hours=1) if hour is not None else None]
        times = [t for t in times if t is not None]
        return min(times) if times else None

    @staticmethod
    async def advance_event_reminder(session: AsyncSession, event_id: int, old: int, new: int) -> bool:
        """Guarded: only one process (and one tick) moves an event from ``old`` to ``new``."""
        res = await session.execute(update(Event).where(Event.id == event_id, Event.reminder_stage == old)
                                    .values(reminder_stage=new).execution_options(**_NOSYNC))
        return res.rowcount == 1

    @staticmethod
    async def confirmed_user_ids(session: AsyncSession, event_id: int) -> list[int]:
        return list(await session.scalars(select(EventSignup.user_id).where(
            EventSignup.event_id == event_id, EventSignup.status == CONFIRMED).order_by(EventSignup.id)))


def _plain(value):
    """An audit-log value (JSON): datetimes as ISO text."""
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _aware(value) -> dt.datetime:
    """Aggregates bypass the column type on SQLite (naive datetime or an ISO string)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
