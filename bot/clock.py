"""The program's one notion of time.

A clock answers three questions: the UTC moment (``clock()`` or ``clock.now()``), a monotonic reading
for intervals and rates (``clock.monotonic()``), and waiting (``await clock.sleep(seconds)``).

* :class:`SystemClock`: real time.
* :class:`ShiftableClock`: real time plus an offset, the program's clock (``services.clock``). For
  demos and tests the program can run on a shifted clock (``BOT_CLOCK_START``, an ISO-8601 moment the
  clock starts at and then flows in real time), so reminders, digests and weekly reports can be seen
  without waiting for the calendar; that setting is honoured only when the bot talks to a local Bot
  API (the playground's emulator, or a ``BOT_API_BASE_URL`` on loopback), never against Telegram.
  Tests that run the program in-process move the same clock object with ``set``/``advance``.
* :class:`ScaledClock`: time running N× faster, for tests of the outbox sender against the emulator:
  Telegram's limits (1 msg/s per chat, ``retry_after`` seconds …) keep their meaning and play out N×
  faster.

The shift moves only the calendar; monotonic readings and waits stay real for both of the first two.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlparse


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Clock(Protocol):
    speed: float  # seconds of this clock per real second

    def __call__(self) -> dt.datetime: ...

    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time."""

    speed = 1.0

    def __call__(self) -> dt.datetime:
        return self.now()

    def now(self) -> dt.datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ShiftableClock(SystemClock):
    """Real time plus an offset; ``set`` jumps to a moment, ``advance`` moves forward."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.offset = dt.timedelta()
        if start is not None:
            self.set(start)

    def now(self) -> dt.datetime:
        return utcnow() + self.offset

    def set(self, moment: dt.datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware moment")
        self.offset = moment - utcnow()

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)

    @property
    def shifted(self) -> bool:
        return abs(self.offset.total_seconds()) > 1.0


class ScaledClock(SystemClock):
    """Time running ``speed`` times faster than real time, for tests: give ``clock.monotonic`` to the
    emulator (``BotAPIEmulator(clock=clock.monotonic)``) too and Telegram's real limits (1 msg/s per
    chat, retry_after seconds …) play out ``speed`` times faster. ``now()`` starts at the real time,
    so rows enqueued with the default ``not_before`` are due at once."""

    def __init__(self, speed: float = 10.0, start: dt.datetime | None = None) -> None:
        self.speed = float(speed)
        self._t0 = time.monotonic()
        self._start = start or utcnow()

    def elapsed(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self.elapsed())

    def monotonic(self) -> float:
        return self._t0 + self.elapsed()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def as_clock(clock: Clock | None) -> Clock:
    """``clock``, or real time for None; refuses what cannot both tell the moment and wait."""
    if clock is None:
        return SystemClock()
    if not all(hasattr(clock, a) for a in ("now", "monotonic", "sleep")):
        raise TypeError(f"not a clock: {clock!r}")
    return clock


def parse_clock_start(raw: str) -> dt.datetime:
    """``2024-12-30T08:59:50+08:00`` (a moment without an offset is Beijing time, the bot's users')."""
    moment = dt.datetime.fromisoformat(raw.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return moment


def is_local_api(base_url: str | None) -> bool:
    """A Bot API endpoint on this machine (an emulator), where a shifted clock harms no real user."""
    if not base_url:
        return False
    host = urlparse(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def sleep_until(clock: Callable[[], dt.datetime], *, due: dt.datetime | None, wake: asyncio.Event,
                      longest: float, tick: float = 0.5, jump: float = 2.0) -> None:
    """Wait until ``clock()`` reaches ``due``, ``wake`` is set, ``longest`` seconds have passed, or the
    clock jumped (NTP, a shifted demo clock moved by a test): whatever was computed from the old time
    must then be computed again. Checked every ``tick`` seconds."""
    started = last_m = time.monotonic()
    last_c = clock()
    while not wake.is_set():
        now, m = clock(), time.monotonic()
        if due is not None and now >= due:
            return
        if m - started >= longest:
            return
        if abs((now - last_c).total_seconds() - (m - last_m)) > jump:
            return
        last_c, last_m = now, m
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), tick)
