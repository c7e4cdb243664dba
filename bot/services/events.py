"""The events and reminders service: what handlers, dialogs and the scheduler call.

Every push created here goes through the outbox in the transaction of the change that causes it,
with an idempotency key, and carries an inline "unsubscribe from this topic" button (``un:<id>``)
that removes exactly the subscription that made the user a recipient:

* event notice            ``event:{id}:notice:{user}``            (broadcast ``event:{id}``)
* signup confirmation     ``event:{id}:confirmed:{user}:{t}``     (a document: the .ics)
* promotion from waitlist ``event:{id}:promoted:{user}:{t}``      (a document: the .ics)
* time or place changed   ``event:{id}:changed:{t}:{user}``       (confirmed: a document, the new .ics)
* event reminders         ``event:{id}:remind:{day|hour}:{user}``

A document's text goes in its caption when it fits Telegram's 1,024 characters; a longer one (long
title and places) is sent as a message under ``<key>:text`` with the .ics right after it.
"""
from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PROJECT_ROOT
from bot.io.cells import neutralise_row
from bot.services.calendar import event_ics, fmt_local, year_bounds
from bot.delivery.notify import CAPTION_LIMIT, caption_length, push, push_document, wake
from bot.services.roles import RoleSet
from bot.models import Event, Role, SignupStatus, User
from bot.storage.events import PUBLISHED, Attendee, Cancellation, CountyCount
from bot.services.subscriptions import unsubscribe_button
from bot.storage.subscriptions import (COUNTY, DEPARTMENT, EVENT_KIND, EVENT_REMINDERS, INDUSTRY, Recipient,
                                       upsert_subscriptions)
from bot.telegram.callbacks import CancelSignup, SignUp

log = logging.getLogger(__name__)

EVENT_KINDS = ("matchmaking", "roadshow", "deal")  # 对接会 / 路演推介 / 交易撮合
ELIGIBILITY = ("all", "enterprise", "inventor", "tto", "expert", "agency", "officer")
PUBLISH_TOPICS = (DEPARTMENT, COUNTY, EVENT_KIND, INDUSTRY)
#: the county-level divisions of Fuzhou, in the plan's order (their names are data: data/counties.json)
COUNTIES: tuple[str, ...] = tuple(json.loads((PROJECT_ROOT / "data" / "counties.json").read_text(encoding="utf-8"))
                                  ["counties"])
EVENTS_PER_COUNTY_TARGET = 1  # the plan: every county holds at least one event a year


# ------------------------------------------------------------------------------------------------
# labels and buttons
# ------------------------------------------------------------------------------------------------

def cancel_signup_button(i18n: Any, lang: str, ev: Event) -> dict:
    return {"text": i18n.label(lang, "btn_cancel_signup"), "callback_data": CancelSignup(ev.id).pack()}


def event_view(ev: Event) -> dict:
    """What templates need of an event besides the row (times in Beijing time)."""
    return {"ev": ev, "when": fmt_local(ev.starts_at),
            "seats_left": None if not ev.capacity else max(ev.capacity - ev.confirmed_count, 0)}


# ------------------------------------------------------------------------------------------------
# who may do what with an event
# ------------------------------------------------------------------------------------------------

def is_open(ev: Event, now: dt.datetime) -> bool:
    """Published and not started yet: takes signups, and its organiser may still change or call it off."""
    return ev.status == PUBLISHED and ev.starts_at > now


def eligible(ev: Event, roles: RoleSet) -> bool:
    """May sign up: the event is for everyone or for one of the user's roles (admins always may)."""
    wanted = [r for r in (ev.eligibility or []) if r != "all"]
    if not wanted or roles.is_admin:
        return True
    return roles.has(*[Role(r) for r in wanted if r in {x.value for x in Role}])


def may_manage(ev: Event, user_id: int, roles: RoleSet) -> bool:
    """Its organiser, an officer of the organising department, or an admin."""
    if roles.is_admin or ev.organiser_user_id == user_id:
        return True
    return ev.organiser_department_id is not None and any(
        g.role == Role.OFFICER.value and g.department_id == ev.organiser_department_id for g in roles.grants)


@dataclass(frozen=True)
class OfficerScope:
    department_id: int | None  # the department a new event is organised by (the first officer grant)
    county: str                # its county ("" = city level)
    city_level: bool           # an admin, or an officer of a city-level department: sees every county


async def officer_scope(storage: Any, roles: RoleSet) -> OfficerScope:
    city = roles.is_admin
    first: tuple[int | None, str] = (None, "")
    for g in roles.grants:
        if g.role != Role.OFFICER.value or g.department_id is None:
            continue
        found = await storage.department_county(g.department_id)
        county = found[1] if found else ""
        if first[0] is None:
            first = (g.department_id, county)
        city = city or county == ""
    return OfficerScope(first[0], first[1], city)


