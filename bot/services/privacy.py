"""Personal data under PIPL: the privacy notice, a user's own data as a file (/mydata), its erasure
(/deleteme) and the retention job that prunes old push texts and files, saved searches and audit images
(``RETENTION_DAYS``). What erasure does to each table: ``bot/storage/privacy.py``."""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from bot.clock import utcnow
from bot.delivery.jobs import PeriodicJob
from bot.delivery.notify import push_document, wake
from bot.storage.privacy import Pruned

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 6 * 3600.0  # seconds between pruning passes (a clock jump wakes it too)
# the patent change log only has to outlive the slowest follower's poll (seconds); a day is ample
CHANGE_LOG_KEEP = dt.timedelta(days=1)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def my_data_file(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default).encode("utf-8")


async def send_my_data(services: Any, user_id: int) -> bool:
    """Queue the user's own data as a JSON document through the outbox (like every file the bot sends);
    False if there is no such user."""
    data = await services.storage.personal_data(user_id)
    if data is None:
        return False
    now = services.clock()
    lang = data["user"]["language"]
    caption = services.i18n.render(lang, "mydata_caption")
    async with services.storage.session() as s:
        await push_document(s, services, user_id, text=caption, short_caption=caption,
                            document=my_data_file(data), document_name=f"mydata-{user_id}.json",
                            key=f"mydata:{user_id}:{now.isoformat()}")
    wake(services)
    return True


async def erase_me(services: Any, user_id: int) -> dict[str, int]:
    """Erase or anonymise the user's personal data (asked once more by the handler); audit-logged."""
    return await services.storage.erase_personal_data(user_id, services.clock())


class RetentionJob(PeriodicJob):
    """Prunes what is older than ``RETENTION_DAYS``: finished pushes (texts and files), saved searches,
    audit before/after images. Undelivered pushes stay whatever their age. Also trims the patent
    change log (not personal data, but it grows with every edit) to its last ``CHANGE_LOG_KEEP``."""

    name = "retention-job"

    def __init__(self, services: Any, interval: float = RETENTION_INTERVAL) -> None:
        super().__init__(services, interval)
        self.last: Pruned | None = None
        self.changes_pruned = 0

    async def tick(self) -> int:
        cutoff = self.services.clock() - dt.timedelta(days=self.services.settings.retention_days)
        self.last = await self.services.storage.prune_personal_data(cutoff)
        # change-log rows are stamped by the wall clock and read by processes, whatever the program's clock
        self.changes_pruned = await self.services.storage.prune_change_log(utcnow() - CHANGE_LOG_KEEP)
        if any((self.last.outbox, self.last.saved_queries, self.last.audit_images)):
            log.info("retention: pruned %s outbox rows, %s saved searches, %s audit images older than %s",
                     self.last.outbox, self.last.saved_queries, self.last.audit_images, cutoff.date())
        return self.last.outbox + self.last.saved_queries + self.last.audit_images
