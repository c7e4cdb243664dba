"""Engine, sessions, migrations and the audit helper shared by every query module."""
from __future__ import annotations

import asyncio
import json
import time

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.config import PROJECT_ROOT
from bot.models import AuditLog
from bot.storage.sqlite_inline import InlineConnection, inline_creator

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
_INSERT_AUDIT = insert(AuditLog.__table__)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the search CLI read while the bot writes; FKs are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # inline connections must never sleep on the event loop's thread: they wait for a busy database
    # with asyncio back-off instead (bot/storage/sqlite_inline.py)
    inline = isinstance(getattr(dbapi_conn, "driver_connection", None), InlineConnection)
    cur.execute(f"PRAGMA busy_timeout={0 if inline else 10000}")
    cur.close()


def _discard_broken_connections(ctx: Any) -> None:
    # After a PostgreSQL restart a pooled asyncpg connection can be left mid-protocol ("another
    # operation is in progress"); treat it as a disconnect so the pool drops it instead of reusing it.
    text = str(ctx.original_exception)
    if "another operation is in progress" in text or "cannot switch to state" in text:
        ctx.is_disconnect = True


PING_AFTER_IDLE = 2.0  # seconds


def _note_idle_since(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    # pool_pre_ping pinged on EVERY checkout: a round trip per unit of work, 4 % of a dialog step's
    # CPU. A connection that was in use moments ago is alive; one that sat idle (the server may have
    # restarted meanwhile) is pinged, and a dead one is replaced before anyone uses it. A connection
    # that dies under continuous traffic fails one unit of work; _discard_broken_connections and
    # SQLAlchemy's disconnect handling then renew the pool (tests/test_faults.py restarts PostgreSQL).
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE:
        return
    try:
        dbapi_conn.ping()
    except Exception as e:  # noqa: BLE001 - any failure means: don't hand this connection out
        raise DisconnectionError() from e


class StorageBase:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                if parsed.get_driver_name() == "aiosqlite" and not parsed.query:
                    kwargs["async_creator"] = inline_creator(parsed.database)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "handle_error", _discard_broken_connections)
            event.listen(self.engine.sync_engine.pool, "checkin", _note_idle_since)
            event.listen(self.engine.sync_engine.pool, "checkout", _ping_if_idle)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.display_cache: dict[str, Any] = {}  # PatentQueries.patent_for_display
        self._serial: asyncio.Lock | None = asyncio.Lock() if self.dialect == "sqlite" else None
        self._serial_owner: asyncio.Task | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        from alembic import command
        from alembic.config import Config

        def upgrade(sync_conn: Any) -> None:
            cfg = Config(str(ALEMBIC_INI))
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """On SQLite, units of work of this process take turns (see ``session``); a no-op elsewhere."""
        task = asyncio.current_task()
        if self._serial is None or self._serial_owner is task:
            yield
            return
        # SQLite has one writer at a time; two of our own transactions racing for it made the loser
        # sleep in SQLite's busy handler (1, 2, 5 … 100 ms steps) — 100+ ms of waiting per dialog step
        # under load. Units of work in this process take turns on an asyncio lock instead (handed over
        # at once); other processes (the CLI) are waited for in bot/storage/sqlite_inline.py.
        # Re-entrant for the task that holds it, so a nested unit of work can't deadlock itself.
        async with self._serial:
            self._serial_owner = task
            try:
                yield
            finally:
                self._serial_owner = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits on success, rolls back on error."""
        async with self._turn():
            async with self.sessions() as s:
                async with s.begin():
                    yield s

    @asynccontextmanager
    async def connection(self, *, statement_by_statement: bool = False) -> AsyncIterator[AsyncConnection]:
        """A unit of work in SQLAlchemy Core, for the hottest paths (a dialog step): the same
        transaction semantics as ``session`` at about half the CPU of the ORM.

        ``statement_by_statement``: each statement commits on its own — for work whose statements
        don't depend on each other (the per-update sender load). On PostgreSQL that saves the BEGIN and
        COMMIT round trips; SQLite's driver already runs plain reads that way."""
        async with self._turn():
            if statement_by_statement and self.dialect == "postgresql":
                async with self.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    yield conn
                return
            async with self.engine.begin() as conn:
                yield conn

    # -- audit -----------------------------------------------------------------------------------
    @staticmethod
    async def audit_core(conn: AsyncConnection, actor_id: int | None, action: str, entity_kind: str,
                         entity_id: str, before: dict | None, after: dict | None) -> None:
        """``audit`` for Core units of work (same row, same transaction as the change)."""
        await conn.execute(_INSERT_AUDIT, {"actor_id": actor_id, "action": action, "entity_kind": entity_kind,
                                           "entity_id": entity_id, "before": before, "after": after})

    @staticmethod
    def audit(s: AsyncSession, actor_id: int | None, action: str, entity_kind: str, entity_id: str,
              before: dict | None, after: dict | None) -> None:
        """Record a change inside the caller's transaction (so the log and the change commit together)."""
        s.add(AuditLog(actor_id=actor_id, action=action, entity_kind=entity_kind, entity_id=entity_id,
                       before=before, after=after))

    async def audit_entries(self, entity_kind: str | None = None, entity_id: str | None = None, *,
                            actor_id: int | None = None, mentions_patent: str | None = None,
                            limit: int = 50) -> list[AuditLog]:
        """Newest first. ``mentions_patent`` finds changes to things about a patent (assessments,
        ratings, leads, transactions record ``"patent": id`` in their after-image)."""
        async with self.session() as s:
            q = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
            if entity_kind:
                q = q.where(AuditLog.entity_kind == entity_kind)
            if entity_id:
                q = q.where(AuditLog.entity_id == entity_id)
            if actor_id is not None:
                q = q.where(AuditLog.actor_id == actor_id)
            if mentions_patent:
                needle = json.dumps({"patent": mentions_patent}, ensure_ascii=False)[1:-1]
                q = q.where(cast(AuditLog.after, String).contains(needle, autoescape=True))
            return list(await s.scalars(q))


