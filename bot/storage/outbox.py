"""Outbox queries (durable pushes)."""
from __future__ import annotations

from bot.storage.base import StorageBase


class OutboxQueries(StorageBase):
    pass
