"""Broadcast progress: a live message kept edited with a broadcast's counts, and waiting for one.

The tracker is itself an outbox row (kind ``edit``, ``payload.progress_of`` = the broadcast id), so
it survives a restart like any push. The sender re-renders it on each turn and puts the row back
until the broadcast is finished; its edits take no token of the overall rate.
"""
from __future__ import annotations

import asyncio
import math
from typing import Any

from bot.clock import Clock
from bot.i18n import Translator
from bot.storage.outbox import BroadcastProgress, OutboxJob

PROGRESS_TEMPLATE = "outbox_progress"


def is_progress(job: OutboxJob) -> bool:
    return job.kind == "edit" and bool(job.payload) and "progress_of" in job.payload


class BroadcastTracker:
    """Tracking broadcasts for one sender: ``usual_rate`` (messages/s) estimates the time left until
    the broadcast's own rate can be measured."""

    def __init__(self, storage: Any, clock: Clock, usual_rate: float, i18n: Translator | None = None) -> None:
        self.storage = storage
        self.clock = clock
        self.usual_rate = usual_rate
        self._i18n = i18n

    async def track(self, broadcast_id: str, chat_id: int, message_id: int, lang: str | None,
                    chat_type: str) -> bool:
        """Queue the tracker row for the existing message ``message_id``; False if already tracked."""
        async with self.storage.session() as s:
            return await self.storage.enqueue(
                s, chat_id=chat_id, chat_type=chat_type, kind="edit", text="",
                key=f"progress:{broadcast_id}:{chat_id}:{message_id}",
                payload={"message_id": int(message_id), "progress_of": broadcast_id, "lang": lang})

    async def wait(self, broadcast_id: str, timeout: float | None, poll: float) -> BroadcastProgress:
        """Wait until no row of the broadcast is pending or in flight; raises TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            prog = await self.storage.broadcast_progress(broadcast_id)
            if prog.finished:
                return prog
            if deadline is not None and loop.time() >= deadline:
                raise TimeoutError(f"broadcast {broadcast_id}: {prog.remaining} of {prog.total} not done")
            await asyncio.sleep(poll)

    async def render(self, broadcast_id: str, lang: str | None) -> tuple[str, bool]:
        """The progress message's text now, and whether the broadcast is finished."""
        prog = await self.storage.broadcast_progress(broadcast_id)
        if self._i18n is None:
            self._i18n = Translator()
        eta = None
        if not prog.finished:
            rate = 0.0
            if prog.first_sent_at is not None and prog.done:
                elapsed = (self.clock.now() - prog.first_sent_at).total_seconds()
                if elapsed >= 1:
                    rate = prog.done / elapsed
            rate = rate or self.usual_rate
            eta = math.ceil(prog.remaining / rate)
        percent = 100 if not prog.total else int(100 * prog.done / prog.total)
        text = self._i18n.render(lang, PROGRESS_TEMPLATE, total=prog.total, sent=prog.sent, failed=prog.failed,
                                 dropped=prog.dropped, remaining=prog.remaining, percent=percent, eta=eta,
                                 finished=prog.finished)
        return text, prog.finished
