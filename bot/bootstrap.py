"""The one start-up path of the bot, and the one stop.

``run_bot.py`` (polling, webhook, playground), the in-process test harness and the benchmarks all
bring the program up with :func:`start` and take it down with :meth:`RunningBot.stop`, so what the
tests exercise is what users run. The order, and why:

1. storage: migrate the schema, seed an empty database from the shipped corpus (progress on the
   console: this is the slow part of a first start). On PostgreSQL both run under an advisory lock
   (``bot.storage.coordination``), so processes started together take turns and all come up; a
   second live process with the same ``OUTBOX_WORKER_ID`` is refused here;
2. the search index: loaded from the cache or built now (after the seeding is complete), so no
   user's first search waits for it;
3. the playground only: the local Bot API emulator and the simulated users' roles;
4. the python-telegram-bot ``Application`` (``initialize`` asks the Bot API who we are);
5. background work: the outbox sender (every push), the digest, weekly-report, retention and
   expert-request jobs and the reminder scheduler — all computed from the database, so a restart
   resumes them. They run in the leading process only (``bot.delivery.leader``: a PostgreSQL session
   advisory lock; on SQLite the one process leads); a standby takes them over within seconds when
   the leader dies;
6. the default command menus (zh, and en for English clients);
7. the transport: long polling, or the webhook listener (aiohttp) plus ``setWebhook``;
8. "ready": one line on stdout (``Bot ready: …`` / ``Playground ready: open …``).

:meth:`RunningBot.stop` reverses it: stop taking updates, let the updates already taken finish,
stop the jobs and the scheduler, stop the sender after the calls in flight (so no push is left
ambiguous), close the database.
"""
from __future__ import annotations

import asyncio
import contextlib
import enum
import hmac
import logging
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlparse

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.telegram.app import build_application
from bot.telegram.incoming import clean
from bot.search.catalog import PatentCatalog
from bot.search.freshness import IndexFollower
from bot.clock import ShiftableClock, is_local_api, parse_clock_start
from bot.config import SHIPPED_CORPUS, Settings
from bot.context import Services
from bot.services.digest import DigestJob
from bot.services.privacy import RetentionJob
from bot.services.expert_requests import EXPERT_REQUEST_INTERVAL, ExpertRequestJob
from bot.i18n import Translator
from bot.io.importer import import_file
from bot.telegram.menus import set_default_menus
from bot.telegram.redact import install_log_redaction
from bot.delivery.leader import Leadership
from bot.delivery.sender import Outbox
from bot.delivery.scheduler import start_scheduler, stop_scheduler
from bot.services.stats import WeeklyReportJob
from bot.storage import Storage, open_storage
from bot.storage.coordination import Coordination, coordination_for

log = logging.getLogger(__name__)

PLAYGROUND_TOKEN = "1000000001:PLAYGROUND-local-token"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Mode(enum.Enum):
    POLLING = "polling"
    WEBHOOK = "webhook"
    PLAYGROUND = "playground"


class StartupError(Exception):
    """A setting that makes the program unsafe or unable to start; the message is for the operator."""


def choose_mode(settings: Settings, *, playground: bool = False) -> Mode:
    if playground or not settings.bot_token:
        return Mode.PLAYGROUND
    return Mode.WEBHOOK if settings.webhook_url else Mode.POLLING


def _console(line: str) -> None:
    print(line, flush=True)


# -- services ----------------------------------------------------------------------------------------
async def ensure_seeded(storage: Storage, settings: Settings, say: Callable[[str], None] = log.info) -> None:
    """First run: load the shipped kppatent-zh corpus into an empty database."""
    if settings.seed_corpus and await storage.count_patents() == 0 and SHIPPED_CORPUS.exists():
        say(f"First start: loading the shipped patents into the database ({SHIPPED_CORPUS.name}) …")
        report = await import_file(storage, SHIPPED_CORPUS)
        say(f"  {report.added} patents loaded ({len(report.errors)} bad rows)")