@dataclass(frozen=True)
class CountyProgress:
    county: str
    held: int     # this (Beijing) year, started by now
    planned: int  # this year, still to come
    met: bool     # held at least EVENTS_PER_COUNTY_TARGET


@dataclass(frozen=True)
class CountyTargets:
    counties: list[CountyProgress]  # every county of the plan, then any other an event named
    city: CountyCount | None          # city-level events

    @property
    def met(self) -> int:
        return sum(1 for c in self.counties if c.met)


async def county_targets(storage: Any, now: dt.datetime) -> CountyTargets:
    """This year's published events per county against the plan's target (city-level officers)."""
    start, end = year_bounds(now)
    counts = await storage.county_counts(start, end, now)
    names = list(COUNTIES) + sorted(c for c in counts if c and c not in COUNTIES)
    counties = []
    for c in names:
        got = counts.get(c)
        held, planned = (got.held, got.planned) if got else (0, 0)
        counties.append(CountyProgress(c, held, planned, held >= EVENTS_PER_COUNTY_TARGET))
    return CountyTargets(counties, counts.get(""))


# ------------------------------------------------------------------------------------------------
# publishing
# ------------------------------------------------------------------------------------------------

def publish_topics(ev: Event, chosen: Iterable[str]) -> list[tuple[str, str]]:
    topics = []
    for t in PUBLISH_TOPICS:
        if t not in chosen:
            continue
        if t == DEPARTMENT and ev.organiser_department_id is not None:
            topics.append((DEPARTMENT, str(ev.organiser_department_id)))
        elif t == COUNTY:
            topics.append((COUNTY, ev.county or ""))
        elif t == EVENT_KIND:
            topics.append((EVENT_KIND, ev.kind))
        elif t == INDUSTRY and ev.industry:
            topics.append((INDUSTRY, ev.industry))
    return topics


async def publish(session: AsyncSession, services: Any, ev: Event, chosen: Iterable[str]) -> int:
    """One notice per subscriber of the chosen topics, enqueued in the event's own transaction.
    Returns the number of recipients (broadcast id ``event:{id}``)."""
    st, i18n = services.storage, services.i18n
    await st.ensure_officer_defaults(session=session)
    rcpts = await st.recipients(session, publish_topics(ev, chosen), exclude=[ev.organiser_user_id or 0])
    dept_names = await st.department_names([int(r.topic_value) for r in rcpts if r.topic_kind == DEPARTMENT]
                                           + ([ev.organiser_department_id] if ev.organiser_department_id else []))
    now = services.clock()
    texts: dict[str, str] = {}
    rows = []
    for r in rcpts:
        lang = i18n.lang(r.language)
        if lang not in texts:
            texts[lang] = i18n.render(lang, "events_notice", dept=dept_names.get(ev.organiser_department_id or 0),
                                      **event_view(ev))
        markup = {"inline_keyboard": [
            [{"text": i18n.label(lang, "btn_signup"), "callback_data": SignUp(ev.id).pack()}],
            [unsubscribe_button(i18n, lang, r, dept_names)]]}
        rows.append({"chat_id": r.user_id, "text": texts[lang], "key": f"event:{ev.id}:notice:{r.user_id}",
                     "reply_markup": markup, "broadcast_id": f"event:{ev.id}", "not_before": now})
    await st.enqueue_many(rows, session=session)
    return len(rows)


# ------------------------------------------------------------------------------------------------
# signups
# ------------------------------------------------------------------------------------------------

async def _reminder_subscription(session: AsyncSession, services: Any, user_id: int) -> Recipient | None:
    await upsert_subscriptions(session, [{"user_id": user_id, "topic_kind": EVENT_REMINDERS, "topic_value": ""}])
    got = await services.storage.recipients(session, [(EVENT_REMINDERS, "")], only=[user_id])
    return got[0] if got else None


class CalendarFileAccess(enum.Enum):
    GRANTED = "granted"
    WAITLISTED = "waitlisted"        # no seat yet, so no calendar entry
    NOT_SIGNED_UP = "not_signed_up"  # or the event was called off


async def calendar_file_access(storage: Any, ev: Event, user_id: int) -> CalendarFileAccess:
    """Only a confirmed attendee of a published event gets its calendar file again."""
    status = await storage.signup_status(ev.id, user_id)
    if ev.status != PUBLISHED:
        return CalendarFileAccess.NOT_SIGNED_UP
    if status == SignupStatus.CONFIRMED:
        return CalendarFileAccess.GRANTED
    return CalendarFileAccess.WAITLISTED if status == SignupStatus.WAITLISTED else CalendarFileAccess.NOT_SIGNED_UP


