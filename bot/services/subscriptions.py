"""Subscriptions to push topics: topics' names, and the one-tap "unsubscribe from this topic" button
every push carries (it removes exactly the subscription that made the user a recipient)."""
from __future__ import annotations

import enum
from typing import Any

from bot.models import Role
from bot.services.roles import RoleSet
from bot.storage import Storage
from bot.storage.subscriptions import COUNTY, DEADLINES, DEPARTMENT, EVENT_KIND, INDUSTRY, Recipient, Topic
from bot.telegram.callbacks import Unsubscribe


# deadline reminders name departments' internal tasks: only these roles may hold the topic
DEADLINE_ROLES = (Role.OFFICER, Role.ADMIN)


def may_hold(roles: RoleSet, kind: str) -> bool:
    """Whether a user with ``roles`` may subscribe to topics of ``kind``."""
    return kind != DEADLINES or roles.has(*DEADLINE_ROLES)


async def deadline_audience(services: Any, s: Any) -> set[int]:
    """The users a deadline reminder may reach whatever subscription rows exist (one may predate
    the rule, or survive a revoked grant): officers and admins, granted or by ADMIN_IDS."""
    return await services.storage.role_holders(s, DEADLINE_ROLES) | set(services.settings.admin_ids)


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


def topic_name(labels: Any, kind: str, value: str, dept_names: dict[int, str]) -> str:
    if kind == DEPARTMENT:
        try:
            return dept_names.get(int(value), value)
        except ValueError:
            return value
    if kind == COUNTY:
        return labels.county_name.get(value, value)
    if kind == EVENT_KIND:
        return labels.opt["ev_kind"].get(value, value)
    if kind == INDUSTRY:
        return labels.opt["industry"].get(value, value)
    return labels.topic_kind.get(kind, kind)


def unsubscribe_button(i18n: Any, lang: str, r: Recipient, dept_names: dict[int, str]) -> dict:
    labels = i18n.label_module(lang)
    name = topic_name(labels, r.topic_kind, r.topic_value, dept_names)
    return {"text": i18n.label(lang, "btn_unsubscribe", topic=name)[:64],
            "callback_data": Unsubscribe(r.subscription_id).pack()}
