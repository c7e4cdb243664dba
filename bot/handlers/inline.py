"""Inline mode: ``@bot 锂电池`` in any chat lists patents; the chosen one is posted as a card with a
deep link ``t.me/<bot>?start=p_<id>`` that opens the card in the bot."""
from __future__ import annotations

import base64
import binascii

from telegram import (InlineKeyboardButton, InlineKeyboardMarkup, InlineQueryResultArticle,
                      InlineQueryResultsButton, InputTextMessageContent, Update)
from telegram.ext import Application, InlineQueryHandler

from bot.context import BotContext
from bot.handlers.common import user_lang
from bot.handlers.search import MAX_QUERY_CHARS, card_text
from bot.i18n import truncate
from bot.search import text as st

INLINE_PAGE = 10
PATENT_PREFIX = "p_"
SEARCH_PREFIX = "q_"     # t.me/<bot>?start=q_<query, utf-8, base64url>: run that search in the bot
START_PARAMETER_LIMIT = 64


def search_start_parameter(query: str) -> str | None:
    """The /start payload that runs ``query`` in the bot (None if it does not fit in 64 chars)."""
    payload = SEARCH_PREFIX + base64.urlsafe_b64encode(query.encode("utf-8")).decode("ascii").rstrip("=")
    return payload if len(payload) <= START_PARAMETER_LIMIT else None


def query_of_start_parameter(payload: str) -> str | None:
    """The query a ``q_`` payload carries, or None if it is not a well-formed one."""
    if not payload.startswith(SEARCH_PREFIX):
        return None
    body = payload[len(SEARCH_PREFIX):]
    try:
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    text = text.strip()
    return text if text and len(text) <= MAX_QUERY_CHARS else None


def deep_link(bot_username: str, patent_id: str) -> str:
    return f"https://t.me/{bot_username}?start={PATENT_PREFIX}{patent_id}"


async def inline_search(update: Update, context: BotContext) -> None:
    iq = update.inline_query
    query = (iq.query or "").strip()[:MAX_QUERY_CHARS]
    lang = await user_lang(update, context)
    labels = context.i18n.label_module(lang)
    if not query:
        await iq.answer([], cache_time=5, is_personal=True)
        return
    try:
        offset = max(0, int(iq.offset or 0))
    except ValueError:
        offset = 0
    page = await context.services.catalog.search(query, limit=INLINE_PAGE, offset=offset)
    storage = context.services.storage
    results = []
    for p in page.patents:
        card = await storage.patent_card(p.id)
        if card is None:
            continue
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(labels.btn_open_in_bot,
                                                             url=deep_link(context.bot.username, p.id))]])
        results.append(InlineQueryResultArticle(
            id=p.id, title=truncate(p.title, 80), description=truncate((p.pub_no or "") + " " + p.abstract, 120),
            input_message_content=InputTextMessageContent(card_text(context, lang, card),
                                                          link_preview_options={"is_disabled": True}),
            reply_markup=markup))
    more = offset + INLINE_PAGE < page.result.total
    # "did you mean": a button above the results that opens the bot with the corrected search
    button = None
    correction = page.result.correction
    if offset == 0 and correction and correction != st.normalize(query):
        param = search_start_parameter(correction)
        if param is not None:
            button = InlineQueryResultsButton(text=truncate(labels.did_you_mean_inline + correction, 64),
                                              start_parameter=param)
    await iq.answer(results, cache_time=30, is_personal=True, next_offset=str(offset + INLINE_PAGE) if more else "",
                    button=button)


def register(app: Application) -> None:
    app.add_handler(InlineQueryHandler(inline_search))
