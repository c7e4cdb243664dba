"""Bot API methods that hand updates to the bot: getUpdates (long polling) and webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from typing import Any

from .answers import TgError, bad_request, dumps
from .validation import Params

log = logging.getLogger("devtools.emulator")


class UpdateMethods:
    def _init_webhook(self) -> None:
        self._webhook: dict[str, Any] | None = None
        self._webhook_task: asyncio.Task | None = None
        self._webhook_last_error: tuple[int, str] | None = None

    async def _m_getUpdates(self, p: Params) -> list[dict[str, Any]]:
        if self._webhook:
            raise TgError(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")
        offset = p.int("offset", 0) or 0
        limit = p.int("limit", 100) or 100
        limit = max(1, min(100, limit))
        timeout = max(0.0, p.float("timeout", 0.0) or 0.0)
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            self._set_allowed(allowed)
        self._confirm(offset)
        self._poll_generation += 1
        my_gen = self._poll_generation
        self._notify_updates()  # terminates an older long poll (see below)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if my_gen != self._poll_generation:
                raise TgError(409, "Conflict: terminated by other getUpdates request; make sure "
                                   "that only one bot instance is running")
            if self._updates or self._closing:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            ev = self._update_event
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ev.wait(), remaining)
        batch = list(itertools.islice(self._updates, limit))
        self._mark_delivered(u["update_id"] for u in batch)
        return batch

    async def _m_setWebhook(self, p: Params) -> bool:
        url = (p.str("url") or "").strip()
        if not url:
            await self._drop_webhook(p.bool("drop_pending_updates"))
            return True
        if not re.match(r"^https?://", url, re.IGNORECASE):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.str("secret_token")
        if secret is not None and not re.match(r"^[A-Za-z0-9_-]{1,256}$", secret):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            self._set_allowed(allowed)
        if p.bool("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": url, "secret_token": secret,
                         "max_connections": p.int("max_connections", 40),
                         "ip_address": p.str("ip_address"),
                         "has_custom_certificate": "certificate" in p.files}
        self._webhook_last_error = None
        self._start_webhook_task()
        return True

    async def _m_deleteWebhook(self, p: Params) -> bool:
        await self._drop_webhook(p.bool("drop_pending_updates"))
        return True

    async def _drop_webhook(self, drop_pending: bool) -> None:
        self._webhook = None
        if self._webhook_task:
            self._webhook_task.cancel()
            self._webhook_task = None
        if drop_pending:
            self._updates.clear()

    async def _m_getWebhookInfo(self, p: Params) -> dict[str, Any]:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self._webhook:
            info.update(url=self._webhook["url"],
                        has_custom_certificate=self._webhook["has_custom_certificate"],
                        max_connections=self._webhook["max_connections"],
                        allowed_updates=sorted(self._allowed_updates))
            if self._webhook.get("ip_address"):
                info["ip_address"] = self._webhook["ip_address"]
            if self._webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    def _start_webhook_task(self) -> None:
        if self._webhook_task:
            self._webhook_task.cancel()
        if self._http is None:
            return  # started later by start()
        self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())

    async def _stop_webhook_task(self) -> None:
        if self._webhook_task:
            self._webhook_task.cancel()
            with contextlib.suppress(BaseException):
                await self._webhook_task
            self._webhook_task = None

    async def _webhook_loop(self) -> None:
        backoff = 0.05
        while self._webhook and not self._closing:
            if not self._updates:
                ev = self._update_event
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ev.wait(), 1.0)
                continue
            upd = self._updates[0]
            hook = self._webhook
            headers = {"Content-Type": "application/json"}
            if hook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
            err: str | None = None
            try:
                assert self._http is not None
                async with self._http.post(hook["url"], data=dumps(upd).encode(),
                                           headers=headers) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        if self._updates and self._updates[0] is upd:
                            self._updates.popleft()
                        self._mark_delivered([upd["update_id"]])
                        backoff = 0.05
                        continue
                    err = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any delivery failure is retried
                err = f"Connection error: {exc.__class__.__name__}: {exc}"
            self._webhook_last_error = (int(time.time()), err)
            log.info("emulator webhook delivery failed (%s); retrying in %.2fs", err, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
