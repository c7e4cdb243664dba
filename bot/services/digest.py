"""Matched pushes: enterprises and experts get ONE digest a day of patents newly submitted as
transferable in their industries (or matching their saved keywords), never during quiet hours
22:00–08:00 Asia/Shanghai.

``DigestJob.tick()`` does one pass; it is idempotent per user and local day (outbox key
``digest:<user>:<date>`` plus ``users.last_digest_at`` in the same transaction), so running it often,
or again after a restart, never sends twice. The Application runs it every few minutes.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.delivery.jobs import PeriodicJob
from bot.delivery.notify import wake

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET_FROM, QUIET_UNTIL = dt.time(22, 0), dt.time(8, 0)
MAX_ITEMS = 10
FIRST_LOOKBACK = dt.timedelta(days=1)


def in_quiet_hours(now: dt.datetime) -> bool:
    local = now.astimezone(SHANGHAI).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


class DigestJob(PeriodicJob):
    name = "digest-job"

    async def tick(self) -> int:
        """One pass; returns how many digests were queued."""
        services = self.services
        now = services.clock()
        if in_quiet_hours(now):
            return 0
        today = now.astimezone(SHANGHAI).date()
        recipients = await services.storage.digest_recipients()
        if not recipients:
            return 0
        oldest = min((e["last"] or now - FIRST_LOOKBACK) for e in recipients.values())
        fresh = await services.storage.newly_transferable(oldest)
        if not fresh:
            return 0
        await services.catalog.catch_up()  # patents another process imported moments ago match too
        queued = 0
        for uid, e in recipients.items():
            last = e["last"]
            if last is not None and last.astimezone(SHANGHAI).date() == today:
                continue  # one digest per local day
            since = last or now - FIRST_LOOKBACK
            ids = {pid for pid, industry, at in fresh if at > since and industry in e["industries"]}
            window = {pid for pid, _i, at in fresh if at > since}
            for kw in e["keywords"]:
                page = await services.catalog.search(kw, limit=MAX_ITEMS, allowed_ids=window)
                ids.update(h.id for h in page.result.hits)
            if not ids:
                continue
            patents = list((await services.storage.get_patents(sorted(ids))).values())[:MAX_ITEMS]
            queued += await self._queue(uid, patents, len(ids), today, now)
        if queued:
            wake(services)
        return queued

    async def _queue(self, uid: int, patents: list, total: int, today: dt.date, now: dt.datetime) -> int:
        from bot.delivery.notify import push

        services = self.services
        async with services.storage.session() as s:
            new = await push(s, services, uid, "notify_digest", key=f"digest:{uid}:{today.isoformat()}",
                             patents=patents, total=total, day=today)
            await services.storage.mark_digest_sent(s, uid, now)
        return int(new)
