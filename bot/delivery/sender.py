"""The durable, rate-limited sender of pushes (event notices, deadline reminders, feedback, broadcasts).

Writing
=======
A push is an ``OutboxMessage`` row written **in the same transaction** as the change that causes it::

    async with storage.session() as s:
        ...                                              # the change itself
        await storage.enqueue(s, chat_id=uid, text=html, key=f"event:{ev.id}:notice:{uid}")
    wake(services)                                       # bot.delivery.notify: after the commit, low latency

A rolled-back change leaves no push; the idempotency key makes enqueuing twice a no-op. A broadcast is
``await storage.enqueue_many(rows)`` (one transaction, multi-row INSERTs in chunks) plus, optionally,
``await outbox.track_broadcast(broadcast_id, chat_id, message_id, lang)`` for a live progress message.

Sending
=======
``Outbox`` is one asyncio task, in the leading bot process (``bot.delivery.leader``). It claims due
rows (``status='sending'``, ``claimed_by``/``claimed_at``, committed) *immediately before* the API
calls, makes them through PTB
(``send_message`` / ``send_document`` / ``edit_message_text``), and records each outcome right after the
call returns, in short transactions (sent-marks are group-committed: the first one at once, those that
arrive meanwhile in the next commit).

* Rate limits as Telegram's: token buckets for ≤ 30 messages/s overall, ≤ 1/s per chat (short bursts
  allowed) and ≤ 20/min per group, each refilled at ``headroom`` (98.5 %) of the nominal rate, so
  429s are rare. Under a backlog the sender claims in bursts of ``global_burst`` rows.
* 429 ``RetryAfter``: that chat waits ``retry_after`` and only that row is retried (the try does not
  count as an attempt); when ``flood_chats`` different chats get a 429 within ``flood_window`` seconds
  it is a global flood and every send waits.
* 403 ``Forbidden`` (blocked, deactivated, kicked): the row is *dropped*, the chat's other queued rows
  too; for a private chat the user gets ``blocked_bot=True``, which leaves them out of every audience
  (subscriptions, digests, weekly reports) until they write to the bot again; their subscriptions
  are kept, so unblocking brings them back.
* 400 ``BadRequest``: permanent, the row *fails* with the reason ("message is not modified" on an
  edit counts as done). ``ChatMigrated``: the chat's rows move to the new supergroup id.
* Anything else (``NetworkError``, ``TimedOut``, 5xx, even a bug): exponential backoff
  (1 s, 2 s, 4 s … ≤ 5 min), then *failed* after ``max_attempts`` (6) attempts.
* The loop never dies: every exception is logged and the loop goes on (a sent-mark that cannot be
  written is retried until it is, so a delivered row is never sent again by this process).

Every bot process may enqueue; one sender runs at a time (the elected leader, see below), so the
token buckets hold for the whole bot. The claim is still ``FOR UPDATE SKIP LOCKED``, and a row is
only claimable when no earlier due row of its chat is pending or in flight, so a chat's messages stay
in order even while an old leader's last calls are finishing.

Exactly once, and the honest remaining window
=============================================
Telegram has no idempotency key and the Bot API cannot be asked "did message X arrive?". After a
crash (kill -9, power loss, OOM) the rows still in ``'sending'`` are those claimed and not yet
recorded, and two kinds are indistinguishable among them: (a) the request never reached Telegram,
(b) Telegram delivered it but the answer was not recorded. Everything else is exact: a row whose
sent-mark committed is never sent again (every update after the claim is guarded by
``status='sending' AND claimed_by=<me>``, recovery only touches rows still in 'sending'); a 429 /
403 / 400 answer is definite (nothing was delivered); a row that was never claimed is simply sent.

**Policy for ambiguous rows** (``OutboxLimits.resend_ambiguous``): *at-least-once* by default — a row
left in 'sending' by a dead sender goes back to pending (``last_error`` starts with "ambiguous", and
stays as history once it is sent) and is sent again, because a missed deadline reminder costs more
than a duplicate notice. Kind (a) is then delivered exactly once; kind (b) is delivered **twice**.
With ``resend_ambiguous=False`` it is *at-most-once*: such rows become failed ("ambiguous: … unknown
whether delivered") for a human to check, so kind (b) is fine and kind (a) is **not delivered**.
Edits are idempotent and always done again. ``TimedOut``/``NetworkError`` answers are ambiguous in
the same way (the request may have arrived) and are retried (at-least-once).

**The remaining window.** Under the default policy a duplicate needs a crash inside
[Telegram has processed a message, its sent-mark has committed]: the answer's trip back, PTB parsing
it and one small UPDATE. That is kept short: claims are committed only for rows sent at once (a row
never sits claimed waiting for tokens); the calls of a burst are started one event-loop turn apart,
so early answers are read while later requests are built; sent-marks are group-committed as one
executemany (on SQLite through a plain sqlite3 connection, ~0.2 ms, not aiosqlite's thread hops);
and under a backlog the next claim waits until the previous burst is recorded. Measured with
``benchmarks/broadcast_bench.py --quick`` (the sender is ``run_bot.py``, against the local emulator,
on a shared 2-CPU machine): median 4–7 ms (SQLite) / 12–18 ms (PostgreSQL) from "the emulator
processed it" to "its sent-mark committed", and some message was in that state during 3.4–5.7 %
(SQLite) / 4.5–6.7 % (PostgreSQL) of the sending time — the chance that a kill -9 at a random instant
during a broadcast causes duplicates (then at most the answered part of one burst; ``--kills 5``: one
kill in five found a burst in flight on each database, 1 and 5 duplicates, nothing lost).
Against the real Telegram it is at least half a network round trip per burst. At the instant of a
crash at most the rows in flight — one burst, ≤ ``concurrency`` — are ambiguous; at most instants,
none. A graceful stop (SIGTERM → ``stop()``) finishes the calls in flight and leaves nothing
ambiguous.

Rows in 'sending' are taken over by a restarted process with the same ``worker_id`` at once (give
each process slot a stable id, e.g. the host/pod name + slot number) and by any process once
``claimed_at`` is older than ``stale_after`` (60 s, well above the HTTP timeouts). Claims are stamped
and judged stale on the database's clock (``now()`` on PostgreSQL), never on a process's own.

Several processes on PostgreSQL elect one leader (``bot.delivery.leader``) and only its sender runs
(``sole``): a new leader takes every row left in 'sending' over at once, since the sender that
claimed it is gone (its session, and with it the leader lock, has ended).

Measuring the window: ``OUTBOX_TRACE_FILE``
-------------------------------------------
A row's ``sent_at`` is the time taken just *before* its sent-mark is written, not when it
committed; on PostgreSQL the write itself (BEGIN, UPDATE, COMMIT) is a large part of the window —
a median 5 ms of 12 ms on a quiet machine, 15 of 35 ms at load average 3–5 (the benchmark prints
both) — so ``sent_at`` cannot measure it. With ``trace_file`` (the ``OUTBOX_TRACE_FILE`` setting)
the sender appends, right after each sent-mark commit, one JSON line
``{"t": <wall-clock seconds, time.time()>, "worker": <worker_id>, "ids": [<row id>, …]}`` — written
through at once, so a process killed the next instant leaves its record. Pairing ``t`` with the time
Telegram (or an emulator) processed each row gives the window; ``benchmarks/broadcast_bench.py`` does
exactly that. Unset (the default), it costs one ``None`` check per group commit.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import socket
import time
from typing import Any

from telegram import Bot, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter

from bot.clock import Clock, as_clock
from bot.delivery.pacing import ChatPace, OutboxLimits, Pacing, retry_after_seconds
from bot.delivery.progress import BroadcastTracker, is_progress
from bot.i18n import Translator
from bot.storage.outbox import BroadcastProgress, OutboxJob, Recovery

log = logging.getLogger(__name__)


class Outbox:
    """Drains the outbox table through ``bot`` within Telegram's limits (see the module docstring).

    ``start()`` / ``stop()`` around the bot's lifetime; ``wake()`` after enqueuing; ``drain()`` and
    ``wait_broadcast()`` for tests and scripts.

    * ``bot``: a ``telegram.Bot`` (the Application's ``app.bot`` is fine: its HTTP pool is shared).
    * ``clock``: a ``bot.clock.Clock``: None (real time), the program's ``ShiftableClock`` or a
      ``ScaledClock`` (tests). Its moment must not run behind the real time, since ``enqueue``
      stamps ``not_before`` with the real time (a frozen test clock would keep every row "not yet
      due").
    * ``worker_id``: unique among the *running* senders, and stable across restarts of the same
      process slot (e.g. ``f"{hostname}-1"``) so a restarted sender takes its rows over at once;
      the default (host:pid:random) is unique but only recovers via ``stale_after``.
    * ``i18n``: the ``Translator`` for progress messages (default: a new one).
    * ``trace_file``: a path to append one JSON line to per committed group of sent-marks (see
      "Measuring the window" in the module docstring); None: no trace."""

    def __init__(self, storage: Any, bot: Bot, *, clock: Clock | None = None, limits: OutboxLimits = OutboxLimits(),
                 worker_id: str | None = None, i18n: Translator | None = None,
                 trace_file: str | os.PathLike[str] | None = None) -> None:
        self.storage = storage
        self.bot = bot
        self.clock: Clock = as_clock(clock)
        self.limits = limits
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        if len(self.worker_id) > 64:
            raise ValueError("worker_id must be at most 64 characters")
        self._trace_path = trace_file
        self._trace: Any = None  # opened at the first sent-mark
        self.pacing = Pacing(limits, self.clock.monotonic())
        self.broadcasts = BroadcastTracker(storage, self.clock, self.pacing.overall.rate, i18n)
        self._inflight: dict[int, asyncio.Task] = {}
        self._sent_buf: list[tuple[int, int | None, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._sleeping = False
        self._backlog = False
        self._last_launch = 0.0
        self._recovered_own = False
        self._next_recovery = 0.0
        self.last_recovery: Recovery | None = None
        self.stats: collections.Counter[str] = collections.Counter()
        # several processes (bot.delivery.leader): only the leader sends; ``sole`` while it does (every
        # row another sender left in 'sending' is a dead one's); ``remote_wake`` tells the leader from
        # a process whose own sender is not running
        self.sole = False
        self.remote_wake: Any = None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def idle(self) -> bool:
        """Sleeping between two looks at the queue, nothing in flight, no sent-mark pending (a crash
        now leaves no ambiguous row)."""
        return self._sleeping and not self._inflight and not self._sent_buf

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._recovered_own = False
        if self.sole:
            # taking over from a leader that may have spent this second's budget a moment ago: a full
            # bucket would add its burst to Telegram's 30/s, so the new leader starts empty
            self.pacing.overall.empty(self.clock.monotonic())
        self._task = asyncio.create_task(self._run(), name=f"outbox-sender[{self.worker_id}]")

    async def stop(self, grace: float | None = None) -> None:
        """Finish the calls in flight (up to ``grace`` seconds) and their sent-marks, then stop."""
        grace = self.limits.stop_grace if grace is None else grace
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        tasks = list(self._inflight.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for t in late:  # left in 'sending': a restart recovers them (ambiguous)
                t.cancel()
            if late:
                await asyncio.wait(late)
        if self._flusher is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._flusher, grace)
        if self._trace is not None:
            self._trace.close()
            self._trace = None
        self._task = None

    async def abort(self) -> None:
        """Simulate a crash (tests): cancel everything at once, flush nothing — rows are left exactly
        as a kill -9 would leave them."""
        self._stopping = True
        tasks = [t for t in (self._task, self._flusher, *self._inflight.values()) if t is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._task = None

    def wake(self) -> None:
        """Look for due rows now (call after committing an enqueue)."""
        self._wake.set()
        if not self.running and self.remote_wake is not None:
            self.remote_wake("outbox")

    # -- waiting (tests, scripts) --------------------------------------------------------------------
    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is left to do: no pending row due now or due within the remaining
        ``timeout`` (so 429/backoff retries are waited for), nothing in flight. True if drained."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            horizon = self.clock.now() + dt.timedelta(seconds=max(remaining, 0.0) * self.clock.speed)
            if not self._inflight and not self._sent_buf:
                try:
                    if await self.storage.outbox_busy(horizon) == 0 and not self._inflight:
                        return True
                except Exception:
                    log.exception("outbox: drain could not read the queue")
            if remaining <= 0:
                return False
            self.wake()
            await asyncio.sleep(min(0.02, max(remaining, 0.001)))

    async def progress(self, broadcast_id: str) -> BroadcastProgress:
        return await self.storage.broadcast_progress(broadcast_id)

    async def wait_broadcast(self, broadcast_id: str, timeout: float | None = None,
                             poll: float = 0.2) -> BroadcastProgress:
        """Wait until no row of the broadcast is pending or in flight; raises TimeoutError."""
        return await self.broadcasts.wait(broadcast_id, timeout, poll)

    async def track_broadcast(self, broadcast_id: str, chat_id: int, message_id: int, lang: str | None = None,
                              *, chat_type: str = "private") -> bool:
        """Keep the existing message ``message_id`` in ``chat_id`` edited with the broadcast's progress
        (sent / failed / remaining, ETA) at most every ``progress_interval`` seconds until it is done.
        Durable: the tracker is itself an outbox row (kind 'edit'), so it survives a restart."""
        new = await self.broadcasts.track(broadcast_id, chat_id, message_id, lang, chat_type)
        self.wake()
        return new

    # -- the loop -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        log.info("outbox sender %s started", self.worker_id)
        while not self._stopping:
            self._wake.clear()
            try:
                await self._maybe_recover()
                delay = await self._pump()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats["loop_errors"] += 1
                log.exception("outbox: sender loop error (continuing)")
                delay = self.limits.poll_interval
            if delay > 0 and not self._stopping:
                await self._idle(delay)
        log.info("outbox sender %s stopped", self.worker_id)

    async def _idle(self, delay: float) -> None:
        if self._wake.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        waiter = asyncio.ensure_future(self._wake.wait())
        self._sleeping = True
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._sleeping = False
            sleeper.cancel()
            waiter.cancel()

    async def _maybe_recover(self) -> None:
        L = self.limits
        m = self.clock.monotonic()
        if self._recovered_own and m < self._next_recovery:
            return
        rec = await self.storage.recover_outbox(
            self.worker_id, self.clock.now(), stale_after=L.stale_after, resend=L.resend_ambiguous,
            max_attempts=L.max_attempts, own=not self._recovered_own, keep=list(self._inflight),
            everyone=self.sole and not self._recovered_own, speed=self.clock.speed)
        self._recovered_own = True
        self._next_recovery = m + max(L.stale_after / 4, L.poll_interval)
        if rec.total:
            self.last_recovery = rec
            self.stats["ambiguous_resent"] += rec.resent
            self.stats["ambiguous_failed"] += rec.failed
            log.warning("outbox: took over %d row(s) left in 'sending' by a dead sender: %d resent, %d failed "
                        "(ambiguous: they may or may not have reached Telegram)", rec.total, rec.resent, rec.failed)

    async def _pump(self) -> float:
        """Claim and start what may be sent now; returns how long to wait before the next look."""
        L = self.limits
        m = self.clock.monotonic()
        pacing = self.pacing
        if pacing.paused_until > m:
            return pacing.paused_until - m
        free = L.concurrency - len(self._inflight)
        if free <= 0:
            return L.poll_interval  # a finishing call wakes us
        tokens = pacing.overall.available(m)
        if tokens < 1:
            return pacing.overall.wait(m, 1)
        if self._backlog:  # batch: fewer, denser bursts (cheaper claims, shorter crash window) — but
            # claim before the bucket is full, or the refill while claiming would be lost at the cap
            target = max(1.0, min(0.75 * pacing.overall.capacity, L.concurrency))
            if tokens < target:
                return pacing.overall.wait(m, target)
            # and let the previous burst be recorded first: its sent-marks must not queue behind this
            # claim for the database (they close the crash window); a slow call holds us up ≤ settle
            settle = m - self._last_launch
            if (self._inflight or self._sent_buf) and settle < L.burst_settle:
                return L.burst_settle - settle  # a finishing call wakes us earlier
        n = min(int(tokens), free, L.claim_batch)
        now = self.clock.now()
        jobs = await self.storage.claim_outbox(self.worker_id, now, n, exclude_chats=pacing.waiting_chats(m))
        self._backlog = len(jobs) >= n
        if jobs:
            m = self._last_launch = self.clock.monotonic()
            for job in jobs:
                self._launch(job, m)
                # one loop iteration per call: the answers of the first calls are read and recorded
                # while the later requests are built, not after all of them (shorter crash window)
                await asyncio.sleep(0)
            return 0.0
        delay = L.poll_interval
        ready = pacing.next_chat_ready(m)
        if ready is not None:
            delay = min(delay, ready - m)
        nxt = await self.storage.outbox_next_due(now)
        if nxt is not None:
            delay = min(delay, (nxt - now).total_seconds())
        return max(delay, 0.001)

    def _launch(self, job: OutboxJob, m: float) -> None:
        # progress edits are throttled by progress_interval instead of the overall rate
        chat = self.pacing.take(job, m, counts_overall=not is_progress(job))
        self._inflight[job.id] = asyncio.create_task(self._deliver(job, chat), name=f"outbox-send-{job.id}")

    # -- one row --------------------------------------------------------------------------------------
    async def _deliver(self, job: OutboxJob, chat: ChatPace) -> None:
        try:
            await self._attempt(job, chat)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats["outcome_errors"] += 1
            log.exception("outbox: row %s: could not record the outcome (recovered later as stale)", job.id)
        finally:
            self.pacing.done(job, chat, self.clock.monotonic())
            self._inflight.pop(job.id, None)
            self._wake.set()

    async def _attempt(self, job: OutboxJob, chat: ChatPace) -> None:
        W = self.worker_id
        try:
            message_id, done = await self._call(job)
        except RetryAfter as e:
            secs = retry_after_seconds(e)
            self.stats["rate_limited"] += 1
            if self.pacing.retry_after(job.chat_id, chat, secs, self.clock.monotonic()):
                self.stats["global_floods"] += 1
                log.warning("outbox: global flood control, every send waits %ss", secs)
            log.info("outbox: row %s chat %s: 429, retry after %ss", job.id, job.chat_id, secs)
            await self.storage.release_outbox(W, job.id, not_before=self._at(secs),
                                              error=f"429: retry after {secs:g}s", count_attempt=False)
        except Forbidden as e:
            n = await self.storage.drop_outbox_blocked(W, job.id, job.chat_id, job.chat_type, f"403: {e.message}")
            self.stats["dropped"] += n
            log.info("outbox: chat %s: %s — dropped %d row(s)", job.chat_id, e.message, n)
        except ChatMigrated as e:
            await self.storage.migrate_outbox_chat(W, job.id, job.chat_id, e.new_chat_id)
            log.info("outbox: chat %s migrated to %s", job.chat_id, e.new_chat_id)
        except BadRequest as e:  # permanent (BadRequest is a NetworkError subclass: keep it first)
            self.stats["failed"] += 1
            log.warning("outbox: row %s chat %s failed: %s", job.id, job.chat_id, e.message)
            await self.storage.fail_outbox(W, job.id, f"400: {e.message}")
        except Exception as e:  # noqa: BLE001 - NetworkError, TimedOut, 5xx, anything: transient
            await self._backoff(job, chat, f"{type(e).__name__}: {e}")
        else:
            if done:
                await self._mark_sent(job.id, message_id)
                self.stats["sent"] += 1
            else:  # a progress message of a running broadcast: edit again later
                await self.storage.release_outbox(W, job.id, not_before=self._at(self.limits.progress_interval),
                                                  error=None, count_attempt=False)

    def _at(self, seconds: float) -> dt.datetime:
        return self.clock.now() + dt.timedelta(seconds=seconds)

    async def _backoff(self, job: OutboxJob, chat: ChatPace, error: str) -> None:
        L = self.limits
        if job.attempts >= L.max_attempts:
            self.stats["failed"] += 1
            log.warning("outbox: row %s gave up after %d attempts: %s", job.id, job.attempts, error)
            await self.storage.fail_outbox(self.worker_id, job.id, f"gave up after {job.attempts} attempts: {error}")
            return
        delay = min(L.backoff_base * 2 ** (job.attempts - 1), L.backoff_max)
        self.stats["retried"] += 1
        log.info("outbox: row %s attempt %d failed (%s); retry in %.1fs", job.id, job.attempts, error, delay)
        chat.pause(self.clock.monotonic() + delay)  # keeps the chat in order
        await self.storage.release_outbox(self.worker_id, job.id, not_before=self._at(delay), error=error[:2000])

    async def _call(self, job: OutboxJob) -> tuple[int | None, bool]:
        """One Bot API call. Returns (telegram message id, done)."""
        extra = dict(job.payload or {})
        if job.reply_markup:
            extra["reply_markup"] = job.reply_markup  # PTB serialises api_kwargs dicts as JSON
        if job.kind == "message":
            msg = await self.bot.send_message(chat_id=job.chat_id, text=job.text, parse_mode=job.parse_mode,
                                              api_kwargs=extra or None)
            return msg.message_id, True
        if job.kind == "document":
            doc = InputFile(job.document or b"", filename=job.document_name or "document")
            msg = await self.bot.send_document(chat_id=job.chat_id, document=doc, caption=job.text or None,
                                               parse_mode=job.parse_mode if job.text else None,
                                               api_kwargs=extra or None)
            return msg.message_id, True
        if job.kind == "edit":
            message_id = int(extra.pop("message_id"))
            done = True
            text, parse_mode = job.text, job.parse_mode
            if "progress_of" in extra:
                text, done = await self.broadcasts.render(extra.pop("progress_of"), extra.pop("lang", None))
                parse_mode = ParseMode.HTML
            try:
                await self.bot.edit_message_text(text=text, chat_id=job.chat_id, message_id=message_id,
                                                 parse_mode=parse_mode, api_kwargs=extra or None)
            except BadRequest as e:
                if "not modified" not in e.message.lower():
                    raise
            return message_id, done
        raise BadRequest(f"unknown outbox kind {job.kind!r}")

    # -- sent-marks: group commit ------------------------------------------------------------------
    async def _mark_sent(self, job_id: int, message_id: int | None) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._sent_buf.append((job_id, message_id, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_sent(), name="outbox-sent-marks")
        await asyncio.shield(fut)

    async def _flush_sent(self) -> None:
        attempt = 0
        while self._sent_buf:
            batch, self._sent_buf = self._sent_buf, []
            while True:
                try:
                    await self.storage.mark_outbox_sent(self.worker_id, [(i, mid) for i, mid, _ in batch],
                                                        self.clock.now())
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    attempt += 1
                    self.stats["mark_errors"] += 1
                    log.exception("outbox: could not record %d sent row(s); retrying", len(batch))
                    await asyncio.sleep(min(0.05 * 2 ** attempt, 5.0))
            if self._trace_path is not None:
                self._trace_marks(batch)
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_result(None)

    def _trace_marks(self, batch: list[tuple[int, int | None, asyncio.Future]]) -> None:
        """One line per committed group (``trace_file``): the wall-clock time right after the commit."""
        try:
            if self._trace is None:
                # line-buffered: each line reaches the OS at once and outlives a kill -9 of this process
                self._trace = open(self._trace_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            self._trace.write(json.dumps({"t": time.time(), "worker": self.worker_id,
                                          "ids": [i for i, _, _ in batch]}) + "\n")
        except OSError:
            log.exception("outbox: cannot write the trace file %s; tracing is off", self._trace_path)
            self._trace_path = None
