"""Tests of the Telegram Bot API emulator, SimUser and the Telegram-HTML parser.

Everything goes over real HTTP with the real python-telegram-bot client.
"""

from __future__ import annotations

import asyncio
import html
import struct
import zlib

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputFile,
    InputTextMessageContent,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from devtools import tg_html
from devtools.client import Msg, SimUser, SimUserError, SimUserTimeout
from devtools.emulator import BotAPIEmulator, RateLimits

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def secs(v) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB settings."""
    return v.total_seconds() if hasattr(v, "total_seconds") else float(v)

USER = 1001


def png_bytes(w: int = 3, h: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# --------------------------------------------------------------------------- fixtures


@pytest_asyncio.fixture
async def emu():
    e = BotAPIEmulator(serve_playground=True,
                       playground_users=[{"id": 2001, "first_name": "张老师",
                                          "label": "发明人 Inventor (张老师)"}])
    e.add_user(USER, "测试用户", username="tester")
    await e.start()
    try:
        yield e
    finally:
        await e.stop()


@pytest_asyncio.fixture
async def bot(emu):
    b = Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url)
    async with b:
        yield b


@pytest_asyncio.fixture
async def http():
    async with aiohttp.ClientSession() as s:
        yield s


class Harness:
    """A real PTB Application wired to the emulator, plus an exact ``settle`` hook."""

    def __init__(self, emu: BotAPIEmulator):
        self.emu = emu
        self.done: set[int] = set()
        self.cond = asyncio.Condition()
        self.app = (ApplicationBuilder().token(emu.token).base_url(emu.base_url)
                    .base_file_url(emu.base_file_url).build())
        self.seen: list[Update] = []

    async def _mark(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with self.cond:
            self.done.add(update.update_id)
            self.cond.notify_all()

    async def settle(self, update_id: int) -> None:
        async with self.cond:
            await asyncio.wait_for(self.cond.wait_for(lambda: update_id in self.done), 5)

    async def start(self) -> None:
        app = self.app

        async def start_cmd(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            payload = " ".join(context.args or [])
            await update.message.reply_text(f"欢迎 {payload}".strip())

        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            kb = InlineKeyboardMarkup([
                [InlineKeyboardButton("点我", callback_data="tap"),
                 InlineKeyboardButton("提醒", callback_data="alert")],
                [InlineKeyboardButton("分享链接", url=f"https://t.me/{self.emu.bot_username}"
                                                       "?start=ref42")],
            ])
            await update.message.reply_html(f"<b>echo:</b> {html.escape(update.message.text)}",
                                            reply_markup=kb)

        async def slow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await update.message.reply_text("处理中…")
            await asyncio.sleep(0.05)
            await update.message.reply_text("完成")

        async def on_doc(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            f = await update.message.document.get_file()
            data = await f.download_as_bytearray()
            await update.message.reply_text(
                f"收到 {update.message.document.file_name} {len(data)} 字节")

        async def on_cb(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            q = update.callback_query
            if q.data == "alert":
                await q.answer("这是提醒", show_alert=True)
                return
            await q.answer("已点击")
            if q.message is not None:
                await q.edit_message_text("tapped")
            else:
                await q.edit_message_text("tapped inline")

        async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            q = update.inline_query
            await q.answer([
                InlineQueryResultArticle(
                    id="r1", title=f"专利 {q.query}",
                    input_message_content=InputTextMessageContent(
                        f"<b>专利</b> {html.escape(q.query)}", parse_mode=ParseMode.HTML),
                    reply_markup=InlineKeyboardMarkup(
                        [[InlineKeyboardButton("感兴趣", callback_data="tap")]])),
            ], cache_time=0)

        app.add_handler(CommandHandler("start", start_cmd))
        app.add_handler(CommandHandler("slow", slow))
        app.add_handler(MessageHandler(filters.Document.ALL, on_doc))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
        app.add_handler(CallbackQueryHandler(on_cb))
        app.add_handler(InlineQueryHandler(on_inline))
        app.add_handler(TypeHandler(Update, self._mark), group=99)
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)

    async def stop(self) -> None:
        await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()


@pytest_asyncio.fixture
async def harness(emu):
    h = Harness(emu)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


# --------------------------------------------------------------------------- basics


@pytest.mark.asyncio
async def test_get_me_and_tokens(emu, bot):
    me = await bot.get_me()
    assert me.username == "patent_pilot_bot" and me.id == 123456 and me.is_bot
    assert me.first_name == "专利盘活"
    bad = Bot("123456:WRONG", base_url=emu.base_url, base_file_url=emu.base_file_url)
    with pytest.raises(InvalidToken):
        async with bad:
            pass  # initialize() calls getMe


@pytest.mark.asyncio
async def test_unknown_method_and_raw_encodings(emu, http):
    base = f"{emu.base_url}{emu.token}"
    async with http.get(f"{base}/noSuchMethod") as r:
        assert r.status == 404
        assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    # case-insensitive method names, GET with query string
    async with http.get(f"{base}/GETME") as r:
        assert (await r.json())["result"]["username"] == "patent_pilot_bot"
    # JSON body with typed values
    async with http.post(f"{base}/sendMessage", json={"chat_id": USER, "text": "hi"}) as r:
        body = await r.json()
        assert body["ok"] and body["result"]["text"] == "hi"
    # malformed JSON body -> 400, server survives
    async with http.post(f"{base}/sendMessage", data=b"{nope",
                         headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        assert (await r.json())["description"].startswith("Bad Request: ")
    # malformed reply_markup JSON in a form field
    async with http.post(f"{base}/sendMessage",
                         data={"chat_id": str(USER), "text": "x", "reply_markup": "{bad"}) as r:
        assert r.status == 400
    async with http.post(f"{base}/sendMessage", data={"chat_id": "999", "text": "x"}) as r:
        assert r.status == 400
        assert (await r.json())["description"] == "Bad Request: chat not found"
    async with http.get(f"{emu.base_url}1:nope/getMe") as r:
        assert r.status == 401
        assert (await r.json())["description"] == "Unauthorized"


@pytest.mark.asyncio
async def test_get_updates_offsets_and_long_poll(emu, bot):
    r1 = emu.user_send(USER, "one")
    r2 = emu.user_send(USER, "two")
    ups = await bot.get_updates()
    assert [u.update_id for u in ups] == [r1["update_id"], r2["update_id"]]
    assert ups[0].message.text == "one" and ups[0].message.from_user.id == USER
    assert emu.update_delivered(r1["update_id"])
    # not confirmed yet -> delivered again
    assert len(await bot.get_updates()) == 2
    assert [u.message.text for u in await bot.get_updates(offset=r2["update_id"])] == ["two"]
    assert await bot.get_updates(offset=r2["update_id"] + 1) == ()
    # long polling: blocks until an update arrives
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    task = asyncio.create_task(bot.get_updates(offset=r2["update_id"] + 1, timeout=5))
    await asyncio.sleep(0.2)
    assert not task.done()
    r3 = emu.user_send(USER, "/start hello")
    ups = await asyncio.wait_for(task, 3)
    assert loop.time() - t0 < 2
    assert ups[0].update_id == r3["update_id"]
    ents = ups[0].message.entities
    assert ents[0].type == "bot_command" and ents[0].offset == 0 and ents[0].length == 6
    # a long poll with no updates returns [] after the timeout
    t0 = loop.time()
    assert await bot.get_updates(offset=r3["update_id"] + 1, timeout=1) == ()
    assert 0.8 < loop.time() - t0 < 3


@pytest.mark.asyncio
async def test_webhook_delivery_and_conflict(emu, bot):
    got: list[tuple[dict, str | None]] = []
    fail_first = {"n": 1}

    async def receiver(request: web.Request) -> web.Response:
        if fail_first["n"] > 0:
            fail_first["n"] -= 1
            return web.Response(status=500)
        got.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receiver)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook")
        with pytest.raises(Conflict, match="(?i)webhook is active"):
            await bot.get_updates()
        r = emu.user_send(USER, "via webhook")
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.02)
        assert got, "webhook never delivered"
        upd, secret = got[0]
        assert secret == "s3cret"
        assert upd["update_id"] == r["update_id"] and upd["message"]["text"] == "via webhook"
        assert emu.update_delivered(r["update_id"])
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0 and info.last_error_message  # the 500 was recorded
        assert await bot.delete_webhook()
        assert await bot.get_updates() == ()
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- full app + SimUser


@pytest.mark.asyncio
async def test_simuser_chat_with_real_application(emu, harness):
    async with SimUser(emu.url, USER, "测试用户") as u:  # heuristic settle
        await u.register()
        replies = await u.send("/start")
        assert [m.text for m in replies] == ["欢迎"]
        replies = await u.send("你好 <world>")
        msg = replies[-1]
        assert msg.text == "echo: 你好 <world>"
        assert msg.html == "<b>echo:</b> 你好 &lt;world&gt;"
        assert msg.buttons == [["点我", "提醒"], ["分享链接"]]
        assert u.buttons() == ["点我", "提醒", "分享链接"]
        assert u.last_bot_message().message_id == msg.message_id

        replies = await u.press("点我")
        assert replies.toast == "已点击" and u.last_toast == "已点击" and not replies.alert
        assert [m.text for m in replies] == ["tapped"]
        assert replies[0].edited and replies[0].buttons == []  # edit without markup drops it
        # pressing again: the keyboard is gone
        with pytest.raises(SimUserError, match="(?i)no button"):
            await u.press("点我")

        await u.send("again")
        replies = await u.press("提醒")
        assert replies.toast == "这是提醒" and replies.alert
        # deep link URL button -> "/start ref42"
        replies = await u.press("分享")  # unique substring match
        assert [m.text for m in replies] == ["欢迎 ref42"]
        user_msgs = [m for m in u.transcript() if not m.from_bot]
        assert user_msgs[-1].text == "/start ref42"


@pytest.mark.asyncio
async def test_simuser_with_settle_hook_and_wait_for(emu, harness):
    u = SimUser(emu.url, 1002, "王经理", settle=harness.settle)
    try:
        await u.register()
        replies = await u.send("/slow")
        assert [m.text for m in replies] == ["处理中…", "完成"]
        m = await u.wait_for(lambda m: m.text == "完成", timeout=1)
        assert isinstance(m, Msg)
        m = await u.wait_for("处理中", timeout=1)
        assert m.text == "处理中…"
        with pytest.raises(SimUserTimeout) as ei:
            await u.wait_for("never", timeout=0.3)
        assert "完成" in str(ei.value) and "/slow" in str(ei.value)
    finally:
        await u.close()


@pytest.mark.asyncio
async def test_upload_by_user_and_bot_download(emu, harness):
    u = SimUser(emu.url, 1003, "李主任", settle=harness.settle)
    try:
        data = "名称,专利号\n一种方法,CN123\n".encode()
        replies = await u.upload("patents.csv", data)
        assert replies[-1].text == f"收到 patents.csv {len(data)} 字节"
        doc = [m for m in u.transcript() if not m.from_bot][-1].document
        assert doc["file_name"] == "patents.csv" and doc["mime_type"] == "text/csv"
        assert await u.download(doc["file_id"]) == data
    finally:
        await u.close()


@pytest.mark.asyncio
async def test_inline_query_answer_choose_and_inline_callback(emu, harness):
    u = SimUser(emu.url, USER, settle=harness.settle)
    try:
        results = await u.inline("石墨烯")
        assert results[0]["id"] == "r1" and results[0]["title"] == "专利 石墨烯"
        replies = await u.choose_inline(u.last_inline_query_id, "r1")
        # the bot also receives the message posted via itself in its own chat (and echoes it)
        assert replies[-1].text == "echo: 专利 石墨烯"
        posted = next(m for m in u.transcript() if m.via_bot)
        assert posted.via_bot == "patent_pilot_bot" and posted.text == "专利 石墨烯"
        assert posted.html == "<b>专利</b> 石墨烯" and posted.buttons == [["感兴趣"]]
        types = [emu._update_types[i] for i in sorted(emu._update_types)]
        assert "chosen_inline_result" in types
        # callback from a button on an inline message carries inline_message_id
        replies = await u.press("感兴趣", message_id=posted.message_id)
        assert replies.toast == "已点击"
        assert [m.text for m in replies] == ["tapped inline"]
    finally:
        await u.close()


# --------------------------------------------------------------------------- files


@pytest.mark.asyncio
async def test_send_document_upload_and_download_round_trip(emu, bot):
    payload = bytes(range(256)) * 10
    m = await bot.send_document(USER, InputFile(payload, filename="report.xlsx"),
                                caption="<i>报告</i>", parse_mode=ParseMode.HTML)
    assert m.document.file_name == "report.xlsx" and m.document.file_size == len(payload)
    assert m.caption == "报告" and m.caption_entities[0].type == "italic"
    f = await bot.get_file(m.document.file_id)
    assert f.file_path.startswith(emu.base_file_url)
    assert bytes(await f.download_as_bytearray()) == payload
    # resend by file_id: same file
    m2 = await bot.send_document(USER, m.document.file_id)
    assert m2.document.file_id == m.document.file_id
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        await bot.send_document(USER, "not-a-file-id")
    t = emu.transcript(USER)
    doc = t["messages"][-1]["document"]
    assert doc["url"] == f"/_emu/files/{m.document.file_id}"
    async with aiohttp.ClientSession() as s, s.get(emu.url + doc["url"]) as r:
        assert await r.read() == payload
        assert "report.xlsx" in r.headers["Content-Disposition"]
    # a file served by a URL
    async with aiohttp.ClientSession() as s:
        pass
    m3 = await bot.send_document(USER, f"{emu.url}/_emu/files/{m.document.file_id}")
    assert m3.document.file_size == len(payload)


@pytest.mark.asyncio
async def test_send_photo(emu, bot):
    m = await bot.send_photo(USER, png_bytes(3, 2), caption="图")
    assert (m.photo[-1].width, m.photo[-1].height) == (3, 2)
    f = await m.photo[-1].get_file()
    assert bytes(await f.download_as_bytearray()) == png_bytes(3, 2)
    with pytest.raises(BadRequest, match="(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, b"definitely not an image")
    with pytest.raises(BadRequest, match="(?i)caption is too long"):
        await bot.send_photo(USER, png_bytes(), caption="x" * 1025)


# --------------------------------------------------------------------------- validations


@pytest.mark.asyncio
async def test_html_and_length_validation(emu, bot):
    with pytest.raises(BadRequest, match=r'(?i)Unsupported start tag "x" at byte offset 3'):
        await bot.send_message(USER, "ab <x>c</x>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match='(?i)Can\'t find end tag corresponding to start tag "b"'):
        await bot.send_message(USER, "<b>open", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(USER, "   ")
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "字" * 4097)
    assert (await bot.send_message(USER, "字" * 4096)).text == "字" * 4096
    # length counts the text after entity parsing, in UTF-16 units
    m = await bot.send_message(USER, "<b>" + "a" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    assert len(m.text) == 4096
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "😀" * 2049)
    m = await bot.send_message(USER, "😀 <b>粗</b> <a href='https://example.com'>链接</a>",
                               parse_mode=ParseMode.HTML)
    assert [(e.type, e.offset, e.length) for e in m.entities] == [
        ("bold", 3, 1), ("text_link", 5, 2)]
    m = await bot.send_message(USER, r"*粗体* _斜体_ \.", parse_mode=ParseMode.MARKDOWN_V2)
    assert m.text == "粗体 斜体 ." and [e.type for e in m.entities] == ["bold", "italic"]
    with pytest.raises(BadRequest, match="(?i)reserved"):
        await bot.send_message(USER, "1.5", parse_mode=ParseMode.MARKDOWN_V2)


@pytest.mark.asyncio
async def test_keyboard_validation(emu, bot):
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("b", callback_data="x" * 65)]]))
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("b", callback_data="数" * 22)]]))  # 66 bytes
    with pytest.raises(BadRequest, match="(?i)reply markup is too long"):
        await bot.send_message(USER, "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton(str(i), callback_data=str(i))] for i in range(101)]))
    m = await bot.send_message(USER, "kb", reply_markup=ReplyKeyboardMarkup([["是", "否"]]))
    assert m.reply_markup is None  # reply keyboards are not part of the message
    assert emu.transcript(USER)["reply_keyboard"]["keyboard"] == [["是", "否"]]


@pytest.mark.asyncio
async def test_edit_errors(emu, bot):
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="a")]])
    m = await bot.send_message(USER, "原文", reply_markup=kb)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=9999)
    with pytest.raises(BadRequest, match="(?i)message is not modified: specified new message content"):
        await bot.edit_message_text("原文", chat_id=USER, message_id=m.message_id, reply_markup=kb)
    e = await bot.edit_message_text("新文", chat_id=USER, message_id=m.message_id, reply_markup=kb)
    assert e.text == "新文" and e.edit_date is not None and e.reply_markup == kb
    e = await bot.edit_message_reply_markup(chat_id=USER, message_id=m.message_id)
    assert e.reply_markup is None
    user_msg = emu.user_send(USER, "用户消息")
    with pytest.raises(BadRequest, match="(?i)message can't be edited"):
        await bot.edit_message_text("x", chat_id=USER, message_id=user_msg["message_id"])
    with pytest.raises(BadRequest, match="(?i)there is no caption"):
        await bot.edit_message_caption(chat_id=USER, message_id=m.message_id, caption="c")
    assert await bot.delete_message(USER, m.message_id)
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await bot.delete_message(USER, m.message_id)
    entry = next(x for x in emu.transcript(USER)["messages"] if x["message_id"] == m.message_id)
    assert entry["deleted"] and entry["edited"]


@pytest.mark.asyncio
async def test_callback_answer_unknown_and_twice(emu, bot):
    await bot.send_message(USER, "q", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("好", callback_data="ok")]]))
    r = emu.press(USER, "好")
    assert await bot.answer_callback_query(r["callback_query_id"], text="嗯")
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(r["callback_query_id"])
    with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
        await bot.answer_callback_query("12345")
    ups = await bot.get_updates()
    cq = ups[-1].callback_query
    assert cq.data == "ok" and cq.message.text == "q" and cq.from_user.id == USER
    assert emu.transcript(USER)["answers"][-1]["text"] == "嗯"


@pytest.mark.asyncio
async def test_inline_limits_and_timeouts(emu):
    clock = FakeClock()
    e2 = BotAPIEmulator(clock=clock)
    await e2.start()
    try:
        async with Bot(e2.token, base_url=e2.base_url) as b:
            def art(i: int) -> InlineQueryResultArticle:
                return InlineQueryResultArticle(str(i), f"t{i}", InputTextMessageContent("x"))
            q = e2.inline_query(USER, "abc")["inline_query_id"]
            with pytest.raises(BadRequest, match="(?i)RESULTS_TOO_MUCH"):
                await b.answer_inline_query(q, [art(i) for i in range(51)])
            clock.t += 11
            with pytest.raises(BadRequest, match="(?i)query is too old"):
                await b.answer_inline_query(q, [art(1)])
            q2 = e2.inline_query(USER, "abc", chat_type="private")["inline_query_id"]
            assert await b.answer_inline_query(q2, [art(1)], next_offset="10")
            with pytest.raises(BadRequest, match="(?i)query is too old"):
                await b.answer_inline_query(q2, [art(1)])
            assert e2.inline_answer(q2)["next_offset"] == "10"
            ups = await b.get_updates()
            assert ups[-1].inline_query.chat_type == "private"
    finally:
        await e2.stop()


# --------------------------------------------------------------------------- limits & faults


@pytest.mark.asyncio
async def test_rate_limits_retry_after(emu):
    clock = FakeClock()
    e2 = BotAPIEmulator(clock=clock, rate_limits=RateLimits(global_burst=5, global_per_sec=5))
    e2.add_user(1, "a")
    e2.add_user(2, "b")
    e2.add_group(-100, "群", [1, 2])
    await e2.start()
    try:
        async with Bot(e2.token, base_url=e2.base_url) as b:
            for _ in range(3):
                await b.send_message(1, "hi")
            with pytest.raises(RetryAfter) as ei:
                await b.send_message(1, "hi")
            assert secs(ei.value.retry_after) == 1
            # edits / answers are not limited
            m = await b.send_message(2, "x")
            await b.edit_message_text("y", chat_id=2, message_id=m.message_id)
            # global limit (5 burst, 4 already used)
            await b.send_message(2, "x")
            with pytest.raises(RetryAfter):
                await b.send_message(2, "x")
            clock.t += 1.0
            await b.send_message(1, "ok again")
            assert e2.throttled_count == 2
            assert [c["status"] for c in e2.calls("sendMessage", chat_id=1)] == [
                200, 200, 200, 429, 200]
            # group: 20 / minute
            e2.set_rate_limits(RateLimits(per_chat_burst=100, per_chat_per_sec=100,
                                          global_burst=1000, global_per_sec=1000))
            for _ in range(20):
                await b.send_message(-100, "g")
            with pytest.raises(RetryAfter) as ei:
                await b.send_message(-100, "g")
            assert secs(ei.value.retry_after) == 3  # 1 token per 3 s
            e2.set_rate_limits(None)
            await b.send_message(-100, "unlimited")
    finally:
        await e2.stop()


@pytest.mark.asyncio
async def test_blocked_and_deactivated_users(emu, bot):
    emu.block_user(USER)
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(USER, "hi")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(USER, "typing")
    ups = await bot.get_updates()
    assert ups[-1].my_chat_member.new_chat_member.status == "kicked"
    emu.block_user(USER, False)
    assert (await bot.send_message(USER, "back")).text == "back"
    emu.add_user(5, "gone")
    emu.deactivate_user(5)
    with pytest.raises(Forbidden, match="(?i)user is deactivated"):
        await bot.send_message(5, "hi")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(424242, "hi")


@pytest.mark.asyncio
async def test_fault_injection(emu, bot):
    emu.inject_fault("sendMessage", status=502, description="Bad Gateway")
    with pytest.raises(NetworkError, match="(?i)Bad Gateway"):
        await bot.send_message(USER, "x")
    assert (await bot.send_message(USER, "x")).text == "x"  # count=1 consumed
    emu.inject_fault("sendMessage", status=429, retry_after=7, chat_id=USER)
    with pytest.raises(RetryAfter) as ei:
        await bot.send_message(USER, "x")
    assert secs(ei.value.retry_after) == 7
    emu.inject_fault(None, status=0, delay=0.05)  # drop the connection
    with pytest.raises(NetworkError):
        await bot.get_me()
    fast = Bot(emu.token, base_url=emu.base_url,
               request=HTTPXRequest(read_timeout=0.2, connect_timeout=1))
    async with fast:
        emu.inject_fault("getMe", status=0, delay=1.0)
        with pytest.raises(TimedOut):
            await fast.get_me()
    assert (await bot.get_me()).username == "patent_pilot_bot"


# --------------------------------------------------------------------------- misc methods


@pytest.mark.asyncio
async def test_commands_descriptions_chat_info(emu, bot, http):
    await bot.set_my_commands([BotCommand("start", "开始"), BotCommand("help", "帮助")])
    await bot.set_my_commands([BotCommand("admin", "管理")], scope=BotCommandScopeChat(USER))
    await bot.set_my_commands([BotCommand("start", "Start")], language_code="en")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(USER))] == [
        "admin"]
    assert [c.description for c in await bot.get_my_commands(language_code="en")] == ["Start"]
    assert [c["command"] for c in emu.commands_for(USER)] == ["admin"]
    assert [c["command"] for c in emu.commands_for(2001)] == ["start", "help"]
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad Command", "x")])
    assert await bot.delete_my_commands(scope=BotCommandScopeChat(USER))
    assert [c["command"] for c in emu.commands_for(USER)] == ["start", "help"]
    await bot.set_my_description("专利撮合机器人")
    assert (await bot.get_my_description()).description == "专利撮合机器人"
    await bot.set_my_short_description("短描述")
    assert await bot.set_chat_menu_button()
    chat = await bot.get_chat(USER)
    assert chat.type == "private" and chat.username == "tester"
    member = await bot.get_chat_member(USER, USER)
    assert member.status == "member" and member.user.id == USER
    assert await bot.send_chat_action(USER, "typing")
    assert emu.transcript(USER)["action"]["action"] == "typing"
    async with http.get(emu.url + "/_emu/bot") as r:
        info = await r.json()
        assert info["description"] == "专利撮合机器人" and info["commands"][0]["command"] == "start"


@pytest.mark.asyncio
async def test_copy_and_forward(emu, bot):
    src = emu.user_send(USER, "原始消息")
    emu.add_user(7, "七")
    mid = await bot.copy_message(7, USER, src["message_id"])
    fwd = await bot.forward_message(7, USER, src["message_id"])
    assert fwd.forward_origin.sender_user.id == USER and fwd.text == "原始消息"
    texts = [m["text"] for m in emu.transcript(7)["messages"]]
    assert texts == ["原始消息", "原始消息"] and mid.message_id == 1
    with pytest.raises(BadRequest, match="(?i)message to copy not found"):
        await bot.copy_message(7, USER, 999)


@pytest.mark.asyncio
async def test_replies_groups_and_allowed_updates(emu, bot):
    src = emu.user_send(USER, "问题")
    m = await bot.send_message(USER, "回答", reply_to_message_id=src["message_id"])
    assert m.reply_to_message.text == "问题"
    with pytest.raises(BadRequest, match="(?i)message to be replied not found"):
        await bot.send_message(USER, "x", reply_to_message_id=999)
    m = await bot.send_message(USER, "x", reply_to_message_id=999,
                               allow_sending_without_reply=True)
    assert m.reply_to_message is None
    # groups
    emu.add_user(2, "乙")
    emu.add_group(-1001, "专利群", [USER, 2])
    u = SimUser(emu.url, 2, chat_id=-1001)
    try:
        info = await u._req("POST", "/_emu/send", json={"user_id": 2, "chat_id": -1001,
                                                        "text": "大家好"})
        ups = await bot.get_updates(offset=-1)
        assert ups[0].message.chat.type == "group" and ups[0].message.chat.title == "专利群"
        assert ups[0].message.from_user.id == 2 and ups[0].update_id == info["update_id"]
        await bot.send_message(-1001, "欢迎入群")
        await u.refresh()
        assert [m.text for m in u.transcript()] == ["大家好", "欢迎入群"]
        member = await bot.get_chat_member(-1001, 2)
        assert member.status == "member"
        assert (await bot.get_chat_member(-1001, 2001)).status == "left"
        with pytest.raises(SimUserError, match="not a member"):
            await SimUser(emu.url, 2001, chat_id=-1001, session=u._http()).send("hi")
    finally:
        await u.close()
    # allowed_updates: only callback queries from now on
    await bot.get_updates(offset=ups[0].update_id + 1, allowed_updates=["callback_query"])
    emu.user_send(USER, "ignored")
    assert await bot.get_updates() == ()
    await bot.send_message(USER, "k", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("k", callback_data="k")]]))
    emu.press(USER, "k")
    ups = await bot.get_updates(allowed_updates=[])  # [] = back to the default set
    assert [u.callback_query.data for u in ups] == ["k"]
    emu.user_send(USER, "seen again")
    assert (await bot.get_updates(offset=ups[-1].update_id + 1))[0].message.text == "seen again"


# --------------------------------------------------------------------------- control API


@pytest.mark.asyncio
async def test_control_api_over_http(emu, bot, http):
    async with http.get(emu.url + "/_emu/users") as r:
        users = await r.json()
    labels = {u["id"]: u["label"] for u in users}
    assert labels[2001] == "发明人 Inventor (张老师)" and labels[USER] == "测试用户"
    async with http.post(emu.url + "/_emu/users", json={"id": 3003, "first_name": "赵"}) as r:
        assert (await r.json())["first_name"] == "赵"
    async with http.post(emu.url + "/_emu/send", data=b"{{", headers={
            "Content-Type": "application/json"}) as r:
        assert r.status == 400
    async with http.post(emu.url + "/_emu/send", json={"user_id": 3003, "text": "hi"}) as r:
        sent = await r.json()
    assert sent["message_id"] == 1
    async with http.get(emu.url + f"/_emu/updates/{sent['update_id']}") as r:
        assert (await r.json())["delivered"] is False
    await bot.get_updates()
    async with http.get(emu.url + f"/_emu/updates/{sent['update_id']}") as r:
        assert (await r.json())["delivered"] is True
    await bot.send_message(3003, "选择", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("甲", callback_data="a"), InlineKeyboardButton("乙", callback_data="b")]]))
    async with http.post(emu.url + "/_emu/press", json={"user_id": 3003, "label": "丙"}) as r:
        assert r.status == 404
        body = await r.json()
        assert body["buttons"] == ["甲", "乙"]
    async with http.post(emu.url + "/_emu/press", json={"user_id": 3003,
                                                        "callback_data": "b"}) as r:
        assert (await r.json())["callback_query_id"]
    # transcript long poll wakes on change
    seq = emu.transcript(3003)["seq"]

    async def later() -> None:
        await asyncio.sleep(0.1)
        await bot.send_message(3003, "新消息")
    task = asyncio.create_task(later())
    async with http.get(emu.url + "/_emu/chats/3003/messages",
                        params={"after_seq": str(seq), "wait": "5"}) as r:
        t = await r.json()
    await task
    assert [m["text"] for m in t["messages"]] == ["新消息"] and t["seq"] > seq
    async with http.get(emu.url + "/_emu/calls", params={"method": "sendMessage"}) as r:
        calls = await r.json()
    assert calls["count"] == 2 and all(c["method"] == "sendMessage" for c in calls["calls"])
    async with http.post(emu.url + "/_emu/reset_stats") as r:
        assert r.status == 200
    assert emu.calls() == []
    async with http.post(emu.url + "/_emu/faults", json={"method": "getMe", "status": 500}) as r:
        assert r.status == 200
    with pytest.raises(NetworkError):
        await bot.get_me()
    async with http.post(emu.url + "/_emu/rate_limits", json={"per_chat_burst": 1}) as r:
        assert (await r.json())["enabled"] is True
    await bot.send_message(3003, "1")
    with pytest.raises(RetryAfter):
        await bot.send_message(3003, "2")
    async with http.post(emu.url + "/_emu/rate_limits", json={}) as r:
        assert (await r.json())["enabled"] is False
    async with http.post(emu.url + "/_emu/block", json={"user_id": 3003, "blocked": True}) as r:
        assert r.status == 200
    with pytest.raises(Forbidden):
        await bot.send_message(3003, "x")


@pytest.mark.asyncio
async def test_playground_is_served(emu, http):
    async with http.get(emu.url + "/") as r:
        page = await r.text()
        assert r.status == 200 and 'id="user-select"' in page and 'id="input"' in page
    async with http.get(emu.url + "/static/..%2Ftg_html.py") as r:
        assert r.status == 404


# --------------------------------------------------------------------------- tg_html


def test_tg_html_units():
    assert tg_html.parse_html("a &lt;b&gt; &amp; &quot; &#39; &#x1F600; &nbsp;") == (
        "a <b> & \" ' 😀 &nbsp;", [])
    text, ents = tg_html.parse_html('<b>粗<i>斜</i></b><pre><code class="language-py">x</code></pre>')
    assert text == "粗斜x"
    assert ents == [{"type": "bold", "offset": 0, "length": 2},
                    {"type": "italic", "offset": 1, "length": 1},
                    {"type": "pre", "offset": 2, "length": 1, "language": "py"}]
    for bad, msg in [("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
                     ("</b>", "Unexpected end tag at byte offset 0"),
                     ("中<x>", 'Unsupported start tag "x" at byte offset 3'),
                     ("<span>s</span>", 'Tag "span" must have class "tg-spoiler"')]:
        with pytest.raises(tg_html.EntityParseError) as ei:
            tg_html.parse_html(bad)
        assert msg in str(ei.value)
    assert tg_html.utf16_len("a😀") == 3
    # rendering escapes everything and only emits whitelisted tags
    out = tg_html.entities_to_html("<script>", [{"type": "text_link", "offset": 0, "length": 8,
                                                 "url": "javascript:alert(1)"}])
    assert "<script>" not in out and "javascript" not in out
    assert tg_html.sanitize_html("<b>a</b>&lt;") == "<b>a</b>&lt;"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_tg_html_escaped_text_round_trips(s):
    plain, ents = tg_html.parse_html(html.escape(s))
    assert plain == s and ents == []
    assert html.unescape(tg_html.entities_to_html(plain, ents)) == s


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["b", "i", "u", "s", "code", "tg-spoiler"]),
                          st.text(max_size=8)), max_size=6))
def test_tg_html_tagged_segments(parts):
    markup = "".join(f"<{t}>{html.escape(x)}</{t}>" for t, x in parts)
    plain, ents = tg_html.parse_html(markup)
    assert plain == "".join(x for _, x in parts)
    assert all(e["length"] > 0 for e in ents)
    assert tg_html.parse_html(tg_html.entities_to_html(plain, ents).replace(
        '<span class="tg-spoiler">', "<tg-spoiler>").replace("</span>", "</tg-spoiler>")) == (
        plain, ents)
