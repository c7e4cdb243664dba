"""Dialog benchmark: N simulated inventors complete the self-assessment dialog concurrently.

Everything is real except Telegram: the Bot API emulator (devtools/emulator/) over real HTTP,
the real PTB ``Application`` long-polling it with ``ChatOrderedUpdateProcessor``, the real handlers,
dialog engine, jinja templates and storage, on SQLite and on PostgreSQL. Each user loops over the
whole self-assessment (19 actions: /mypatents, open, 12 questions with typing, multi-select taps and a
skip, submit); after a submit the load generator deletes that assessment (not timed per step, but
inside the wall clock) so the next round is a fresh dialog. No think time (closed loop), and the
per-user flood guard is lifted (a person is throttled at 3 taps/s; a scripted user taps faster).

A *step* is one user action; its latency runs from the action (the POST to the emulator's control
API) until the bot has finished processing that update (``ChatOrderedUpdateProcessor.wait_done``)
and the user has fetched the changed messages — i.e. until the answer is on the user's screen.

    python benchmarks/dialog_bench.py --quick                    # CI: 6 users × 3 s, inproc + split
    python benchmarks/dialog_bench.py --users 40 --seconds 30    # the full run
    python benchmarks/dialog_bench.py --db sqlite --emulator split     # the bot alone in its process
    python benchmarks/dialog_bench.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:55433/postgres
    python benchmarks/dialog_bench.py --profile prof.html        # pyinstrument over one config

Without ``--pg-url`` a throwaway PostgreSQL cluster is started from /usr/lib/postgresql/*/bin (as in
.ci/pg.sh) and removed afterwards; without those binaries PostgreSQL is skipped with a message.

Each configuration (database × emulator placement) runs in a fresh child process so that its peak RSS
is its own. ``--emulator inproc``: emulator, bot and load generator share one process (one event
loop, so on a 2-core box they also share ONE core); ``subprocess``: the emulator runs in its own
process (the second core), the bot and the load generator stay together; ``split``: the emulator
and the simulated users run in a child process and the bot alone in its own — as in production,
where Telegram and the phones are elsewhere. The bot process tells the users' process over a
loopback socket when it has finished an update (the ``wait_done`` signal), so latency still runs
until the answer is on the user's screen. Bot processes run on uvloop, as run_bot.py does.

Prints a markdown table; exit status 1 if a step went unanswered or a handler logged an error.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gzip
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools.pgcluster import ThrowawayPostgres, pg_bindir  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
FIRST_USER = 5_000_001
INSTITUTION = "福州大学"

# One round of the self-assessment, as a phone user does it: (kind, text/label).
ROUND = (
    ("send", "/mypatents"),
    ("press", "📝 1."),
    ("press", "高端装备制造"),
    ("send", "7"),
    ("press", "▫️ 智能制造"),
    ("press", "▫️ 能源电力"),
    ("send", "矿山开采"),
    ("press", "✔️ 完成"),
    ("press", "4 ⭐"),
    ("press", "▫️ 转让"),
    ("press", "▫️ 许可"),
    ("press", "✔️ 完成"),
    ("press", "未实施"),
    ("press", "普通许可"),
    ("press", "入门费 + 提成"),
    ("press", "愿意开放许可"),
    ("press", "⏭ 跳过"),
    ("press", "通过本机器人留言"),
    ("press", "✅ 确认提交"),
)

log = logging.getLogger("dialog_bench")


# ---------------------------------------------------------------------------------------------------
# database preparation
# ---------------------------------------------------------------------------------------------------

def write_subset(path: Path, n: int) -> list[str]:
    """The first ``n`` patents of the shipped corpus as JSONL; returns their ids (publication numbers)."""
    ids = []
    with gzip.open(ROOT / "data" / "patents.jsonl.gz", "rt", encoding="utf-8") as f, \
            open(path, "w", encoding="utf-8") as out:
        for line in f:
            if len(ids) >= n:
                break
            row = json.loads(line)
            ids.append(row["pub_no"])
            out.write(line)
    return ids


async def prepare_db(db_url: str, data_dir: Path, n_patents: int) -> list[str]:
    from bot.search.catalog import PatentCatalog
    from bot.io.importer import import_file
    from bot.storage import Storage

    from sqlalchemy import select

    from bot.models import Patent

    subset = data_dir / "subset.jsonl"
    write_subset(subset, n_patents + 20)  # a few corpus rows may be skipped by the importer
    st = Storage(db_url)
    try:
        await st.migrate()
        await import_file(st, subset)
        await PatentCatalog(st, cache_dir=data_dir / "cache").load()
        async with st.session() as s:
            ids = list(await s.scalars(select(Patent.id).order_by(Patent.id).limit(n_patents)))
    finally:
        await st.close()
    if len(ids) < n_patents:
        raise RuntimeError(f"only {len(ids)} patents imported, {n_patents} needed")
    return ids


# ---------------------------------------------------------------------------------------------------
# a database of our own in a PostgreSQL server (a throwaway cluster: devtools/pgcluster.py)
# ---------------------------------------------------------------------------------------------------

async def pg_create_db(server_url: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(server_url)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(u.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                           f"LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'")
    finally:
        await conn.close()
    return u.set(database=name).render_as_string(hide_password=False)


async def pg_drop_db(db_url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(db_url)
    name = u.database
    conn = await asyncpg.connect(u.set(drivername="postgresql", database="postgres")
                                 .render_as_string(hide_password=False))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# the emulator, in this process or in a child
# ---------------------------------------------------------------------------------------------------

class RemoteEmulator:
    """Enough of BotAPIEmulator's surface for the harness, for an emulator in a child process."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.port = 0

    async def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--emulator-server"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = await asyncio.to_thread(self.proc.stdout.readline)
        self.port = json.loads(line)["port"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/bot"  # the file URL is derived from it (Settings.effective_file_url)

    def peak_rss_kb(self) -> int:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def cpu_seconds(self) -> float:
        """user + system CPU time of the emulator process so far."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    async def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            self.proc.stdin.close()
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def emulator_server() -> None:
    from devtools.emulator import BotAPIEmulator

    emu = BotAPIEmulator(token=TOKEN)
    await emu.start()
    print(json.dumps({"port": emu.port}), flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    await emu.stop()


# ---------------------------------------------------------------------------------------------------
# --emulator split: the emulator AND the simulated users in a child process, the bot alone in its own
# ---------------------------------------------------------------------------------------------------
# The bot process tells the child, over a loopback TCP line protocol, when it has finished an update
# ("d <update_id>"), and resets a user's assessment between rounds on request ("r <uid>" -> "k <uid>").
# The child starts measuring on "start <json>", says "m" when the measured phase begins and
# "e <json>" with the latencies when it ends. So the bot's CPU per step is the bot's alone, as in
# production where the phones and Telegram are elsewhere.

async def play_round(u, reset, latencies: list[float], unanswered: list[str], rounds: list[int],
                     record: bool) -> None:
    """One user's whole self-assessment (ROUND), timing each action; then the assessment is reset."""
    for kind, arg in ROUND:
        t = time.perf_counter()
        r = await (u.send(arg) if kind == "send" else u.press(arg))
        if record:
            latencies.append(time.perf_counter() - t)
            if not r and not r.toast:
                unanswered.append(f"{u.user_id} {kind} {arg!r}")
    await reset(u.user_id)
    if record:
        rounds[0] += 1


async def users_server(ctrl_port: int) -> None:
    from devtools.client import SimUser
    from devtools.emulator import BotAPIEmulator

    import aiohttp

    emu = BotAPIEmulator(token=TOKEN)
    await emu.start()
    print(json.dumps({"port": emu.port}), flush=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", ctrl_port)
    loop = asyncio.get_running_loop()
    done: set[int] = set()
    waiting: dict[int, asyncio.Future] = {}
    resets: dict[int, asyncio.Future] = {}
    started: asyncio.Future = loop.create_future()

    async def read_ctrl() -> None:
        while line := await reader.readline():
            kind, _, arg = line.decode().rstrip("\n").partition(" ")
            if kind == "d":
                uid = int(arg)
                fut = waiting.pop(uid, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
                else:
                    done.add(uid)
            elif kind == "k":
                fut = resets.pop(int(arg), None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
            elif kind == "start" and not started.done():
                started.set_result(json.loads(arg))

    ctrl_task = asyncio.create_task(read_ctrl())

    async def settle(update_id: int) -> None:
        if update_id in done:
            done.discard(update_id)
            return
        fut = waiting.setdefault(update_id, loop.create_future())
        await asyncio.wait_for(fut, 60)

    async def reset(uid: int) -> None:
        fut = resets[uid] = loop.create_future()
        writer.write(f"r {uid}\n".encode())
        await asyncio.wait_for(fut, 60)

    cfg = await started
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    sims = []
    for uid in cfg["uids"]:
        u = SimUser(emu.url, uid, f"发明人{uid % 1000}", language_code="zh-hans", session=http, settle=settle)
        await u.register()
        sims.append(u)
    latencies: list[float] = []
    unanswered: list[str] = []
    rounds = [0]

    async def one_round(u, record: bool) -> None:
        await play_round(u, reset, latencies, unanswered, rounds, record)

    await asyncio.gather(*(one_round(u, False) for u in sims[:2]))
    await asyncio.gather(*(u.send("/mypatents") for u in sims[2:]))
    writer.write(b"m\n")
    start = time.perf_counter()
    deadline = start + cfg["seconds"]

    async def loop_user(u) -> None:
        while time.perf_counter() < deadline:
            await one_round(u, True)

    await asyncio.gather(*(loop_user(u) for u in sims))
    elapsed = time.perf_counter() - start
    writer.write(("e " + json.dumps({"latencies": latencies, "elapsed": elapsed, "rounds": rounds[0],
                                     "unanswered": unanswered[:5], "n_unanswered": len(unanswered)}) + "\n")
                 .encode())
    await writer.drain()
    await asyncio.to_thread(sys.stdin.read)  # until the bot process closes our stdin
    ctrl_task.cancel()
    await http.close()
    await emu.stop()


class SplitUsers(RemoteEmulator):
    """The child of ``users_server``: the emulator's surface for the harness plus the control link."""

    def __init__(self) -> None:
        super().__init__()
        self.server: asyncio.base_events.Server | None = None
        self.lines: asyncio.Queue = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.on_reset = None  # async (uid) -> None, set by run_config

    async def start(self) -> None:
        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writer = writer
            self.connected.set()
            try:
                while line := await reader.readline():
                    kind, _, arg = line.decode().rstrip("\n").partition(" ")
                    if kind == "r":
                        asyncio.create_task(self._reset(int(arg)))
                    else:
                        await self.lines.put((kind, arg))
            except Exception as e:  # a broken link must end the run, not hang it
                await self.lines.put(("x", repr(e)))
            await self.lines.put(("x", "the users' process closed the control link"))

        # the users' final report (every latency) is one long line
        self.server = await asyncio.start_server(on_conn, "127.0.0.1", 0, limit=2**26)
        port = self.server.sockets[0].getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, __file__, "--users-server", str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = await asyncio.to_thread(self.proc.stdout.readline)
        self.port = json.loads(line)["port"]

    async def _reset(self, uid: int) -> None:
        await self.on_reset(uid)
        self.writer.write(f"k {uid}\n".encode())

    def send(self, line: str) -> None:
        self.writer.write((line + "\n").encode())

    async def stop(self) -> None:
        await super().stop()
        if self.server is not None:
            self.server.close()


# ---------------------------------------------------------------------------------------------------
# the harness (as tests/harness.BotHarness, with the flood guard lifted and DB instrumentation)
# ---------------------------------------------------------------------------------------------------

class DbMeter:
    """Counts statements / transactions and the time spent waiting for the driver."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.statements = 0
        self.commits = 0
        self.seconds = 0.0
        self._t: dict[int, float] = {}
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        event.listen(sync, "commit", self._commit)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._t[id(cursor)] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        t0 = self._t.pop(id(cursor), None)
        self.statements += 1
        if t0 is not None:
            self.seconds += time.perf_counter() - t0

    def _commit(self, conn):
        self.commits += 1

    def snapshot(self) -> tuple[int, int, float]:
        return self.statements, self.commits, self.seconds + self.commit_seconds

    commit_seconds = 0.0

    def wrap_commits(self) -> None:
        """Time COMMITs too (no engine event fires after a commit): wrap the async adapters' commit."""
        from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
        from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection

        meter = self
        for cls in (AsyncAdapt_aiosqlite_connection, AsyncAdapt_asyncpg_connection):
            orig = cls.commit
            if getattr(orig, "_bench_wrapped", False):
                continue

            def commit(conn, _orig=orig):
                t = time.perf_counter()
                try:
                    return _orig(conn)
                finally:
                    meter.commit_seconds += time.perf_counter() - t

            commit._bench_wrapped = True
            cls.commit = commit


class Harness:
    def __init__(self, data_dir: Path, db_url: str, *, placement: str) -> None:
        from bot.config import Settings

        # scripted users tap far faster than people
        self.settings = Settings(data_dir=data_dir, database_url=db_url, seed_corpus=False, flood_rate=1e6,
                                 flood_burst=10**6, bot_token=TOKEN, polling_timeout=1)
        self.placement = placement  # inproc | subprocess | split (see the module's docstring)
        self.emulator = None
        self.running = None
        self.http = None
        self.meter: DbMeter | None = None

    async def start(self) -> None:
        """The bot comes up through bot.bootstrap.start, the start-up run_bot.py uses."""
        import aiohttp

        from bot.bootstrap import Mode, start
        from devtools.emulator import BotAPIEmulator

        self.emulator = {"inproc": lambda: BotAPIEmulator(token=TOKEN), "subprocess": RemoteEmulator,
                         "split": SplitUsers}[self.placement]()
        await self.emulator.start()
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.settings = dataclasses.replace(self.settings, bot_api_base_url=self.emulator.base_url)
        self.running = await start(self.settings, Mode.POLLING, say=lambda line: None)
        self.meter = DbMeter(self.running.services.storage.engine)
        self.meter.wrap_commits()

    @property
    def services(self):
        return self.running.services

    @property
    def processor(self):
        return self.running.processor

    async def settle(self, update_id: int) -> None:
        await self.processor.wait_done(update_id, timeout=60)

    async def user(self, uid: int):
        from devtools.client import SimUser

        u = SimUser(self.emulator.url, uid, f"发明人{uid % 1000}", language_code="zh-hans", session=self.http,
                    settle=self.settle)
        await u.register()
        return u

    async def api_calls(self) -> int:
        async with self.http.get(self.emulator.url + "/_emu/calls", params={"method": "__none__"}) as r:
            return (await r.json())["stats"]["calls"]

    async def close(self) -> None:
        if self.running is not None:
            await self.running.stop()
        if self.http is not None:
            await self.http.close()
        if self.emulator is not None:
            await self.emulator.stop()


class ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage()[:300])


# ---------------------------------------------------------------------------------------------------
# one configuration (runs in a child process)
# ---------------------------------------------------------------------------------------------------

async def confirmed_link(st, uid: int, patent_id: str, institution_id: int) -> bool:
    """The set-up's inventor owns the patent as after an import naming the institution and the
    office's confirmation of the inventor's link request (docs/OWNERSHIP.md)."""
    from sqlalchemy import update

    from bot.models import LinkStatus, Patent, utcnow

    async with st.session() as s:
        await s.execute(update(Patent).where(Patent.id == patent_id).values(institution_id=institution_id))
        await st.request_link(s, uid, patent_id)
        return await st.decide_link(s, uid, patent_id, None, LinkStatus.CONFIRMED, utcnow())


async def run_config(cfg: dict) -> dict:
    from sqlalchemy import delete

    from bot.models import Role, SelfAssessment

    users, seconds = cfg["users"], cfg["seconds"]
    data_dir = Path(tempfile.mkdtemp(prefix="dialogbench."))
    if cfg["db"] == "sqlite":
        db_url = f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
    else:
        db_url = await pg_create_db(cfg["pg_url"])
    errors = ErrorCollector()
    logging.getLogger("bot").addHandler(errors)
    logging.getLogger("telegram").addHandler(errors)
    h = Harness(data_dir, db_url, placement=cfg["emulator"])
    profiler = None
    try:
        t0 = time.perf_counter()
        patent_ids = await prepare_db(db_url, data_dir, max(users, 50))
        await h.start()
        st = h.services.storage
        inst = await st.institution_by_name(INSTITUTION, create=True)
        split = cfg["emulator"] == "split"
        uids = [FIRST_USER + i for i in range(users)]
        sims = []
        for i, uid in enumerate(uids):
            await st.grant_role(uid, Role.INVENTOR, institution_id=inst)
            if not await confirmed_link(st, uid, patent_ids[i], inst):
                raise RuntimeError(f"could not link {patent_ids[i]}")
            if not split:
                sims.append(await h.user(uid))
        setup = time.perf_counter() - t0

        latencies: list[float] = []
        unanswered: list[str] = []
        rounds = [0]

        async def reset(uid: int) -> None:
            async with st.session() as s:
                await s.execute(delete(SelfAssessment).where(SelfAssessment.inventor_id == uid))

        async def one_round(u, record: bool) -> None:
            await play_round(u, reset, latencies, unanswered, rounds, record)

        if split:
            emu = h.emulator
            emu.on_reset = reset
            mark_done = h.processor._mark_done

            pending_done: list[int] = []

            def flush_done() -> None:
                emu.writer.write("".join(f"d {i}\n" for i in pending_done).encode())
                pending_done.clear()

            async def mark_done_and_tell(update_id: int) -> None:
                await mark_done(update_id)
                # updates finished in the same loop iteration share one socket write
                if not pending_done:
                    asyncio.get_running_loop().call_soon(flush_done)
                pending_done.append(update_id)

            h.processor._mark_done = mark_done_and_tell
            await asyncio.wait_for(emu.connected.wait(), 60)
            emu.send("start " + json.dumps({"uids": uids, "seconds": seconds}))
            kind, arg = await emu.lines.get()  # warm-up done, measuring
            if kind != "m":
                raise RuntimeError(f"users' process: {arg}")
        else:
            # warm-up, not counted: a whole round for two users (template compilation, caches,
            # connections), one message for everybody else
            await asyncio.gather(*(one_round(u, False) for u in sims[:2]))
            await asyncio.gather(*(u.send("/mypatents") for u in sims[2:]))

        deadline = None

        async def loop_user(u) -> None:
            while time.perf_counter() < deadline:
                await one_round(u, True)

        q0, c0, d0 = h.meter.snapshot()
        api0 = await h.api_calls()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        emu_cpu0 = h.emulator.cpu_seconds() if isinstance(h.emulator, RemoteEmulator) else 0.0
        if cfg.get("profile"):
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        start = time.perf_counter()
        deadline = start + seconds
        print(f"measuring: pid {os.getpid()} for {seconds:g} s", file=sys.stderr, flush=True)
        if split:
            kind, arg = await emu.lines.get()  # the users' results
            if kind != "e":
                raise RuntimeError(f"users' process: {arg}")
            res = json.loads(arg)
            latencies, elapsed, rounds[0] = res["latencies"], res["elapsed"], res["rounds"]
            unanswered = res["unanswered"] + [""] * (res["n_unanswered"] - len(res["unanswered"]))
        else:
            await asyncio.gather(*(loop_user(u) for u in sims))
            elapsed = time.perf_counter() - start
        if profiler is not None:
            profiler.stop()
            Path(cfg["profile"]).write_text(profiler.output_html())
            print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        q1, c1, d1 = h.meter.snapshot()
        api1 = await h.api_calls()
        emu_rss = h.emulator.peak_rss_kb() if isinstance(h.emulator, RemoteEmulator) else 0
        emu_cpu = (h.emulator.cpu_seconds() - emu_cpu0) if isinstance(h.emulator, RemoteEmulator) else None

        # the database agrees: one submitted round per user at most (reset after each), no draft left
        n = len(latencies)
        lat = sorted(latencies)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        return {
            "db": cfg["db"], "emulator": cfg["emulator"], "users": users, "seconds": round(elapsed, 1),
            "steps": n, "rounds": rounds[0], "steps_per_s": n / elapsed if elapsed else 0.0,
            "p50_ms": 1000 * lat[n // 2] if n else None,
            "p95_ms": 1000 * lat[min(n - 1, int(n * 0.95))] if n else None,
            "p99_ms": 1000 * lat[min(n - 1, int(n * 0.99))] if n else None,
            "mean_ms": 1000 * statistics.fmean(lat) if n else None,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "emu_rss_mb": emu_rss / 1024,
            "cpu_ms_per_step": 1000 * cpu / n if n else None,
            "emu_cpu_ms_per_step": 1000 * emu_cpu / n if n and emu_cpu is not None else None,
            "sql_per_step": (q1 - q0) / n if n else None,
            "commits_per_step": (c1 - c0) / n if n else None,
            "db_ms_per_step": 1000 * (d1 - d0) / n if n else None,
            "api_calls_per_step": (api1 - api0) / n if n else None,
            "unanswered": len(unanswered), "unanswered_sample": unanswered[:5],
            "errors": len(errors.records), "errors_sample": errors.records[:5],
            "setup_s": round(setup, 1),
        }
    finally:
        await h.close()
        logging.getLogger("bot").removeHandler(errors)
        logging.getLogger("telegram").removeHandler(errors)
        if cfg["db"] != "sqlite":
            with contextlib.suppress(Exception):
                await pg_drop_db(db_url)
        shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------
# the parent: configurations, PostgreSQL, the table
# ---------------------------------------------------------------------------------------------------

def run_child(cfg: dict, timeout: float) -> dict:
    p = subprocess.run([sys.executable, __file__, "--run-one", json.dumps(cfg)], capture_output=True, text=True,
                       timeout=timeout)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"db": cfg["db"], "emulator": cfg["emulator"], "users": cfg["users"],
                "failed": (p.stderr or p.stdout)[-2000:]}
    if cfg.get("profile"):
        sys.stderr.write(p.stderr)
    return json.loads(lines[-1])


def fmt(v, spec: str = ".0f") -> str:
    return "—" if v is None else format(v, spec)


def table(results: list[dict]) -> str:
    head = ("| DB | emulator | users | steps/s | p50 ms | p95 ms | p99 ms | peak RSS bot MB (emu MB) "
            "| CPU ms/step bot (emu) | SQL/step | commits/step | DB-wait ms/step | API calls/step | steps | errors |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        if "failed" in r:
            out.append(f"| {r['db']} | {r['emulator']} | {r['users']} | FAILED: "
                       f"{r['failed'].strip().splitlines()[-1][:120] if r['failed'].strip() else '?'} |")
            continue
        if "skipped" in r:
            out.append(f"| {r['db']} | {r['emulator']} | {r['users']} | skipped: {r['skipped']} |")
            continue
        emu = f" ({r['emu_rss_mb']:.0f})" if r.get("emu_rss_mb") else ""
        out.append(
            f"| {r['db']} | {r['emulator']} | {r['users']} | {r['steps_per_s']:.0f} | {fmt(r['p50_ms'], '.1f')} | "
            f"{fmt(r['p95_ms'], '.1f')} | {fmt(r['p99_ms'], '.1f')} | {r['rss_mb']:.0f}{emu} | "
            f"{fmt(r['cpu_ms_per_step'], '.2f')}"
            + (f" ({r['emu_cpu_ms_per_step']:.2f})" if r.get("emu_cpu_ms_per_step") is not None else "")
            + f" | {fmt(r['sql_per_step'], '.1f')} | "
            f"{fmt(r['commits_per_step'], '.1f')} | {fmt(r['db_ms_per_step'], '.2f')} | "
            f"{fmt(r['api_calls_per_step'], '.1f')} | {r['steps']} | {r['errors'] + r['unanswered']} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run for CI (< 60 s in all)")
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--emulator", default="all",
                    help="where the emulator (and the simulated users) run, comma-separated: inproc = all in "
                         "the bot's process; subprocess = the emulator in a child, the users with the bot; "
                         "split = the emulator and the users in a child, the bot alone in its process "
                         "(as in production); all = the three")
    ap.add_argument("--pg-url", default=None, help="a PostgreSQL server (a fresh database is created in it)")
    ap.add_argument("--profile", metavar="HTML", help="pyinstrument the measured phase (first config only)")
    ap.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    ap.add_argument("--run-one", help=argparse.SUPPRESS)
    ap.add_argument("--emulator-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--users-server", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from bot.telegram.loop import run_loop  # uvloop, as the bot runs in production (run_bot.py)

    if args.emulator_server:
        run_loop(emulator_server())
        return 0
    if args.users_server:
        run_loop(users_server(args.users_server))
        return 0
    if args.run_one:
        print(json.dumps(run_loop(run_config(json.loads(args.run_one)))), flush=True)
        return 0

    if args.quick:
        args.users, args.seconds = 6, 3.0
        if args.emulator in ("all", "both"):
            args.emulator = "inproc,split"
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    emus = ["inproc", "subprocess", "split"] if args.emulator in ("all", "both") else args.emulator.split(",")
    if set(emus) - {"inproc", "subprocess", "split"}:
        ap.error(f"--emulator: unknown placement in {args.emulator!r}")

    cluster = None
    pg_note = ""
    if "postgres" in dbs and not args.pg_url:
        bindir = pg_bindir()
        if bindir is None:
            pg_note = "PostgreSQL skipped: no binaries under /usr/lib/postgresql/*/bin and no --pg-url"
            dbs.remove("postgres")
        else:
            cluster = ThrowawayPostgres(bindir).start()
            args.pg_url = cluster.url
            pg_note = f"PostgreSQL: throwaway cluster {bindir.parent.name} on port {cluster.port} (fsync=off)"
    elif "postgres" in dbs:
        pg_note = "PostgreSQL: " + args.pg_url.split("@")[-1]

    results = []
    t0 = time.time()
    try:
        for db in dbs:
            for emu in emus:
                cfg = {"db": db, "emulator": emu, "users": args.users, "seconds": args.seconds,
                       "pg_url": args.pg_url, "profile": args.profile if args.profile and not results else None}
                r = run_child(cfg, timeout=args.seconds * 4 + 240)
                results.append(r)
                print(f"  done: {db}/{emu} in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        if cluster is not None:
            cluster.stop()

    print(f"\n## Dialog benchmark — {args.users} users × {args.seconds:g} s, self-assessment dialog "
          f"({len(ROUND)} actions per round)\n")
    load = os.getloadavg()
    print(f"Machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end "
          "(other processes share the cores: compare CPU ms/step, it is less sensitive to that), "
          f"Python {sys.version.split()[0]}. "
          "`inproc`: the emulator, the bot and the load generator share ONE process and event loop (so "
          "one core); `subprocess`: the emulator has its own process, the simulated users share the bot's; "
          "`split`: the emulator and the users in one process, the bot alone in its own (as in production). "
          "Latency = user action → answer fetched by the user. Target: ≥ 300 steps/s, p95 < 50 ms.")
    if pg_note:
        print(f"\n{pg_note}")
    print()
    print(table(results))
    bad = [r for r in results if "failed" in r or r.get("errors") or r.get("unanswered")]
    for r in bad:
        print(f"\n{r['db']}/{r['emulator']}: " + json.dumps({k: r.get(k) for k in
                                                              ("failed", "errors_sample", "unanswered_sample")},
                                                             ensure_ascii=False)[:2000])
    ok = [r for r in results if "steps_per_s" in r]
    if ok:
        meets = all(r["steps_per_s"] >= 300 and r["p95_ms"] < 50 for r in ok)
        print(f"\nTarget met in all configurations: {'yes' if meets else 'NO'} "
              f"(total wall time {time.time() - t0:.0f} s)")
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
