"""Pushes to users outside the current conversation (review results, feedback, digests, reminders).

A push is rendered in the recipient's language and written to the outbox in the caller's
transaction, so it is sent exactly when the change that causes it commits — and survives a crash.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import User


async def push(session: AsyncSession, services: Any, user_id: int, template: str, *, key: str,
               reply_markup: dict | None = None, **ctx: Any) -> bool:
    """Queue ``template`` for ``user_id`` under the idempotency ``key``; False if already queued."""
    user = await session.get(User, user_id)
    lang = user.language if user else services.i18n.default
    text = services.i18n.render(lang, template, **ctx)
    return await services.storage.enqueue(session, chat_id=user_id, text=text, key=key, reply_markup=reply_markup,
                                          not_before=services.clock())


def wake(services: Any) -> None:
    """After the transaction committed: let the sender pick the new rows up now."""
    if services.outbox is not None:
        services.outbox.wake()
