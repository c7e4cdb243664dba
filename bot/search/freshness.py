"""Fresh search in every bot process: the in-memory index follows the patent change log.

A patent imported or edited, or an assessment whose status the search filters read, is logged in
``patent_changes`` in the changing transaction (bot/storage/changes.py), by whichever process made it
— a webhook worker, or ``run_bot.py import`` next to a running bot. Each process re-indexes the
logged patents (``PatentCatalog.refresh``, incremental, never a rebuild):

* on PostgreSQL at once: the changing transaction also sends a NOTIFY, and each process LISTENs on a
  dedicated asyncpg connection (outside the pool, so it never holds a pooled connection);
* on every backend by polling the log every few seconds, which also catches what was missed while
  the LISTEN connection was down (a notification sent then is lost for good).

Ids of the log come from a sequence, and on PostgreSQL transactions commit in any order: an entry with
a smaller id can appear after a larger one was read. Ids skipped over are kept as gaps and looked for
again until ``GAP_SECONDS`` (a rolled-back transaction leaves a gap that never fills).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from bot.search.catalog import PatentCatalog
from bot.storage.changes import CHANGE_CHANNEL, KIND_PATENT

log = logging.getLogger(__name__)

POLL_SECONDS_SQLITE = 1.0   # no notifications: the poll is how a CLI import reaches the bot
POLL_SECONDS_POSTGRES = 5.0  # the safety net under LISTEN/NOTIFY
GAP_SECONDS = 60.0          # longer than any transaction that writes the log runs
MAX_GAPS = 100_000
BATCH = 10_000


class IndexFollower:
    """Keeps one process's :class:`PatentCatalog` in step with the change log (start / stop)."""

    def __init__(self, catalog: PatentCatalog, *, poll_seconds: float | None = None) -> None:
        self.catalog = catalog
        self.storage = catalog.storage
        self.postgres = self.storage.dialect == "postgresql"
        self.poll_seconds = poll_seconds or (POLL_SECONDS_POSTGRES if self.postgres else POLL_SECONDS_SQLITE)
        self.mark = catalog.change_mark  # newest log id applied (or already in the loaded index)
        self.gaps: dict[int, float] = {}  # ids below ``mark`` not seen yet → when first missed
        self.applied = 0                  # patents re-indexed since start
        self.listening = False
        self._wake = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._listen_conn: Any = None

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.mark = self.catalog.change_mark
        self.catalog.follower = self
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="index-follower"))
        if self.postgres:
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="index-listener"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._close_listener()
        if getattr(self.catalog, "follower", None) is self:
            self.catalog.follower = None

    # -- applying the log ------------------------------------------------------------------------------
    async def sync_once(self) -> int:
        """Apply every log entry not applied yet; returns how many patents were re-indexed."""
        async with self._sync_lock:
            total = 0
            while True:
                floor = min(min(self.gaps) - 1, self.mark) if self.gaps else self.mark
                rows = await self.storage.changes_after(floor, limit=BATCH)
                total += await self._apply(rows)
                if len(rows) < BATCH:
                    break
            self._expire_gaps()
            return total

    async def _apply(self, rows: list[tuple[int, str, str]]) -> int:
        now = time.monotonic()
        new = [r for r in rows if r[0] > self.mark or r[0] in self.gaps]
        if not new:
            return 0
        top = max(r[0] for r in new)
        if top > self.mark:
            seen = {r[0] for r in rows}
            if top - self.mark <= MAX_GAPS:
                for i in range(self.mark + 1, top):
                    if i not in seen:
                        self.gaps.setdefault(i, now)
            self.mark = top
        for r in new:
            self.gaps.pop(r[0], None)
        patents = list(dict.fromkeys(pid for _i, kind, pid in new if kind == KIND_PATENT))
        for pid in {pid for _i, _k, pid in new}:
            self.storage.display_cache.pop(pid, None)
        if patents:
            await self.catalog.refresh(patents, save=False)
            self.applied += len(patents)
            log.info("search index: %d changed patents applied from the change log", len(patents))
        return len(patents)

    def _expire_gaps(self) -> None:
        if self.gaps:
            cutoff = time.monotonic() - GAP_SECONDS
            self.gaps = {i: t for i, t in self.gaps.items() if t > cutoff}

    async def _poll_loop(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds * (1 + min(failures, 5)))
            self._wake.clear()
            try:
                await self.sync_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:  # a database that is away is retried, never fatal to the bot
                failures += 1
                log.warning("search index: reading the change log failed (retrying)", exc_info=failures == 1)

    # -- LISTEN (PostgreSQL) ---------------------------------------------------------------------------
    def _connect_args(self) -> dict[str, Any]:
        from sqlalchemy.engine import make_url

        url = make_url(self.storage.url)
        args: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username,
                                "password": url.password, "database": url.database}
        if "ssl" in url.query or "sslmode" in url.query:
            args["ssl"] = url.query.get("ssl") or url.query.get("sslmode")
        return {k: v for k, v in args.items() if v is not None}

    async def _close_listener(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        self.listening = False
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _listen_loop(self) -> None:
        import asyncpg

        delay = 0.5
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncio.wait_for(asyncpg.connect(**self._connect_args()), 10)
                self._listen_conn = conn
                conn.add_termination_listener(lambda _c: lost.set())
                await conn.add_listener(CHANGE_CHANNEL, lambda *_a: self._wake.set())
                self.listening = True
                delay = 0.5
                self._wake.set()  # catch up with what was committed while nobody listened
                while not lost.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lost.wait(), 30)
                    if not lost.is_set():  # a silently dead connection shows on a ping
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), 10)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the poll covers the time without LISTEN
                log.info("search index: LISTEN connection unavailable (%s); polling meanwhile", type(e).__name__)
            finally:
                await self._close_listener()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