def calendar_file(ev: Event, now: dt.datetime) -> tuple[bytes, str]:
    """The event's .ics (the same UID every time, so a calendar app updates its entry) and its name."""
    ics = event_ics(uid=f"event-{ev.id}@patent-pilot-bot", title=ev.title, starts_at=ev.starts_at, place=ev.place,
                    url=ev.online_link, description=ev.description, stamp=now)
    return ics, f"event-{ev.id}.ics"


async def _confirmation(session: AsyncSession, services: Any, ev: Event, user_id: int, template: str,
                        key: str, **extra: Any) -> None:
    """The confirmation with the calendar file attached, as an outbox document — or, when the text is
    too long for a caption (long title and places), the text first and the file right after it."""
    i18n = services.i18n
    user = await session.get(User, user_id)
    lang = i18n.lang(user.language if user else None)
    now = services.clock()
    ics, name = calendar_file(ev, now)
    rows = [[cancel_signup_button(i18n, lang, ev)]]
    sub = await _reminder_subscription(session, services, user_id)
    if sub is not None:
        rows.append([unsubscribe_button(i18n, lang, sub, {})])
    view = event_view(ev)
    text = i18n.render(lang, template, **view, **extra)
    if caption_length(text) > CAPTION_LIMIT:
        text = i18n.render(lang, template, **view, **extra, ics_below=True)
    await push_document(session, services, user_id, text=text, short_caption=i18n.render(lang, "events_ics_caption",
                                                                                         **view),
                        document=ics, document_name=name, key=key, reply_markup={"inline_keyboard": rows},
                        not_before=now)


