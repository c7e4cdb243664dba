"""Replica benchmark: the reference deployment (docs/DEPLOY.md) — nginx rendered from deploy/'s
template in front of 1, 2 and 3 ``python run_bot.py`` webhook workers on one PostgreSQL; Telegram's
side is the emulator in this process, posting every update to nginx's URL.

Sections (each on a fresh database):

* **dialog**: inventors run the whole self-assessment dialog (dialog_bench's ROUND) through nginx;
  dialog steps/s, p50/p95 (from the phone's action until its chat shows what the next step needs),
  CPU ms per step of each worker (from /proc), how nginx spread the updates. This machine has 2 cores
  shared by the workers, nginx, PostgreSQL and the emulator with its users: throughput does not grow
  with workers here. The CPU per step is what tells where it would: steps/s ≈ cores × 1000 / (CPU ms
  per step of the whole stack), so with a core per worker it scales until PostgreSQL's CPU is the limit.
* **broadcast**: 2,000 recipients (300 with --quick) queued as one broadcast while 3 workers run; the
  worker that is sending (the one whose OUTBOX_WORKER_ID claims the rows) is killed with SIGKILL at
  ~40 %. Counted in the emulator: lost (must be 0), duplicates and whether each is explained (a row
  the killed worker left in 'sending', resent at-least-once), take-over time (kill → the next
  successful send), the sustained rate (median of 5 s windows; must be ≤ 30 msg/s) and the 429s the
  emulator's flood control gave (self-caused; must be 0). Which workers sent is reported as found:
  with leader election one sender at a time, without it every worker sends.
* **freshness**: a patent imported with ``run_bot.py import`` while 3 workers run; each worker is asked
  (an update posted straight to its port, with the secret) until its search finds it: p50/p95 per
  worker over the imports.
* **start**: 3 workers started at the same instant on an empty database (the shipped corpus seeded
  on first start), 10 times (3 with --quick, only the first seeding): clean starts = all three print "Bot ready" and the
  database holds the corpus once.

    python benchmarks/replica_bench.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    python benchmarks/replica_bench.py --quick        # CI (TEST_POSTGRES_URL)

Exit status 1 when an invariant fails (a step unanswered, a message lost, an unexplained duplicate, a
self-caused 429, a sustained rate above 30 msg/s, a worker that never saw an import, an unclean start).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from broadcast_bench import _bulk_users  # noqa: E402
from processes import BotProcess, program_env  # noqa: E402
from dialog_bench import INSTITUTION, ROUND, confirmed_link, pg_create_db, pg_drop_db, prepare_db  # noqa: E402

from devtools.nginx import NginxFront  # noqa: E402
from tests.shipped import free_port  # noqa: E402

TOKEN = "123456:REPLICA-BENCH"
SECRET = "replica-bench-Secret_0123456789"
FIRST_USER = 5_100_001
FIRST_RECIPIENT = 2_000_001
PROBE_USER = 7_000_001  # one per worker, asking it directly in the freshness section
QUIET = 0.02  # the phone's own settle heuristic; each step then waits for the state the next step needs
CHECKS: list[str] = []


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Deployment:
    """nginx + N run_bot.py webhook workers on one database, Telegram's side in this process."""

    def __init__(self, emu, db_url: str, tmp: Path, n: int, **extra: str) -> None:
        self.emu, self.db_url, self.tmp, self.n = emu, db_url, tmp, n
        self.ports = [free_port() for _ in range(n)]
        self.nginx = NginxFront(free_port(), [f"127.0.0.1:{p}" for p in self.ports], "/tg-hook",
                                tmp / f"nginx-{n}-{uuid.uuid4().hex[:6]}")
        self.extra = extra
        self.workers: list[BotProcess] = []

    def env(self, i: int) -> dict[str, str]:
        settings = dict(TELEGRAM_BOT_TOKEN=TOKEN, BOT_API_BASE_URL=self.emu.base_url, DATABASE_URL=self.db_url,
                        DATA_DIR=str(self.tmp / f"worker-{i}"), SEED_CORPUS="0", WEBHOOK_URL=self.nginx.url,
                        WEBHOOK_SECRET=SECRET, WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(self.ports[i]),
                        OUTBOX_WORKER_ID=f"worker-{i}", LOG_LEVEL="WARNING", FLOOD_RATE="1000000",
                        FLOOD_BURST="1000000")
        return program_env(**{**settings, **self.extra})

    async def start(self) -> None:
        await asyncio.to_thread(self.nginx.start)
        self.workers = [BotProcess(self.env(i), self.tmp / f"worker-{i}.log") for i in range(self.n)]
        for w in self.workers:
            await w.start()
        await asyncio.gather(*(w.wait_ready() for w in self.workers))

    async def stop(self) -> None:
        for w in self.workers:
            if w.returncode is None:
                code = await w.terminate()
                if code != 0:
                    CHECKS.append(f"a worker exited {code} on SIGTERM:\n{w.tail()}")
        await asyncio.to_thread(self.nginx.stop)