def _coordination(settings: Settings) -> Coordination:
    return coordination_for(settings.effective_database_url, pool_size=settings.db_coordination_pool_size)


async def open_services(settings: Settings, *, clock: Callable | None = None,
                        say: Callable[[str], None] = log.info,
                        coordination: Coordination | None = None) -> Services:
    """Storage (migrated and seeded), translator and catalog; the index is not loaded yet.

    Migrating and seeding hold the start-up lock (PostgreSQL: an advisory lock), so several processes
    started together on an empty database take turns: one migrates and seeds, the others find it done."""
    own = coordination is None
    if own:
        coordination = _coordination(settings)
        await coordination.open()
    try:
        async with coordination.startup():
            storage = await open_storage(settings.effective_database_url, pool_size=settings.db_pool_size)
            try:
                await ensure_seeded(storage, settings, say)
            except BaseException:
                await storage.close()
                raise
    finally:
        if own:
            await coordination.close()
    catalog = PatentCatalog(storage, cache_dir=settings.data_dir / "cache")
    services = Services(settings=settings, storage=storage, i18n=Translator(default=settings.default_language),
                        catalog=catalog)
    if clock is not None:
        services.clock = clock
    return services


async def load_index(services: Services, say: Callable[[str], None] = log.info) -> None:
    if not services.catalog.has_cache():
        say("Building the search index (first start only; later starts load it from the cache) …")
    await services.catalog.load()


async def open_coordination(settings: Settings) -> Coordination:
    """The link to the other processes on the same database; refuses a worker id already in use."""
    coordination = _coordination(settings)
    await coordination.open()
    worker_id = settings.outbox_worker_id
    if worker_id and not await coordination.claim_worker_id(worker_id):
        await coordination.close()
        raise StartupError(f"OUTBOX_WORKER_ID={worker_id!r} is used by another running bot process on this "
                           "database; give every process its own id (e.g. the host name and a slot number).")
    return coordination


def program_clock(settings: Settings, mode: Mode) -> ShiftableClock:
    if not settings.clock_start:
        return ShiftableClock()
    if mode is not Mode.PLAYGROUND and not is_local_api(settings.bot_api_base_url):
        raise StartupError("BOT_CLOCK_START shifts the bot's clock for demos and tests; it is honoured only in "
                           "the playground or with a BOT_API_BASE_URL on this machine, never against Telegram.")
    try:
        return ShiftableClock(parse_clock_start(settings.clock_start))
    except ValueError as e:
        raise StartupError(f"BOT_CLOCK_START={settings.clock_start!r} is not an ISO-8601 moment: {e}") from None


def check_playground_database(settings: Settings) -> None:
    """The playground grants its simulated users roles (an admin among them) in the database it runs on:
    with the token unset by mistake, a DATABASE_URL meant for production would get them."""
    default = replace(settings, database_url=None).effective_database_url
    if settings.effective_database_url != default and not settings.playground_database_ok:
        raise StartupError("no TELEGRAM_BOT_TOKEN, so this would start the playground, which grants its demo "
                           "users roles (an admin among them), on DATABASE_URL, not on its own database in "
                           "DATA_DIR; set the token, or unset DATABASE_URL, or set PLAYGROUND_DATABASE_URL_OK=1 "
                           "if you mean it.")


def webhook_secret(settings: Settings) -> str:
    """Webhook mode never runs without a secret: the configured one, or one generated once and kept in
    DATA_DIR (0600) so a restart keeps accepting Telegram's calls."""
    if settings.webhook_secret:
        return settings.webhook_secret
    path = settings.data_dir / "webhook-secret"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    log.warning("WEBHOOK_SECRET is not set: generated one and kept it in %s", path)
    return value


