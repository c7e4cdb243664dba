"""SQLite statements on the event loop's own thread, behind SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call (execute, fetch, commit …) on a worker thread and wakes the event loop
with ``call_soon_threadsafe``: about 0.3 ms of CPU and two thread switches per call, while the call
itself — a primary-key lookup or a one-row UPDATE on a local WAL file — takes 10–50 µs. A dialog
step makes about ten such calls, so the hand-over was the biggest part of a step's database cost.

``InlineConnection`` is an ``aiosqlite.Connection`` whose calls run inline. That is safe here because:

* our own units of work never overlap on SQLite — ``StorageBase.session`` takes turns on an asyncio
  lock — so there is no lock contention inside the process to wait for;
* another process (the CLI importing patents) may hold the write lock. The connection's busy
  timeout is 0 (SQLite never sleeps on the loop's thread), and a busy call is retried here with
  ``asyncio.sleep`` back-off up to ``BUSY_TIMEOUT`` seconds — the same patience as before, without
  blocking the loop;
* big reads (exports, statistics) keep the loop busy for their duration — measured on the shipped
  corpus: the full export ~145 ms, /stats ~20 ms — but just as much with aiosqlite's thread: the
  time goes to SQLAlchemy building rows on the loop's thread, not to SQLite (checked by sending
  those calls to the worker thread: no difference). They are rare officer actions.

The worker thread still exists: aiosqlite opens and closes the connection on it, and SQLAlchemy
sets isolation levels through it.
"""
from __future__ import annotations

import asyncio
import sqlite3
import time
from functools import partial
from typing import Any

import aiosqlite

BUSY_TIMEOUT = 10.0  # seconds a statement waits for another process's write lock


def _busy(e: sqlite3.OperationalError) -> bool:
    msg = str(e).lower()
    return "locked" in msg or "busy" in msg


class InlineConnection(aiosqlite.Connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the worker only opens/closes the connection; a forgotten engine must not keep the process alive
        self._thread.daemon = True

    async def _execute(self, fn, *args, **kwargs):
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        deadline = None
        delay = 0.001
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as e:
                if not _busy(e):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + BUSY_TIMEOUT
                if now >= deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=0")  # waiting happens in InlineConnection, not on the loop
    return conn


def inline_creator(path: str) -> Any:
    """``async_creator`` for ``create_async_engine``: aiosqlite connections that run calls inline."""

    async def create() -> InlineConnection:
        return await InlineConnection(partial(_open, path), 64)

    return create
