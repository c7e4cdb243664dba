"""Several ``python run_bot.py`` webhook workers on one PostgreSQL, behind a round-robin balancer,
behave as one bot: they all come up on an empty database with the whole index, one of them sends
(Telegram's limits hold for the bot, a standby takes over when the leader is killed), a worker id is
used by one live process only, a chat's updates are answered in order, and flood control — inline
queries included — counts a user once, whichever worker serves them.

Telegram's side (the emulator, with Telegram's rate limits where the test is about them) and the
balancer live in this test process; the workers are subprocesses configured only by the environment.
"""
from __future__ import annotations

import asyncio
import collections
import json
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.storage import Storage
from devtools.client import SimUser
from devtools.emulator import BotAPIEmulator
from devtools.emulator.limits import RateLimits
from tests.shipped import ShippedBot, free_port, seeded_data_dir

pytestmark = pytest.mark.postgres  # all but the single-process SQLite case of the inline flood

TOKEN = "123456:TEST-TOKEN"
SECRET = "replica-secret-Token"


class RoundRobin:
    """The load balancer in front of the workers: each webhook POST to the next worker; a worker that
    does not answer makes the POST fail (502), and Telegram delivers the update again (to the next)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.backends: list[str] = []
        self.served: collections.Counter[int] = collections.Counter()
        self.pin: int | None = None  # route everything to one worker (to ask a given worker)
        self.forwarded: list[tuple[float, bytes]] = []  # (wall-clock time, update) as they came in
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.forwarded.append((time.time(), body))
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "x-telegram-bot-api-secret-token")}
        i = self.pin if self.pin is not None else self._next % len(self.backends)
        self._next += 1
        try:
            assert self._http is not None
            async with self._http.post(self.backends[i], data=body, headers=headers) as r:
                self.served[i] += 1
                return web.Response(status=r.status, body=await r.read())
        except aiohttp.ClientError:
            return web.Response(status=502)

    async def __aenter__(self) -> "RoundRobin":
        app = web.Application()
        app.router.add_post("/hook", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()


def worker(emu: BotAPIEmulator, lb: RoundRobin, db_url: str, folder: Path, n: int, **extra: str) -> ShippedBot:
    """Worker ``n`` of one machine: its own port, the machine's DATA_DIR (the index cache), the shared
    database (none: the default SQLite file in DATA_DIR)."""
    port = free_port()
    lb.backends.append(f"http://127.0.0.1:{port}/hook")
    data = folder / "data"  # the workers of one machine share DATA_DIR (the index cache)
    data.mkdir(parents=True, exist_ok=True)
    trace = folder / f"sent-marks-{n}.jsonl"
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_API_BASE_URL": emu.base_url, "DATA_DIR": str(data),
           **({"DATABASE_URL": db_url} if db_url else {}),
           "WEBHOOK_URL": lb.url, "WEBHOOK_PORT": str(port), "WEBHOOK_LISTEN": "127.0.0.1",
           "WEBHOOK_SECRET": SECRET, "OUTBOX_WORKER_ID": f"worker-{n}", "OUTBOX_TRACE_FILE": str(trace), **extra}
    bot = ShippedBot(env, cwd=folder)
    bot.trace = trace
    return bot


@pytest.fixture
async def emulator():
    async with BotAPIEmulator(token=TOKEN) as emu:
        yield emu


async def start_all(bots: list[ShippedBot]) -> None:
    try:
        await asyncio.gather(*(b.astart(timeout=600) for b in bots))
    except BaseException:
        for b in bots:
            b.kill()
        raise


async def stop_all(bots: list[ShippedBot]) -> None:
    for b in bots:
        if b.proc is not None and b.proc.poll() is None:
            assert await b.aterminate() == 0, "run_bot.py did not exit cleanly:\n" + b.output


def replies(emu: BotAPIEmulator, chat_id: int, since: float = 0.0) -> list[dict]:
    return [c for c in emu.calls("sendMessage", chat_id=chat_id, since=since) if c["status"] == 200]


# ---------------------------------------------------------------------------------------------------
# Start-up
# ---------------------------------------------------------------------------------------------------

async def test_three_workers_started_together_on_an_empty_database_all_come_up_with_the_whole_index(
        pg_url, tmp_path, emulator):
    async with RoundRobin() as lb:
        bots = [worker(emulator, lb, pg_url, tmp_path, n) for n in range(3)]
        await start_all(bots)
        try:
            assert all(b.ready_line.startswith("Bot ready: webhook") for b in bots)
            loaded = [line for b in bots for line in b.lines if "patents loaded" in line]
            assert len(loaded) == 1, loaded  # one worker seeded, the others found it done
            u = SimUser(emulator.url, 7001, "检索者", reply_timeout=120, quiet=0.5)
            await u.register()
            try:
                for n in range(3):  # ask each worker: the last patent of the shipped corpus is in its index
                    lb.pin = n
                    (found,) = await u.send("机动车的致动设备")
                    assert "致动" in found.text and "没有找到" not in found.text, bots[n].output
            finally:
                lb.pin = None
                await u.close()
        finally:
            await stop_all(bots)


async def test_a_second_live_process_with_the_same_worker_id_is_refused(pg_url, tmp_path, emulator):
    async with RoundRobin() as lb:
        first = worker(emulator, lb, pg_url, tmp_path, 1, SEED_CORPUS="0")
        await start_all([first])
        try:
            twin = worker(emulator, lb, pg_url, tmp_path / "twin", 1, SEED_CORPUS="0")
            done = await asyncio.to_thread(subprocess.run, twin.args, env=twin.env, cwd=twin.cwd,
                                           capture_output=True, text=True, timeout=120)
            assert done.returncode == 2
            assert "OUTBOX_WORKER_ID='worker-1' is used by another running bot process" in done.stderr
            assert "Traceback" not in done.stderr + done.stdout
            # the first one still serves
            u = SimUser(emulator.url, 7002, "用户", reply_timeout=20, quiet=0.5)
            await u.register()
            try:
                assert await u.send("/start")
            finally:
                await u.close()
        finally:
            await stop_all([first])
        # once the first is gone the id is free again
        again = worker(emulator, lb, pg_url, tmp_path / "again", 1, SEED_CORPUS="0")
        await start_all([again])
        await stop_all([again])


# ---------------------------------------------------------------------------------------------------
# One sender: a broadcast with the leader killed midway
# ---------------------------------------------------------------------------------------------------

RECIPIENTS = list(range(880_000, 880_300))


async def _bulk_recipients(db_url: str, broadcast_id: str) -> None:
    """The audience and the broadcast's outbox rows, as the publishing handler writes them."""
    from sqlalchemy import insert

    from bot.models import User, utcnow

    storage = Storage(db_url)
    try:
        now = utcnow()
        async with storage.session() as s:
            await s.execute(insert(User), [{"id": u, "first_name": f"u{u}", "language": "zh", "language_chosen": False,
                                            "blocked_bot": False, "created_at": now, "last_seen_at": now}
                                           for u in RECIPIENTS])
        added = await storage.enqueue_many({"chat_id": r, "text": f"📢 对接会通知 #{i}", "key": f"{broadcast_id}:{r}",
                                            "broadcast_id": broadcast_id} for i, r in enumerate(RECIPIENTS))
        assert added == len(RECIPIENTS)
    finally:
        await storage.close()