async def new_db(pg_server: str) -> str:
    return await pg_create_db(pg_server)


async def play_round(u, reset, latencies: list[float], unanswered: list[str], rounds: list[int],
                     record: bool, timeout: float = 30) -> None:
    """dialog_bench's ROUND, each step timed until the chat shows what the next step needs (the next
    button, or the confirmation): the workers are other processes, so there is no settle hook, and a
    fixed quiet wait both inflates the latency and misreads a slow answer."""
    for k, (kind, arg) in enumerate(ROUND):
        nxt = ROUND[k + 1] if k + 1 < len(ROUND) else None
        before = u._seq
        t = time.perf_counter()
        await (u.send(arg) if kind == "send" else u.press(arg))
        if nxt is not None and nxt[0] == "press":
            def ready(m, label=nxt[1]):
                return m.seq > before and any(label in b for row in m.buttons for b in row)
        else:
            def ready(m):
                return m.seq > before
        try:
            await u.wait_for(ready, timeout=timeout)
        except AssertionError:
            unanswered.append(f"{u.user_id} {kind} {arg!r}")
            break
        if record:
            latencies.append(time.perf_counter() - t)
    await reset(u.user_id)
    if record:
        rounds[0] += 1


# ---------------------------------------------------------------------------------------------------
# dialog steps through nginx
# ---------------------------------------------------------------------------------------------------

async def dialog_section(pg_server: str, n: int, users: int, seconds: float) -> dict:
    import aiohttp
    from sqlalchemy import delete

    from bot.models import Role, SelfAssessment
    from bot.storage import Storage
    from devtools.client import SimUser
    from devtools.emulator import BotAPIEmulator

    tmp = Path(tempfile.mkdtemp(prefix="replica_dialog_"))
    db_url = await new_db(pg_server)
    patent_ids = await prepare_db(db_url, tmp, max(users, 50))
    st = Storage(db_url)
    inst = await st.institution_by_name(INSTITUTION, create=True)
    uids = [FIRST_USER + i for i in range(users)]
    for i, uid in enumerate(uids):
        await st.grant_role(uid, Role.INVENTOR, institution_id=inst)
        await confirmed_link(st, uid, patent_ids[i], inst)

    async def reset(uid: int) -> None:
        async with st.session() as s:
            await s.execute(delete(SelfAssessment).where(SelfAssessment.inventor_id == uid))

    emu = BotAPIEmulator(token=TOKEN)
    await emu.start()
    dep = Deployment(emu, db_url, tmp, n)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        await dep.start()
        sims = []
        for uid in uids:
            u = SimUser(emu.url, uid, f"发明人{uid % 1000}", session=http, reply_timeout=30, quiet=QUIET)
            await u.register()
            sims.append(u)
        latencies: list[float] = []
        unanswered: list[str] = []
        rounds = [0]
        await asyncio.gather(*(play_round(u, reset, [], [], [0], False) for u in sims[:2]))  # warm-up
        cpu0 = [cpu_seconds(w.proc.pid) for w in dep.workers]
        t0 = time.perf_counter()
        deadline = t0 + seconds

        async def loop_user(u) -> None:
            while time.perf_counter() < deadline:
                await play_round(u, reset, latencies, unanswered, rounds, True)

        await asyncio.gather(*(loop_user(u) for u in sims))
        wall = time.perf_counter() - t0
        cpu = [cpu_seconds(w.proc.pid) - c for w, c in zip(dep.workers, cpu0)]
        spread: dict[str, int] = {}
        for addr, _status in dep.nginx.upstreams():
            spread[addr] = spread.get(addr, 0) + 1
        steps = len(latencies)
        if unanswered:
            CHECKS.append(f"dialog with {n} worker(s): {len(unanswered)} step(s) unanswered: {unanswered[:3]}")
        return {"workers": n, "users": users, "steps": steps, "steps_s": steps / wall,
                "p50_ms": pct(latencies, 0.5) * 1000, "p95_ms": pct(latencies, 0.95) * 1000,
                "cpu_ms_step": [c * 1000 / max(steps, 1) for c in cpu],
                "spread": sorted(spread.values(), reverse=True), "unanswered": len(unanswered)}
    finally:
        await dep.stop()
        await http.close()
        await emu.stop()
        await st.close()
        await pg_drop_db(db_url)


