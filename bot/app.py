"""Builds the python-telegram-bot Application: services, handlers, command menus."""
from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeDefault
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.context import BotContext, Services
from bot.handlers import (browse, common, dialogs, enterprise, export, flood, inline, inventor, membership, review, roles,
                          search, start, stats)
from bot.digest import DigestJob
from bot.stats import WeeklyReportJob
from bot.menus import MENU_COMMANDS
from bot.outbox import Outbox
from bot.processor import ChatOrderedUpdateProcessor
from bot.scheduler import start_scheduler, stop_scheduler
from bot.telegram_http import AiohttpRequest
from bot.handlers import deadlines, events, subscriptions  # issue 6: events, subscriptions, deadlines

log = logging.getLogger(__name__)

def build_application(services: Services, *, token: str, base_url: str | None = None,
                      base_file_url: str | None = None, processor: ChatOrderedUpdateProcessor | None = None,
                      updater: bool = True) -> Application:
    builder = (ApplicationBuilder().token(token)
               .context_types(ContextTypes(context=BotContext))
               .concurrent_updates(processor or ChatOrderedUpdateProcessor())
               .post_init(_post_init)
               .post_stop(_post_stop)
               # aiohttp transport: a Bot API call costs ~7x less CPU than with httpx (bot/telegram_http.py)
               .request(AiohttpRequest(connection_pool_size=256))
               .get_updates_request(AiohttpRequest(connection_pool_size=1)))
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
    search.register(app)
    start.register_fallbacks(app)  # must stay last
    app.add_error_handler(common.on_error)


async def _post_init(app: Application) -> None:
    services: Services = app.bot_data["services"]
    i18n = services.i18n
    for lang in ("zh", "en"):
        commands = [BotCommand(c, i18n.label(lang, f"cmd_{c}")) for c in MENU_COMMANDS]
        # zh is the default menu; English-speaking clients get the English one
        await app.bot.set_my_commands(commands, scope=BotCommandScopeDefault(),
                                      language_code=None if lang == "zh" else "en")
    if services.catalog.index is None:
        await services.catalog.load()
    # every push (notifications, broadcasts, reminders) goes through the durable, rate-limited outbox
    services.outbox = Outbox(services.storage, app.bot, clock=services.clock, i18n=services.i18n,
                             worker_id=services.settings.outbox_worker_id)
    await services.outbox.start()
    services.digests = DigestJob(services)
    await services.digests.start()
    services.weekly = WeeklyReportJob(services, interval=600)
    await services.weekly.start()
    await start_scheduler(app)  # deadline and event reminders, computed from the database


async def _post_stop(app: Application) -> None:
    services: Services = app.bot_data["services"]
    await stop_scheduler(app)
    for job in (services.digests, services.weekly):
        if job is not None:
            await job.stop()
    if services.outbox is not None:
        await services.outbox.stop()
