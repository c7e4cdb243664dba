"""Deadlines (the plan's task table, seeded by migration 0005, plus officers' own) and the bookkeeping
of their reminders: ``last_reminder_at`` is the newest reminder slot already handled, moved by a
guarded UPDATE in the same transaction that enqueues the reminders (see bot/delivery/scheduler.py)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import departments as dep
from bot.models import Deadline, Department, Role, RoleGrant
from bot.storage.base import StorageBase


class DeadlineQueries(StorageBase):
    async def all_deadlines(self) -> list[Deadline]:
        async with self.session() as s:
            return list(await s.scalars(select(Deadline).order_by(Deadline.due_date, Deadline.id)))

    async def deadlines_from(self, day: dt.date, limit: int = 20) -> list[Deadline]:
        async with self.session() as s:
            return list(await s.scalars(select(Deadline).where(Deadline.due_date >= day)
                                        .order_by(Deadline.due_date, Deadline.id).limit(limit)))

    async def create_deadline(self, session: AsyncSession, user_id: int, *, title: str, due_date: dt.date,
                              lead_days: list[int], departments: list[str], now: dt.datetime) -> Deadline:
        """A new deadline; reminder slots before ``now`` are not sent (they were never promised)."""
        d = Deadline(title=title, due_date=due_date, lead_days=lead_days, departments=departments,
                     created_by=user_id, created_at=now, last_reminder_at=now)
        session.add(d)
        await session.flush()
        self.audit(session, user_id, "create_deadline", "deadline", str(d.id), None,
                   {"title": title, "due_date": due_date.isoformat(), "lead_days": lead_days})
        return d

    async def get_deadline(self, deadline_id: int, *, session: AsyncSession | None = None) -> Deadline | None:
        if session is not None:
            return await session.get(Deadline, deadline_id)
        async with self.session() as s:
            return await s.get(Deadline, deadline_id)

    async def delete_deadline(self, s: AsyncSession, d: Deadline, actor_id: int) -> bool:
        """In the caller's transaction; False if a concurrent tap removed it first."""
        res = await s.execute(delete(Deadline).where(Deadline.id == d.id).execution_options(synchronize_session=False))
        if res.rowcount != 1:
            return False
        self.audit(s, actor_id, "delete_deadline", "deadline", str(d.id),
                   {"title": d.title, "due_date": d.due_date.isoformat()}, None)
        return True

    @staticmethod
    async def officers_outside(session: AsyncSession, tokens: list[str]) -> set[int]:
        """Officers none of whose departments is among a deadline's scope ``tokens`` (they are left
        out of its reminders). Users with no officer grant (an admin who subscribed) are not listed:
        they oversee every department."""
        if not tokens:
            return set()
        rows = (await session.execute(
            select(RoleGrant.user_id, Department.id, Department.name, Department.kind)
            .join(Department, Department.id == RoleGrant.department_id)
            .where(RoleGrant.role == Role.OFFICER.value, RoleGrant.revoked_at.is_(None)))).all()
        inside: set[int] = set()
        officers: set[int] = set()
        for uid, dept_id, name, kind in rows:
            officers.add(uid)
            if dep.in_scope(tokens, dept_id, kind or name):
                inside.add(uid)
        return officers - inside

    @staticmethod
    async def mark_deadline_reminder(session: AsyncSession, deadline_id: int, old: dt.datetime | None,
                                     new: dt.datetime) -> bool:
        """Guarded move of ``last_reminder_at`` from ``old`` to ``new``: a second process (or a tick
        that read the same state) gets False and sends nothing."""
        cond = Deadline.last_reminder_at.is_(None) if old is None else Deadline.last_reminder_at == old
        res = await session.execute(update(Deadline).where(Deadline.id == deadline_id, cond)
                                    .values(last_reminder_at=new).execution_options(synchronize_session=False))
        return res.rowcount == 1
