"""Several bot processes on one PostgreSQL behave as one bot, through what PostgreSQL already does.

* **Start-up** (:meth:`Coordination.startup`): migrating and seeding run under a session advisory
  lock, so processes started together take turns; the second finds the schema and the patents in
  place and only loads the index, which is therefore built from the complete corpus.
* **One leader** (:meth:`try_lead`): the process holding a session advisory lock on its own
  dedicated connection runs the outbox sender, the reminder scheduler and the periodic jobs. The
  others poll for the lock every second; when the leader dies (even kill -9) its connection closes,
  PostgreSQL releases the lock and a standby takes over. Every process may enqueue; a standby wakes
  the leader with ``NOTIFY`` (:meth:`wake_leader`) and the leader ``LISTEN``\\s on its connection.
* **Worker ids** (:meth:`claim_worker_id`): a second live process with the same ``OUTBOX_WORKER_ID``
  is refused at start, by another session lock held for the process's life.
* **Order within a chat** (:meth:`register_arrival`, :meth:`chat_turn`): a webhook worker records
  each update of a chat when it accepts it (before answering Telegram, so the rows follow the order
  Telegram delivered them); handling waits until no earlier update of the chat is waiting anywhere,
  then runs inside a transaction holding ``pg_advisory_xact_lock`` on the chat, so the updates of a
  chat are handled one at a time and in order across processes. An earlier row older than
  ``ABANDONED_AFTER`` belongs to a process that died before handling it and is passed over.
* **Flood control** (:meth:`flood_take`): a per-user token bucket row, refilled and taken in one
  atomic upsert on the database's clock.

On SQLite (one process) :class:`Coordination` does nothing and every mechanism stays in-process: the
process is always the leader, the update processor's per-chat asyncio locks keep a chat in order, and
flood control keeps its buckets in memory.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

ABANDONED_AFTER = 30.0  # seconds: an earlier update of the chat still waiting this long is passed over
TURN_POLL = 0.005  # first wait for an earlier update of the chat; doubles up to TURN_POLL_MAX
TURN_POLL_MAX = 0.05
WAKE_CHANNEL = "bot_leader_wake"


def lock_key(*parts: object) -> int:
    """A signed 64-bit advisory-lock key for ``parts`` (stable across processes and versions)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


STARTUP_LOCK = lock_key("patent-bot", "startup")
LEADER_LOCK = lock_key("patent-bot", "leader")


class Coordination:
    """One process (SQLite): every process-wide mechanism stays in this process."""

    shared = False  # state shared with other processes (PostgreSQL)

    async def open(self) -> None:
        pass

    @contextlib.asynccontextmanager
    async def startup(self) -> AsyncIterator[None]:
        yield

    async def claim_worker_id(self, worker_id: str) -> bool:
        return True

    async def try_lead(self) -> bool:
        return True

    async def still_leading(self) -> bool:
        return True

    def on_wake(self, callback: Callable[[str], None] | None) -> None:
        pass

    def wake_leader(self, what: str) -> None:
        pass

    async def register_arrival(self, chat_id: int, update_id: int) -> None:
        pass

    @contextlib.asynccontextmanager
    async def chat_turn(self, chat_id: int, update_id: int) -> AsyncIterator[None]:
        yield

    async def flood_take(self, user_id: int, rate: float, burst: float, notice_every: float) -> tuple[bool, bool]:
        raise NotImplementedError  # in-process buckets (bot/handlers/flood.py)

    async def close(self) -> None:
        pass