# ---------------------------------------------------------------------------------------------------
# a broadcast with the sending worker killed
# ---------------------------------------------------------------------------------------------------

async def broadcast_section(pg_server: str, recipients: int, timeout: float) -> dict:
    from bot.storage import Storage
    from devtools.emulator import BotAPIEmulator, RateLimits

    tmp = Path(tempfile.mkdtemp(prefix="replica_broadcast_"))
    db_url = await new_db(pg_server)
    st = Storage(db_url)
    await st.migrate()
    emu = BotAPIEmulator(token=TOKEN, rate_limits=RateLimits(per_chat_per_sec=1.0, per_chat_burst=3,
                                                            global_per_sec=30.0, global_burst=30, group_per_min=20))
    await emu.start()
    dep = Deployment(emu, db_url, tmp, 3)
    rcpts = list(range(FIRST_RECIPIENT, FIRST_RECIPIENT + recipients))
    try:
        for r in rcpts:
            emu.add_user(r, f"u{r}")
        await _bulk_users(st, rcpts)
        await dep.start()
        emu.reset_stats()
        broadcast_id = f"replica-{uuid.uuid4().hex[:8]}"
        t_start = time.time()
        await st.enqueue_many({"chat_id": r, "text": f"📢 科技成果对接会通知 #{i}", "key": f"{broadcast_id}:{r}",
                               "broadcast_id": broadcast_id} for i, r in enumerate(rcpts))

        def sent_ok() -> list[dict]:
            return [c for c in emu.calls("sendMessage") if c["status"] == 200]

        while len(sent_ok()) < 0.4 * recipients:
            if time.time() - t_start > timeout:
                raise SystemExit("broadcast: timeout before the kill point")
            await asyncio.sleep(0.05)
        rows = await st.outbox_messages(broadcast_id=broadcast_id)
        recent = sorted((r for r in rows if r.claimed_by and r.claimed_at), key=lambda r: r.claimed_at)[-50:]
        senders = {r.claimed_by for r in rows if r.claimed_by}
        by = max(("worker-%d" % i for i in range(3)), key=lambda w: sum(r.claimed_by == w for r in recent))
        victim = dep.workers[int(by.split("-")[1])]
        victim.kill()
        t_kill = time.time()
        await victim.wait()
        left = [r for r in await st.outbox_messages(broadcast_id=broadcast_id, status="sending")
                if r.claimed_by == by]
        ambiguous = {r.chat_id for r in left}
        while True:
            after = [c for c in sent_ok() if c["ts"] > t_kill]
            if after or time.time() - t_kill > timeout:
                break
            await asyncio.sleep(0.01)
        takeover = (after[0]["ts"] - t_kill) if after else float("inf")
        while True:
            done = {c["chat_id"] for c in sent_ok()}
            if done >= set(rcpts):
                break
            if time.time() - t_start > timeout:
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(2)  # anything still to come (a late duplicate) arrives
        ok = sent_ok()
        per_chat: dict[int, int] = {}
        for c in ok:
            per_chat[c["chat_id"]] = per_chat.get(c["chat_id"], 0) + 1
        lost = sum(1 for r in rcpts if per_chat.get(r, 0) == 0)
        dups = {ch for ch, k in per_chat.items() if k > 1}
        unexplained = dups - ambiguous
        win = 5.0
        rates = []
        if ok:
            t = ok[0]["ts"] + 2.0
            while t + win <= ok[-1]["ts"]:
                rates.append(sum(1 for c in ok if t <= c["ts"] < t + win) / win)
                t += win
        rate = statistics.median(rates) if rates else 0.0
        peak = max(rates, default=0.0)
        res = {"recipients": recipients, "senders_seen": sorted(senders), "killed": by, "left_sending": len(left),
               "lost": lost, "duplicates": len(dups), "unexplained": len(unexplained), "takeover_s": takeover,
               "rate": rate, "peak_rate": peak, "throttled_429": emu.throttled_count,
               "elapsed_s": (ok[-1]["ts"] - ok[0]["ts"]) if ok else 0.0}
        if lost:
            CHECKS.append(f"broadcast: {lost} recipient(s) lost")
        if unexplained:
            CHECKS.append(f"broadcast: {len(unexplained)} duplicate(s) of rows the kill did not leave in 'sending'")
        if emu.throttled_count:
            CHECKS.append(f"broadcast: {emu.throttled_count} self-caused 429(s) (the workers together exceeded "
                          f"Telegram's limits)")
        if rate > 30.5:
            CHECKS.append(f"broadcast: sustained {rate:.1f} msg/s > 30")
        return res
    finally:
        await dep.stop()
        await emu.stop()
        await st.close()
        await pg_drop_db(db_url)


