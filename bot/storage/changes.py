"""The patent change log: what search sees of a patent changed (its text, or the assessment facts the
search filters use). Rows are written in the changing transaction, so a change and its log entry
commit together; on PostgreSQL the same transaction sends a NOTIFY that every bot process LISTENs
for (delivered at commit, dropped on rollback). bot/search/freshness.py follows the log."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.models import PatentChange
from bot.storage.base import StorageBase

CHANGE_CHANNEL = "patent_changes"
KIND_PATENT = "patent"          # title / abstract / claims / pub_no: the index re-analyses the patent
KIND_ASSESSMENT = "assessment"  # a visible assessment's status or filter facts

_T = PatentChange.__table__
_INSERT = insert(_T)
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


async def record_changes(conn: AsyncConnection | AsyncSession, kind: str, patent_ids: Iterable[str]) -> int:
    """Log changed patents in the caller's transaction (Core connection or ORM session); returns how many."""
    ids = sorted(set(patent_ids))
    if not ids:
        return 0
    await conn.execute(_INSERT, [{"kind": kind, "patent_id": pid} for pid in ids])
    bind = conn.bind if isinstance(conn, AsyncSession) else conn
    if bind.dialect.name == "postgresql":
        # one notification per transaction; the payload is a hint only (listeners read the log)
        await conn.execute(_NOTIFY, {"channel": CHANGE_CHANNEL, "payload": kind})
    return len(ids)


class ChangeQueries(StorageBase):
    async def last_change_id(self) -> int:
        async with self.connection(statement_by_statement=True) as c:
            return int((await c.scalar(select(func.max(_T.c.id)))) or 0)

    async def changes_after(self, after_id: int, limit: int = 10_000) -> list[tuple[int, str, str]]:
        """(id, kind, patent id) of the log entries after ``after_id``, in id order."""
        async with self.connection(statement_by_statement=True) as c:
            rows = await c.execute(select(_T.c.id, _T.c.kind, _T.c.patent_id)
                                   .where(_T.c.id > after_id).order_by(_T.c.id).limit(limit))
            return [(int(i), k, p) for i, k, p in rows]

    async def prune_change_log(self, before: dt.datetime) -> int:
        """Delete log entries written before ``before`` (wall clock, as the rows are stamped), always
        keeping the newest: a loaded index starts from the newest id (bot/search/catalog.py), so only
        followers more than the kept span behind could miss an entry, and SQLite, which hands out
        max(id) + 1, never reuses an id a follower has already passed."""
        async with self.session() as s:
            newest = await s.scalar(select(func.max(_T.c.id)))
            if newest is None:
                return 0
            res = await s.execute(delete(_T).where(_T.c.id < newest, _T.c.created_at < before))
            return res.rowcount or 0
