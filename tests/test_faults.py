"""Fault tests, end to end: the database restarting under traffic, a flaky Bot API, and kill -9.

1. PostgreSQL restarted (``pg_ctl restart -m fast``) while users search and answer the assessment: the
   bot recovers by itself, every acknowledged answer is kept, and during the outage every message is
   answered (politely, with the error text) — never silence.
2. The Bot API answering 5xx / dropping connections: pushes arrive once after the outbox's retries,
   getUpdates errors lose and duplicate nothing, and a failed reply leaves the dialog recoverable.
3. kill -9 of a bot *process* (`run_bot.py`) mid-dialog, the emulator living on in this
   process: after a restart the dialog continues where it was, no answer lost, no push sent twice.

A small corpus (the first 60 shipped patents) keeps the whole file well under 90 s.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from devtools.pgcluster import ThrowawayPostgres, pg_bindir
from bot.models import AssessmentStatus, OutboxMessage, Role, SelfAssessment
from bot.storage import Storage
from tests.harness import BotHarness, confirmed_link

ROOT = Path(__file__).resolve().parent.parent
PATENT = "CN113914863A"  # the first patent of the corpus (a mining machine)
N_PATENTS = 60
ERROR_TEXT = "抱歉，处理您的请求时出了点问题"  # locales/zh/error.j2
REQUIRE_PG = os.environ.get("REQUIRE_POSTGRES") == "1"

# the assessment's prompts (plain text of locales/zh/dlg_assess_*.j2), most specific first
PROMPTS = (
    ("review", "请核对自评内容"),
    ("open_licence", "是否愿意开放许可"),
    ("licence_kind", "许可方式："),
    ("payment_kind", "付款方式"),
    ("implemented", "该专利是否已实施"),
    ("price_range", "期望价格区间"),
    ("contact_pref", "企业如何联系您"),
    ("intents", "转化意愿"),
    ("prospect", "产业化前景："),
    ("scenarios", "应用场景（可多选"),
    ("maturity", "技术成熟度（TRL"),
    ("industry", "所属产业领域"),
)
# typed answers (a choice step takes its option value typed as well as tapped)
TYPED = {"prospect": "4", "implemented": "no", "licence_kind": "ordinary", "payment_kind": "upfront_royalty",
         "open_licence": "yes", "price_range": "negotiable", "contact_pref": "bot"}
COLUMN = {"prospect": ("prospect", 4), "implemented": ("implemented", False), "licence_kind": ("licence_kind", "ordinary"),
          "payment_kind": ("payment_kind", "upfront_royalty"), "open_licence": ("open_licence", True),
          "price_range": ("price_range", "negotiable"), "contact_pref": ("contact_pref", "bot")}


def step_of(text: str) -> str | None:
    for name, needle in PROMPTS:
        if needle in text:
            return name
    return None


# ---------------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------------

def _subset(path: Path) -> None:
    with gzip.open(ROOT / "data" / "patents.jsonl.gz", "rt", encoding="utf-8") as f, \
            open(path, "w", encoding="utf-8") as out:
        for i, line in enumerate(f):
            if i >= N_PATENTS:
                break
            out.write(line)


async def _prepare(db_url: str, data_dir: Path, subset: Path) -> None:
    from bot.search.catalog import PatentCatalog
    from bot.io.importer import import_file

    st = Storage(db_url)
    try:
        await st.migrate()
        await import_file(st, subset)
        await PatentCatalog(st, cache_dir=data_dir / "cache").load()
    finally:
        await st.close()


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    """A SQLite file with 60 patents and a warm search-index cache, built once for this module."""
    d = tmp_path_factory.mktemp("faults-seed")
    _subset(d / "subset.jsonl")
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{d / 'patents.db'}", d, d / "subset.jsonl"))
    return d


def _copy_db(small_db: Path, tmp_path: Path) -> str:
    shutil.copy(small_db / "patents.db", tmp_path / "patents.db")
    shutil.copytree(small_db / "cache", tmp_path / "cache")
    return f"sqlite+aiosqlite:///{tmp_path / 'patents.db'}"


class Errors(logging.Handler):
    """Collects ERROR records of the bot (the harness's `bot` fixture fails on any; here some are expected)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @staticmethod
    def text_of(r: logging.LogRecord) -> str:
        return r.getMessage() + (f" {type(r.exc_info[1]).__name__}: {r.exc_info[1]}" if r.exc_info else "")

    def describe(self) -> str:
        out = []
        for r in self.records:
            exc = r.exc_info[1] if r.exc_info else None
            out.append(f"{r.name}: {r.getMessage()} [{type(exc).__name__ if exc else '-'}: {str(exc)[:200]}]")
        return "\n".join(out)


@contextlib.asynccontextmanager
async def harness(data_dir: Path, db_url: str):
    h = BotHarness(data_dir, db_url)
    if "flood_rate" in {f.name for f in dataclasses.fields(h.settings)}:
        h.settings = dataclasses.replace(h.settings, flood_rate=1000.0, flood_burst=1000)
    errors = Errors()
    logging.getLogger("bot").addHandler(errors)
    try:
        await h.start()
        yield h, errors
    finally:
        try:
            await h.close()
        finally:
            logging.getLogger("bot").removeHandler(errors)


async def make_inventor(storage: Storage, uid: int, patent: str = PATENT) -> None:
    inst = await storage.institution_by_name("福州大学", create=True)
    await storage.grant_role(uid, Role.INVENTOR, institution_id=inst)
    await confirmed_link(storage, uid, patent, inst)


async def answers_up_to_intents(u) -> None:
    """industry (tap) → maturity (typed) → scenarios (taps + text) → prospect (typed) → intents (taps)."""
    await u.send("/mypatents")
    step = await u.press("📝 1.")
    assert step_of(step.last.text) == "industry", step.last.text
    await u.press("高端装备制造")
    await u.send("7")
    await u.press("▫️ 智能制造")
    await u.send("矿山开采")
    step = await u.press("✔️ 完成")
    assert step_of(step.last.text) == "prospect", step.last.text
    await u.send("4")
    await u.press("▫️ 转让")
    await u.press("▫️ 许可")
    step = await u.press("✔️ 完成")
    assert step_of(step.last.text) == "implemented", step.last.text


async def assessment(storage: Storage, uid: int) -> SelfAssessment | None:
    async with storage.session() as s:
        return (await s.scalars(select(SelfAssessment).where(SelfAssessment.inventor_id == uid))).one_or_none()


# ---------------------------------------------------------------------------------------------------
# 1. PostgreSQL restarted during traffic
# ---------------------------------------------------------------------------------------------------

@pytest.fixture
def throwaway_pg():
    bindir = pg_bindir()
    if bindir is None:
        if REQUIRE_PG:
            pytest.fail("REQUIRE_POSTGRES=1 but no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    pg = ThrowawayPostgres(bindir)
    try:
        pg.start()
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pg.stop()
        msg = f"could not start a throwaway PostgreSQL: {getattr(e, 'stderr', '') or e}"
        if REQUIRE_PG:
            pytest.fail(msg)
        pytest.skip(msg)
    yield pg
    pg.stop()


DB_OUTAGE_ERRORS = ("connection", "Connection", "CannotConnectNow", "AdminShutdown", "terminat", "shutting down",
                    "starting up", "refused", "closed", "InterfaceError", "OperationalError", "ConnectionDoesNotExist",
                    "pre_ping", "ConnectionReset", "Cannot connect",
                    # asyncpg, a pooled connection whose operation the shutdown interrupted: seen once in ~5
                    # runs, during the outage only (reported: it should be invalidated as a disconnect)
                    "another operation")


@pytest.mark.postgres
async def test_postgres_restart_during_traffic(throwaway_pg, small_db, tmp_path):
    pg = throwaway_pg
    _subset(tmp_path / "subset.jsonl")
    shutil.copytree(small_db / "cache", tmp_path / "cache")  # same rows → the index cache fits
    await _prepare(pg.url, tmp_path, tmp_path / "subset.jsonl")
    async with harness(tmp_path, pg.url) as (bot, errors):
        st = bot.services.storage
        await make_inventor(st, 4001)
        inv = await bot.user(4001, "张老师")
        searchers = [await bot.user(4100 + i, f"企业{i}") for i in range(2)]
        (hit,) = await searchers[0].send("掘进机")
        assert PATENT in hit.text
        await answers_up_to_intents(inv)

        acked: dict[str, str] = {}  # step → typed value, once the bot showed the following step
        silent: list[str] = []
        polite = 0
        restart_done = asyncio.Event()

        async def search_loop(u) -> None:
            nonlocal polite
            while not restart_done.is_set():
                r = await u.send("掘进机")
                if not r:
                    silent.append(f"{u.user_id}: search")
                elif ERROR_TEXT in r.text:
                    polite += 1
                else:
                    assert PATENT in r.text, r.text
                await asyncio.sleep(0.05)

        async def answer(step: str):
            return await inv.send(TYPED[step])

        async def resync() -> str | None:
            """After an error: reopen the assessment like a phone user (it resumes at the first gap)."""
            await inv.send("/mypatents")
            r = await inv.press("📝 1.")
            return step_of(r.last.text) if r and r.last else None

        async def dialog_loop() -> None:
            nonlocal polite
            step: str | None = "implemented"
            while step != "review":
                if step not in TYPED:  # lost track (an error): reopen
                    try:
                        step = await resync()
                    except Exception:  # noqa: BLE001 - the /mypatents answer was the error text
                        step = None
                    if step is None:
                        await asyncio.sleep(0.1)
                    continue
                r = await answer(step)
                if not r:
                    silent.append(f"step {step}")
                    step = None
                    continue
                nxt = step_of(r.last.text)
                if ERROR_TEXT in r.text:
                    polite += 1
                    step = None
                elif nxt is not None and nxt != step:
                    acked[step] = TYPED[step]
                    step = nxt
                else:  # e.g. "use the buttons" when the previous try did commit: the reply shows where we are
                    step = nxt
                await asyncio.sleep(0.15)

        async def restart() -> None:
            await asyncio.sleep(0.3)  # in the middle of the traffic
            t0 = time.monotonic()
            out = await asyncio.to_thread(pg.restart_fast)
            assert out.returncode == 0, out.stderr
            restart.seconds = time.monotonic() - t0
            await asyncio.sleep(0.5)
            restart_done.set()

        traffic = [asyncio.create_task(search_loop(u)) for u in searchers]
        dialog = asyncio.create_task(dialog_loop())
        await restart()
        await asyncio.wait_for(asyncio.gather(*traffic), 30)
        # the bot recovers by itself: searches are answered again shortly after the restart
        deadline = time.monotonic() + 15
        while True:
            r = await searchers[1].send("掘进机")
            if r and PATENT in r.text:
                break
            assert time.monotonic() < deadline, f"no recovery after the restart: {r.text if r else '(silence)'}"
            await asyncio.sleep(0.2)
        await asyncio.wait_for(dialog, 30)

        assert not silent, f"messages left unanswered during the outage: {silent}"
        done = await inv.press("✅ 确认提交")
        assert "已提交" in done.text, done.text
        a = await assessment(st, 4001)
        assert a is not None and a.status == AssessmentStatus.SUBMITTED.value
        assert (a.industry_field, a.maturity, a.scenario_text, a.intents) == (
            "equipment", 7, "矿山开采", ["transfer", "license"])
        for step in acked:  # no acknowledged answer is lost
            col, value = COLUMN[step]
            assert getattr(a, col) == value, (step, getattr(a, col))
        # errors during the outage are DB-connection errors, answered with the polite text
        unexpected = [r for r in errors.records
                      if not any(k in (r.getMessage() + repr(r.exc_info[1] if r.exc_info else ""))
                                 for k in DB_OUTAGE_ERRORS)]
        assert not unexpected, "unexpected handler errors:\n" + errors.describe()
        print(f"\nPG restart took {restart.seconds:.2f}s; polite error answers: {polite}; "
              f"handler errors logged: {len(errors.records)}; acknowledged during traffic: {sorted(acked)}")


# ---------------------------------------------------------------------------------------------------
# 2. the Bot API answering 5xx / dropping connections
# ---------------------------------------------------------------------------------------------------

async def test_bot_api_5xx_and_timeouts(small_db, tmp_path):
    db_url = _copy_db(small_db, tmp_path)
    async with harness(tmp_path, db_url) as (bot, errors):
        emu, st = bot.emulator, bot.services.storage
        await make_inventor(st, 4201)
        inv = await bot.user(4201, "张老师")

        # getUpdates failing twice: PTB's updater retries; the message is processed exactly once
        emu.inject_fault("getUpdates", status=502, count=2)
        (reply,) = await inv.send("/mypatents")
        assert "我的专利" in reply.text
        assert len([m for m in inv.bot_messages() if "我的专利" in m.text]) == 1

        # answerCallbackQuery failing: the toast is lost, the step is not
        await inv.press("📝 1.")
        emu.inject_fault("answerCallbackQuery", status=500)
        step = await inv.press("高端装备制造")
        assert step_of(step.last.text) == "maturity"

        # a push (review result) through the outbox while sendMessage to that chat fails 502, then the
        # connection drops without an answer (a timeout): delivered once after the retries
        emu.inject_fault("sendMessage", status=502, chat_id=4201)
        emu.inject_fault("sendMessage", status=0, chat_id=4201, delay=0.1)
        async with st.session() as s:  # written by another process: the sender finds it within its poll interval
            await st.enqueue(s, chat_id=4201, text="📣 推送：评估结果已出", key="faults:push:1")
        await inv.wait_for("评估结果已出", timeout=15)
        await asyncio.sleep(1.2)  # a duplicate would show up by now
        await inv.refresh()
        pushes = [m for m in inv.bot_messages() if "评估结果已出" in m.text]
        assert len(pushes) == 1, [m.text for m in pushes]
        async with st.session() as s:
            row = (await s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == "faults:push:1"))).one()
            assert row.status == "sent" and row.attempts >= 2, (row.status, row.attempts)

        # a typed answer whose reply fails (502 on sendMessage): the user is told politely... or, as the
        # reply itself fails, sees nothing — but the answer is kept and typing again continues the dialog
        emu.inject_fault("sendMessage", status=502, chat_id=4201)
        await inv.send("7")
        a = await assessment(st, 4201)
        assert a.maturity == 7  # the answer was recorded before the reply failed
        r = await inv.send("/mypatents")
        r = await inv.press("📝 1.")
        assert step_of(r.last.text) == "scenarios", r.last.text

        # a tap whose edit fails (502): the answer is recorded once; tapping the same button again must
        # bring the current step back (not just an "already recorded" toast on a stale message)
        await inv.press("▫️ 智能制造")
        step = await inv.press("✔️ 完成")
        assert step_of(step.last.text) == "prospect"
        live = step.last
        emu.inject_fault("editMessageText", status=502, chat_id=4201)
        r1 = await inv.press("4 ⭐", message_id=live.message_id)
        a = await assessment(st, 4201)
        assert a.prospect == 4 and a.scenarios == ["manufacturing"]
        r2 = await inv.press("4 ⭐", message_id=live.message_id)
        shown = [step_of(m.text) for m in list(r1) + list(r2)]
        recovered = "intents" in shown
        # nothing duplicated: one assessment row, the prospect answered once
        async with st.session() as s:
            assert len((await s.scalars(select(SelfAssessment))).all()) == 1
        # the handler errors logged here come from the injected failures only
        assert all("Bad Gateway" in errors.text_of(r) or "502" in errors.text_of(r) for r in errors.records), \
            errors.describe()
        # after a failed edit, tapping again re-renders the current step (the double-tap branch edits too)
        assert recovered, f"user stuck after a failed edit: replies {shown}, toast {r2.toast!r}"


