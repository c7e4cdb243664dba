"""Per-user flood control: a user sending faster than a person can type is throttled politely
(one notice per window), without slowing anyone else down. Inline queries count too: each one is a
search, and a user typing hundreds of them must not slow down everyone else's answers.

The buckets hold for the bot as a whole. With one process (SQLite) they live in memory: they protect
the process for the next few seconds and carry no data worth keeping across a restart. With several
processes on PostgreSQL each user's bucket is a row (``flood_buckets``), refilled on the database's
clock and taken in one atomic statement (``bot.storage.coordination``), so a user whose updates a load
balancer spreads over N workers still gets the limit once, not N times.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.clock import Clock, SystemClock
from bot.context import BotContext
from bot.delivery.pacing import TokenBucket

log = logging.getLogger(__name__)

RATE_PER_SEC = 3.0  # sustained messages/taps per user
BURST = 8  # a quick series of taps (multi-select, paging) stays well inside this
NOTICE_EVERY = 10.0  # seconds between "please slow down" notices to the same user
MAX_TRACKED = 50_000


@dataclass
class _Sender:
    bucket: TokenBucket
    noticed: float = 0.0  # monotonic time of the last "please slow down"


class FloodGuard:
    def __init__(self, rate: float = RATE_PER_SEC, burst: int = BURST, clock: Clock | None = None,
                 shared: object | None = None) -> None:
        self.rate, self.burst = rate, burst
        self.clock = clock or SystemClock()
        self.senders: dict[int, _Sender] = {}
        self.dropped = 0
        # bot.storage.coordination.PgCoordination (set by the start-up on PostgreSQL): buckets in the database
        self.shared = shared

    async def check(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, should_notice) for the next update of ``user_id``."""
        if self.shared is not None:
            try:
                allowed, notice = await self.shared.flood_take(user_id, self.rate, self.burst, NOTICE_EVERY)
            except Exception:  # noqa: BLE001 - the database is busy or away: this process's buckets
                log.warning("flood: shared bucket unavailable; using this process's", exc_info=True)
                allowed, notice = self.allow(user_id)
                return allowed, notice
            if not allowed:
                self.dropped += 1
            return allowed, notice
        return self.allow(user_id)

    def allow(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, should_notice) from this process's buckets."""
        now = self.clock.monotonic()
        sender = self.senders.get(user_id)
        if sender is None:
            if len(self.senders) >= MAX_TRACKED:  # forget idle users; a full bucket is the default anyway
                self.senders = {k: v for k, v in self.senders.items() if now - v.bucket.ts < 60}
            sender = self.senders[user_id] = _Sender(TokenBucket(self.rate, self.burst, now))
        if sender.bucket.try_take(now):
            return True, False
        self.dropped += 1
        notice = now - sender.noticed >= NOTICE_EVERY
        if notice:
            sender.noticed = now
        return False, notice


async def guard(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None:
        return
    flood: FloodGuard = context.application.bot_data["flood"]
    allowed, notice = await flood.check(user.id)
    if allowed:
        return
    if update.inline_query is not None:
        raise ApplicationHandlerStop  # no answer: the user's client shows no results for the flood
    lang = "en" if (user.language_code or "").startswith("en") else context.i18n.default
    text = context.i18n.render(lang, "flood")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text)
        elif notice and update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError:
        pass
    raise ApplicationHandlerStop  # the update is dropped; nothing else runs for it


def register(app: Application) -> None:
    services = app.bot_data["services"]
    app.bot_data["flood"] = FloodGuard(services.settings.flood_rate, services.settings.flood_burst, services.clock)
    app.add_handler(TypeHandler(Update, guard), group=-2)
