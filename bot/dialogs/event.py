"""An officer (or admin) creates and publishes a matchmaking event, declared as data (see engine.py).

title → kind → start (Beijing time, typed) → place or online link → capacity (0 = unlimited) → who may
sign up → industry (optional) → description (optional) → whom to notify → review card. Submitting
creates the event and enqueues its notices in the dialog's own transaction (bot/events.publish).
"""
from __future__ import annotations

import datetime as dt
import re
from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.calendar import fmt_local, parse_local
from bot.dialogs.engine import Dialog, Invalid, Step
from bot.dialogs.self_assessment import INDUSTRIES
from bot.services.events import ELIGIBILITY, EVENT_KINDS, PUBLISH_TOPICS
from bot.models import Role

MAX_CAPACITY = 100_000
MAX_AHEAD = dt.timedelta(days=2 * 366)
_URL = re.compile(r"^https?://[^\s/]+\.[^\s]+$", re.I)

# Validators are pure functions of the typed text; "now" comes from services.clock() through the
# dialog's load hook, which the engine runs right before every validation (same asyncio task).
_NOW: ContextVar[dt.datetime | None] = ContextVar("dialog_now", default=None)


def dialog_now() -> dt.datetime:
    return _NOW.get() or dt.datetime.now(dt.timezone.utc)


async def load_clock(services: Any, ctx: dict, answers: dict) -> dict:
    _NOW.set(services.clock())
    return {}


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
    Step("ev_title", "text", max_len=100, min_len=2, template="events_dlg_title"),
    Step("ev_kind", "choice", options=EVENT_KINDS, columns=3, template="events_dlg_kind"),
    Step("ev_start", "text", max_len=40, validate=parse_start, template="events_dlg_start"),
    Step("ev_place", "text", max_len=300, min_len=2, validate=parse_place, template="events_dlg_place"),
    Step("ev_capacity", "text", max_len=10, validate=parse_capacity, template="events_dlg_capacity"),
    Step("ev_eligibility", "multi", options=ELIGIBILITY, columns=2, template="events_dlg_eligibility"),
    Step("ev_industry", "choice", options=INDUSTRIES, optional=True, columns=2, template="events_dlg_industry"),
    Step("ev_description", "text", max_len=1000, optional=True, template="events_dlg_description"),
    Step("ev_topics", "multi", options=PUBLISH_TOPICS, columns=1, template="events_dlg_topics"),
    Step("review", "review", template="events_dlg_review"),
)


async def _persist(session: AsyncSession, services: Any, user_id: int, ctx: dict, answers: dict,
                   finished: bool) -> None:
    if not finished:
        return
    from bot.services.events import publish

    place, link = split_place(answers["ev_place"])
    eligibility = [] if "all" in answers["ev_eligibility"] else list(answers["ev_eligibility"])
    ev = await services.storage.create_event(
        session, user_id, title=answers["ev_title"], kind=answers["ev_kind"],
        starts_at=parse_local(answers["ev_start"]), place=place, online_link=link,
        capacity=int(answers["ev_capacity"]), eligibility=eligibility, description=answers.get("ev_description"),
        county=ctx.get("county") or "", department_id=ctx.get("department_id"), industry=answers.get("ev_industry"),
        now=services.clock())
    ctx["event_id"] = ev.id  # the same dict reaches _finish (the engine passes the dialog's ctx to both)
    ctx["recipients"] = await publish(session, services, ev, answers["ev_topics"])


async def _finish(services: Any, update: Any, context: Any, ctx: dict, answers: dict) -> tuple[str, dict]:
    from bot.handlers.events import after_publish

    return await after_publish(update, context, ctx["event_id"], ctx.get("recipients", 0))


EVENT_DIALOG = Dialog("event", STEPS, load=load_clock, persist=_persist, finish=_finish,
                      cancel_template="events_cancelled", roles=(Role.OFFICER, Role.ADMIN, Role.AGENCY))