# ---------------------------------------------------------------------------------------------------
# index freshness after an import, per worker
# ---------------------------------------------------------------------------------------------------

async def freshness_section(pg_server: str, imports: int, timeout: float = 60) -> dict:
    import aiohttp

    from devtools.client import SimUser
    from devtools.emulator import BotAPIEmulator

    tmp = Path(tempfile.mkdtemp(prefix="replica_fresh_"))
    db_url = await new_db(pg_server)
    await prepare_db(db_url, tmp, 200)
    emu = BotAPIEmulator(token=TOKEN)
    await emu.start()
    dep = Deployment(emu, db_url, tmp, 3)
    lags: list[list[float]] = [[] for _ in range(3)]
    update_id = [10**9]
    try:
        await dep.start()
        async with aiohttp.ClientSession() as http:
            probes = []
            for i in range(3):
                probe = SimUser(emu.url, PROBE_USER + i, f"probe{i}", session=http)
                await probe.register()
                probes.append(probe)

            async def ask(i: int, query: str) -> None:
                """A search posted straight to worker i (as nginx would hand it over)."""
                update_id[0] += 1
                upd = {"update_id": update_id[0], "message": {
                    "message_id": update_id[0], "date": int(time.time()), "text": query,
                    "chat": {"id": PROBE_USER + i, "type": "private"},
                    "from": {"id": PROBE_USER + i, "is_bot": False, "first_name": f"probe{i}"}}}
                async with http.post(f"http://127.0.0.1:{dep.ports[i]}/tg-hook", data=json.dumps(upd),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET,
                                              "Content-Type": "application/json"}) as r:
                    assert r.status == 200, r.status

            async def answered(i: int, needle: str) -> bool:
                await probes[i].refresh()
                return any(needle in (m.text or "") for m in probes[i].bot_messages())

            for k in range(imports):
                pub = f"CN{190_000_000 + k * 1000 + int(uuid.uuid4().int % 1000)}A"
                title = f"一种第{k}号氦闪烁晶体蜂巢探测器"
                path = tmp / f"new-{k}.csv"
                path.write_text(f"pub_no,title,abstract\n{pub},{title},本发明公开了{title}。\n", encoding="utf-8")
                env = dep.env(0)
                proc = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "run_bot.py"), "import",
                                                            str(path), env=env, cwd=ROOT,
                                                            stdout=asyncio.subprocess.DEVNULL,
                                                            stderr=asyncio.subprocess.DEVNULL)
                if await proc.wait() != 0:
                    CHECKS.append(f"freshness: run_bot.py import of {pub} failed")
                t0 = time.perf_counter()

                async def until_found(i: int) -> None:
                    while time.perf_counter() - t0 < timeout:
                        await ask(i, pub)
                        for _ in range(10):
                            await asyncio.sleep(0.02)
                            if await answered(i, title):
                                lags[i].append(time.perf_counter() - t0)
                                return
                    CHECKS.append(f"freshness: worker {i} never found {pub}")

                await asyncio.gather(*(until_found(i) for i in range(3)))
        return {"imports": imports,
                "per_worker": [{"p50_s": pct(v, 0.5), "p95_s": pct(v, 0.95)} for v in lags]}
    finally:
        await dep.stop()
        await emu.stop()
        await pg_drop_db(db_url)


# ---------------------------------------------------------------------------------------------------
# simultaneous starts on an empty database
# ---------------------------------------------------------------------------------------------------

