"""The outbox: enqueue in the caller's transaction, the rate-limited sender, failures, crashes.

Every test runs on SQLite and (with TEST_POSTGRES_URL) on PostgreSQL, against the Bot API emulator
over real HTTP with a real ``telegram.Bot``. Telegram's limits take seconds to play out, so the rate
tests give the emulator and the sender the same ``ScaledClock``: time runs N× faster for both, and
1 msg/s per chat, 30/s overall and ``retry_after`` seconds keep their meaning in that clock.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
import time
from typing import Self

import pytest
from sqlalchemy import func, insert, select
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from devtools.emulator import BotAPIEmulator, RateLimits
from bot.clock import ScaledClock, utcnow
from bot.models import OutboxMessage, Subscription, User
from bot.delivery.pacing import OutboxLimits, TokenBucket
from bot.delivery.sender import Outbox
from bot.storage import Storage

TOKEN = "123456:TEST-TOKEN"
OFF = RateLimits(per_chat_per_sec=1000, per_chat_burst=1000, global_per_sec=10_000, global_burst=10_000,
                 group_per_min=100_000)  # "no limits" that still exercise the emulator's checks
# Telegram's limits, with client bursts small enough for a fast ScaledClock: a burst's calls reach the
# emulator spread over tens of real milliseconds, i.e. N× that on the scaled clock
SCALED = OutboxLimits(global_burst=10)
FAST = OutboxLimits(global_per_sec=2000, global_burst=50, per_chat_per_sec=1000, per_chat_burst=100,
                    group_per_min=100_000, group_burst=100, poll_interval=0.2)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


# ---------------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------------

class BotProxy:
    """A telegram.Bot whose methods a test may replace (Bot itself has __slots__)."""

    def __init__(self, bot: Bot):
        self._bot = bot

    def __getattr__(self, name):
        return getattr(self._bot, name)


class Env:
    """Emulator + Bot + storage; ``outbox()`` builds senders that are stopped at the end."""

    def __init__(self, storage: Storage, clock: ScaledClock | None, limits: RateLimits | None):
        self.storage = storage
        self.clock = clock
        self.emu = BotAPIEmulator(token=TOKEN, rate_limits=limits,
                                  **({"clock": clock.monotonic} if clock else {}))
        self.bot: Bot | None = None
        self.outboxes: list[Outbox] = []

    async def __aenter__(self) -> Self:
        await self.emu.start()
        self.bot = Bot(TOKEN, base_url=self.emu.base_url, base_file_url=self.emu.base_file_url)
        await self.bot.initialize()
        return self

    async def __aexit__(self, *exc) -> None:
        for ob in self.outboxes:
            if ob.running:
                await ob.stop(grace=2)
        await self.bot.shutdown()
        await self.emu.stop()

    def outbox(self, *, limits: OutboxLimits = FAST, worker_id: str | None = None, storage: Storage | None = None,
               bot=None, **kw) -> Outbox:
        ob = Outbox(storage or self.storage, bot or self.bot, clock=self.clock, limits=limits, worker_id=worker_id,
                    **kw)
        self.outboxes.append(ob)
        return ob

    def users(self, ids) -> None:
        for i in ids:
            self.emu.add_user(i, f"u{i}")

    def got(self, chat_id: int) -> list[dict]:
        """Messages from the bot in a chat, as the user sees them."""
        return [m for m in self.emu.transcript(chat_id)["messages"] if m["from_bot"]]

    def call_times(self, method: str = "sendMessage", chat_id: int | None = None, status: int | None = 200):
        return [c["t"] for c in self.emu.calls(method, chat_id) if status is None or c["status"] == status]


@pytest.fixture
def env(storage):
    def make(clock: ScaledClock | None = None, limits: RateLimits | None = OFF) -> Env:
        return Env(storage, clock, limits)
    return make


async def enqueue(storage: Storage, chat_id: int, text: str, key: str | None = None, **kw) -> bool:
    async with storage.session() as s:
        return await storage.enqueue(s, chat_id=chat_id, text=text, key=key or f"t:{chat_id}:{text}", **kw)


async def add_users(storage: Storage, ids, subscriptions: bool = True) -> None:
    now = utcnow()
    async with storage.session() as s:
        await s.execute(insert(User), [{"id": i, "first_name": f"u{i}", "language": "zh", "language_chosen": False,
                                        "blocked_bot": False, "created_at": now, "last_seen_at": now} for i in ids])
        if subscriptions:
            await s.execute(insert(Subscription), [
                {"user_id": i, "topic_kind": k, "topic_value": "科技", "active": True, "created_at": now}
                for i in ids for k in ("department", "deadlines")])


async def rows(storage: Storage, **kw) -> list[OutboxMessage]:
    return await storage.outbox_messages(**kw)


def assert_bucket(ts: list[float], *, burst: int, per_sec: float, slack: float = 0.9) -> None:
    """Token-bucket bound on send times: any k consecutive sends span ≥ (k - burst) / rate."""
    ts = sorted(ts)
    for i in range(len(ts)):
        for j in range(i + burst, len(ts)):
            need = (j - i + 1 - burst) / per_sec * slack
            assert ts[j] - ts[i] >= need, (i, j, ts[j] - ts[i], need)


# ---------------------------------------------------------------------------------------------------
# enqueue
# ---------------------------------------------------------------------------------------------------

async def test_enqueue_commits_and_rolls_back_with_the_change(storage):
    await add_users(storage, [7], subscriptions=False)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with storage.session() as s:
            (await s.get(User, 7)).first_name = "changed"
            assert await storage.enqueue(s, chat_id=7, text="notice", key="change:1")
            raise Boom()
    assert await rows(storage) == []
    assert (await storage.get_user(7)).first_name == "u7"

    async with storage.session() as s:
        (await s.get(User, 7)).first_name = "changed"
        assert await storage.enqueue(s, chat_id=7, text="notice", key="change:1")
    [row] = await rows(storage)
    assert (row.chat_id, row.text, row.status, row.attempts, row.parse_mode) == (7, "notice", "pending", 0, "HTML")
    assert (await storage.get_user(7)).first_name == "changed"


async def test_duplicate_key_is_a_noop(storage):
    assert await enqueue(storage, 1, "first", key="k1") is True
    assert await enqueue(storage, 1, "second", key="k1") is False
    async with storage.session() as s:  # the no-op does not break the caller's transaction
        assert await storage.enqueue(s, chat_id=1, text="again", key="k1") is False
        assert await storage.enqueue(s, chat_id=2, text="other", key="k2") is True
    assert [(r.idempotency_key, r.text) for r in await rows(storage)] == [("k1", "first"), ("k2", "other")]
    # enqueue_many: existing keys and duplicates within the batch are skipped and not counted
    n = await storage.enqueue_many([{"chat_id": 3, "text": "a", "key": "k2"}, {"chat_id": 3, "text": "b", "key": "k3"},
                                    {"chat_id": 3, "text": "c", "key": "k3"}, {"chat_id": 4, "text": "d", "key": "k4"}])
    assert n == 2
    assert [r.idempotency_key for r in await rows(storage)] == ["k1", "k2", "k3", "k4"]


async def test_enqueue_many_10000_rows_in_one_transaction(storage):
    t = time.perf_counter()
    n = await storage.enqueue_many({"chat_id": 10_000 + i, "text": f"通知 {i}", "key": f"b1:{i}", "broadcast_id": "b1"}
                                   for i in range(10_000))
    took = time.perf_counter() - t
    assert n == 10_000
    assert (await storage.broadcast_progress("b1")).pending == 10_000
    assert took < 8, f"enqueue_many of 10,000 rows took {took:.1f}s"
    # atomic: a failing caller transaction takes the whole broadcast back
    with pytest.raises(RuntimeError):
        async with storage.session() as s:
            await storage.enqueue_many(({"chat_id": i, "text": "x", "key": f"b2:{i}", "broadcast_id": "b2"}
                                        for i in range(3000)), session=s)
            raise RuntimeError()
    assert (await storage.broadcast_progress("b2")).total == 0


async def test_enqueue_validates_its_input(storage):
    async with storage.session() as s:
        with pytest.raises(ValueError):
            await storage.enqueue(s, chat_id=1, text="x", key="")
        with pytest.raises(ValueError):
            await storage.enqueue(s, chat_id=1, text="x", key="k" * 201)
        with pytest.raises(ValueError):
            await storage.enqueue(s, chat_id=1, text="x", key="e", kind="edit")  # needs payload.message_id
        with pytest.raises(ValueError):
            await storage.enqueue(s, chat_id=1, text="x", key="d", kind="document")  # needs bytes


async def test_claim_takes_the_oldest_due_row_of_each_chat(storage):
    later = utcnow() + dt.timedelta(hours=1)
    await storage.enqueue_many([{"chat_id": 1, "text": "b1", "key": "b1", "broadcast_id": "b"},
                                {"chat_id": 1, "text": "a", "key": "a"},
                                {"chat_id": 2, "text": "b2", "key": "b2", "broadcast_id": "b"},
                                {"chat_id": 3, "text": "later", "key": "later", "not_before": later},
                                {"chat_id": 3, "text": "now", "key": "now"},
                                {"chat_id": 4, "text": "b4", "key": "b4", "broadcast_id": "b"},
                                {"chat_id": 5, "text": "single", "key": "single"}])
    now = utcnow()
    jobs = await storage.claim_outbox("w", now, 3, exclude_chats=[4])
    # rows of no broadcast first; chat 1's second row waits for its first; chat 3's future row does not
    # hold up its due one; excluded chats are skipped
    assert [j.idempotency_key for j in jobs] == ["now", "single", "b1"]
    assert all(j.attempts == 1 for j in jobs)
    jobs2 = await storage.claim_outbox("w", now, 10)
    assert [j.idempotency_key for j in jobs2] == ["b2", "b4"]  # chat 1 still has "b1" in flight
    await storage.mark_outbox_sent("w", [(j.id, 100 + j.id) for j in jobs], now)
    assert [j.idempotency_key for j in await storage.claim_outbox("w", now, 10)] == ["a"]
    assert await storage.claim_outbox("w", now, 10) == []
    assert await storage.outbox_next_due(now) == later


@pytest.mark.parametrize("resend", [True, False], ids=["at-least-once", "at-most-once"])
async def test_recovery_of_rows_left_sending(storage, resend):
    await storage.enqueue_many([{"chat_id": 1, "text": "msg", "key": "msg"},
                                {"chat_id": 2, "text": "edit", "key": "edit", "kind": "edit", "payload": {"message_id": 5}},
                                {"chat_id": 3, "text": "tired", "key": "tired"},
                                {"chat_id": 4, "text": "fresh", "key": "fresh"}])
    t0 = utcnow()
    old = await storage.claim_outbox("dead", t0, 3)  # msg, edit, tired
    # claims are stamped on the database's clock (PostgreSQL's now()): the dead sender's are made old
    async with storage.session() as s:
        await s.execute(OutboxMessage.__table__.update().where(OutboxMessage.idempotency_key == "tired")
                        .values(attempts=6))
        await s.execute(OutboxMessage.__table__.update().where(OutboxMessage.claimed_by == "dead")
                        .values(claimed_at=t0 - dt.timedelta(seconds=61)))
    fresh = await storage.claim_outbox("alive", t0, 3)
    assert len(old) == 3 and [j.idempotency_key for j in fresh] == ["fresh"]
    rec = await storage.recover_outbox("me", utcnow(), stale_after=60, resend=resend, max_attempts=6)
    by_key = {r.idempotency_key: r for r in await rows(storage)}
    assert by_key["fresh"].status == "sending"  # a live sender's recent claim is left alone
    assert by_key["edit"].status == "pending"  # idempotent: always done again
    assert by_key["tired"].status == "failed"  # out of attempts: failed under either policy
    if resend:
        assert by_key["msg"].status == "pending" and by_key["msg"].last_error.startswith("ambiguous")
        assert (rec.resent, rec.failed) == (2, 1)
    else:
        assert by_key["msg"].status == "failed" and "unknown whether delivered" in by_key["msg"].last_error
        assert (rec.resent, rec.failed) == (1, 2)
    # own=True (start-up with the same worker id) takes over even recent claims of that id
    rec = await storage.recover_outbox("alive", utcnow(), stale_after=60, resend=True, max_attempts=6, own=True)
    assert rec.resent == 1 and (await rows(storage, key="fresh"))[0].status == "pending"


async def test_concurrent_claims_never_overlap(storage, db_url):
    """Four engines (as four processes) claiming at once: every row is claimed exactly once."""
    await storage.enqueue_many({"chat_id": i, "text": "x", "key": f"c:{i}"} for i in range(400))
    others = [Storage(db_url) for _ in range(3)]
    try:
        async def worker(st: Storage, name: str) -> list[int]:
            got = []
            while True:
                try:
                    jobs = await st.claim_outbox(name, utcnow(), 7)
                except Exception as e:  # noqa: BLE001 - SQLite: "database is locked" under contention, retry
                    assert storage.dialect == "sqlite", e
                    await asyncio.sleep(0.01)
                    continue
                if not jobs:
                    return got
                assert len(jobs) <= 7
                got += [j.id for j in jobs]

        results = await asyncio.gather(*(worker(st, f"w{k}") for k, st in enumerate([storage, *others])))
        claimed = [i for r in results for i in r]
        assert len(claimed) == len(set(claimed)) == 400
        if storage.dialect == "postgresql":
            assert all(results)  # SKIP LOCKED: they shared the work instead of queueing
    finally:
        for st in others:
            await st.close()


# ---------------------------------------------------------------------------------------------------
# sending
# ---------------------------------------------------------------------------------------------------

async def test_message_document_and_edit_are_sent(env, storage):
    async with env() as e:
        e.users([5])
        kb = InlineKeyboardMarkup([[InlineKeyboardButton("报名", callback_data="signup:1")]])
        await enqueue(storage, 5, "<b>对接会</b> 明天 9:00", key="m", reply_markup=kb)
        await enqueue(storage, 5, "附件：<i>名单</i>", key="d", kind="document", document=b"a,b\n1,2\n",
                      document_name="名单.csv")
        await enqueue(storage, 5, "no preview https://example.org", key="p", parse_mode=None,
                      payload={"link_preview_options": {"is_disabled": True}, "disable_notification": True})
        ob = e.outbox()
        await ob.start()
        assert await ob.drain(10)
        got = e.got(5)
        assert [m["html"] for m in got[:2]] == ["<b>对接会</b> 明天 9:00", "附件：<i>名单</i>"]
        assert got[2]["text"] == "no preview https://example.org"
        assert got[0]["buttons"] == [[{"text": "报名", "callback_data": "signup:1"}]]
        assert got[1]["document"]["file_name"] == "名单.csv"
        sent = {r.idempotency_key: r for r in await rows(storage)}
        assert {r.status for r in sent.values()} == {"sent"}
        assert [sent[k].telegram_message_id for k in "mdp"] == [m["message_id"] for m in got]
        assert all(r.sent_at is not None and r.attempts == 1 for r in sent.values())

        # an edit of the first message (idempotent: editing to the same text again is fine too)
        for key in ("e1", "e2"):
            await enqueue(storage, 5, "<b>对接会</b> 改为 10:00", key=key, kind="edit",
                          payload={"message_id": got[0]["message_id"]})
        ob.wake()
        assert await ob.drain(10)
        assert e.got(5)[0]["html"] == "<b>对接会</b> 改为 10:00" and e.got(5)[0]["edited"]
        assert len(e.got(5)) == 3
        assert {r.status for r in await rows(storage)} == {"sent"}


async def test_wake_gives_low_latency_and_polling_is_the_fallback(env, storage):
    async with env() as e:
        e.users([1, 2])
        ob = e.outbox(limits=OutboxLimits(poll_interval=2.0))
        await ob.start()
        await asyncio.sleep(0.2)  # idle now, sleeping up to 2 s
        t = time.perf_counter()
        await enqueue(storage, 1, "woken")
        ob.wake()
        while not e.got(1):
            await asyncio.sleep(0.005)
        assert time.perf_counter() - t < 1.0
        await asyncio.sleep(0.1)
        t = time.perf_counter()
        await enqueue(storage, 2, "polled")  # nobody calls wake(): the poll finds it within ~2 s
        while not e.got(2):
            await asyncio.sleep(0.01)
            assert time.perf_counter() - t < 5
        await ob.stop()


async def test_not_before_is_respected(env, storage):
    clock = ScaledClock(20)
    async with env(clock) as e:
        e.users([1])
        await enqueue(storage, 1, "later", not_before=clock.now() + dt.timedelta(seconds=10))
        ob = e.outbox()
        await ob.start()
        t0 = clock.monotonic()
        assert await ob.drain(5)
        [t] = e.call_times(chat_id=1)
        assert t - t0 >= 9.5


async def test_single_pushes_go_before_a_broadcast(env, storage):
    clock = ScaledClock(10)
    async with env(clock) as e:
        e.users(range(1, 202))
        await storage.enqueue_many({"chat_id": i, "text": f"群发 {i}", "key": f"b:{i}", "broadcast_id": "b"}
                                   for i in range(1, 201))
        await enqueue(storage, 201, "您的自评已审核", key="single")
        ob = e.outbox(limits=OutboxLimits())
        await ob.start()
        while len(e.emu.calls("sendMessage")) < 30:
            await asyncio.sleep(0.01)
        order = [c["chat_id"] for c in e.emu.calls("sendMessage")]
        assert 201 in order[:20]  # in the very first burst, not after 200 broadcast messages
        await ob.stop()


# ---------------------------------------------------------------------------------------------------
# rate limits (Telegram's, on a clock running N× faster)
# ---------------------------------------------------------------------------------------------------

async def test_per_chat_rate_one_per_second_after_a_short_burst(env, storage):
    clock = ScaledClock(5)
    async with env(clock, RateLimits()) as e:
        e.users([1, 2])
        for i in range(7):
            await enqueue(storage, 1, f"第 {i} 条", key=f"c1:{i}")
        await enqueue(storage, 2, "other chat", key="c2")
        ob = e.outbox(limits=OutboxLimits())
        await ob.start()
        assert await ob.drain(10)
        assert e.emu.throttled_count == 0  # no 429 from the emulator's flood control
        assert [m["text"] for m in e.got(1)] == [f"第 {i} 条" for i in range(7)]  # in order
        ts = e.call_times(chat_id=1)
        assert len(ts) == 7
        assert_bucket(ts, burst=3, per_sec=1.0)  # a burst of 3, then ~1 s apart
        assert ts[6] - ts[0] >= 3.6
        assert e.call_times(chat_id=2)[0] < ts[3]  # another chat is not held up


async def test_group_rate_twenty_per_minute(env, storage):
    clock = ScaledClock(30)
    async with env(clock, RateLimits(group_per_min=20)) as e:
        e.users([1])
        e.emu.add_group(-100, "科技局工作群", [1])
        for i in range(5):
            await enqueue(storage, -100, f"群消息 {i}", key=f"g:{i}", chat_type="group")
        ob = e.outbox(limits=OutboxLimits(group_burst=2))
        await ob.start()
        assert await ob.drain(10)
        assert e.emu.throttled_count == 0
        ts = e.call_times(chat_id=-100)
        assert len(ts) == 5 and [m["text"] for m in e.got(-100)] == [f"群消息 {i}" for i in range(5)]
        assert_bucket(ts, burst=2, per_sec=20 / 60)  # after the burst: one every 3 s (20/min)
        assert ts[4] - ts[0] >= 8.5


async def test_global_rate_thirty_per_second(env, storage):
    clock = ScaledClock(4)
    n = 120
    async with env(clock, RateLimits()) as e:
        e.users(range(1, n + 1))
        await storage.enqueue_many({"chat_id": i, "text": f"通知 {i}", "key": f"g:{i}", "broadcast_id": "g"}
                                   for i in range(1, n + 1))
        ob = e.outbox(limits=SCALED)
        await ob.start()
        prog = await ob.wait_broadcast("g", timeout=30, poll=0.02)
        assert prog.sent == n
        assert e.emu.throttled_count == 0
        ts = sorted(e.call_times())
        assert len(ts) == n and all(len(e.got(i)) == 1 for i in range(1, n + 1))
        assert_bucket(ts, burst=10, per_sec=30)
        rate = (n - 10) / (ts[-1] - ts[9])
        assert rate <= 31, rate  # ~29.5 (98.5 % of 30) when the machine keeps up
        await ob.stop()


def test_token_bucket():
    b = TokenBucket(rate=2.0, capacity=3, now=0.0)
    for _ in range(3):
        assert b.wait(0.0) == 0
        b.take(0.0)
    assert b.wait(0.0) == pytest.approx(0.5)
    assert b.available(0.25) == pytest.approx(0.5)
    b.hold(1.0)  # no refill credited up to t=1 (the call was in flight)
    assert b.available(1.0) == pytest.approx(0.5)
    assert b.available(10.0) == 3.0  # capped
    b.empty(10.0)
    assert b.wait(10.0, 2) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------
# failures: 429, 403, 5xx / network, 400
# ---------------------------------------------------------------------------------------------------

async def test_429_waits_retry_after_and_retries_only_that_one(env, storage):
    clock = ScaledClock(10)
    async with env(clock) as e:
        e.users([1, 2, 3])
        e.emu.inject_fault("sendMessage", status=429, retry_after=2, chat_id=1)
        for c in (1, 2, 3):
            await enqueue(storage, c, f"to {c}")
        ob = e.outbox()
        await ob.start()
        assert await ob.drain(5)
        calls1 = e.emu.calls("sendMessage", 1)
        assert [c["status"] for c in calls1] == [429, 200]
        assert calls1[1]["t"] - calls1[0]["t"] >= 1.95  # waited retry_after (2 s)
        for c in (2, 3):  # the others: one call each, not held up by chat 1's wait
            [call] = e.emu.calls("sendMessage", c)
            assert call["status"] == 200 and call["t"] < calls1[1]["t"]
        assert [len(e.got(c)) for c in (1, 2, 3)] == [1, 1, 1]
        [r1] = await rows(storage, chat_id=1)
        assert r1.status == "sent" and r1.attempts == 1  # a 429 is not an attempt
        assert ob.stats["rate_limited"] == 1 and ob.stats["global_floods"] == 0


async def test_429s_from_many_chats_pause_every_send(env, storage):
    clock = ScaledClock(10)
    async with env(clock) as e:
        e.users(range(1, 8))
        for c in (1, 2, 3):
            e.emu.inject_fault("sendMessage", status=429, retry_after=3, chat_id=c)
        for c in (1, 2, 3):
            await enqueue(storage, c, f"to {c}")
        ob = e.outbox()
        await ob.start()
        while ob.stats["rate_limited"] < 3:
            await asyncio.sleep(0.005)
        t_flood = clock.monotonic()
        assert ob.stats["global_floods"] == 1
        await enqueue(storage, 7, "after the flood")  # a fresh chat must wait for the global pause too
        ob.wake()
        assert await ob.drain(5)
        [call] = e.emu.calls("sendMessage", 7)
        assert call["t"] - t_flood >= 2.5
        assert [len(e.got(c)) for c in (1, 2, 3, 7)] == [1, 1, 1, 1]


async def test_403_marks_user_blocked_leaves_them_out_until_they_return_and_drops(env, storage):
    await add_users(storage, [1, 2, 3])
    async with env() as e:
        e.users([1, 2, 3])
        e.emu.block_user(1)
        e.emu.deactivate_user(2)
        for c in (1, 2, 3):
            await enqueue(storage, c, "第一条", key=f"{c}:a")
            await enqueue(storage, c, "第二条", key=f"{c}:b")
        ob = e.outbox()
        await ob.start()
        assert await ob.drain(5)
        by_key = {r.idempotency_key: r for r in await rows(storage)}
        for c in (1, 2):
            assert by_key[f"{c}:a"].status == by_key[f"{c}:b"].status == "dropped"
            assert by_key[f"{c}:a"].last_error.startswith("403: Forbidden")
            assert len(e.emu.calls("sendMessage", c)) == 1  # the second row was dropped without a call
            assert (await storage.get_user(c)).blocked_bot
        assert "blocked by the user" in by_key["1:a"].last_error
        assert "deactivated" in by_key["2:a"].last_error
        assert [by_key["3:a"].status, by_key["3:b"].status] == ["sent", "sent"] and len(e.got(3)) == 2
        assert not (await storage.get_user(3)).blocked_bot
        assert ob.stats["dropped"] == 4
        # blocked users are out of every audience, but their choices are kept: writing to the bot again
        # (any update clears blocked_bot) brings their subscriptions back without re-subscribing
        topics = [("department", "科技"), ("deadlines", "科技")]
        async with storage.session() as s:
            assert {r.user_id for r in await storage.recipients(s, topics)} == {3}
            active = dict((await s.execute(select(Subscription.user_id, func.count()).where(
                Subscription.active.is_(True)).group_by(Subscription.user_id))).all())
        assert active == {1: 2, 2: 2, 3: 2}
        await storage.load_actor(1, 1, "u1", None, "zh", "zh")
        async with storage.session() as s:
            assert {r.user_id for r in await storage.recipients(s, topics)} == {1, 3}


async def test_5xx_and_network_errors_are_retried_with_backoff(env, storage):
    clock = ScaledClock(20)
    async with env(clock) as e:
        e.users([1, 2])
        e.emu.inject_fault("sendMessage", status=500, chat_id=1)
        e.emu.inject_fault("sendMessage", status=502, chat_id=1)
        e.emu.inject_fault("sendMessage", status=0, chat_id=1)  # the connection drops, no answer
        await enqueue(storage, 1, "persistent")
        await enqueue(storage, 2, "unaffected")
        ob = e.outbox()
        await ob.start()
        assert await ob.drain(10)
        calls = e.emu.calls("sendMessage", 1)
        assert [c["status"] for c in calls] == [500, 502, 0, 200]
        gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(calls)]
        assert gaps[0] >= 0.95 and gaps[1] >= 1.95 and gaps[2] >= 3.9  # 1 s, 2 s, 4 s
        [row] = await rows(storage, chat_id=1)
        assert row.status == "sent" and row.attempts == 4 and "NetworkError" in row.last_error
        assert len(e.got(1)) == 1 and len(e.got(2)) == 1


async def test_gives_up_after_max_attempts(env, storage):
    clock = ScaledClock(50)
    async with env(clock) as e:
        e.users([1])
        e.emu.inject_fault("sendMessage", status=500, count=10, chat_id=1)
        await enqueue(storage, 1, "doomed")
        ob = e.outbox(limits=OutboxLimits(max_attempts=3))
        await ob.start()
        assert await ob.drain(10)
        [row] = await rows(storage)
        assert row.status == "failed" and row.attempts == 3
        assert row.last_error.startswith("gave up after 3 attempts: NetworkError: Internal Server Error")
        assert len(e.emu.calls("sendMessage", 1)) == 3 and e.got(1) == []


async def test_400_fails_with_the_reason(env, storage):
    async with env() as e:
        e.users([1])
        await enqueue(storage, 1, "<b>unclosed", key="bad")
        await enqueue(storage, 99, "no such chat", key="nochat")
        await enqueue(storage, 1, "fine", key="good")
        ob = e.outbox()
        await ob.start()
        assert await ob.drain(5)
        by_key = {r.idempotency_key: r for r in await rows(storage)}
        assert by_key["bad"].status == "failed" and by_key["bad"].last_error.startswith("400: Can't parse entities")
        assert by_key["nochat"].status == "failed" and "chat not found" in by_key["nochat"].last_error.lower()
        assert by_key["good"].status == "sent" and [m["text"] for m in e.got(1)] == ["fine"]
        assert by_key["bad"].attempts == 1  # not retried
        assert len(e.emu.calls("sendMessage", 1)) == 2


async def test_the_loop_survives_any_exception(env, storage, monkeypatch):
    async with env() as e:
        e.users([1, 2])
        bot = BotProxy(e.bot)
        ob = e.outbox(limits=OutboxLimits(poll_interval=0.05, backoff_base=0.05), bot=bot)
        real_claim, real_send = storage.claim_outbox, e.bot.send_message
        boom = {"claim": 2, "send": 1}

        async def flaky_claim(*a, **kw):
            if boom["claim"]:
                boom["claim"] -= 1
                raise OSError("database went away")
            return await real_claim(*a, **kw)

        async def flaky_send(*a, **kw):
            if boom["send"]:
                boom["send"] -= 1
                raise RuntimeError("a bug in a library")
            return await real_send(*a, **kw)

        monkeypatch.setattr(storage, "claim_outbox", flaky_claim)
        bot.send_message = flaky_send
        await enqueue(storage, 1, "one")
        await enqueue(storage, 2, "two")
        await ob.start()
        assert await ob.drain(5)
        assert ob.running and ob.stats["loop_errors"] == 2 and ob.stats["retried"] == 1
        assert len(e.got(1)) == len(e.got(2)) == 1


# ---------------------------------------------------------------------------------------------------
# crashes and several senders
# ---------------------------------------------------------------------------------------------------

async def test_rows_claimed_by_a_dead_sender_are_taken_over(env, storage):
    clock = ScaledClock(20)
    async with env(clock) as e:
        e.users(range(1, 11))
        for c in range(1, 11):
            await enqueue(storage, c, f"to {c}")
        # a sender claimed 4 rows and died before calling Telegram
        dead = await storage.claim_outbox("dead-1", clock.now(), 4)
        assert len(dead) == 4
        t0 = clock.monotonic()
        ob = e.outbox(worker_id="other", limits=OutboxLimits(stale_after=30))
        await ob.start()
        assert await ob.drain(5)
        assert all(len(e.got(c)) == 1 for c in range(1, 11))
        took_over = [e.call_times(chat_id=j.chat_id)[0] - t0 for j in dead]
        assert min(took_over) >= 29  # only once the claims were stale
        assert ob.stats["ambiguous_resent"] == 4
        await ob.stop()
        # the same worker id after a restart takes its own rows over at once
        for c in range(1, 11):
            await enqueue(storage, c, f"again {c}")
        mine = await storage.claim_outbox("slot-1", clock.now(), 3)
        t0 = clock.monotonic()
        ob2 = e.outbox(worker_id="slot-1", limits=OutboxLimits(stale_after=30))
        await ob2.start()
        assert await ob2.drain(5)
        assert all(len(e.got(c)) == 2 for c in range(1, 11))
        assert max(e.call_times(chat_id=j.chat_id)[-1] - t0 for j in mine) < 25  # not after stale_after


@pytest.mark.parametrize("resend", [True, False], ids=["at-least-once", "at-most-once"])
async def test_the_ambiguous_window_and_the_policy(env, storage, monkeypatch, resend):
    """Delivered, then the process dies before the sent-mark commits: the one case nobody can decide.
    at-least-once sends it again (a duplicate the user sees); at-most-once marks it failed."""
    async with env() as e:
        e.users([1, 2])
        await enqueue(storage, 1, "delivered, mark lost")
        ob = e.outbox(worker_id="w")
        hang = asyncio.Event()

        async def never_commits(*a, **kw):
            await hang.wait()

        monkeypatch.setattr(storage, "mark_outbox_sent", never_commits)
        await ob.start()
        while not e.got(1):
            await asyncio.sleep(0.005)
        await ob.abort()  # kill -9 right after Telegram accepted the message
        monkeypatch.undo()
        [row] = await rows(storage)
        assert row.status == "sending"
        await enqueue(storage, 2, "queued meanwhile")
        ob2 = e.outbox(worker_id="w", limits=OutboxLimits(resend_ambiguous=resend))
        await ob2.start()
        assert await ob2.drain(5)
        [row] = await rows(storage, chat_id=1)
        assert row.last_error.startswith("ambiguous")
        if resend:
            assert row.status == "sent" and len(e.got(1)) == 2  # the honest cost of at-least-once
        else:
            assert row.status == "failed" and "unknown whether delivered" in row.last_error
            assert len(e.got(1)) == 1
        assert len(e.got(2)) == 1


async def test_crash_mid_broadcast_every_recipient_gets_it_once(env, storage):
    """Cancel the sender between bursts (as a kill -9 would find it most of the time), restart it:
    nothing lost, nothing twice."""
    n = 45
    async with env(None, RateLimits()) as e:  # real time: room between bursts even on a busy machine
        e.users(range(1, n + 1))
        await storage.enqueue_many({"chat_id": i, "text": f"通知 {i}", "key": f"x:{i}", "broadcast_id": "x"}
                                   for i in range(1, n + 1))
        ob = e.outbox(worker_id="slot-1", limits=SCALED)
        await ob.start()
        while len(e.call_times()) < 20:
            await asyncio.sleep(0.002)
        while not ob.idle:  # between two bursts
            await asyncio.sleep(0.001)
        await ob.abort()
        half = (await storage.broadcast_progress("x"))
        assert 0 < half.sent < n and half.sending == 0
        ob2 = e.outbox(worker_id="slot-1", limits=SCALED)
        await ob2.start()
        prog = await ob2.wait_broadcast("x", timeout=30, poll=0.02)
        assert prog.sent == n
        assert [len(e.got(i)) for i in range(1, n + 1)] == [1] * n
        assert e.emu.throttled_count == 0


@pytest.mark.parametrize("resend", [True, False], ids=["at-least-once", "at-most-once"])
async def test_crash_at_random_instants_loses_nothing_beyond_the_ambiguous_rows(env, storage, resend):
    """Abort the sender at arbitrary instants (in flight or not), several times, and restart it. The
    only deviations from exactly-once are rows recovered as ambiguous: duplicates (at-least-once)
    or failed rows (at-most-once) — never a silent loss, never a duplicate of an unambiguous row."""
    clock = ScaledClock(5)
    n = 80
    rng = random.Random(7)
    async with env(clock, RateLimits()) as e:
        e.users(range(1, n + 1))
        await storage.enqueue_many({"chat_id": i, "text": f"通知 {i}", "key": f"r:{i}", "broadcast_id": "r"}
                                   for i in range(1, n + 1))
        limits = OutboxLimits(global_burst=10, resend_ambiguous=resend)
        for _ in range(4):
            ob = e.outbox(worker_id="slot-1", limits=limits)
            await ob.start()
            await asyncio.sleep(rng.uniform(0.05, 0.25))
            await ob.abort()
        ob = e.outbox(worker_id="slot-1", limits=limits)
        await ob.start()
        await ob.wait_broadcast("r", timeout=30, poll=0.02)
        by_chat = {r.chat_id: r for r in await rows(storage, broadcast_id="r")}
        for i in range(1, n + 1):
            got, row = len(e.got(i)), by_chat[i]
            ambiguous = (row.last_error or "").startswith("ambiguous")
            if resend:
                assert got >= 1 and row.status == "sent"
                assert got == 1 or ambiguous, (i, got, row.last_error)
            else:
                assert got <= 1
                assert got == 1 or (ambiguous and row.status == "failed"), (i, got, row.status, row.last_error)


async def test_two_senders_share_the_outbox_without_double_sends(env, storage, db_url):
    """Two sender processes (separate engines and pools) on one database: every message exactly once,
    each chat's messages in order and never two of a chat in flight at once."""
    other = Storage(db_url)
    chats, per_chat = 60, 4
    try:
        async with env() as e:
            e.users(range(1, chats + 1))
            await storage.enqueue_many({"chat_id": c, "text": f"{c}:{k}", "key": f"two:{c}:{k}"}
                                       for k in range(per_chat) for c in range(1, chats + 1))
            in_flight: dict[int, int] = {}
            overlap = []
            real = e.bot.send_message

            async def watched(*a, chat_id, **kw):
                in_flight[chat_id] = in_flight.get(chat_id, 0) + 1
                if in_flight[chat_id] > 1:
                    overlap.append(chat_id)
                try:
                    await asyncio.sleep(0.002)
                    return await real(*a, chat_id=chat_id, **kw)
                finally:
                    in_flight[chat_id] -= 1

            bot = BotProxy(e.bot)
            bot.send_message = watched
            a = e.outbox(worker_id="proc-a", limits=FAST, bot=bot)
            b = e.outbox(worker_id="proc-b", limits=FAST, storage=other, bot=bot)
            await asyncio.gather(a.start(), b.start())
            assert await a.drain(20) and await b.drain(20)
            for c in range(1, chats + 1):
                assert [m["text"] for m in e.got(c)] == [f"{c}:{k}" for k in range(per_chat)]
            assert overlap == []
            by_worker = {}
            for r in await rows(storage):
                assert r.status == "sent" and r.attempts == 1
                by_worker[r.claimed_by] = by_worker.get(r.claimed_by, 0) + 1
            assert sum(by_worker.values()) == chats * per_chat
            if storage.dialect == "postgresql":
                assert set(by_worker) == {"proc-a", "proc-b"}  # both did real work
    finally:
        await other.close()


