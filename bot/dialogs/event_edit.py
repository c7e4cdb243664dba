"""The organiser changes a published event: which field → its new value (the same validators as
when publishing) → review (old and new side by side) → submit. The change, the attendees' notices
and the removal of the dialog state commit in one transaction (bot/events.edit)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.calendar import parse_local
from bot.dialogs.engine import Dialog, Step
from bot.dialogs.event import load_clock, parse_capacity, parse_place, parse_start, split_place
from bot.services.events import EDITABLE, event_view
from bot.models import Role


def _editing(field: str):
    return lambda answers: answers.get("ee_field") == field


STEPS = (
    Step("ee_field", "choice", options=EDITABLE, columns=2, template="events_edit_field"),
    Step("ev_start", "text", max_len=40, validate=parse_start, when=_editing("start"), template="events_dlg_start"),
    Step("ev_place", "text", max_len=300, min_len=2, validate=parse_place, when=_editing("place"),
         template="events_dlg_place"),
    Step("ev_capacity", "text", max_len=10, validate=parse_capacity, when=_editing("capacity"),
         template="events_edit_capacity"),
    Step("ev_description", "text", max_len=1000, when=_editing("description"), template="events_edit_description"),
    Step("review", "review", template="events_edit_review"),
)


async def _load(services: Any, ctx: dict, answers: dict) -> dict:
    await load_clock(services, ctx, answers)
    ev = await services.storage.get_event(ctx["event_id"])
    return event_view(ev) if ev is not None else {"ev": None}


def changes_of(answers: dict) -> dict:
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


async def _persist(session: AsyncSession, services: Any, user_id: int, ctx: dict, answers: dict,
                   finished: bool) -> None:
    if not finished:
        return
    from bot.services.events import edit

    outcome = await edit(session, services, ctx["event_id"], user_id, changes_of(answers))
    ctx["edited"] = {"done": outcome.done, "told": outcome.told, "promoted": outcome.promoted}


async def _finish(services: Any, update: Any, context: Any, ctx: dict, answers: dict) -> tuple[str, dict]:
    from bot.handlers.events import after_edit

    return await after_edit(update, context, ctx["event_id"], answers.get("ee_field", ""), ctx.get("edited") or {})


EVENT_EDIT_DIALOG = Dialog("event_edit", STEPS, load=_load, persist=_persist, finish=_finish,
                           cancel_template="events_edit_cancelled", roles=(Role.OFFICER, Role.ADMIN, Role.AGENCY))
