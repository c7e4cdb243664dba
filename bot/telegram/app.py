"""Builds the python-telegram-bot Application and registers the handlers. Starting it, and everything
that runs beside it (sender, jobs, menus, transport), is bot/bootstrap.py's job."""
from __future__ import annotations

import logging

from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults

from bot.context import BotContext, Services
from bot.handlers import (browse, common, deadlines, dialogs, enterprise, events, export, expert_requests, flood,
                          inline, inventor, membership, needs, privacy, review, roles, search, start, stats,
                          subscriptions)
from bot.telegram.processor import ChatOrderedUpdateProcessor
from bot.telegram.http import AiohttpRequest

log = logging.getLogger(__name__)


def build_application(services: Services, *, token: str, base_url: str | None = None,
                      base_file_url: str | None = None, updater: bool = True) -> Application:
    builder = (ApplicationBuilder().token(token)
               .context_types(ContextTypes(context=BotContext))
               # every text the bot renders is Telegram HTML (autoescaped templates): said once, here
               .defaults(Defaults(parse_mode=ParseMode.HTML))
               .concurrent_updates(ChatOrderedUpdateProcessor())
               # aiohttp transport: a Bot API call costs ~7x less CPU than with httpx (bot/telegram/http.py)
               .request(AiohttpRequest(connection_pool_size=256))
               .get_updates_request(AiohttpRequest(connection_pool_size=1, clean_incoming=True)))
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    if not updater:
        builder = builder.updater(None)
    app = builder.build()
    app.bot_data["services"] = services
    register_handlers(app)
    return app


def register_handlers(app: Application) -> None:
    flood.register(app)  # group -2: throttles floods before anything else runs
    dialogs.register(app)  # first: typed text belongs to an active dialog (group -1)
    start.register(app)
    roles.register(app)
    inventor.register(app)
    review.register(app)
    enterprise.register(app)
    export.register(app)
    stats.register(app)
    browse.register(app)
    inline.register(app)
    events.register(app)
    subscriptions.register(app)
    deadlines.register(app)
    membership.register(app)
    privacy.register(app)
    needs.register(app)
    expert_requests.register(app)
    search.register(app)
    start.register_fallbacks(app)  # must stay last
    app.add_error_handler(common.on_error)
