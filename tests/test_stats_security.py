"""Statistics, audit, flood control, the access-control matrix, and hostile input through the bot."""
from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.services.digest import SHANGHAI
from tests.harness import clock_jump, inventor_with_submitted_assessment, running_bot
from tests.harness import user_with_role as make_role
from tests.test_assessment import ADMIN, link, make_inventor


async def test_stats_table_chart_xlsx_and_scope(bot):
    await inventor_with_submitted_assessment(bot)
    city = await make_role(bot, 6001, "市局", "officer 市场监管局")
    replies = await city.send("/stats")
    text = replies[0]
    assert "存量专利盘活进度" in text.text and "福州大学" in text.text and "已盘点 1" in text.text
    assert "<pre>" in text.html
    photo = next(m for m in replies if m.photo)
    png = await city.download(photo.photo[-1]["file_id"] if isinstance(photo.photo, list) else photo.photo["file_id"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    doc = (await city.press("📥 下载 XLSX")).last
    assert doc.document["file_name"].endswith(".xlsx")
    # a county officer sees only the county (no institution there yet)
    county = await make_role(bot, 6002, "鼓楼区局", "officer 科技局@鼓楼区")
    (msg, *_) = await county.send("/stats")
    assert "鼓楼区" in msg.text and "福州大学" not in msg.text
    nobody = await bot.user(6003)
    (msg,) = await nobody.send("/stats")
    assert "🔒" in msg.text


async def test_weekly_report_once_on_monday_morning(bot):
    officer = await make_role(bot, 6101, "市局", "officer 市场监管局")
    job = bot.services.weekly  # runs by itself: at start, every few minutes, and when the clock jumps
    await clock_jump(bot, dt.datetime(2024, 9, 9, 8, 50, tzinfo=SHANGHAI), job)  # a Monday, before 09:00
    await officer.refresh()
    assert not [m for m in officer.bot_messages() if "周报" in m.text]
    await clock_jump(bot, dt.datetime(2024, 9, 9, 9, 5, tzinfo=SHANGHAI), job)
    msg = await officer.wait_for("周报", timeout=10)
    assert "较上周" in msg.text
    await clock_jump(bot, dt.datetime(2024, 9, 9, 11, 0, tzinfo=SHANGHAI), job)  # once per week
    await clock_jump(bot, dt.datetime(2024, 9, 10, 9, 5, tzinfo=SHANGHAI), job)  # Tuesday
    assert await bot.services.outbox.drain(timeout=10)
    await officer.refresh()
    assert len([m for m in officer.bot_messages() if "周报" in m.text]) == 1


async def test_audit_log_queries(bot):
    inventor = await inventor_with_submitted_assessment(bot)
    admin = bot.users[ADMIN]
    (msg,) = await admin.send("/audit CN113914863A")
    assert "submit_assessment" in msg.text and "link_patent" in msg.text
    (msg,) = await admin.send(f"/audit {inventor.user_id}")
    assert "redeem_invite" in msg.text
    (msg,) = await admin.send("/audit")
    assert "用法" in msg.text
    (msg,) = await admin.send("/audit <script>")
    assert "没有记录" in msg.text and "<script>" in msg.text
    (msg,) = await inventor.send("/audit CN113914863A")
    assert "🔒" in msg.text


async def test_flood_is_throttled_politely_and_others_unaffected(seeded_db, tmp_path):
    async with running_bot(seeded_db, tmp_path, flood_rate=3, flood_burst=8) as h:
        flooder = await h.user(6201, "刷屏")
        calm = await h.user(6202, "正常用户")
        loop = asyncio.get_running_loop()
        started = loop.time()
        flood = asyncio.gather(*(flooder.send(f"/help {i}") for i in range(50)))
        await asyncio.sleep(0.05)
        t0 = loop.time()
        (answer,) = await calm.send("/help")
        calm_latency = loop.time() - t0
        await flood
        await flooder.refresh()
        replies = flooder.bot_messages()
        notices = [m for m in replies if "消息太快" in m.text]
        helps = [m for m in replies if "使用帮助" in m.text]
        assert len(notices) == 1
        assert 8 <= len(helps) <= 8 + int((loop.time() - started) * 3) + 1
        assert "使用帮助" in answer.text and calm_latency < 2.0
        assert h.app.bot_data["flood"].dropped >= 30


# -- access control matrix ---------------------------------------------------------------------------
ROLES = {"none": None, "inventor": "inventor 福州大学", "tto": "tto 福州大学", "enterprise": "enterprise 某公司",
         "expert": "expert new_energy", "officer": "officer 市场监管局", "agency": "agency 海峡技术转移中心",
         "admin": "admin"}
# command → roles that may use it (others get a clear refusal)
ALLOWED = {
    "/mypatents": {"inventor"},
    "/review": {"tto"},
    "/invite inventor 福州大学": {"admin"},
    "/profile": {"enterprise"},
    "/experts": {"officer", "admin", "agency", "tto"},
    "/candidates": {"officer", "admin", "tto", "agency"},
    "/export": {"officer", "admin", "tto"},
    "/stats": {"officer", "admin"},
    "/audit CN113914863A": {"admin"},
    "/revoke 6300": {"admin"},
}
# forged callback data → roles for which it may act (for the rest: a refusal toast/alert, no action)
CALLBACKS = {"mp:a:CN113914863A": set(), "rv:a:1": set(), "rt:CN113914863A": {"enterprise", "expert"},
             "in:CN113914863A": {"enterprise", "agency"}, "tx:CN113914863A": set(), "ti:1": set(),
             "tf:1:filed": set(), "st:x": {"officer", "admin"}, "ld:a:1": set(), "ev:k:1": set(), "ev:K:1": set(),
             "rk:g:1": set(), "rk:gy:99999": set(), "rk:iy:99999": set()}


async def test_access_control_matrix(bot):
    users = {}
    for i, (role, args) in enumerate(ROLES.items()):
        users[role] = await make_role(bot, 6300 + i, role, args) if args else await bot.user(6300 + i, role)
    for command, allowed in ALLOWED.items():
        for role, u in users.items():
            replies = await u.send(command)
            refused = any("🔒" in m.text for m in replies)
            assert refused == (role not in allowed), (command, role, replies.text[:200])
    for data, allowed in CALLBACKS.items():
        for role, u in users.items():
            anchor = (await u.send("/me")).last
            r = await u.press(callback_data=data, message_id=anchor.message_id, stale=True)
            answered = r.answer is not None  # every press is answered (Telegram shows a spinner otherwise)
            assert answered, (data, role)
            if role not in allowed:
                # refused or "expired" — never a dialog or a state change
                assert not any(m.buttons and "dlg:" in str(m.raw_buttons) for m in r), (data, role)
    from sqlalchemy import func, select

    from bot.models import EnterpriseRating, Lead, SelfAssessment, Transaction

    async with bot.services.storage.session() as s:
        for model in (SelfAssessment, EnterpriseRating, Lead, Transaction):
            assert await s.scalar(select(func.count()).select_from(model)) == 0


# -- hostile input ----------------------------------------------------------------------------------
HOSTILE = st.one_of(
    st.text(min_size=1, max_size=300),
    st.text(alphabet=st.characters(categories=["Lo", "So", "Cf", "Zs", "Po", "Sm"]), min_size=1, max_size=80),
    st.sampled_from(["<b>bold</b>", "<a href='javascript:x'>x</a>", "&amp;&lt;", "\" OR 1=1 --", "NEAR(a b)",
                     "'; DROP TABLE patents; --", "掘进机 AND OR NOT *", "\u202eRTL\u202c", "🔥" * 200, "x" * 4096,
                     "/start " + "p_" * 40, "/start i_" + "A" * 60, "/invite admin", "/audit ' OR 1=1",
                     "/export extra args", "%s%s%n", "\x00\x01", "锂电池\n正极\t材料"]),
)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(texts=st.lists(HOSTILE, min_size=12, max_size=12), datas=st.lists(st.text(max_size=70), min_size=6, max_size=6))
def test_hostile_text_and_callbacks_never_break_the_bot(seeded_db, tmp_path_factory, texts, datas):
    asyncio.run(_hostile_batch(seeded_db, tmp_path_factory.mktemp("hostile"), texts, datas))


async def _hostile_batch(seeded_db, tmp_path, texts, datas):
    async with running_bot(seeded_db, tmp_path) as h:
        u = await make_inventor(h, 6401)
        await link(u)
        await u.send("/mypatents")
        await u.press("📝 1.")  # half the inputs land inside the dialog, half as searches
        for i, text in enumerate(texts):
            text = text.replace("\x00", "") or "?"
            if not text.strip():
                continue
            if i == len(texts) // 2:
                await u.send("/cancel")
            replies = await u.send(text[:4096])
            for m in replies:
                assert len(m.text) <= 4096
                # user text is always escaped: a tag the user typed never becomes formatting
                if "<b>bold</b>" in text:
                    assert "<b>bold</b>" not in m.html
        anchor = u.last_bot_message()
        for data in datas:
            data = data.encode("utf-8")[:64].decode("utf-8", "ignore") or "x"
            await u.press(callback_data=data, message_id=anchor.message_id, stale=True)
        assert "欢迎使用" in (await u.send("/start")).text


def test_stats_cli(seeded_db, tmp_path):
    import subprocess
    import sys

    from bot.config import PROJECT_ROOT

    shutil.copy(seeded_db / "patents.db", tmp_path / "patents.db")
    out = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py"), "stats", "--lang", "en"],
                         env={"DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Institution" in out.stdout and "patents:" in out.stdout
    assert re.search(r"patents:\s+3720", out.stdout) and re.search(r"assessed:\s+0", out.stdout)
