"""A periodic background job: ``tick()`` at start, then every ``interval`` seconds and whenever the
program's clock jumps, while the program runs.

Jobs keep no state of their own worth saving: each tick reads what is due from the database and
writes pushes with idempotency keys, so a restart or a double tick sends nothing twice. With several
processes only the leader runs the jobs (``bot.delivery.leader``), so a pass is made once, by one
process, on the index that process keeps fresh.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.clock import sleep_until

log = logging.getLogger(__name__)


class PeriodicJob:
    name = "job"

    def __init__(self, services: Any, interval: float = 300.0) -> None:
        self.services = services
        self.interval = interval
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.runs = 0  # passes completed (read by tests and benchmarks to know a pass happened)
        self.remote_wake: Any = None  # set by bot.delivery.leader; jobs are only woken by their clock

    async def tick(self) -> int:
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # a failed pass is retried next time; the job never dies
                log.exception("%s pass failed", self.name)
            self.runs += 1
            await sleep_until(self.services.clock, due=None, wake=self._wake, longest=self.interval)