def webhook_app(app: Application, path: str, secret: str,
                coordination: Coordination | None = None) -> web.Application:
    """An aiohttp app that feeds Telegram's webhook POSTs into the PTB update queue. With several
    workers on PostgreSQL, each update of a chat is recorded before Telegram gets its 200, so the
    workers handle a chat's updates in the order Telegram delivered them (``chat_turn``)."""
    expected = secret.encode()
    shared = coordination is not None and coordination.shared

    async def receive(request: web.Request) -> web.Response:
        got = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(got, expected):
            return web.Response(status=403)
        try:
            data = clean(await request.json())
        except ValueError:
            return web.Response(status=400)
        update = Update.de_json(data, app.bot) if isinstance(data, dict) else None
        if update is None:
            return web.Response(status=400)
        if shared and update.effective_chat is not None:
            try:
                await coordination.register_arrival(update.effective_chat.id, update.update_id)
            except Exception:  # noqa: BLE001 - Telegram delivers it again; nothing is lost
                log.warning("webhook: could not record update %s; asking Telegram to resend", update.update_id)
                return web.Response(status=503)
        await app.update_queue.put(update)
        return web.Response(text="ok")

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application(client_max_size=2 * 1024 * 1024)
    web_app.router.add_post(path, receive)
    web_app.router.add_get("/healthz", health)
    return web_app


# -- the running program -----------------------------------------------------------------------------
@dataclass
class RunningBot:
    settings: Settings
    mode: Mode
    services: Services
    app: Application
    clock: ShiftableClock
    emulator: Any = None  # the playground's BotAPIEmulator
    coordination: Coordination = field(default_factory=Coordination)  # the processes sharing the database
    leadership: Leadership | None = None  # runs the sender, scheduler and jobs while this process leads
    url: str = ""  # the playground page, or the webhook listener
    _runner: web.AppRunner | None = None
    index_follower: IndexFollower | None = None  # this process's index follows every process's changes
    _stopped: bool = field(default=False, repr=False)

    @property
    def processor(self) -> Any:
        return self.app.update_processor

    async def stop(self) -> None:
        """Stop taking updates, finish those taken, stop the background work, close the database."""
        if self._stopped:
            return
        self._stopped = True
        app, services = self.app, self.services
        with contextlib.suppress(Exception):
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if app.running:
            await app.stop()  # handles the updates already queued
        if self.leadership is not None:
            await self.leadership.stop()
        await stop_scheduler(app)
        for job in (services.digests, services.weekly, services.retention, services.expert_requests):
            if job is not None:
                await job.stop()
        if services.outbox is not None:
            await services.outbox.stop()  # after the calls in flight: nothing left ambiguous
        await app.shutdown()
        if self.index_follower is not None:
            await self.index_follower.stop()
        await services.storage.close()
        await self.coordination.close()  # a standby may lead from now on
        if self.emulator is not None:
            await self.emulator.stop()


