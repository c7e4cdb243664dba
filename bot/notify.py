"""Tell a user something outside the current conversation (review results, feedback).

Rendered in the recipient's language. Until the durable outbox is wired in, this is a direct
message; failures (user blocked the bot) are logged, never raised into the handler.
"""
from __future__ import annotations

import logging
from typing import Any

from telegram.constants import ParseMode
from telegram.error import TelegramError

log = logging.getLogger(__name__)


async def notify_user(services: Any, bot: Any, user_id: int, template: str, **ctx: Any) -> bool:
    user = await services.storage.get_user(user_id)
    lang = user.language if user else services.i18n.default
    try:
        await bot.send_message(user_id, services.i18n.render(lang, template, **ctx), parse_mode=ParseMode.HTML)
        return True
    except TelegramError as e:
        log.warning("could not notify user %s: %s", user_id, e)
        return False
