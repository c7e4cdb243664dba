"""Per-user flood control: a user sending faster than a person can type is throttled politely
(one notice per window), without slowing anyone else down.

The buckets live in memory on purpose: they protect this process for the next few seconds and
carry no data worth keeping across a restart.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import BotContext

RATE_PER_SEC = 3.0  # sustained messages/taps per user
BURST = 8  # a quick series of taps (multi-select, paging) stays well inside this
NOTICE_EVERY = 10.0  # seconds between "please slow down" notices to the same user
MAX_TRACKED = 50_000


@dataclass
class _Bucket:
    tokens: float = BURST
    stamp: float = field(default_factory=time.monotonic)
    noticed: float = 0.0


class FloodGuard:
    def __init__(self, rate: float = RATE_PER_SEC, burst: int = BURST, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: dict[int, _Bucket] = {}
        self.dropped = 0

    def allow(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, should_notice)."""
        now = self.clock()
        b = self.buckets.get(user_id)
        if b is None:
            if len(self.buckets) >= MAX_TRACKED:  # forget idle users; a full bucket is the default anyway
                self.buckets = {k: v for k, v in self.buckets.items() if now - v.stamp < 60}
            b = self.buckets[user_id] = _Bucket(tokens=self.burst, stamp=now)
        b.tokens = min(self.burst, b.tokens + (now - b.stamp) * self.rate)
        b.stamp = now
        if b.tokens >= 1:
            b.tokens -= 1
            return True, False
        self.dropped += 1
        notice = now - b.noticed >= NOTICE_EVERY
        if notice:
            b.noticed = now
        return False, notice


async def guard(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None or update.inline_query is not None:
        return  # inline queries are typed live and cheap; Telegram already debounces them
    flood: FloodGuard = context.application.bot_data["flood"]
    allowed, notice = flood.allow(user.id)
    if allowed:
        return
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
    settings = app.bot_data["services"].settings
    app.bot_data["flood"] = FloodGuard(settings.flood_rate, settings.flood_burst)
    app.add_handler(TypeHandler(Update, guard), group=-2)
