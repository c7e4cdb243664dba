"""Pushes to users outside the current conversation (review results, feedback, digests, reminders).

A push is rendered in the recipient's language and written to the outbox in the caller's
transaction, so it is sent exactly when the change that causes it commits — and survives a crash.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import fit_message
from bot.models import User
from bot.telegram.limits import CAPTION_LIMIT, caption_length, fit_caption


async def push(session: AsyncSession, services: Any, user_id: int, template: str, *, key: str,
               reply_markup: dict | None = None, **ctx: Any) -> bool:
    """Queue ``template`` for ``user_id`` under the idempotency ``key``; False if already queued."""
    user = await session.get(User, user_id)
    lang = user.language if user else services.i18n.default
    text = services.i18n.render(lang, template, **ctx)
    return await services.storage.enqueue(session, chat_id=user_id, text=text, key=key, reply_markup=reply_markup,
                                          not_before=services.clock())


def wake(services: Any, *, scheduler: bool = False) -> None:
    """After the transaction committed: let the sender pick the new rows up now, and with
    ``scheduler`` let the reminder scheduler recompute (a deadline or event was created or moved).
    Either may be absent (no Application running); then its own poll finds the change."""
    if services.outbox is not None:
        services.outbox.wake()
    if scheduler and services.scheduler is not None:
        services.scheduler.wake()


async def push_document(session: AsyncSession, services: Any, user_id: int, *, text: str, short_caption: str,
                        document: bytes, document_name: str, key: str, reply_markup: dict | None = None,
                        not_before: Any = None) -> bool:
    """Queue a document with ``text`` as its caption when it fits one; otherwise ``text`` (with the
    buttons) as a message and, right after it in the chat, the document captioned ``short_caption``."""
    not_before = not_before or services.clock()
    if caption_length(text) <= CAPTION_LIMIT:
        return await services.storage.enqueue(session, chat_id=user_id, kind="document", document=document,
                                              document_name=document_name, text=text, key=key,
                                              reply_markup=reply_markup, not_before=not_before)
    new = await services.storage.enqueue(session, chat_id=user_id, text=fit_message(text), key=f"{key}:text",
                                         reply_markup=reply_markup, not_before=not_before)
    # a chat's rows go out in the order they were queued: the file follows its message
    return await services.storage.enqueue(session, chat_id=user_id, kind="document", document=document,
                                          document_name=document_name, text=fit_caption(short_caption), key=key,
                                          not_before=not_before) or new