# ---------------------------------------------------------------------------------------------------
# 3. kill -9 of the bot process mid-dialog
# ---------------------------------------------------------------------------------------------------

async def _push_status(st: Storage, key: str) -> str | None:
    async with st.session() as s:
        return await s.scalar(select(OutboxMessage.status).where(OutboxMessage.idempotency_key == key))


class BotProcess:
    """``python run_bot.py`` in polling mode against the emulator in this process, configured only by
    the environment, as README documents."""

    def __init__(self, emulator_url: str, db_url: str, data_dir: Path) -> None:
        self.args = [sys.executable, str(ROOT / "run_bot.py")]
        self.env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN", "BOT_API_BASE_URL": emulator_url + "/bot",
                    "DATABASE_URL": db_url, "DATA_DIR": str(data_dir), "SEED_CORPUS": "0",
                    "OUTBOX_WORKER_ID": "fault-bot-1", "FLOOD_RATE": "1000", "FLOOD_BURST": "1000",
                    "POLLING_TIMEOUT": "1", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
        for k in ("WEBHOOK_URL", "BOT_CLOCK_START"):
            self.env.pop(k, None)
        self.proc: subprocess.Popen | None = None

    async def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=str(ROOT), env=self.env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 90)
            if line.startswith("Bot ready"):
                return
            if not line:
                break
        self.proc.kill()
        raise AssertionError(f"bot process did not start\n{self.proc.stderr.read()[-3000:]}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> str:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.stderr.read() if self.proc and self.proc.stderr else ""


async def test_kill9_mid_dialog_loses_nothing_and_sends_no_push_twice(small_db, tmp_path):
    from devtools.client import SimUser
    from devtools.emulator import BotAPIEmulator

    db_url = _copy_db(small_db, tmp_path)
    st = Storage(db_url)
    await make_inventor(st, 4301)
    emu = BotAPIEmulator(token="123456:TEST-TOKEN")
    await emu.start()
    proc = BotProcess(emu.url, db_url, tmp_path)
    stderr = ""
    try:
        await proc.start()
        # no settle hook across processes: SimUser waits until the bot fetched the update and went quiet
        inv = SimUser(emu.url, 4301, "张老师", reply_timeout=15, quiet=0.4)
        await inv.register()
        await inv.send("/mypatents")
        await inv.press("📝 1.")
        await inv.press("高端装备制造")
        await inv.send("7")
        step = await inv.press("▫️ 智能制造")
        live = step.last
        assert "✅ 智能制造" in live.labels
        # a push delivered before the kill (through the outbox, the change's own transaction)
        async with st.session() as s:
            await st.enqueue(s, chat_id=4301, text="📣 推送：专利对接会通知", key="faults:kill:push")
        await inv.wait_for("专利对接会通知", timeout=15)
        # past the documented ambiguous window (request sent → sent-mark committed): only a row whose
        # sent-mark committed must never be sent again; an in-flight one may be (at-least-once)
        deadline = time.monotonic() + 10
        while await _push_status(st, "faults:kill:push") != "sent":
            assert time.monotonic() < deadline, "the push was delivered but never marked sent"
            await asyncio.sleep(0.05)

        proc.kill9()  # mid-dialog: a pending multi-select tick, a delivered push
        # a tap while the bot is down: Telegram (the emulator) keeps it until the bot polls again
        async with SimUser(emu.url, 4301, "张老师") as phone:  # a raw tap: nobody to wait for yet
            pending = await phone._req("POST", "/_emu/press", json={
                "user_id": 4301, "chat_id": 4301, "label": "▫️ 能源电力", "message_id": live.message_id})
        await proc.start()
        await inv.wait_for(lambda m: "✅ 能源电力" in m.labels and "✅ 智能制造" in m.labels, timeout=20)
        assert emu.update_delivered(pending["update_id"])
        step = await inv.press("✔️ 完成")
        assert step_of(step.last.text) == "prospect", step.last.text

        a = await assessment(st, 4301)
        assert (a.industry_field, a.maturity, a.scenarios) == ("equipment", 7, ["manufacturing", "energy"])
        # the push of before the kill is not sent again by the new process (give its outbox a pass)
        await asyncio.sleep(1.5)
        await inv.refresh()
        assert len([m for m in inv.bot_messages() if "专利对接会通知" in m.text]) == 1
        ok_sends = [c for c in emu.calls("sendMessage", chat_id=4301) if c["status"] == 200]
        assert len(ok_sends) == len([m for m in inv.bot_messages() if m.from_bot])  # no hidden duplicates
        await inv.close()
    finally:
        stderr = proc.stop()
        await emu.stop()
        await st.close()
    # no handler failed in either bot process (PTB's own shutdown noise on SIGTERM is not ours)
    assert not [ln for ln in stderr.splitlines() if ln.startswith("ERROR bot")], stderr[-3000:]


async def test_idle_pooled_connections_are_pinged_after_a_postgres_restart(throwaway_pg, monkeypatch):
    """Connections that sat idle are pinged before use (busy ones are not: that round trip per unit of
    work was 4 % of a dialog step), so the first request after a quiet restart already succeeds."""
    import bot.storage.base as base
    from bot.storage import Storage

    monkeypatch.setattr(base, "PING_AFTER_IDLE", 0.2)
    st = Storage(throwaway_pg.url)
    await st.migrate()
    try:
        await asyncio.gather(*(st.load_actor(9000 + i, 9000 + i, "甲", None, "zh", "zh") for i in range(5)))
        out = await asyncio.to_thread(throwaway_pg.restart_fast)
        assert out.returncode == 0, out.stderr
        await asyncio.sleep(0.3)  # the pool's connections are now idle (and dead)
        actors = await asyncio.gather(*(st.load_actor(9000 + i, 9000 + i, "乙", None, "zh", "zh")
                                        for i in range(5)))
        assert [a.user.first_name for a in actors] == ["乙"] * 5
    finally:
        await st.close()
