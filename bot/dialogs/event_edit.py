"""The organiser changes a published event: which field → its new value (the same validators as
when publishing) → review (old and new side by side) → submit. The change, the attendees' notices
and the removal of the dialog state commit in one transaction (bot/services/events.edit); the
dialog's result (an ``EditOutcome``) goes to the events handler that started it."""
from __future__ import annotations

from bot.dialogs.engine import Dialog
from bot.dialogs.event import parse_capacity, parse_place, parse_start, split_place
from bot.dialogs.hooks import load_clock
from bot.dialogs.ports import Answers, Condition, DialogRun, DialogSave, Extra
from bot.dialogs.steps import Choice, Review, Text
from bot.models import Role
from bot.services.calendar import parse_local
from bot.services.events import EDITABLE, EditOutcome, edit, event_view


def _editing(field: str) -> Condition:
    return lambda answers: answers.get("ee_field") == field


STEPS = (
    Choice("ee_field", options=EDITABLE, columns=2, template="events_edit_field"),
    Text("ev_start", max_len=40, validate=parse_start, when=_editing("start"), template="events_dlg_start"),
    Text("ev_place", max_len=300, min_len=2, validate=parse_place, when=_editing("place"),
         template="events_dlg_place"),
    Text("ev_capacity", max_len=10, validate=parse_capacity, when=_editing("capacity"),
         template="events_edit_capacity"),
    Text("ev_description", max_len=1000, when=_editing("description"), template="events_edit_description"),
    Review("review", template="events_edit_review"),
)


async def _load(run: DialogRun) -> Extra:
    await load_clock(run)
    ev = await run.services.storage.get_event(run.ctx["event_id"])
    return event_view(ev) if ev is not None else {"ev": None}


def changes_of(answers: Answers) -> dict:
    field = answers.get("ee_field")
    if field == "start":
        return {"starts_at": parse_local(answers["ev_start"])}
    if field == "place":
        place, link = split_place(answers["ev_place"])
        return {"place": place, "online_link": link}
    if field == "capacity":
        return {"capacity": int(answers["ev_capacity"])}
    if field == "description":
        return {"description": answers["ev_description"]}
    return {}


async def _persist(save: DialogSave) -> EditOutcome | None:
    if not save.final:
        return None
    return await edit(save.session, save.services, save.ctx["event_id"], save.user_id, changes_of(save.answers))


EVENT_EDIT_DIALOG = Dialog("event_edit", STEPS, load=_load, persist=_persist, cancel_template="events_edit_cancelled",
                           roles=(Role.OFFICER, Role.ADMIN, Role.AGENCY))
