"""The pieces the dialog-throughput work added: the aiohttp Bot API transport, the one-transaction
sender load, and SQLite units of work that take turns and run on the event loop's thread."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from devtools.emulator import BotAPIEmulator
from bot.models import Role, User
from bot.storage import Storage
from bot.telegram.http import AiohttpRequest

USER = 7_000_001


# ------------------------------------------------------------------ the transport

async def test_aiohttp_transport_speaks_the_bot_api_and_maps_errors_like_httpx():
    emu = BotAPIEmulator()
    emu.add_user(USER, "测试用户", username="tester")
    await emu.start()
    try:
        bot = Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url,
                  request=AiohttpRequest(read_timeout=0.3, connect_timeout=1))
        async with bot:
            assert (await bot.get_me()).is_bot
            # form fields with JSON-encoded values (reply markup), HTML, Chinese text
            m = await bot.send_message(USER, "<b>锂电池</b> 正极", parse_mode="HTML",
                                       reply_markup={"inline_keyboard": [[{"text": "按钮", "callback_data": "x:1"}]]})
            assert m.text == "锂电池 正极" and m.reply_markup.inline_keyboard[0][0].callback_data == "x:1"
            # multipart upload (exports, .ics files)
            doc = await bot.send_document(USER, document=b"a,b\n1,2\n", filename="export.csv", caption="导出")
            assert doc.document.file_name == "export.csv"
            got = await (await bot.get_file(doc.document.file_id)).download_as_bytearray()
            assert bytes(got) == b"a,b\n1,2\n"
            # Telegram's error answers become PTB's exceptions, exactly as with the httpx backend
            with pytest.raises(BadRequest):
                await bot.edit_message_text("x", chat_id=USER, message_id=999_999)
            emu.inject_fault("sendMessage", status=502, description="Bad Gateway")
            with pytest.raises(NetworkError, match="(?i)Bad Gateway"):
                await bot.send_message(USER, "x")
            emu.inject_fault("sendMessage", status=429, retry_after=7, chat_id=USER)
            with pytest.raises(RetryAfter):
                await bot.send_message(USER, "x")
            emu.inject_fault(None, status=0, delay=0.05)  # the connection drops
            with pytest.raises(NetworkError):
                await bot.get_me()
            emu.inject_fault("getMe", status=0, delay=1.0)  # no answer within read_timeout
            with pytest.raises(TimedOut):
                await bot.get_me()
            assert (await bot.send_message(USER, "还在")).text == "还在"  # and the client still works
    finally:
        await emu.stop()


# ------------------------------------------------------------------ the sender in one transaction

async def test_load_actor_creates_refreshes_and_returns_roles_and_dialog(storage):
    a = await storage.load_actor(USER, USER, "张三", "zs", "en-US", "zh")
    assert (a.user.id, a.user.first_name, a.user.language, a.grants, a.dialog) == (USER, "张三", "en", (), None)
    inst = await storage.institution_by_name("福州大学", create=True)
    await storage.grant_role(USER, Role.INVENTOR, institution_id=inst)
    await storage.start_dialog(USER, USER, "assess", "industry", {"answers": {}})
    await storage.set_language(USER, "zh")  # chosen with /lang: Telegram's language no longer applies
    async with storage.session() as s:
        (await s.get(User, USER)).blocked_bot = True
    a = await storage.load_actor(USER, USER, "张三丰", None, "en", "zh")
    assert a.user.first_name == "张三丰" and a.user.username is None and a.user.language == "zh"
    assert [(g.role, g.institution_id, g.scope_name) for g in a.grants] == [("inventor", inst, "福州大学")]
    assert a.dialog is not None and (a.dialog.dialog, a.dialog.step, a.dialog.version) == ("assess", "industry", 1)
    async with storage.session() as s:
        u = await s.get(User, USER)
        assert (u.first_name, u.blocked_bot) == ("张三丰", False)  # a message means they unblocked us
    other_chat = await storage.load_actor(USER, -100123, "张三丰", None, "en", "zh")
    assert other_chat.dialog is None  # dialog state is per chat


async def test_patent_for_display_is_cached_and_an_import_refreshes_it(storage):
    rec = {"id": "P1", "pub_no": None, "title": "旧标题", "title_derived": False, "abstract": "摘要",
           "claims": "", "source": "t", "content_hash": "h1"}
    await storage.upsert_patents([rec])
    assert (await storage.patent_for_display("P1")).title == "旧标题"
    async with storage.session() as s:  # a change behind the cache's back is not seen at once …
        from bot.models import Patent

        (await s.get(Patent, "P1")).title = "改过"
    assert (await storage.patent_for_display("P1")).title == "旧标题"
    await storage.upsert_patents([{**rec, "title": "新标题", "content_hash": "h2"}])  # … an import is
    assert (await storage.patent_for_display("P1")).title == "新标题"
    assert await storage.patent_for_display("nope") is None


# ------------------------------------------------------------------ SQLite: turns and inline calls

async def test_sqlite_units_of_work_take_turns_instead_of_failing(sqlite_url):
    st = Storage(sqlite_url)
    await st.migrate()
    try:
        t = time.perf_counter()
        await asyncio.gather(*(st.load_actor(USER + i, USER + i, f"用户{i}", None, "zh", "zh")
                               for i in range(200)))
        elapsed = time.perf_counter() - t
        async with st.session() as s:
            assert await s.scalar(select(func.count()).select_from(User)) == 200
        # 200 concurrent writers on one SQLite file: no "database is locked", no busy-handler sleeps
        assert elapsed < 10
    finally:
        await st.close()


async def test_sqlite_waits_for_another_writer_without_blocking_the_event_loop(sqlite_url):
    st = Storage(sqlite_url)
    await st.migrate()
    await st.load_actor(USER, USER, "甲", None, "zh", "zh")
    path = sqlite_url.split("///", 1)[1]
    locked, release = threading.Event(), threading.Event()

    def other_process_writes() -> None:  # e.g. `run_bot.py import` holding the write lock
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE users SET first_name = '别的进程' WHERE id = ?", (USER,))
        locked.set()
        release.wait(5)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=other_process_writes)
    holder.start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    try:
        await asyncio.to_thread(locked.wait, 5)
        tick_task = asyncio.create_task(ticker())
        asyncio.get_running_loop().call_later(0.5, release.set)
        t = time.perf_counter()
        actor = await st.load_actor(USER, USER, "乙", None, "zh", "zh")  # needs the write lock
        waited = time.perf_counter() - t
        tick_task.cancel()
        assert actor.user.first_name == "乙" and waited >= 0.4
        assert ticks >= 20  # the loop kept serving other work while this statement waited
    finally:
        release.set()
        await asyncio.to_thread(holder.join, 5)
        await st.close()


async def test_blocked_officers_get_no_weekly_report_until_they_write_again(storage):
    from bot.models import User

    dept = await storage.department_by("科技局", "鼓楼区", create_name="科技局@鼓楼区")
    for uid in (USER, USER + 1):
        await storage.load_actor(uid, uid, "科长", None, "zh", "zh")
        await storage.grant_role(uid, Role.OFFICER, department_id=dept)
    assert await storage.weekly_report_recipients() == [USER, USER + 1]
    async with storage.session() as s:  # what the outbox records on a 403
        (await s.get(User, USER)).blocked_bot = True
    assert await storage.weekly_report_recipients() == [USER + 1]
    await storage.load_actor(USER, USER, "科长", None, "zh", "zh")  # they write to the bot again
    assert await storage.weekly_report_recipients() == [USER, USER + 1]


async def test_blocking_and_unblocking_the_bot_through_telegram_updates(bot):
    """Telegram's my_chat_member update: a block takes the user out of every audience at once (not at
    the next failed push), an unblock brings them back with the subscriptions they had."""
    u = await bot.user(7_100_001, "订阅者")
    await u.send("/subscriptions")
    await u.press("▫️ 对接会")
    st = bot.services.storage
    topics = [("event_kind", "matchmaking")]

    async def audience() -> set[int]:
        async with st.session() as s:
            return {r.user_id for r in await st.recipients(s, topics)}

    async def blocked_becomes(value: bool) -> None:
        for _ in range(100):
            if (await st.get_user(u.user_id)).blocked_bot is value:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"blocked_bot never became {value}")

    assert u.user_id in await audience()
    bot.emulator.block_user(u.user_id)
    await blocked_becomes(True)
    assert u.user_id not in await audience()
    bot.emulator.block_user(u.user_id, False)
    await blocked_becomes(False)
    assert u.user_id in await audience()