async def test_a_broadcast_survives_the_leader_killed_midway_within_telegrams_limits(pg_url, tmp_path):
    async with BotAPIEmulator(token=TOKEN, rate_limits=RateLimits()) as emu, RoundRobin() as lb:
        for r in RECIPIENTS:
            emu.add_user(r, f"u{r}")
        bots = [worker(emu, lb, pg_url, tmp_path, n, SEED_CORPUS="0") for n in range(2)]
        await start_all(bots)
        try:
            emu.reset_stats()
            await _bulk_recipients(pg_url, "bc-kill")

            def delivered() -> list[dict]:
                return [c for c in emu.calls("sendMessage") if c["status"] == 200 and c["chat_id"] in RECIPIENT_SET]

            deadline = time.monotonic() + 30
            while len(delivered()) < 100:
                assert time.monotonic() < deadline, "the broadcast did not start:\n" + bots[0].output
                await asyncio.sleep(0.05)
            leaders = [b for b in bots if b.trace.exists() and b.trace.stat().st_size > 0]
            assert len(leaders) == 1, "exactly one worker sends"
            leader = leaders[0]
            standby = next(b for b in bots if b is not leader)
            killed_at = time.time()
            leader.kill()  # SIGKILL: no goodbye, its database session just ends

            deadline = time.monotonic() + 60
            while {c["chat_id"] for c in delivered()} != RECIPIENT_SET:
                assert time.monotonic() < deadline, "rows lost after the kill:\n" + standby.output
                await asyncio.sleep(0.1)
            sends = delivered()
            after = [c["ts"] for c in sends if c["ts"] > killed_at + 0.2]
            take_over = min(after) - killed_at
            per_chat = collections.Counter(c["chat_id"] for c in sends)
            duplicates = sum(n - 1 for n in per_chat.values())
            times = sorted(c["ts"] for c in sends)
            # the sender's bucket lets each leader start with one burst of 20, then refills at 29.6/s
            sustained = (len(times) - 2 * 20) / (times[-1] - times[0] - take_over)
            print(f"take-over {take_over:.2f}s, {duplicates} duplicates, {len(times)} sends in "
                  f"{times[-1] - times[0]:.1f}s, sustained {sustained:.1f} msg/s, {emu.throttled_count} throttled")
            assert take_over < 5.0
            assert duplicates <= 32  # at most the killed leader's one burst in flight (at-least-once)
            # Telegram's limits as the emulator enforces them (30/s overall, per chat): not one 429
            assert emu.throttled_count == 0 and emu.stats["by_status"].get(429, 0) == 0
            assert sustained <= 30
            assert standby.trace.exists() and standby.trace.stat().st_size > 0  # the standby sent the rest
        finally:
            await stop_all(bots)


