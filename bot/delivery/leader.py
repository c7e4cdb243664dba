"""The leader's duties: the outbox sender, the reminder scheduler and the periodic jobs run in one
process at a time, so Telegram's 30 messages/s and each job's pass hold for the whole bot.

Which process leads is PostgreSQL's session advisory lock (``bot.storage.coordination``); on SQLite
the one process always leads. A standby asks for the lock every ``poll`` seconds and takes the
duties over once the leader's session is gone (a crash closes its connection: PostgreSQL releases
the lock). The leader checks its session as often; if the session is lost it stops its duties at
once, since another process may be leading already.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, services: Any, coordination: Any, *, poll: float = 1.0) -> None:
        self.services = services
        self.coordination = coordination
        self.poll = poll
        self.leading = False
        self._task: asyncio.Task | None = None
        self.changes = 0  # times this process became the leader

    async def start(self) -> None:
        """Lead at once if no other process does (a single process is ready with its duties running),
        then keep watching."""
        self.coordination.on_wake(self._woken)
        for duty in self._duties():
            duty.remote_wake = self.coordination.wake_leader
        await self._step()
        self._task = asyncio.create_task(self._watch(), name="leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.leading:
            await self._resign(stopping=True)

    def _duties(self) -> list[Any]:
        s = self.services
        return [d for d in (s.outbox, s.scheduler, s.digests, s.weekly, s.retention, s.expert_requests)
                if d is not None]

    def _woken(self, what: str) -> None:
        s = self.services
        if what == "scheduler" and s.scheduler is not None:
            s.scheduler.wake()
        elif s.outbox is not None:
            s.outbox.wake()

    async def _step(self) -> None:
        if self.leading:
            if not await self.coordination.still_leading():
                await self._resign()
            return
        try:
            got = await self.coordination.try_lead()
        except Exception:  # noqa: BLE001 - the database is away: stay a standby, ask again later
            log.warning("leadership: cannot reach the database; standing by")
            return
        if got:
            await self._lead()

    async def _lead(self) -> None:
        self.leading = True
        self.changes += 1
        log.info("leadership: this process leads (outbox sender, scheduler, jobs)")
        s = self.services
        if s.outbox is not None:
            s.outbox.sole = self.coordination.shared  # only sender: every claim left behind is a dead one's
            await s.outbox.start()
        for job in (s.digests, s.weekly, s.retention, s.expert_requests, s.scheduler):
            if job is not None:
                await job.start()

    async def _resign(self, *, stopping: bool = False) -> None:
        self.leading = False
        if stopping:
            log.info("leadership: handed over at stop")
        else:
            log.warning("leadership: this process no longer leads; its duties stop")
        s = self.services
        for job in (s.scheduler, s.digests, s.weekly, s.retention, s.expert_requests):
            if job is not None:
                await job.stop()
        if s.outbox is not None:
            await s.outbox.stop()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the watch never dies
                log.exception("leadership: check failed")