async def start_section(pg_server: str, times: int, quick: bool = False) -> dict:
    from bot.storage import Storage
    from devtools.emulator import BotAPIEmulator

    clean, details = 0, []
    for t in range(times):
        tmp = Path(tempfile.mkdtemp(prefix="replica_start_"))
        db_url = await new_db(pg_server)
        emu = BotAPIEmulator(token=TOKEN)
        await emu.start()
        # the first start of each run seeds the shipped corpus; with --quick only the first run seeds
        # (a seeding start takes minutes on a busy 2-core machine), the others race on the migrations only
        dep = Deployment(emu, db_url, tmp, 3, SEED_CORPUS="1" if t == 0 or not quick else "0")
        try:
            await asyncio.to_thread(dep.nginx.start)
            dep.workers = [BotProcess(dep.env(i), tmp / f"worker-{i}.log") for i in range(3)]
            await asyncio.gather(*(w.start() for w in dep.workers))
            async def ready(w: BotProcess) -> str:
                try:
                    await w.wait_ready()
                    return ""
                except SystemExit as e:  # BotProcess's way of saying it never got ready (it was killed)
                    return str(e)

            outcomes = await asyncio.gather(*(ready(w) for w in dep.workers))
            is_ready = [w.ready_after is not None for w in dep.workers]
            st = Storage(db_url)
            try:
                n_patents = await st.count_patents()
            finally:
                await st.close()
            ok = all(is_ready) and (n_patents > 0 or dep.extra["SEED_CORPUS"] == "0")
            if not ok:
                errors = [next((ln for ln in reversed(o.splitlines()) if "Error" in ln), o.strip()[-200:])[:200]
                          for o in outcomes if o.strip()]
                details.append({"run": t, "ready": is_ready, "patents": n_patents, "errors": errors[:2]})
            clean += ok
            print(f"# start {t + 1}/{times}: ready {sum(is_ready)}/3, {n_patents} patents, "
                  f"ready after {[round(w.ready_after or -1, 1) for w in dep.workers]} s", flush=True)
        finally:
            await dep.stop()
            await emu.stop()
            await pg_drop_db(db_url)
    if clean != times:
        CHECKS.append(f"start: {times - clean} of {times} simultaneous starts were not clean: {details[:2]}")
    return {"times": times, "clean": clean}


# ---------------------------------------------------------------------------------------------------

async def main_async(args: argparse.Namespace) -> int:
    pg = args.pg_url or os.environ.get("TEST_POSTGRES_URL")
    if not pg:
        raise SystemExit("needs --pg-url or TEST_POSTGRES_URL (several workers share one PostgreSQL)")
    q = args.quick
    sections = args.only.split(",") if args.only else ["dialog", "broadcast", "freshness", "start"]
    print(f"# replica bench: nginx (deploy/ template) → run_bot.py webhook workers → one PostgreSQL; "
          f"{os.cpu_count()} CPU cores on this machine{' (quick)' if q else ''}", flush=True)
    if "dialog" in sections:
        print("\n| workers | users | steps | steps/s | p50 ms | p95 ms | CPU ms/step per worker | updates per worker |")
        print("|---|---|---|---|---|---|---|---|")
        for n in (1, 2, 3):
            r = await dialog_section(pg, n, users=4 if q else 16, seconds=8 if q else 40)
            print(f"| {n} | {r['users']} | {r['steps']} | {r['steps_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} "
                  f"| {' / '.join(f'{c:.1f}' for c in r['cpu_ms_step'])} | {' / '.join(map(str, r['spread']))} |",
                  flush=True)
    if "broadcast" in sections:
        r = await broadcast_section(pg, 300 if q else 2000, timeout=300 if q else 900)
        print("\n| recipients | senders seen | killed | left in 'sending' | lost | duplicates | unexplained "
              "| take-over s | msg/s (median, peak) | self-caused 429 |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(f"| {r['recipients']} | {len(r['senders_seen'])} | {r['killed']} | {r['left_sending']} | {r['lost']} "
              f"| {r['duplicates']} | {r['unexplained']} | {r['takeover_s']:.2f} | {r['rate']:.1f}, "
              f"{r['peak_rate']:.1f} | {r['throttled_429']} |", flush=True)
    if "freshness" in sections:
        r = await freshness_section(pg, 3 if q else 10)
        print(f"\n| index freshness after `run_bot.py import` ({r['imports']} imports) | p50 s | p95 s |")
        print("|---|---|---|")
        for i, w in enumerate(r["per_worker"]):
            print(f"| worker {i} | {w['p50_s']:.2f} | {w['p95_s']:.2f} |", flush=True)
    if "start" in sections:
        r = await start_section(pg, 3 if q else 10, quick=q)
        print(f"\nsimultaneous start of 3 workers on an empty database: {r['clean']}/{r['times']} clean", flush=True)
    if CHECKS:
        print("\n# FAILED checks:\n" + "\n".join(f"- {c}" for c in CHECKS))
        return 1
    print("\n# all checks passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs for CI")
    ap.add_argument("--pg-url", help="a PostgreSQL server URL (default: TEST_POSTGRES_URL)")
    ap.add_argument("--only", help="comma-separated sections: dialog,broadcast,freshness,start")
    return asyncio.run(main_async(ap.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