class SignupResult(enum.Enum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    ALREADY_SIGNED_UP = "already_signed_up"  # a double tap, or signed up before
    NOT_ELIGIBLE = "not_eligible"            # the event is for other roles
    CLOSED = "closed"                        # called off, or started
    MISSING = "missing"


@dataclass(frozen=True)
class SignupOutcome:
    result: SignupResult
    event: Event | None
    position: int | None = None  # place on the waitlist (1 = next)


async def sign_up(services: Any, event_id: int, user_id: int, roles: RoleSet) -> SignupOutcome:
    """Sign a user up; a new confirmed signup's confirmation (with the .ics) commits with it."""
    st, now = services.storage, services.clock()
    async with st.session() as s:
        ev = await st.get_event(event_id, session=s)
        if ev is None:
            return SignupOutcome(SignupResult.MISSING, None)
        if not eligible(ev, roles):
            return SignupOutcome(SignupResult.NOT_ELIGIBLE, ev)
        if not is_open(ev, now):
            return SignupOutcome(SignupResult.CLOSED, ev)
        signup = await st.sign_up(s, event_id, user_id, now)
        if not signup.new:
            return SignupOutcome(SignupResult.ALREADY_SIGNED_UP, signup.event)
        if signup.status is SignupStatus.CONFIRMED:
            await _confirmation(s, services, signup.event, user_id, "events_confirmed",
                                f"event:{event_id}:confirmed:{user_id}:{int(now.timestamp() * 1000)}")
    wake(services)
    result = SignupResult.CONFIRMED if signup.status is SignupStatus.CONFIRMED else SignupResult.WAITLISTED
    return SignupOutcome(result, signup.event, signup.position)


async def cancel(services: Any, event_id: int, user_id: int) -> Cancellation:
    """Cancel a user's signup; a freed seat goes to the first on the waitlist while the event is
    open, and their notice commits with the change."""
    st, now = services.storage, services.clock()
    async with st.session() as s:
        ev = await st.get_event(event_id, session=s)
        outcome = await st.cancel_signup(s, event_id, user_id, now, hand_on=ev is not None and is_open(ev, now))
        if outcome.promoted_user_id is not None:
            promoted = outcome.promoted_user_id
            await _confirmation(s, services, outcome.event, promoted, "events_promoted",
                                f"event:{event_id}:promoted:{promoted}:{int(now.timestamp() * 1000)}")
    wake(services)
    return outcome


async def call_off(services: Any, event_id: int, actor_id: int) -> tuple[bool, Event | None, int]:
    """Call an event off: everyone confirmed or waitlisted gets a notice through the outbox, in the
    same transaction. Returns (done now, the event, how many were told)."""
    st = services.storage
    told = 0
    async with st.session() as s:
        called_off = await st.call_off_event(s, event_id, actor_id)
        if called_off.done:
            view = event_view(called_off.event)
            for uid in called_off.attendees:
                told += int(await push(s, services, uid, "events_called_off",
                                       key=f"event:{event_id}:called_off:{uid}", **view))
    wake(services)
    return called_off.done, called_off.event, told


#: what an organiser may change once the event is published (the rest defines who was invited)
EDITABLE = ("start", "place", "capacity", "description")


@dataclass(frozen=True)
class EditOutcome:
    done: bool            # False: the event started or was called off meanwhile (nothing changed)
    event: Event | None
    told: int = 0         # attendees told of a new time or place
    promoted: int = 0     # waitlisted people who got one of the added seats


def _where(place: str | None, link: str | None) -> str:
    return place or link or ""


async def edit(session: AsyncSession, services: Any, event_id: int, actor_id: int, changes: dict) -> EditOutcome:
    """Apply an organiser's change in the caller's transaction. A new time or place reaches everyone
    confirmed (with a fresh calendar file) or waitlisted; added seats go to the waitlist in order,
    each promoted person told once."""
    now = services.clock()
    ev, before, attendees, promoted = await services.storage.edit_event(session, event_id, actor_id, changes, now)
    if ev is None or not before:
        return EditOutcome(False, ev)
    stamp = int(now.timestamp() * 1000)
    for uid in promoted:
        await _confirmation(session, services, ev, uid, "events_promoted_seats",
                            f"event:{ev.id}:promoted:{uid}:{stamp}")
    shown = []
    if "starts_at" in before:
        shown.append({"field": "ev_start", "old": fmt_local(before["starts_at"]), "new": fmt_local(ev.starts_at)})
    if "place" in before or "online_link" in before:
        shown.append({"field": "ev_place", "old": _where(before.get("place"), before.get("online_link")),
                      "new": _where(ev.place, ev.online_link)})
    shown = [c for c in shown if c["old"] != c["new"]]   # the same value typed again: nobody is told
    told = 0
    if shown:
        for uid, status in attendees:
            if uid in promoted:
                continue
            key = f"event:{ev.id}:changed:{stamp}:{uid}"
            if status == "confirmed":
                await _confirmation(session, services, ev, uid, "events_changed", key, changes=shown, ics=True)
                told += 1
            else:
                user = await session.get(User, uid)
                lang = services.i18n.lang(user.language if user else None)
                markup = {"inline_keyboard": [[cancel_signup_button(services.i18n, lang, ev)]]}
                told += int(await push(session, services, uid, "events_changed", key=key, reply_markup=markup,
                                       changes=shown, ics=False, **event_view(ev)))
    return EditOutcome(True, ev, told, len(promoted))


# ------------------------------------------------------------------------------------------------
# attendee lists
# ------------------------------------------------------------------------------------------------

def _attendee_rows(labels: Any, attendees: list[Attendee]) -> tuple[list[str], list[list[Any]]]:
    header = list(labels.attendee_columns)
    rows = [[i + 1, a.first_name, ("@" + a.username) if a.username else "", a.user_id,
             labels.signup_status.get(a.status, a.status), fmt_local(a.signed_up_at)]
            for i, a in enumerate(attendees)]
    return header, rows


def attendees_csv(labels: Any, attendees: list[Attendee]) -> bytes:
    header, rows = _attendee_rows(labels, attendees)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(neutralise_row(r) for r in rows)
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def attendees_xlsx(labels: Any, attendees: list[Attendee]) -> bytes:
    header, rows = _attendee_rows(labels, attendees)
    wb = Workbook()
    ws = wb.active
    ws.title = "attendees"
    ws.append(header)
    for r in rows:
        ws.append(neutralise_row(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# event reminders (run by bot/delivery/scheduler.py)
# ------------------------------------------------------------------------------------------------

async def run_event_reminders(services: Any, now: dt.datetime) -> int:
    st, i18n = services.storage, services.i18n
    sent = 0
    for ev in await st.events_needing_reminders(now):
        if ev.starts_at <= now:
            stage, which = 2, None  # started: a late reminder helps nobody
        elif ev.starts_at <= now + dt.timedelta(hours=1):
            stage, which = 2, "hour"
        else:
            stage, which = 1, "day"
        async with st.session() as s:
            if not await st.advance_event_reminder(s, ev.id, ev.reminder_stage, stage) or which is None:
                continue
            uids = await st.confirmed_user_ids(s, ev.id)
            await upsert_subscriptions(s, [{"user_id": u, "topic_kind": EVENT_REMINDERS, "topic_value": ""}
                                           for u in uids])
            rcpts = await st.recipients(s, [(EVENT_REMINDERS, "")], only=uids) if uids else []
            rows = []
            for r in rcpts:
                lang = i18n.lang(r.language)
                rows.append({"chat_id": r.user_id, "key": f"event:{ev.id}:remind:{which}:{r.user_id}",
                             "text": i18n.render(lang, "events_reminder", which=which, **event_view(ev)),
                             "reply_markup": {"inline_keyboard": [
                                 [cancel_signup_button(i18n, lang, ev)],
                                 [unsubscribe_button(i18n, lang, r, {})]]},
                             "not_before": now})
            sent += await st.enqueue_many(rows, session=s)
        log.info("event %s: %s reminder to %d attendee(s)", ev.id, which, len(rows))
    return sent
