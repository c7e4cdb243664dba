"""Run modes: long polling, aiohttp webhook, and the local playground (emulator + web chat)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from urllib.parse import urlparse

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.catalog import PatentCatalog
from bot.config import SHIPPED_CORPUS, Settings
from bot.context import Services
from bot.i18n import Translator
from bot.importer import import_file
from bot.storage import Storage, open_storage

log = logging.getLogger(__name__)


async def ensure_seeded(storage: Storage, settings: Settings) -> None:
    """First run: load the shipped kppatent-zh corpus into an empty database."""
    if settings.seed_corpus and await storage.count_patents() == 0 and SHIPPED_CORPUS.exists():
        report = await import_file(storage, SHIPPED_CORPUS)
        log.info("seeded %d patents from %s (%d bad rows)", report.added, SHIPPED_CORPUS, len(report.errors))


async def open_services(settings: Settings) -> Services:
    storage = await open_storage(settings.effective_database_url)
    await ensure_seeded(storage, settings)
    catalog = PatentCatalog(storage, cache_dir=settings.data_dir / "cache")
    return Services(settings=settings, storage=storage, i18n=Translator(default=settings.default_language),
                    catalog=catalog)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_polling(settings: Settings) -> None:
    services = await open_services(settings)
    app = build_application(services, token=settings.bot_token or "", base_url=settings.bot_api_base_url)
    try:
        async with app:
            await app.start()
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
            log.info("polling Telegram as @%s", app.bot.username)
            await _stop_event().wait()
            await app.updater.stop()
            await app.stop()
    finally:
        await services.storage.close()


def webhook_app(app: Application, path: str, secret: str | None) -> web.Application:
    """An aiohttp app that feeds Telegram's webhook POSTs into the PTB update queue."""

    async def receive(request: web.Request) -> web.Response:
        if secret and request.headers.get("X-Telegram-Bot-Api-Secret-Token") != secret:
            return web.Response(status=403)
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400)
        update = Update.de_json(data, app.bot)
        if update is None:
            return web.Response(status=400)
        await app.update_queue.put(update)
        return web.Response(text="ok")

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application(client_max_size=2 * 1024 * 1024)
    web_app.router.add_post(path, receive)
    web_app.router.add_get("/healthz", health)
    return web_app


async def run_webhook(settings: Settings) -> None:
    services = await open_services(settings)
    app = build_application(services, token=settings.bot_token or "", base_url=settings.bot_api_base_url,
                            updater=False)
    path = urlparse(settings.webhook_url).path or "/"
    runner = web.AppRunner(webhook_app(app, path, settings.webhook_secret))
    try:
        async with app:
            await app.start()
            await runner.setup()
            await web.TCPSite(runner, settings.webhook_listen, settings.webhook_port).start()
            await app.bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                      allowed_updates=Update.ALL_TYPES)
            log.info("webhook listening on %s:%d%s", settings.webhook_listen, settings.webhook_port, path)
            await _stop_event().wait()
            await runner.cleanup()
            await app.stop()
    finally:
        await services.storage.close()