RECIPIENT_SET = set(RECIPIENTS)


# ---------------------------------------------------------------------------------------------------
# Order within a chat, and flood control for the bot as a whole
# ---------------------------------------------------------------------------------------------------

async def _registered(emu: BotAPIEmulator, uid: int) -> SimUser:
    u = SimUser(emu.url, uid, "用户", reply_timeout=20, quiet=0.5)
    await u.register()
    assert await u.send("/start")
    return u


async def test_twenty_quick_messages_from_one_chat_over_two_workers_are_answered_in_order(
        pg_url, tmp_path, emulator):
    async with RoundRobin() as lb:
        bots = [worker(emulator, lb, pg_url, tmp_path, n, SEED_CORPUS="0", FLOOD_RATE="1000", FLOOD_BURST="1000")
                for n in range(2)]
        await start_all(bots)
        try:
            u = await _registered(emulator, 7101)
            since = time.time()
            served_before = dict(lb.served)
            words = [f"zq{i:02d}" for i in range(20)]
            for w in words:  # typed as fast as the emulator takes them, no waiting for answers
                emulator.user_send(7101, w)
            deadline = time.monotonic() + 30
            while len(replies(emulator, 7101, since)) < 20:
                assert time.monotonic() < deadline, "\n".join(b.output for b in bots)
                await asyncio.sleep(0.1)
            await u.refresh()
            answered = [w for m in u.bot_messages() for w in words if w in (m.text or "")]
            assert answered == words
            assert all(lb.served[i] - served_before.get(i, 0) >= 8 for i in range(2))  # both workers answered
            await u.close()
        finally:
            await stop_all(bots)