class PgCoordination(Coordination):
    """Several processes on one PostgreSQL (see the module docstring)."""

    shared = True

    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.pool_size = pool_size
        self._session: Any = None  # asyncpg connection: the session that holds the process's locks
        self._session_lock = asyncio.Lock()  # one statement at a time on it
        self._pool: Any = None  # asyncpg pool: per-chat turns, flood buckets, NOTIFY
        self._worker_id: str | None = None
        self._leading = False
        self._wake_callback: Callable[[str], None] | None = None
        self._tasks: set[asyncio.Task] = set()

    async def open(self) -> None:
        import asyncpg

        self._session = await asyncpg.connect(self.dsn)
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.pool_size)

    async def _on_session(self, sql: str, *args: Any) -> Any:
        async with self._session_lock:
            if self._session is None or self._session.is_closed():
                raise ConnectionError("the coordination session is closed")
            return await self._session.fetchval(sql, *args)

    # -- start-up -----------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def startup(self) -> AsyncIterator[None]:
        await self._on_session("SELECT pg_advisory_lock($1)", STARTUP_LOCK)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await self._on_session("SELECT pg_advisory_unlock($1)", STARTUP_LOCK)

    async def claim_worker_id(self, worker_id: str) -> bool:
        got = await self._on_session("SELECT pg_try_advisory_lock($1)", lock_key("worker", worker_id))
        if got:
            self._worker_id = worker_id
        return bool(got)

    # -- the leader ---------------------------------------------------------------------------------
    async def try_lead(self) -> bool:
        """Become the leader if no live process is; True if this process leads now."""
        if self._session is None or self._session.is_closed():
            await self._reconnect()
        got = bool(await self._on_session("SELECT pg_try_advisory_lock($1)", LEADER_LOCK))
        if got and not self._leading:
            await self._session.add_listener(WAKE_CHANNEL, self._notified)
        self._leading = got
        return got

    async def still_leading(self) -> bool:
        """The leader's session is alive (its lock with it); False once it is gone."""
        try:
            await self._on_session("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure: the lock may be gone, stop leading
            log.warning("coordination: the leader's database session is gone; leadership lost")
            self._leading = False
            return False

    async def _reconnect(self) -> None:
        import asyncpg

        async with self._session_lock:
            if self._session is not None:
                with contextlib.suppress(Exception):
                    self._session.terminate()
            self._session = await asyncpg.connect(self.dsn)
        if self._worker_id is not None and not await self._on_session(
                "SELECT pg_try_advisory_lock($1)", lock_key("worker", self._worker_id)):
            log.error("coordination: another process took OUTBOX_WORKER_ID=%s while this one was disconnected",
                      self._worker_id)

    def on_wake(self, callback: Callable[[str], None] | None) -> None:
        self._wake_callback = callback

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._wake_callback is not None:
            self._wake_callback(payload)

    def wake_leader(self, what: str) -> None:
        """From a standby: tell the leader that ``what`` ("outbox", "scheduler") has new work."""
        if self._pool is None:
            return
        task = asyncio.get_running_loop().create_task(self._notify(what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, what: str) -> None:
        try:
            await self._pool.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, what)
        except Exception:  # noqa: BLE001 - the leader's own polling finds the work a little later
            log.warning("coordination: could not wake the leader (%s); it finds the work on its next poll", what)

    # -- order within a chat ------------------------------------------------------------------------
    async def register_arrival(self, chat_id: int, update_id: int) -> None:
        await self._pool.execute(
            "INSERT INTO chat_turns (chat_id, update_id, received_at) VALUES ($1, $2, now()) "
            "ON CONFLICT DO NOTHING", chat_id, update_id)

    @contextlib.asynccontextmanager
    async def chat_turn(self, chat_id: int, update_id: int) -> AsyncIterator[None]:
        """Wait until no earlier update of the chat is waiting, then hold the chat's transaction lock
        while the caller handles the update; the update's arrival row goes when it is handled."""
        loop = asyncio.get_running_loop()
        async with self._pool.acquire() as conn:
            delay, deadline = TURN_POLL, loop.time() + ABANDONED_AFTER
            while loop.time() < deadline and await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM chat_turns WHERE chat_id = $1 AND update_id < $2 "
                    "AND received_at > now() - make_interval(secs => $3))", chat_id, update_id, ABANDONED_AFTER):
                await asyncio.sleep(delay)
                delay = min(delay * 2, TURN_POLL_MAX)
            failure: BaseException | None = None
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key("chat", chat_id))
                try:
                    yield
                except BaseException as e:  # noqa: BLE001 - re-raised below, after the row is gone
                    failure = e
                await conn.execute("DELETE FROM chat_turns WHERE chat_id = $1 AND update_id = $2",
                                   chat_id, update_id)
            if failure is not None:
                raise failure

    # -- flood control ------------------------------------------------------------------------------
    async def flood_take(self, user_id: int, rate: float, burst: float, notice_every: float) -> tuple[bool, bool]:
        """Take one token from the user's bucket: (allowed, time for a "please slow down" notice)."""
        row = await self._pool.fetchrow(_FLOOD_TAKE, user_id, float(rate), float(burst), float(notice_every))
        return bool(row["allowed"]), bool(row["notice"])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)
            self._pool = None
        if self._session is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._session.close(), 5)
            self._session = None
        self._leading = False


# refill on the database's clock, then take a token if there is one; one statement, row-locked
_REFILLED = "least($3, b.tokens + extract(epoch FROM now() - b.updated_at)::float8 * $2)"
_FLOOD_TAKE = f"""
INSERT INTO flood_buckets AS b (user_id, tokens, updated_at, allowed, noticed_at)
VALUES ($1, $3 - 1, now(), true, NULL)
ON CONFLICT (user_id) DO UPDATE SET
    tokens = CASE WHEN {_REFILLED} >= 1 THEN {_REFILLED} - 1 ELSE {_REFILLED} END,
    allowed = {_REFILLED} >= 1,
    noticed_at = CASE WHEN {_REFILLED} < 1
                       AND (b.noticed_at IS NULL OR b.noticed_at <= now() - make_interval(secs => $4))
                      THEN now() ELSE b.noticed_at END,
    updated_at = now()
RETURNING allowed, (NOT allowed AND noticed_at = now()) AS notice
"""


def coordination_for(url: str, *, pool_size: int = 16) -> Coordination:
    if make_url(url).get_backend_name() == "postgresql":
        return PgCoordination(url, pool_size=pool_size)
    return Coordination()
