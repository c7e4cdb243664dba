"""Local time (Asia/Shanghai) and calendar files.

Everything is stored in UTC; people type and read Beijing time. ``parse_local`` turns what an organiser
types ("2024-09-20 14:30") into an aware UTC datetime, ``local`` formats one back, and ``event_ics``
builds the .ics attached to a signup confirmation.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from icalendar import Calendar
from icalendar import Event as ICalEvent

TZ = ZoneInfo("Asia/Shanghai")
REMIND_AT = dt.time(9, 0)  # deadline reminders go out at 09:00 Beijing time
EVENT_LENGTH = dt.timedelta(hours=2)  # the calendar entry's length (events have no end time)

_DATETIME = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*(?:[ T]\s*)?(\d{1,2})\s*[:：时点]\s*(\d{2})\s*分?$")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def parse_local(text: str) -> dt.datetime | None:
    """``2024-09-20 14:30`` (also ``2024/9/20 9:05``, ``2024年9月20日 14:30``) in Beijing time → UTC."""
    m = _DATETIME.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi = (int(x) for x in m.groups())
    try:
        return dt.datetime(y, mo, d, h, mi, tzinfo=TZ).astimezone(dt.timezone.utc)
    except ValueError:
        return None


def parse_date(text: str) -> dt.date | None:
    m = _DATE.match(text.strip())
    if not m:
        return None
    try:
        return dt.date(*(int(x) for x in m.groups()))
    except ValueError:
        return None


def local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(TZ)


def fmt_local(moment: dt.datetime | None) -> str:
    return "" if moment is None else local(moment).strftime("%Y-%m-%d %H:%M")


def local_today(now: dt.datetime) -> dt.date:
    return local(now).date()


def at_local(day: dt.date, time: dt.time = REMIND_AT) -> dt.datetime:
    """``day`` at ``time`` Beijing time, as UTC."""
    return dt.datetime.combine(day, time, tzinfo=TZ).astimezone(dt.timezone.utc)


def year_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The current calendar year in Beijing time, as UTC [start, end)."""
    y = local(now).year
    return at_local(dt.date(y, 1, 1), dt.time(0, 0)), at_local(dt.date(y + 1, 1, 1), dt.time(0, 0))


def event_ics(*, uid: str, title: str, starts_at: dt.datetime, place: str | None, url: str | None,
              description: str | None, stamp: dt.datetime) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//patent-pilot-bot//events//ZH")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    ev = ICalEvent()
    ev.add("uid", uid)
    ev.add("dtstamp", stamp.astimezone(dt.timezone.utc))
    ev.add("dtstart", starts_at.astimezone(dt.timezone.utc))
    ev.add("dtend", (starts_at + EVENT_LENGTH).astimezone(dt.timezone.utc))
    ev.add("summary", title)
    if place:
        ev.add("location", place)
    if url:
        ev.add("url", url)
        if not place:
            ev.add("location", url)
    if description:
        ev.add("description", description)
    cal.add_component(ev)
    return cal.to_ical()
