"""An officer (or admin) creates and publishes a matchmaking event, declared as data (see engine.py).

title → kind → start (Beijing time, typed) → place or online link → capacity (0 = unlimited) → who may
sign up → industry (optional) → description (optional) → whom to notify → review card. Submitting
creates the event and enqueues its notices in the dialog's own transaction (bot/services/events.publish);
the dialog's result (``Published``) goes to the events handler that started it.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from bot.dialogs.engine import Dialog
from bot.dialogs.hooks import dialog_now, load_clock
from bot.dialogs.ports import DialogSave
from bot.dialogs.steps import Choice, Invalid, Multi, Review, Text
from bot.models import Role
from bot.services.calendar import fmt_local, parse_local
from bot.services.events import ELIGIBILITY, EVENT_KINDS, PUBLISH_TOPICS, publish
from bot.vocabulary import INDUSTRIES

MAX_CAPACITY = 100_000
MAX_AHEAD = dt.timedelta(days=2 * 366)
_URL = re.compile(r"^https?://[^\s/]+\.[^\s]+$", re.I)


def parse_start(text: str) -> str:
    moment = parse_local(text)
    if moment is None:
        raise Invalid("events_bad_time")
    now = dialog_now()
    if moment <= now:
        raise Invalid("events_time_past", now=fmt_local(now))
    if moment > now + MAX_AHEAD:
        raise Invalid("events_time_far")
    return fmt_local(moment)


def parse_place(text: str) -> str:
    t = text.strip()
    if ("://" in t or t.lower().startswith("www.")) and not _URL.match(t):
        raise Invalid("events_bad_link")
    return t


def parse_capacity(text: str) -> str:
    try:
        n = int(text.strip())
    except ValueError:
        raise Invalid("events_bad_capacity") from None
    if not 0 <= n <= MAX_CAPACITY:
        raise Invalid("events_bad_capacity")
    return str(n)


def split_place(value: str) -> tuple[str | None, str | None]:
    """(place, online_link)"""
    return (None, value) if _URL.match(value) else (value, None)


STEPS = (
    Text("ev_title", max_len=100, min_len=2, template="events_dlg_title"),
    Choice("ev_kind", options=EVENT_KINDS, columns=3, template="events_dlg_kind"),
    Text("ev_start", max_len=40, validate=parse_start, template="events_dlg_start"),
    Text("ev_place", max_len=300, min_len=2, validate=parse_place, template="events_dlg_place"),
    Text("ev_capacity", max_len=10, validate=parse_capacity, template="events_dlg_capacity"),
    Multi("ev_eligibility", options=ELIGIBILITY, columns=2, template="events_dlg_eligibility"),
    Choice("ev_industry", options=INDUSTRIES, optional=True, columns=2, template="events_dlg_industry"),
    Text("ev_description", max_len=1000, optional=True, template="events_dlg_description"),
    Multi("ev_topics", options=PUBLISH_TOPICS, columns=1, template="events_dlg_topics"),
    Review("review", template="events_dlg_review"),
)


class Published(NamedTuple):
    """The event dialog's result."""

    event_id: int
    recipients: int  # notices enqueued: the size of the broadcast ``event:<id>``


async def _persist(save: DialogSave) -> Published | None:
    if not save.final:
        return None
    services, answers, ctx = save.services, save.answers, save.ctx
    place, link = split_place(answers["ev_place"])
    eligibility = [] if "all" in answers["ev_eligibility"] else list(answers["ev_eligibility"])
    ev = await services.storage.create_event(
        save.session, save.user_id, title=answers["ev_title"], kind=answers["ev_kind"],
        starts_at=parse_local(answers["ev_start"]), place=place, online_link=link,
        capacity=int(answers["ev_capacity"]), eligibility=eligibility, description=answers.get("ev_description"),
        county=ctx.get("county") or "", department_id=ctx.get("department_id"), industry=answers.get("ev_industry"),
        now=services.clock())
    return Published(ev.id, await publish(save.session, services, ev, answers["ev_topics"]))


EVENT_DIALOG = Dialog("event", STEPS, load=load_clock, persist=_persist, cancel_template="events_cancelled",
                      roles=(Role.OFFICER, Role.ADMIN, Role.AGENCY))
