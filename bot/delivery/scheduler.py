"""Reminders from the database: deadline reminders (09:00 Beijing time) and event reminders (1 day and
1 hour before the start).

Nothing is held only in memory. What is due is computed from the tables on every run — deadlines'
``last_reminder_at`` and events' ``reminder_stage`` record what has been handled, moved by a guarded
UPDATE in the same transaction that enqueues the pushes (with idempotency keys) — so a restart loses
no reminder and sends none twice, and two bot processes don't both send one.

The loop runs everything due, asks the database for the next due moment, and waits until
``services.clock()`` reaches it (checked every ``tick`` seconds, so a test that jumps the clock is
noticed at once; a jump of the clock also makes it recompute), until it is woken (a deadline or event
was created or moved: ``bot.delivery.notify.wake(services, scheduler=True)``), or at most
``fallback`` seconds (a change made by another process). With several processes only the leader
runs it (``bot.delivery.leader``); a standby's ``wake()`` reaches the leader through the database.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

from bot.clock import sleep_until
from bot.delivery.notify import wake
from bot.services.deadlines import run_deadline_reminders
from bot.services.events import run_event_reminders

log = logging.getLogger(__name__)


class Scheduler:
    JUMP = 2.0  # seconds of clock drift against the monotonic clock that count as a jump
    def __init__(self, services: Any, *, tick: float = 0.5, fallback: float = 300.0) -> None:
        self.services = services
        self.tick = tick
        self.fallback = fallback
        self.next_due: dt.datetime | None = None
        self.runs = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._lock = asyncio.Lock()
        self.remote_wake: Any = None  # tells the leading process when this one's loop is not running

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def wake(self) -> None:
        """Something changed (a new deadline or event): recompute now (in the leading process)."""
        self._wake.set()
        if (self._task is None or self._task.done()) and self.remote_wake is not None:
            self.remote_wake("scheduler")

    # -- one run -----------------------------------------------------------------------------------
    async def run_due(self) -> int:
        """Send everything due at ``services.clock()``; returns the number of pushes enqueued."""
        async with self._lock:
            now = self.services.clock()
            n_deadlines, next_deadline = await run_deadline_reminders(self.services, now)
            n_events = await run_event_reminders(self.services, now)
            next_event = await self.services.storage.next_event_reminder()
            times = [t for t in (next_deadline, next_event) if t is not None]
            self.next_due = min(times) if times else None
            self.runs += 1
            if n_deadlines or n_events:
                wake(self.services)
            return n_deadlines + n_events

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the scheduler must not die; the next run retries
                log.exception("scheduler: run failed (retrying)")
                self.next_due = None
            await self._wait()

    async def _wait(self) -> None:
        if not self._stopping:
            await sleep_until(self.services.clock, due=self.next_due, wake=self._wake, longest=self.fallback,
                              tick=self.tick, jump=self.JUMP)


async def start_scheduler(app: Any, *, run: bool = True) -> None:
    """From the start-up: compute what is due from the database and keep doing so
    (``services.scheduler``, woken through ``bot.delivery.notify.wake(services, scheduler=True)``).
    With ``run=False`` the scheduler is only created: the leading process runs it
    (``bot.delivery.leader``)."""
    services = app.bot_data["services"]
    if services.scheduler is None:
        services.scheduler = Scheduler(services)
    if run:
        await services.scheduler.start()


async def stop_scheduler(app: Any) -> None:
    scheduler = app.bot_data["services"].scheduler
    if scheduler is not None:
        await scheduler.stop()
