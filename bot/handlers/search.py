"""Plain text in a private chat = a patent search."""
from __future__ import annotations

from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from bot.context import BotContext
from bot.handlers.common import reply

MAX_QUERY_CHARS = 100
RESULTS_PER_MESSAGE = 5


async def search_text(update: Update, context: BotContext) -> None:
    query = (update.effective_message.text or "").strip()
    if len(query) > MAX_QUERY_CHARS:
        await reply(update, context, "query_too_long", length=len(query), limit=MAX_QUERY_CHARS)
        return
    page = await context.services.catalog.search(query, limit=RESULTS_PER_MESSAGE)
    if not page.patents:
        await reply(update, context, "search_empty", query=query, suggestions=page.result.suggestions)
        return
    terms = sorted({t for h in page.result.hits for t in h.matched_terms} | set(page.result.terms))
    await reply(update, context, "search_results", query=query, total=page.result.total,
                patents=page.patents, terms=terms, offset=0)


def register(app: Application) -> None:
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, search_text))
