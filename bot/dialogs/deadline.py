"""An officer adds a deadline with its reminder lead times (e.g. 30 / 7 / 1 days before)."""
from __future__ import annotations

import datetime as dt
import re

from bot.delivery.notify import wake
from bot.dialogs.engine import Dialog
from bot.dialogs.hooks import dialog_now, load_clock
from bot.dialogs.ports import DialogResult, DialogSave, Reply
from bot.dialogs.steps import Invalid, Review, Text
from bot.models import Role
from bot.services.calendar import local_today, parse_date

MAX_LEADS = 5
MAX_LEAD_DAYS = 365
MAX_AHEAD_DAYS = 5 * 366
# spaces, commas, slashes and semicolons, also the full-width comma and semicolon and the enumeration
# comma a Chinese keyboard types
_LEAD_SEPARATORS = re.compile(r"[\s,\uff0c\u3001/;\uff1b]+")


def parse_due(text: str) -> str:
    day = parse_date(text)
    if day is None:
        raise Invalid("deadline_bad_date")
    today = local_today(dialog_now())
    if day < today:
        raise Invalid("deadline_date_past", today=today.isoformat())
    if (day - today).days > MAX_AHEAD_DAYS:
        raise Invalid("deadline_date_far")
    return day.isoformat()


def parse_leads(text: str) -> str:
    parts = [p for p in _LEAD_SEPARATORS.split(text.strip()) if p]
    try:
        days = sorted({int(p) for p in parts}, reverse=True)
    except ValueError:
        raise Invalid("deadline_bad_leads") from None
    if not days or len(days) > MAX_LEADS or any(not 0 <= d <= MAX_LEAD_DAYS for d in days):
        raise Invalid("deadline_bad_leads")
    return " ".join(str(d) for d in days)


STEPS = (
    Text("dl_title", max_len=200, min_len=2, template="deadline_dlg_title"),
    Text("dl_due", max_len=20, validate=parse_due, template="deadline_dlg_due"),
    Text("dl_leads", max_len=40, validate=parse_leads, template="deadline_dlg_leads"),
    Review("review", template="deadline_dlg_review"),
)


async def _persist(save: DialogSave) -> None:
    if not save.final:
        return
    answers = save.answers
    await save.services.storage.create_deadline(
        save.session, save.user_id, title=answers["dl_title"], due_date=dt.date.fromisoformat(answers["dl_due"]),
        lead_days=[int(x) for x in answers["dl_leads"].split()], departments=save.ctx.get("departments", []),
        now=save.services.clock())


async def _finish(result: DialogResult) -> Reply:
    wake(result.services, scheduler=True)  # its reminders are computed from the database at once
    answers = result.answers
    return Reply("deadline_added", {"title": answers["dl_title"], "due": answers["dl_due"],
                                    "leads": answers["dl_leads"].split()})


DEADLINE_DIALOG = Dialog("deadline", STEPS, load=load_clock, persist=_persist, finish=_finish,
                         cancel_template="deadline_cancelled", roles=(Role.OFFICER, Role.ADMIN))
