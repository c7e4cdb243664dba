"""Update processing policy: concurrent across chats, strictly ordered within one chat.

Ordering per chat matters for guided dialogs (a double tap must see the state the first tap left),
while different users must not wait for each other. Within this process a chat's updates take turns
on an asyncio lock (first come, first served). With several webhook workers on PostgreSQL
(``coordination`` set by the start-up) a chat's updates are also handled one at a time and in the
order Telegram delivered them across the processes: ``chat_turn`` waits for the chat's earlier
updates and holds a transaction-level advisory lock on the chat while the update is handled. The processor also lets callers await the end of
processing of a given update id — the test harness and the playground use that to know when the
bot has finished answering.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 64, remember: int = 10_000) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[Any, asyncio.Lock] = {}
        self._waiting: dict[Any, int] = {}
        self._done: OrderedDict[int, None] = OrderedDict()
        self._remember = remember
        self._waiters: dict[int, list[asyncio.Future]] = {}
        self.coordination: Any = None  # bot.storage.coordination.PgCoordination for webhook workers

    @staticmethod
    def _key(update: object) -> Any:
        if isinstance(update, Update) and update.inline_query is not None:
            # each inline query stands alone (the client keeps only the newest answer): no turn to wait
            # for, so a user's flood of them is throttled at once, each holding a processing slot
            # only for the flood check, and other users' updates are not starved of slots
            return ("other", id(update))
        if isinstance(update, Update):
            if update.effective_chat is not None:
                return ("chat", update.effective_chat.id)
            if update.effective_user is not None:
                return ("user", update.effective_user.id)
        return ("other", id(update))

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                coordination = self.coordination
                if coordination is not None and key[0] == "chat" and isinstance(update, Update):
                    async with coordination.chat_turn(key[1], update.update_id):
                        await coroutine
                else:
                    await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # keep the lock table small
                del self._waiting[key]
                self._locks.pop(key, None)
            if isinstance(update, Update):
                await self._mark_done(update.update_id)

    async def _mark_done(self, update_id: int) -> None:
        self._done[update_id] = None
        while len(self._done) > self._remember:
            self._done.popitem(last=False)
        # wake only the waiters of this update (a shared Condition woke every waiter on every update:
        # O(waiters) work per update under load)
        for fut in self._waiters.pop(update_id, ()):
            if not fut.done():
                fut.set_result(None)

    def is_done(self, update_id: int) -> bool:
        return update_id in self._done

    async def wait_done(self, update_id: int, timeout: float = 10.0) -> None:
        """Wait until the update with this id has been fully processed by the handlers."""
        if update_id in self._done:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(update_id, []).append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            waiters = self._waiters.get(update_id)
            if waiters is not None and fut in waiters:
                waiters.remove(fut)
                if not waiters:
                    del self._waiters[update_id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
