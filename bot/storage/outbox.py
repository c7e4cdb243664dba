"""Outbox queries (durable pushes): every SQL statement of the outbox lives here.

A row's life (``OutboxStatus``)::

    pending ──claim──▶ sending ──API ok───────────────▶ sent (telegram_message_id, sent_at)
       ▲                  ├── 429 / 5xx / network ─────▶ pending again (not_before = later)
       │                  ├── 400 (permanent) ─────────▶ failed (last_error)
       │                  ├── 403 (blocked/deactivated) ▶ dropped (+ users.blocked_bot: out of every audience)
       └── recovery ◀─────┴── process died while 'sending' (policy: resend → pending, or fail → failed)

Writers never hold a row lock across an HTTP call: a claim is one short statement, every outcome is
one short transaction. Every update after the claim is guarded by ``status='sending' AND
claimed_by=<worker>``, so a worker whose claim was taken over cannot overwrite the new owner.

The claim is a single ``UPDATE … WHERE id IN (SELECT … ORDER BY id LIMIT n) RETURNING …``: on
PostgreSQL the inner SELECT is ``FOR UPDATE SKIP LOCKED`` (several bot processes share the queue);
on SQLite the one statement takes the write lock up front, so there is no read→write upgrade race.
A row is only claimable when no *earlier* due row of the same chat is pending or in flight, which
keeps each chat in order and at most one message per chat in flight across all processes.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, text, true, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import OutboxMessage, OutboxStatus, User, utcnow
from bot.storage.base import StorageBase
from bot.telegram.limits import fit_caption

PENDING = OutboxStatus.PENDING.value
SENDING = OutboxStatus.SENDING.value
SENT = OutboxStatus.SENT.value
FAILED = OutboxStatus.FAILED.value
DROPPED = OutboxStatus.DROPPED.value

#: last_error prefix of rows recovered after a crash (the send may or may not have reached Telegram)
AMBIGUOUS = "ambiguous"

_T = OutboxMessage.__table__
_KEY_MAX = 200
# rows per executemany of enqueue_many (SQLAlchemy splits it into INSERTs of ≤ 1000 rows)
_CHUNK = 5000
_ANALYZE_AFTER = 1000


@dataclass(frozen=True)
class OutboxJob:
    """A claimed row, detached from any session (what the sender needs to make one API call)."""

    id: int
    chat_id: int
    chat_type: str
    kind: str
    text: str
    payload: dict | None
    document: bytes | None
    document_name: str | None
    parse_mode: str | None
    reply_markup: dict | None
    idempotency_key: str
    broadcast_id: str | None
    attempts: int  # including this one

    @classmethod
    def of(cls, row: Any) -> OutboxJob:
        m = row._mapping
        return cls(m["id"], m["chat_id"], m["chat_type"], m["kind"], m["text"], m["payload"], m["document"],
                   m["document_name"], m["parse_mode"], m["reply_markup"], m["idempotency_key"],
                   m["broadcast_id"], m["attempts"])


@dataclass(frozen=True)
class BroadcastProgress:
    broadcast_id: str
    total: int = 0
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    first_sent_at: dt.datetime | None = None
    last_sent_at: dt.datetime | None = None

    @property
    def remaining(self) -> int:
        return self.pending + self.sending

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.dropped

    @property
    def finished(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True)
class Recovery:
    """What ``recover_outbox`` did with rows left in 'sending' by a dead (or stuck) sender."""

    resent: int = 0  # back to pending (at-least-once policy)
    failed: int = 0  # marked failed (at-most-once policy, or out of attempts)

    @property
    def total(self) -> int:
        return self.resent + self.failed


def _db_now(session: AsyncSession, now: dt.datetime) -> Any:
    """The moment to stamp claims with: the database's clock where several processes share the
    outbox (PostgreSQL), so no process's own clock decides whose claim is stale; ``now`` on SQLite."""
    return func.now() if session.bind.dialect.name == "postgresql" else now