async def start(settings: Settings, mode: Mode | None = None, *,
                say: Callable[[str], None] = _console) -> RunningBot:
    """Bring the whole program up (see the module docstring for the order) and return it running."""
    install_log_redaction(settings.bot_token)
    mode = mode or choose_mode(settings)
    clock = program_clock(settings, mode)
    emulator = None
    if mode is Mode.PLAYGROUND:
        check_playground_database(settings)
        from devtools.playground import playground_admins

        settings = replace(settings, admin_ids=settings.admin_ids | playground_admins())
    secret = webhook_secret(settings) if mode is Mode.WEBHOOK else None
    coordination = await open_coordination(settings)
    try:
        # the index too is loaded under the start-up lock: it is built from the complete corpus, and
        # workers sharing a DATA_DIR (one machine) build it once and load it from the cache after that
        async with coordination.startup():
            services = await open_services(settings, clock=clock, say=say, coordination=coordination)
            try:
                await load_index(services, say)
            except BaseException:
                await services.storage.close()
                raise
    except BaseException:
        await coordination.close()
        raise
    try:
        token, base_url, file_url = settings.bot_token or "", settings.bot_api_base_url, settings.effective_file_url
        if mode is Mode.PLAYGROUND:
            from devtools.playground import grant_playground_roles, start_emulator

            emulator = await start_emulator(settings, PLAYGROUND_TOKEN)
            await grant_playground_roles(services)
            token, base_url, file_url = PLAYGROUND_TOKEN, emulator.base_url, emulator.base_file_url
        app = build_application(services, token=token, base_url=base_url, base_file_url=file_url,
                                updater=mode is not Mode.WEBHOOK)
        running = RunningBot(settings, mode, services, app, clock, emulator=emulator, coordination=coordination)
        if coordination.shared:  # flood control for the bot as a whole, not per process
            app.bot_data["flood"].shared = coordination
        # webhook workers behind a load balancer: a chat's updates in arrival order across processes
        app.update_processor.coordination = coordination if mode is Mode.WEBHOOK and coordination.shared else None
    except BaseException:
        await services.storage.close()
        await coordination.close()
        if emulator is not None:
            await emulator.stop()
        raise
    try:
        running.index_follower = IndexFollower(services.catalog)
        await running.index_follower.start()
        await app.initialize()
        # every push (notifications, broadcasts, reminders) goes through the durable, rate-limited outbox
        services.outbox = Outbox(services.storage, app.bot, clock=services.clock, i18n=services.i18n,
                                 worker_id=settings.outbox_worker_id, trace_file=settings.outbox_trace_file)
        services.digests = DigestJob(services)
        services.weekly = WeeklyReportJob(services, interval=600)
        services.retention = RetentionJob(services)
        services.expert_requests = ExpertRequestJob(services, interval=EXPERT_REQUEST_INTERVAL)
        await start_scheduler(app, run=False)  # deadline and event reminders, computed from the database
        # the sender, the jobs and the scheduler run in the leading process only (at once when no other
        # process leads); every process may enqueue
        running.leadership = Leadership(services, coordination)
        await running.leadership.start()
        await set_default_menus(app.bot, services.i18n)
        await app.start()
        if mode is Mode.WEBHOOK:
            assert settings.webhook_url and secret
            path = urlparse(settings.webhook_url).path or "/"
            running._runner = web.AppRunner(webhook_app(app, path, secret, coordination))
            await running._runner.setup()
            await web.TCPSite(running._runner, settings.webhook_listen, settings.webhook_port).start()
            await app.bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
            running.url = f"http://{settings.webhook_listen}:{settings.webhook_port}{path}"
            say(f"Bot ready: webhook @{app.bot.username} listening on {running.url}")
        else:
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=settings.polling_timeout,
                                            allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
            if mode is Mode.PLAYGROUND:
                running.url = f"http://{settings.playground_host}:{emulator.port}"
                say(f"Playground ready: open {running.url} in a browser (Ctrl+C to stop)")
            else:
                say(f"Bot ready: polling as @{app.bot.username}")
        if clock.shifted:
            say(f"  the bot's clock is shifted: it reads {clock().isoformat(timespec='seconds')}")
    except BaseException:
        await running.stop()
        raise
    return running


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, mode: Mode | None = None, **kw: Any) -> AsyncIterator[RunningBot]:
    running = await start(settings, mode, **kw)
    try:
        yield running
    finally:
        await running.stop()


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(settings: Settings, mode: Mode | None = None) -> int:
    """``run_bot.py``: start, run until SIGTERM or SIGINT, stop gracefully; the process's exit code."""
    stop = _stop_event()
    try:
        running = await start(settings, mode)
    except StartupError as e:
        print(f"run_bot.py: {e}", file=sys.stderr)
        return 2
    try:
        await stop.wait()
        _console("Stopping: finishing the updates in hand and the pushes in flight …")
    finally:
        await running.stop()
    _console("Stopped.")
    return 0
