"""Pacing: Telegram's rate limits as this process keeps to them, and the token bucket the whole
program meters rates with (the outbox sender here, per-user flood control in the handlers).

The sender's pacing: a bucket for all chats together, one per chat (and, for groups, one per group's
minute limit), pauses from 429 ``retry_after`` answers, and a global pause when several chats get a
429 at once (a flood). Everything is in monotonic seconds of the sender's clock.
"""
from __future__ import annotations

import collections
import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram.error import RetryAfter

if TYPE_CHECKING:
    from bot.storage.outbox import OutboxJob


@dataclass(frozen=True)
class OutboxLimits:
    """Telegram's limits (nominal) and the sender's knobs. Tests scale them down or use a ScaledClock."""

    global_per_sec: float = 30.0  # messages per second, all chats together
    global_burst: int = 20  # client-side burst (< Telegram's 30, leaving room for network latency)
    per_chat_per_sec: float = 1.0
    per_chat_burst: int = 3
    group_per_min: float = 20.0  # groups/supergroups: additionally ≤ 20 per minute
    group_burst: int = 10
    headroom: float = 0.985  # buckets refill at this fraction of the nominal rates
    concurrency: int = 32  # API calls in flight at most
    burst_settle: float = 0.25  # under a backlog, wait ≤ this for a burst to be recorded before the next
    claim_batch: int = 100  # rows per claim at most
    max_attempts: int = 6
    backoff_base: float = 1.0  # seconds; doubles each attempt
    backoff_max: float = 300.0
    poll_interval: float = 1.0  # fallback when nobody calls wake()
    stale_after: float = 60.0  # a 'sending' claim older than this belongs to a dead sender
    progress_interval: float = 3.0  # broadcast progress edits at most this often
    flood_chats: int = 3  # this many chats 429'd within flood_window → global flood
    flood_window: float = 1.0
    resend_ambiguous: bool = True  # at-least-once (True) or at-most-once (False) after a crash
    stop_grace: float = 10.0  # stop() waits this long for calls in flight


class TokenBucket:
    """``rate`` tokens a second up to ``capacity``; starts full. Times are monotonic seconds."""

    __slots__ = ("capacity", "rate", "tokens", "ts")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = float(rate)
        self.capacity = max(1.0, float(capacity))
        self.tokens = self.capacity
        self.ts = now

    def _refill(self, now: float) -> None:
        if now > self.ts:
            self.tokens = min(self.capacity, self.tokens + (now - self.ts) * self.rate)
            self.ts = now

    def available(self, now: float) -> float:
        self._refill(now)
        return self.tokens

    def wait(self, now: float, n: float = 1.0) -> float:
        """Seconds until ``n`` tokens are there (0 if they are)."""
        self._refill(now)
        n = min(n, self.capacity)
        if self.tokens >= n:
            return 0.0
        return (n - self.tokens) / self.rate if self.rate > 0 else 3600.0

    def take(self, now: float, n: float = 1.0) -> None:
        self._refill(now)
        self.tokens -= n

    def try_take(self, now: float) -> bool:
        """Take one token if there is one."""
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def hold(self, now: float) -> None:
        """No refill up to ``now``: as if the last take happened now. Telegram counts a message when it
        processes it, somewhere between our take and the answer; crediting no refill for that time
        keeps this bucket behind Telegram's, never ahead of it."""
        self.ts = max(self.ts, now)

    def empty(self, now: float) -> None:
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


class ChatPace:
    """One chat's limits: its bucket, its group bucket (groups only), a call in flight, a pause."""

    __slots__ = ("bucket", "busy", "group", "paused_until")

    def __init__(self, bucket: TokenBucket, group: TokenBucket | None) -> None:
        self.bucket = bucket
        self.group = group
        self.busy = False  # a call to this chat is in flight
        self.paused_until = 0.0

    def ready_at(self, now: float) -> float:
        """Monotonic time when this chat may get its next message (inf while busy)."""
        if self.busy:
            return math.inf
        t = max(self.paused_until, now + self.bucket.wait(now))
        if self.group is not None:
            t = max(t, now + self.group.wait(now))
        return t

    def idle(self, now: float) -> bool:
        return (not self.busy and self.paused_until <= now and self.bucket.full(now)
                and (self.group is None or self.group.full(now)))

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)


class Pacing:
    """The sender's limits: ``overall`` for all chats, a :class:`ChatPace` per chat seen recently,
    and the global pause of a flood (``paused_until``)."""

    def __init__(self, limits: OutboxLimits, now: float) -> None:
        self.limits = limits
        self.overall = TokenBucket(limits.global_per_sec * limits.headroom, limits.global_burst, now)
        self.paused_until = 0.0
        self._chats: dict[int, ChatPace] = {}
        self._retry_afters: collections.deque[tuple[float, int]] = collections.deque()

    def waiting_chats(self, now: float) -> list[int]:
        """The chats that may not get a message now (forgetting those back at full buckets: a fresh
        state is the same)."""
        out = []
        for chat_id, chat in list(self._chats.items()):
            if chat.ready_at(now) > now:
                out.append(chat_id)
            elif chat.idle(now):
                del self._chats[chat_id]
        return out

    def next_chat_ready(self, now: float) -> float | None:
        times = [t for chat in self._chats.values() if now < (t := chat.ready_at(now)) < math.inf]
        return min(times) if times else None

    def take(self, job: OutboxJob, now: float, *, counts_overall: bool = True) -> ChatPace:
        """Account for a call about to be made for ``job``; its chat is busy until :meth:`done`."""
        chat = self._chats.get(job.chat_id)
        if chat is None:
            L = self.limits
            group = None
            if job.chat_type != "private":
                group = TokenBucket(L.group_per_min / 60.0 * L.headroom, L.group_burst, now)
            chat = self._chats[job.chat_id] = ChatPace(
                TokenBucket(L.per_chat_per_sec * L.headroom, L.per_chat_burst, now), group)
        chat.busy = True
        if counts_overall:
            self.overall.take(now)
        if job.kind != "edit":  # edits don't count toward a chat's send limit
            chat.bucket.take(now)
            if chat.group is not None:
                chat.group.take(now)
        return chat

    def done(self, job: OutboxJob, chat: ChatPace, now: float) -> None:
        """The call for ``job`` has been answered (or has failed)."""
        if job.kind != "edit":
            chat.bucket.hold(now)
            if chat.group is not None:
                chat.group.hold(now)
        chat.busy = False

    def retry_after(self, chat_id: int, chat: ChatPace, seconds: float, now: float) -> bool:
        """A 429 for ``chat_id``: the chat waits ``seconds``. True when it makes a global flood
        (``flood_chats`` chats within ``flood_window``): then every send waits."""
        L = self.limits
        chat.pause(now + seconds)
        self._retry_afters.append((now, chat_id))
        while self._retry_afters and self._retry_afters[0][0] < now - L.flood_window:
            self._retry_afters.popleft()
        if len({c for _, c in self._retry_afters}) < L.flood_chats:
            return False
        self.paused_until = max(self.paused_until, now + seconds)
        self.overall.empty(now)
        return True


def retry_after_seconds(e: RetryAfter) -> float:
    value = getattr(e, "_retry_after", None)  # a timedelta since PTB 22.2 (the public one warns)
    if isinstance(value, dt.timedelta):
        return max(value.total_seconds(), 0.0)
    value = e.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