# ---------------------------------------------------------------------------------------------------
# broadcasts: progress message
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_broadcast_progress_message(env, storage, lang):
    clock = ScaledClock(5)
    n = 150
    async with env(clock, RateLimits()) as e:
        officer = 9000
        e.users([officer, *range(1, n + 1)])
        for c in (3, 4):
            e.emu.block_user(c)
        await storage.enqueue_many({"chat_id": i, "text": f"活动通知 {i}", "key": f"p:{i}", "broadcast_id": "bc-1"}
                                   for i in range(1, n + 1))
        msg = await e.bot.send_message(officer, "…")
        ob = e.outbox(limits=SCALED)
        assert await ob.track_broadcast("bc-1", officer, msg.message_id, lang)
        assert not await ob.track_broadcast("bc-1", officer, msg.message_id, lang)  # idempotent
        await ob.start()
        prog = await ob.wait_broadcast("bc-1", timeout=30, poll=0.02)
        assert (prog.total, prog.sent, prog.dropped, prog.failed, prog.remaining) == (n, n - 2, 2, 0, 0)
        assert await ob.drain(5)  # the last edit
        edits = e.emu.calls("editMessageText", officer)
        assert len(edits) >= 2 and all(c["status"] == 200 for c in edits)
        gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(edits)]
        assert min(gaps) >= 2.9  # at most one edit per 3 s
        final = e.got(officer)[0]["text"]
        assert f"{n - 2} / {n}" in final
        assert ("已完成" in final) if lang == "zh" else ("done" in final)
        [tracker] = await rows(storage, chat_id=officer)
        assert tracker.status == "sent" and tracker.kind == "edit"
        assert len(e.got(officer)) == 1  # edited in place, never a new message


async def test_progress_text_while_running_has_counts_and_eta(storage):
    from bot.i18n import Translator

    ob = Outbox(storage, None, i18n=Translator())
    await storage.enqueue_many({"chat_id": i, "text": "x", "key": f"e:{i}", "broadcast_id": "e"} for i in range(100))
    jobs = await storage.claim_outbox("w", utcnow(), 30)
    await storage.mark_outbox_sent("w", [(j.id, 1) for j in jobs[:25]], utcnow() - dt.timedelta(seconds=5))
    await storage.fail_outbox("w", jobs[25].id, "400: x")
    text, done = await ob.broadcasts.render("e", "zh")
    assert not done
    assert "已送达：<b>25</b> / 100" in text and "失败：1" in text and "剩余：74" in text
    assert "预计还需" in text  # 26 done in ~5 s → ~15 s to go
    text, _ = await ob.broadcasts.render("e", "en")
    assert "Remaining: 74" in text and "ETA:" in text
