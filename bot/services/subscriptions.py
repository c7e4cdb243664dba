"""Subscriptions to push topics: the one-tap "unsubscribe from this topic" button every push carries."""
from __future__ import annotations

import enum

from bot.storage import Storage
from bot.storage.subscriptions import Topic


class UnsubscribeResult(enum.Enum):
    UNSUBSCRIBED = "unsubscribed"
    ALREADY_OFF = "already_off"  # a second tap, or switched off in /subscriptions meanwhile
    UNKNOWN = "unknown"          # no such subscription of this user (forged or another user's button)


async def unsubscribe(storage: Storage, subscription_id: int, user_id: int) -> tuple[UnsubscribeResult, Topic | None]:
    """Switch off exactly the subscription the button names, and only for its owner."""
    async with storage.session() as s:
        topic = await storage.deactivate_subscription(s, subscription_id, user_id)
        if topic is not None:
            return UnsubscribeResult.UNSUBSCRIBED, topic
        topic = await storage.subscription_topic(s, subscription_id, user_id)
    return (UnsubscribeResult.ALREADY_OFF, topic) if topic is not None else (UnsubscribeResult.UNKNOWN, None)
