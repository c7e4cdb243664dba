"""Who may be sent to, and how fast: blocked and deactivated users, groups the bot left, and
Telegram's flood control (token buckets per chat, per group and overall)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .answers import TgError

if TYPE_CHECKING:
    from .state import Chat

#: methods subject to flood control (rate limits)
RATE_LIMITED_METHODS = frozenset(
    {"sendmessage", "senddocument", "sendphoto", "copymessage", "forwardmessage"})
#: methods that fail for blocked / deactivated users
BLOCKABLE_METHODS = RATE_LIMITED_METHODS | {"sendchataction"}


@dataclass
class RateLimits:
    """Flood-control settings (token buckets). ``None`` on the emulator = no limits."""

    per_chat_per_sec: float = 1.0
    per_chat_burst: int = 3
    global_per_sec: float = 30.0
    global_burst: int = 30
    group_per_min: int = 20


class TokenBucket:
    """Telegram's side of flood control. The bot's outbox has its own limiter; the two are
    kept apart so that the tests check the bot's limiter against an independent one."""

    __slots__ = ("capacity", "rate", "tokens", "ts")

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate = rate
        self.capacity = max(1.0, float(capacity))
        self.tokens = self.capacity
        self.ts = now

    def wait_time(self, now: float) -> float:
        if now > self.ts:
            self.tokens = min(self.capacity, self.tokens + (now - self.ts) * self.rate)
            self.ts = now
        if self.tokens >= 1.0:
            return 0.0
        if self.rate <= 0:
            return 3600.0
        return (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


class SendingLimits:
    """Refuses sends the way Telegram does: 403 for blocked users, 429 past the rate limits."""

    def _init_rate_limits(self, limits: RateLimits | None) -> None:
        self._rate_limits: RateLimits | None = None
        self._global_bucket: TokenBucket | None = None
        self._chat_buckets: dict[int, TokenBucket] = {}
        self._group_buckets: dict[int, TokenBucket] = {}
        self.throttled_count = 0
        self.set_rate_limits(limits)

    def set_rate_limits(self, limits: RateLimits | None) -> None:
        """Turn flood control on (a :class:`RateLimits`) or off (``None``)."""
        self._rate_limits = limits
        self._chat_buckets.clear()
        self._group_buckets.clear()
        if limits is not None:
            self._global_bucket = TokenBucket(limits.global_per_sec, limits.global_burst,
                                              self.clock())
        else:
            self._global_bucket = None

    @property
    def rate_limits(self) -> RateLimits | None:
        return self._rate_limits

    def _check_send(self, method: str, chat: Chat) -> None:
        """Blocked / deactivated users and flood control for sending methods."""
        if method in BLOCKABLE_METHODS and chat.type == "private":
            desc = self._blocked.get(chat.id)
            if desc:
                raise TgError(403, desc)
        if chat.type != "private" and not chat.bot_member and method in BLOCKABLE_METHODS:
            raise TgError(403, "Forbidden: bot is not a member of the group chat")
        if method in RATE_LIMITED_METHODS and self._rate_limits is not None:
            self._check_rate(chat.id)

    def _check_rate(self, chat_id: int) -> None:
        lim = self._rate_limits
        assert lim is not None and self._global_bucket is not None
        now = self.clock()
        buckets = [self._global_bucket]
        b = self._chat_buckets.get(chat_id)
        if b is None:
            b = self._chat_buckets[chat_id] = TokenBucket(lim.per_chat_per_sec,
                                                          lim.per_chat_burst, now)
        buckets.append(b)
        if chat_id < 0:
            g = self._group_buckets.get(chat_id)
            if g is None:
                g = self._group_buckets[chat_id] = TokenBucket(lim.group_per_min / 60.0,
                                                               lim.group_per_min, now)
            buckets.append(g)
        wait = max(bk.wait_time(now) for bk in buckets)
        if wait > 0:
            self.throttled_count += 1
            n = max(1, math.ceil(wait - 1e-9))
            raise TgError(429, f"Too Many Requests: retry after {n}", {"retry_after": n})
        for bk in buckets:
            bk.take()