def _dialect(session: AsyncSession) -> str:
    bind = session.bind if session.bind is not None else session.sync_session.get_bind()
    return bind.dialect.name


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(OutboxMessage)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        return sqlite_insert(OutboxMessage)
    raise NotImplementedError(f"outbox: no INSERT … ON CONFLICT DO NOTHING for {dialect}")


def _markup(markup: Any) -> dict | None:
    if markup is None or isinstance(markup, dict):
        return markup
    to_dict = getattr(markup, "to_dict", None)  # a telegram.InlineKeyboardMarkup etc.
    if to_dict is None:
        raise TypeError(f"reply_markup must be a dict or a telegram ReplyMarkup, not {type(markup)!r}")
    return to_dict()


def _row(*, chat_id: int, text: str, key: str, kind: str = "message", reply_markup: Any = None,
         parse_mode: str | None = "HTML", not_before: dt.datetime | None = None, broadcast_id: str | None = None,
         chat_type: str = "private", payload: dict | None = None, document: bytes | None = None,
         document_name: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    if not key or len(key) > _KEY_MAX:
        raise ValueError(f"idempotency key must be 1..{_KEY_MAX} characters: {key!r}")
    if kind not in ("message", "document", "edit"):
        raise ValueError(f"unknown outbox kind {kind!r}")
    if kind == "document" and not document:
        raise ValueError("a document row needs the document bytes")
    if kind == "edit" and not (payload and payload.get("message_id")):
        raise ValueError("an edit row needs payload={'message_id': …}")
    if kind == "document" and text:
        # the last line of defence: Telegram refuses a caption over 1,024 characters (400, the row would
        # fail); callers with more to say send it as a message first (bot.delivery.notify.push_document)
        text = fit_caption(text, html_text=parse_mode == "HTML")
    now = now or utcnow()
    return {"chat_id": int(chat_id), "chat_type": chat_type, "kind": kind, "text": text or "",
            "payload": payload, "document": document, "document_name": document_name, "parse_mode": parse_mode,
            "reply_markup": _markup(reply_markup), "idempotency_key": key, "broadcast_id": broadcast_id,
            "not_before": not_before or now, "attempts": 0, "status": PENDING, "last_error": None,
            "telegram_message_id": None, "claimed_by": None, "claimed_at": None, "created_at": now,
            "sent_at": None}


class OutboxQueries(StorageBase):
    # -- writing (in the caller's transaction) ----------------------------------------------------
    @staticmethod
    async def enqueue(session: AsyncSession, *, chat_id: int, text: str, key: str, kind: str = "message",
                      reply_markup: Any = None, parse_mode: str | None = "HTML",
                      not_before: dt.datetime | None = None, broadcast_id: str | None = None,
                      chat_type: str = "private", payload: dict | None = None, document: bytes | None = None,
                      document_name: str | None = None) -> bool:
        """Queue one push inside the caller's transaction (it commits or rolls back with the change
        that causes it). ``key`` is the idempotency key: enqueuing an existing key is a no-op that
        returns False. ``not_before=None`` means "as soon as possible". Call ``Outbox.wake()`` after
        the commit for low latency (the sender also polls every second)."""
        values = _row(chat_id=chat_id, text=text, key=key, kind=kind, reply_markup=reply_markup,
                      parse_mode=parse_mode, not_before=not_before, broadcast_id=broadcast_id,
                      chat_type=chat_type, payload=payload, document=document, document_name=document_name)
        stmt = _insert(_dialect(session)).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
        res = await session.execute(stmt)
        return res.rowcount == 1

    async def enqueue_many(self, rows: Iterable[Mapping[str, Any]], *, session: AsyncSession | None = None,
                           chunk_size: int = _CHUNK) -> int:
        """Queue many pushes (a broadcast) atomically: multi-row INSERT … ON CONFLICT DO NOTHING in
        batches, all in one transaction (the caller's ``session`` if given). Each row is a mapping with
        ``enqueue``'s keyword arguments (``chat_id``, ``text``, ``key`` …). Returns how many were new."""
        if session is None:
            async with self.session() as s:
                return await self.enqueue_many(rows, session=s, chunk_size=chunk_size)
        now = utcnow()
        dialect = _dialect(session)
        inserted, chunk = 0, []

        stmt = (_insert(dialect).on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(OutboxMessage.id))

        async def flush() -> int:
            # executemany: SQLAlchemy batches it into multi-row INSERTs ("insertmanyvalues"), and
            # RETURNING counts exactly the rows that were new on both backends
            return len((await session.execute(stmt, chunk)).all())

        for r in rows:
            chunk.append(_row(**r, now=now))
            if len(chunk) >= chunk_size:
                inserted += await flush()
                chunk = []
        if chunk:
            inserted += await flush()
        if dialect == "postgresql" and inserted >= _ANALYZE_AFTER:
            # fresh statistics so the claim query's plan suits the new backlog at once (autovacuum
            # would take up to a minute); ANALYZE sees this transaction's own rows
            await session.execute(text("ANALYZE outbox_messages"))
        return inserted

    # -- the sender -------------------------------------------------------------------------------
    async def claim_outbox(self, worker_id: str, now: dt.datetime, limit: int, *,
                           exclude_chats: Iterable[int] = ()) -> list[OutboxJob]:
        """Claim up to ``limit`` due rows for ``worker_id``: status 'sending', claimed_by/claimed_at set,
        attempts + 1 — committed before any API call. Oldest first, but rows of no broadcast before
        broadcast rows (one notice must not wait behind 10,000); one row per chat (the chat's oldest)."""
        if limit <= 0:
            return []
        # Two steps so the per-chat guard runs on a few hundred rows, not on the whole backlog:
        # 1. the oldest due rows (rows of no broadcast first: one notice must not wait behind 10,000),
        #    minus the chats this sender is pacing; 2. of those, the ones that are the oldest due row of
        #    their chat with nothing of the chat in flight anywhere.
        c1, c2, earlier = _T.alias("c1"), _T.alias("c2"), _T.alias("earlier")
        cands = select(c1.c.id).where(c1.c.status == PENDING, c1.c.not_before <= now)
        exclude = sorted(set(exclude_chats))
        if exclude:
            cands = cands.where(c1.c.chat_id.not_in(exclude))
        cands = cands.order_by(c1.c.broadcast_id.is_not(None), c1.c.id).limit(max(4 * limit, 200))
        earlier_busy = exists().where(
            earlier.c.chat_id == c2.c.chat_id, earlier.c.id < c2.c.id,
            or_(earlier.c.status == SENDING, and_(earlier.c.status == PENDING, earlier.c.not_before <= now)))
        sub = (select(c2.c.id).where(c2.c.id.in_(cands), c2.c.status == PENDING, ~earlier_busy)
               .order_by(c2.c.broadcast_id.is_not(None), c2.c.id).limit(limit))
        async with self.session() as s:
            if s.bind.dialect.name == "postgresql":
                sub = sub.with_for_update(skip_locked=True, of=c2)
            # a CTE is evaluated exactly once (PostgreSQL may re-run an IN (… LIMIT n) subquery and
            # update more than n rows); UPDATE … FROM works on both backends
            picked = sub.cte("picked")
            stmt = (update(_T).where(_T.c.id == picked.c.id, _T.c.status == PENDING)
                    .values(status=SENDING, claimed_by=worker_id, claimed_at=_db_now(s, now),
                            attempts=_T.c.attempts + 1)
                    .returning(*_T.c))
            rows = (await s.execute(stmt)).all()
        return sorted((OutboxJob.of(r) for r in rows), key=lambda j: (j.broadcast_id is not None, j.id))

    async def mark_outbox_sent(self, worker_id: str, results: Sequence[tuple[int, int | None]],
                               now: dt.datetime) -> int:
        """Record delivered rows (id, telegram message id) in one short transaction. ``last_error`` is
        kept as history (e.g. "ambiguous: …" marks a row that may have reached the user twice).

        This write closes the crash window, so it takes the shortest path there is: one cached
        statement, executemany, no ORM session; on SQLite a plain sqlite3 connection of its own in
        the calling thread (~0.2 ms) instead of aiosqlite's worker-thread round trips (several ms on a
        busy machine), falling back to the engine if the database is locked for more than a moment."""
        if not results:
            return 0
        params = [{"job_id": i, "worker": worker_id, "message_id": mid, "now": now} for i, mid in results]
        fast = self._outbox_sqlite()
        if fast is not None:
            try:
                return self._mark_sent_sqlite(fast, params)
            except sqlite3.OperationalError:  # locked by a long writer: take the normal way
                pass
        stmt = (update(_T).where(_T.c.id == bindparam("job_id"), _T.c.status == SENDING,
                                 _T.c.claimed_by == bindparam("worker"))
                .values(status=SENT, telegram_message_id=bindparam("message_id"), sent_at=bindparam("now")))
        async with self.engine.begin() as conn:
            res = await conn.execute(stmt, params)
            return res.rowcount

    _outbox_fast: Any = None  # sqlite3.Connection | False (not applicable) | None (not opened yet)
    _outbox_fast_thread: int | None = None

    def _outbox_sqlite(self) -> sqlite3.Connection | None:
        if self._outbox_fast is False or self.dialect != "sqlite":
            return None
        if self._outbox_fast is not None and self._outbox_fast_thread != threading.get_ident():
            return None  # used from another thread than the one that opened it: take the normal way
        if self._outbox_fast is None:
            path = make_url(self.url).database
            if not path or path == ":memory:" or path.startswith("file:"):
                self._outbox_fast = False
                return None
            conn = sqlite3.connect(path, isolation_level=None, timeout=0.05)
            conn.execute("PRAGMA busy_timeout=50")  # never block the event loop for long
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints stay with the engine's connections
            self._outbox_fast, self._outbox_fast_thread = conn, threading.get_ident()
            self._sent_at_bind = _T.c.sent_at.type.dialect_impl(self.engine.dialect).bind_processor(
                self.engine.dialect) or (lambda v: v)
        return self._outbox_fast

    def _mark_sent_sqlite(self, conn: sqlite3.Connection, params: list[dict]) -> int:
        rows = [(p["message_id"], self._sent_at_bind(p["now"]), p["job_id"], p["worker"]) for p in params]
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.executemany(
                "UPDATE outbox_messages SET status = 'sent', telegram_message_id = ?, sent_at = ? "
                "WHERE id = ? AND status = 'sending' AND claimed_by = ?", rows)
            n = cur.rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return n

    async def close(self) -> None:
        if self._outbox_fast:
            self._outbox_fast.close()
        self._outbox_fast = None
        await super().close()

    async def release_outbox(self, worker_id: str, job_id: int, *, not_before: dt.datetime, error: str | None,
                             count_attempt: bool = True) -> bool:
        """Back to 'pending' for a later retry (``count_attempt=False``: the try did not count, e.g. 429)."""
        values: dict[str, Any] = {"status": PENDING, "not_before": not_before, "last_error": error,
                                  "claimed_by": None, "claimed_at": None}
        if not count_attempt:
            values["attempts"] = _T.c.attempts - 1
        async with self.session() as s:
            res = await s.execute(update(_T).where(_T.c.id == job_id, _T.c.status == SENDING,
                                                   _T.c.claimed_by == worker_id).values(**values))
            return res.rowcount == 1

    async def fail_outbox(self, worker_id: str, job_id: int, error: str) -> bool:
        async with self.session() as s:
            res = await s.execute(update(_T).where(_T.c.id == job_id, _T.c.status == SENDING,
                                                   _T.c.claimed_by == worker_id)
                                  .values(status=FAILED, last_error=error[:2000]))
            return res.rowcount == 1

    async def drop_outbox_blocked(self, worker_id: str, job_id: int, chat_id: int, chat_type: str,
                                  error: str) -> int:
        """403: the user blocked the bot / was deactivated (or the bot left the group). Drops this row
        and the chat's other queued rows; for a private chat also marks the user ``blocked_bot`` (left out of
        every audience until they write again) — one transaction. Returns the number of rows dropped."""
        async with self.session() as s:
            res = await s.execute(update(_T).where(_T.c.id == job_id, _T.c.status == SENDING,
                                                   _T.c.claimed_by == worker_id)
                                  .values(status=DROPPED, last_error=error[:2000]))
            if res.rowcount != 1:
                return 0
            others = await s.execute(update(_T).where(_T.c.chat_id == chat_id, _T.c.status == PENDING)
                                     .values(status=DROPPED, last_error=error[:2000]))
            if chat_type == "private":
                # every audience query leaves blocked users out; their subscriptions stay as they chose
                # them, so writing to the bot again (which clears blocked_bot) brings them all back
                await s.execute(update(User).where(User.id == chat_id).values(blocked_bot=True))
            return 1 + others.rowcount

    async def migrate_outbox_chat(self, worker_id: str, job_id: int, old_chat_id: int, new_chat_id: int) -> bool:
        """A group became a supergroup (new chat id): move its queued rows, retry this one at once."""
        async with self.session() as s:
            res = await s.execute(update(_T).where(_T.c.id == job_id, _T.c.status == SENDING,
                                                   _T.c.claimed_by == worker_id)
                                  .values(status=PENDING, chat_id=new_chat_id, claimed_by=None, claimed_at=None,
                                          attempts=_T.c.attempts - 1))
            await s.execute(update(_T).where(_T.c.chat_id == old_chat_id, _T.c.status == PENDING)
                            .values(chat_id=new_chat_id))
            return res.rowcount == 1

    async def recover_outbox(self, worker_id: str, now: dt.datetime, *, stale_after: float, resend: bool,
                             max_attempts: int, own: bool = False, keep: Iterable[int] = (),
                             everyone: bool = False, speed: float = 1.0) -> Recovery:
        """Take over rows left in 'sending': those claimed before ``now - stale_after`` (a dead or
        stuck sender) and, with ``own=True`` (at start-up), every row this ``worker_id`` held in a
        previous life. Rows in ``keep`` (still in flight here) are left alone.

        Such a row is *ambiguous*: the API call may or may not have reached Telegram. ``resend=True``
        (at-least-once) puts it back to pending; ``resend=False`` (at-most-once) marks it failed —
        except edits, which are idempotent and always go back to pending. Rows out of attempts are
        failed under either policy. ``everyone=True`` (a newly elected only sender): every row in
        'sending' not in ``keep``, whoever claimed it. Staleness is judged on the database's clock
        (PostgreSQL), which runs at real speed: ``stale_after`` is in seconds of the caller's clock,
        which runs ``speed`` times as fast (tests)."""
        keep = sorted(set(keep))
        async with self.session() as s:
            db_now = _db_now(s, now)
            if db_now is not now:
                stale_after = stale_after / speed
            stale = _T.c.claimed_at < db_now - dt.timedelta(seconds=stale_after)
            cond = or_(stale, _T.c.claimed_by == worker_id) if own else stale
            base = [_T.c.status == SENDING, true() if everyone else cond]
            if keep:
                base.append(_T.c.id.not_in(keep))
            if not resend:
                # an edit is idempotent: doing it twice shows the same, so it is never ambiguous
                edits = await s.execute(update(_T).where(*base, _T.c.kind == "edit").values(
                    status=PENDING, claimed_by=None, claimed_at=None))
                res = await s.execute(update(_T).where(*base).values(
                    status=FAILED, claimed_by=None,
                    last_error=f"{AMBIGUOUS}: sender died while sending; unknown whether delivered (not resent)"))
                return Recovery(resent=edits.rowcount, failed=res.rowcount)
            give_up = await s.execute(update(_T).where(*base, _T.c.attempts >= max_attempts).values(
                status=FAILED, claimed_by=None,
                last_error=f"{AMBIGUOUS}: sender died while sending; out of attempts (not resent)"))
            again = await s.execute(update(_T).where(*base).values(
                status=PENDING, claimed_by=None, claimed_at=None,
                last_error=f"{AMBIGUOUS}: sender died while sending; sent again"))
            return Recovery(resent=again.rowcount, failed=give_up.rowcount)

    async def outbox_next_due(self, after: dt.datetime) -> dt.datetime | None:
        """The earliest ``not_before`` of a pending row that is not due yet at ``after``."""
        async with self.session() as s:
            return await s.scalar(select(func.min(OutboxMessage.not_before))
                                  .where(OutboxMessage.status == PENDING, OutboxMessage.not_before > after))

    async def outbox_busy(self, horizon: dt.datetime, worker_id: str | None = None) -> int:
        """Rows still to do: pending and due by ``horizon``, or in flight (for ``worker_id`` if given)."""
        sending = OutboxMessage.status == SENDING
        if worker_id is not None:
            sending = and_(sending, OutboxMessage.claimed_by == worker_id)
        async with self.session() as s:
            return int(await s.scalar(select(func.count()).select_from(OutboxMessage).where(or_(
                and_(OutboxMessage.status == PENDING, OutboxMessage.not_before <= horizon), sending))) or 0)

    # -- broadcasts and inspection -------------------------------------------------------------------
    async def broadcast_progress(self, broadcast_id: str) -> BroadcastProgress:
        async with self.session() as s:
            counts = dict((await s.execute(
                select(OutboxMessage.status, func.count()).where(OutboxMessage.broadcast_id == broadcast_id)
                .group_by(OutboxMessage.status))).all())
            first, last = (await s.execute(
                select(func.min(OutboxMessage.sent_at), func.max(OutboxMessage.sent_at))
                .where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == SENT))).one()
        if first is not None and first.tzinfo is None:  # aggregates bypass the column type on SQLite
            first = first.replace(tzinfo=dt.UTC)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        if isinstance(first, str):
            first = dt.datetime.fromisoformat(first).replace(tzinfo=dt.UTC)
        if isinstance(last, str):
            last = dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC)
        return BroadcastProgress(broadcast_id, total=sum(counts.values()), pending=counts.get(PENDING, 0),
                                 sending=counts.get(SENDING, 0), sent=counts.get(SENT, 0),
                                 failed=counts.get(FAILED, 0), dropped=counts.get(DROPPED, 0),
                                 first_sent_at=first, last_sent_at=last)

    async def outbox_messages(self, *, broadcast_id: str | None = None, chat_id: int | None = None,
                              status: str | None = None, key: str | None = None) -> list[OutboxMessage]:
        """Rows for inspection (tests, admin tools), oldest first."""
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if broadcast_id is not None:
            q = q.where(OutboxMessage.broadcast_id == broadcast_id)
        if chat_id is not None:
            q = q.where(OutboxMessage.chat_id == chat_id)
        if status is not None:
            q = q.where(OutboxMessage.status == status)
        if key is not None:
            q = q.where(OutboxMessage.idempotency_key == key)
        async with self.session() as s:
            return list(await s.scalars(q))

    async def outbox_counts(self) -> dict[str, int]:
        async with self.session() as s:
            return dict((await s.execute(select(OutboxMessage.status, func.count())
                                         .group_by(OutboxMessage.status))).all())

    async def prune_outbox(self, before: dt.datetime) -> int:
        """Delete finished rows (sent/failed/dropped) created before ``before``; returns how many."""
        async with self.session() as s:
            res = await s.execute(delete(OutboxMessage).where(
                OutboxMessage.status.in_([SENT, FAILED, DROPPED]), OutboxMessage.created_at < before))
            return res.rowcount
