"""Inline mode: ``@bot 锂电池`` in any chat lists patents; the chosen one is posted as a card with a
deep link ``t.me/<bot>?start=p_<id>`` that opens the card in the bot."""
from __future__ import annotations

from telegram import (InlineKeyboardButton, InlineKeyboardMarkup, InlineQueryResultArticle,
                      InputTextMessageContent, Update)
from telegram.ext import Application, InlineQueryHandler

from bot.context import BotContext
from bot.handlers.common import user_lang
from bot.handlers.search import MAX_QUERY_CHARS, card_text
from bot.i18n import truncate

INLINE_PAGE = 10
PATENT_PREFIX = "p_"


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
    await iq.answer(results, cache_time=30, is_personal=True, next_offset=str(offset + INLINE_PAGE) if more else "")


def register(app: Application) -> None:
    app.add_handler(InlineQueryHandler(inline_search))
