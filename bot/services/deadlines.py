"""Deadlines of the plan's task table and officers' own: who may remove one, whom a new one is for,
and their reminders (run by bot/delivery/scheduler.py).

A reminder goes through the outbox with an idempotency key — ``deadline:{id}:{lead}:{user}``, or
``deadline:{id}:overdue:{user}`` once the due date is missed — in the same transaction as the guarded
move of the deadline's ``last_reminder_at``, so a restart or a second process sends nothing twice.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from bot.departments import dept_token
from bot.models import Deadline, Role
from bot.services.calendar import at_local, local_today
from bot.services.roles import RoleSet
from bot.services.subscriptions import deadline_audience, unsubscribe_button
from bot.storage.subscriptions import DEADLINES

log = logging.getLogger(__name__)

OVERDUE_WINDOW = dt.timedelta(days=30)  # older overdue deadlines are history, not news


def may_delete(d: Deadline, user_id: int, roles: RoleSet) -> bool:
    """The plan's seeded deadlines stay; an officer removes their own, an admin anyone's."""
    return d.key is None and (roles.is_admin or d.created_by == user_id)


def departments_for_new(roles: RoleSet) -> list[str]:
    """Whom a new deadline is for: an officer's own department(s); an admin's (no officer grant),
    every department."""
    return sorted({dept_token(g.department_id) for g in roles.grants
                   if g.role == Role.OFFICER.value and g.department_id is not None})


async def delete(services: Any, deadline_id: int, user_id: int, roles: RoleSet) -> bool:
    """Remove a deadline; its reminders are computed from the table, so none is sent after the
    commit. False if it was gone already (a double tap) or is not this user's to remove."""
    st = services.storage
    async with st.session() as s:
        d = await st.get_deadline(deadline_id, session=s)
        if d is None or not may_delete(d, user_id, roles):
            return False
        return await st.delete_deadline(s, d, user_id)


def deadline_plan(d: Deadline, now: dt.datetime) -> tuple[str | None, dt.datetime | None, dt.datetime | None]:
    """What to send for deadline ``d`` at ``now``: (lead days as text or "overdue" or None, the slot
    it stands for (→ last_reminder_at), the next moment something will be due).

    Reminder slots are 09:00 Beijing time ``lead`` days before the due date; the due date is missed at
    09:00 the day after. Of several slots missed (the bot was down, or the deadline is older than the
    bot) only the newest is sent; a missed due date gets one "overdue" notice (within 30 days)."""
    done = d.last_reminder_at
    overdue_at = at_local(d.due_date + dt.timedelta(days=1))

    def pending(t: dt.datetime) -> bool:
        return done is None or t > done

    if now >= overdue_at:
        if pending(overdue_at) and now - overdue_at <= OVERDUE_WINDOW:
            return "overdue", overdue_at, None
        return None, None, None
    slots = sorted((at_local(d.due_date - dt.timedelta(days=lead)), lead)
                   for lead in {int(x) for x in (d.lead_days or []) if 0 <= int(x) <= 3650})
    passed = [(t, lead) for t, lead in slots if t <= now and pending(t)]
    upcoming = [t for t, _ in slots if t > now and pending(t)] + [overdue_at]
    if passed:
        slot, lead = passed[-1]
        return str(lead), slot, min(upcoming)
    return None, None, min(upcoming)


async def run_deadline_reminders(services: Any, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """Send what is due; returns (pushes enqueued, next due time)."""
    st, i18n = services.storage, services.i18n
    sent, nxt = 0, []
    for d in await st.all_deadlines():
        what, slot, next_at = deadline_plan(d, now)
        if next_at is not None:
            nxt.append(next_at)
        if what is None:
            continue
        async with st.session() as s:
            if not await st.mark_deadline_reminder(s, d.id, d.last_reminder_at, slot):
                continue  # another process (or tick) handled this slot
            await st.ensure_officer_defaults(session=s)
            # only the departments the deadline is for (the task table names kinds, an officer's
            # own deadline their department); admins who subscribed hear of every deadline
            rcpts = await st.recipients(s, [(DEADLINES, "")],
                                        exclude=await st.officers_outside(s, list(d.departments or [])),
                                        only=await deadline_audience(services, s))
            days_left = (d.due_date - local_today(now)).days
            texts: dict[str, str] = {}
            rows = []
            for r in rcpts:
                lang = i18n.lang(r.language)
                if lang not in texts:
                    labels = i18n.label_module(lang)
                    texts[lang] = i18n.render(lang, "deadline_overdue" if what == "overdue" else "deadline_reminder",
                                              title=labels.deadline_title.get(d.key or "", d.title),
                                              due=d.due_date.isoformat(), days_left=days_left)
                rows.append({"chat_id": r.user_id, "text": texts[lang], "key": f"deadline:{d.id}:{what}:{r.user_id}",
                             "reply_markup": {"inline_keyboard": [[unsubscribe_button(i18n, lang, r, {})]]},
                             "not_before": now})
            sent += await st.enqueue_many(rows, session=s)
        log.info("deadline %s: %s reminder to %d subscriber(s)", d.id, what, len(rows))
    return sent, (min(nxt) if nxt else None)