async def test_flood_control_counts_a_user_once_over_two_workers(pg_url, tmp_path, emulator):
    async with RoundRobin() as lb:
        bots = [worker(emulator, lb, pg_url, tmp_path, n, SEED_CORPUS="0") for n in range(2)]  # default limits
        await start_all(bots)
        try:
            u = await _registered(emulator, 7201)
            await asyncio.sleep(3)  # the bucket refills after /start
            since = time.time()
            for i in range(40):
                emulator.user_send(7201, f"fl{i:02d}")
            await asyncio.sleep(4)
            await u.refresh()
            msgs = u.bot_messages()
            answers = [m for m in msgs if "没有找到" in (m.text or "") and "fl" in (m.text or "")]
            sends = replies(emulator, 7201, since)
            elapsed = max(c["ts"] for c in sends) - min(c["ts"] for c in sends)
            allowed = 8 + 3.0 * elapsed + 1
            print(f"{len(answers)} of 40 answered in {elapsed:.2f}s (allowed {allowed:.1f}); served {dict(lb.served)}")
            assert 8 <= len(answers) <= allowed
            assert any("太快" in (m.text or "") for m in msgs), (
                [c["status"] for c in emulator.calls("sendMessage", chat_id=7201)], bots[0].output, bots[1].output)
            await u.close()
        finally:
            await stop_all(bots)


@pytest.fixture(params=[("sqlite", 1), ("postgres", 2)], ids=["sqlite-1-worker", "postgres-2-workers"])
def deployment(request, tmp_path) -> tuple[str, int]:
    """(database URL, workers): the default — one process on SQLite with the shipped patents, so the
    flood's searches are real ones — or two workers on PostgreSQL."""
    backend, workers = request.param
    if backend == "postgres":
        return request.getfixturevalue("pg_url"), workers
    seeded_data_dir(request.getfixturevalue("seeded_db"), tmp_path / "data")
    return "", workers


async def test_an_inline_query_flood_is_throttled_and_others_are_answered_at_once(tmp_path, emulator, deployment):
    db_url, workers = deployment
    async with RoundRobin() as lb:
        bots = [worker(emulator, lb, db_url, tmp_path, n, SEED_CORPUS="0") for n in range(workers)]
        await start_all(bots)
        try:
            other = await _registered(emulator, 7302)
            other.reply_timeout = 120
            assert await other.send("掘进机")  # a running bot has searched before (the first search warms up)
            emulator.add_user(7301, "攻击者")
            emulator.reset_stats()
            t0 = time.monotonic()
            for i in range(300):
                emulator.inline_query(7301, f"掘进机{i}")
            emulator.user_send(7302, "/help")
            # the bot's own time for /help amid the flood: from the balancer handing it to a worker (the
            # emulator, like one Telegram connection, delivers the 300 queries before it one by one)
            deadline = time.monotonic() + 120
            while True:
                handed = [t for t, body in lb.forwarded if "/help" in body.decode()]
                answer = replies(emulator, 7302, handed[0]) if handed else []
                if answer:
                    break
                assert time.monotonic() < deadline, "\n".join(b.output for b in bots)
                await asyncio.sleep(0.05)
            help_took = answer[0]["ts"] - handed[0]
            await other.refresh()
            assert "使用帮助" in other.bot_messages()[-1].text
            await asyncio.sleep(2)
            answered = [c for c in emulator.calls("answerInlineQuery") if c["status"] == 200]
            elapsed = time.monotonic() - t0
            print(f"{len(answered)} of 300 inline queries answered in {elapsed:.1f}s; /help answered "
                  f"{help_took:.2f}s after it reached a worker")
            assert len(answered) <= 8 + 3.0 * elapsed + 1
            assert help_took < 3.0
            await other.close()
        finally:
            await stop_all(bots)
