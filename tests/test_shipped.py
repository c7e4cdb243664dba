"""The program users run, tested as they run it: ``python run_bot.py`` in a subprocess (playground,
long polling, webhook), configured only by the environment as README says, acted on only over HTTP
(the emulator's control API, as a phone would). Nothing here imports the bot's runtime objects, so a
service the start-up forgets to start fails these tests."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import subprocess

import aiohttp
import pytest

from devtools.client import SimUser
from devtools.emulator import BotAPIEmulator
from tests.harness import ADMIN, user_with_role
from tests.shipped import ShippedBot, free_port, seeded_data_dir
from tests.test_assessment import full_assessment, link, make_inventor
from tests.test_events import create_event

TOKEN = "123456:TEST-TOKEN"
BEIJING = dt.timezone(dt.timedelta(hours=8))


class Phones:
    """Simulated users talking to whatever Bot API endpoint the program uses; the same interface as
    the in-process harness, so the scenario helpers of the other tests work unchanged."""

    def __init__(self, emulator_url: str) -> None:
        self.url = emulator_url
        self.users: dict[int, SimUser] = {}

    async def user(self, uid: int, first_name: str = "用户", language_code: str = "zh-hans") -> SimUser:
        # no hook into the bot's process: a user waits until the bot fetched the update and went quiet
        u = SimUser(self.url, uid, first_name, language_code=language_code, reply_timeout=20, quiet=0.6)
        await u.register()
        self.users[uid] = u
        return u

    async def close(self) -> None:
        for u in self.users.values():
            await u.close()

    async def __aenter__(self) -> "Phones":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def wait_for_text(u: SimUser, needle: str, timeout: float = 20):
    return await u.wait_for(lambda m: needle in (m.text or ""), timeout=timeout)


def _polling_env(emulator: BotAPIEmulator, data_dir, **extra: str) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_API_BASE_URL": emulator.base_url, "DATA_DIR": str(data_dir),
            "ADMIN_IDS": str(ADMIN), "POLLING_TIMEOUT": "1", "FLOOD_RATE": "1000", "FLOOD_BURST": "1000", **extra}


@pytest.fixture
async def telegram():
    """Telegram's side in this test process: the emulator, and phones that talk to it."""
    async with BotAPIEmulator(token=TOKEN) as emu, Phones(emu.url) as phones:
        yield emu, phones


# ---------------------------------------------------------------------------------------------------
# The playground, first start on an empty DATA_DIR, exactly as README's quick start
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def playground(tmp_path_factory):
    data = tmp_path_factory.mktemp("fresh-data")
    port = free_port()
    bot = ShippedBot({"DATA_DIR": str(data), "PLAYGROUND_PORT": str(port)}, cwd=data)
    bot.start(timeout=300)
    bot.url = f"http://127.0.0.1:{port}"
    yield bot
    code = bot.terminate()
    assert code == 0, bot.output


async def test_first_start_is_ready_only_after_seeding_and_the_index(playground):
    out = playground.lines
    ready = next(i for i, line in enumerate(out) if line.startswith("Playground ready"))
    seeding = next(i for i, line in enumerate(out) if "loading the shipped patents" in line)
    index = next(i for i, line in enumerate(out) if "Building the search index" in line)
    assert seeding < index < ready and playground.url in out[ready]
    print(f"first start: ready after {playground.ready_after:.1f} s")
    # the first search of the first user is answered from the loaded index, at once
    async with SimUser(playground.url, 1002, "王经理", reply_timeout=10, quiet=0.4) as u:
        t0 = asyncio.get_running_loop().time()
        reply = await u.send("掘进机")
        assert "掘进机" in reply.text and asyncio.get_running_loop().time() - t0 < 5


async def test_command_menus_are_set_in_chinese_and_english(playground):
    async with aiohttp.ClientSession() as http:
        async with http.get(playground.url + "/_emu/commands") as r:
            zh = {c["command"]: c["description"] for c in await r.json()}
        async with http.get(playground.url + "/_emu/commands", params={"language_code": "en"}) as r:
            en = {c["command"]: c["description"] for c in await r.json()}
    assert {"start", "help", "lang", "browse"} <= set(zh) and set(zh) == set(en)
    assert re.search(r"[\u4e00-\u9fff]", zh["help"]) and not re.search(r"[\u4e00-\u9fff]", en["help"])


async def test_playground_users_come_with_their_roles_once_across_restarts(seeded_db, tmp_path):
    data = seeded_data_dir(seeded_db, tmp_path / "data")
    port = free_port()
    for _ in range(2):  # the roles are granted at every start; a second start adds nothing
        async with ShippedBot({"DATA_DIR": str(data), "PLAYGROUND_PORT": str(port)}, cwd=tmp_path) as bot:
            async with Phones(f"http://127.0.0.1:{port}") as phones:
                (msg,) = await (await phones.user(1001, "张老师")).send("/mypatents")
                assert "我的专利" in msg.text
                (msg,) = await (await phones.user(1005, "林老师")).send("/review")
                assert "待审核的自评（共 3 份）" in msg.text  # the demo data's, not repeated by a restart
                (me,) = await (await phones.user(1004, "Alice", language_code="en")).send("/me")
                assert me.text.count("expert @ new_energy") == 1
        assert bot.proc.returncode == 0


async def test_reviewed_assessment_reaches_the_inventor_as_a_push(playground):
    async with Phones(playground.url) as phones:
        inventor = await phones.user(1001, "张老师")  # the playground's inventor of 福州大学
        office = await phones.user(1005, "林老师")  # and its tech-transfer office
        await link(inventor, office=office)  # needs the demo data's 福州大学 as CN113914863A's institution
        await full_assessment(inventor)
        submitted = await inventor.press("✅ 确认提交")
        assert "已提交" in submitted.text
        (lst,) = await office.send("/review")
        # after the demo data's submissions, in the order they were submitted
        number = re.search(r"(\d+)\. [^\n]*近水平薄矿体", lst.text).group(1)
        await office.press(f"✅ 通过 {number}")
        push = await wait_for_text(inventor, "已通过技术转移办公室审核", timeout=15)
        assert "近水平薄矿体" in push.text


async def test_an_event_signup_receives_its_calendar_file(playground):
    async with Phones(playground.url) as phones:
        officer = await phones.user(1003, "陈科长")
        enterprise = await phones.user(1002, "王经理")
        start = (dt.datetime.now(BEIJING) + dt.timedelta(days=20)).strftime("%Y-%m-%d 14:30")
        await create_event(officer, title="首次启动对接会", start=start, capacity="5")
        (lst,) = await enterprise.send("/events")
        number = re.search(r"(\d+)\. 首次启动对接会", lst.text).group(1)  # beside the demo data's events
        await enterprise.press(number)
        await enterprise.press("✍️ 报名")
        ics = await enterprise.wait_for(lambda m: (m.document or {}).get("file_name", "").endswith(".ics"),
                                        timeout=15)
        body = await enterprise.download(ics.document["file_id"])
        assert b"BEGIN:VEVENT" in body and "首次启动对接会".encode() in body


# ---------------------------------------------------------------------------------------------------
# Long polling and webhook against the emulator (Telegram's side lives in this test process)
# ---------------------------------------------------------------------------------------------------

async def _register_officer(phones: Phones) -> SimUser:
    officer = await user_with_role(phones, 6501, "市局", "officer 市场监管局")
    assert "部门" in officer.bot_messages()[-1].text or "officer" in officer.bot_messages()[-1].text
    return officer


def _reminders(u: SimUser) -> list:
    return [m for m in u.transcript() if m.from_bot and "任务节点提醒" in (m.text or "")]


async def test_polling_answers_pushes_and_a_restart_delivers_a_pending_push_once(seeded_db, tmp_path, telegram):
    emu, phones = telegram
    data = seeded_data_dir(seeded_db, tmp_path / "data")
    async with ShippedBot(_polling_env(emu, data)) as bot:
        assert bot.ready_line.startswith("Bot ready: polling")
        first = await phones.user(6500, "新用户")
        (welcome,) = await first.send("/start")
        assert "欢迎使用" in welcome.text
        officer = await _register_officer(phones)
    # 30 days before the plan's registration deadline, 09:00 Beijing time: the reminder is due at start.
    # Telegram answers the first push to the officer with 429 (retry after 60 s), so it is pending
    # when the program is stopped.
    async with aiohttp.ClientSession() as http:
        await http.post(emu.url + "/_emu/faults", json={"method": "sendMessage", "status": 429,
                                                       "retry_after": 60, "chat_id": 6501})
    bot = await ShippedBot(_polling_env(emu, data, BOT_CLOCK_START="2024-07-01T09:00:05+08:00")).astart()
    await asyncio.sleep(3)
    assert "clock is shifted" in bot.output
    assert await bot.aterminate() == 0, bot.output
    await officer.refresh()
    assert not _reminders(officer)
    async with aiohttp.ClientSession() as http:
        await http.delete(emu.url + "/_emu/faults")
    async with ShippedBot(_polling_env(emu, data, BOT_CLOCK_START="2024-07-01T09:05:00+08:00")):
        msg = await wait_for_text(officer, "任务节点提醒", timeout=20)
        assert "还有 30 天" in msg.text
        await asyncio.sleep(3)
        await officer.refresh()
    assert len(_reminders(officer)) == 1


async def test_webhook_answers_pushes_and_refuses_forged_updates(seeded_db, tmp_path, telegram):
    emu, phones = telegram
    data = seeded_data_dir(seeded_db, tmp_path / "data")
    port = free_port()
    hook = f"http://127.0.0.1:{port}/tg-hook"
    env = _polling_env(emu, data, WEBHOOK_URL=hook, WEBHOOK_PORT=str(port), WEBHOOK_LISTEN="127.0.0.1",
                       WEBHOOK_SECRET="s3cret-Token")
    async with ShippedBot(env) as bot:
        assert bot.ready_line.startswith("Bot ready: webhook")
        u = await phones.user(6500, "新用户")
        (welcome,) = await u.send("/start")
        assert "欢迎使用" in welcome.text
        officer = await _register_officer(phones)
        forged = {"update_id": 999999, "message": {"message_id": 1, "date": 0, "text": "/stats",
                                                   "chat": {"id": ADMIN, "type": "private"},
                                                   "from": {"id": ADMIN, "is_bot": False, "first_name": "x"}}}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                async with http.post(hook, data=json.dumps(forged), headers=headers) as r:
                    assert r.status == 403
    async with ShippedBot({**env, "BOT_CLOCK_START": "2024-07-01T09:00:05+08:00"}):
        msg = await wait_for_text(officer, "任务节点提醒", timeout=20)
        assert "还有 30 天" in msg.text


async def test_webhook_without_a_secret_generates_one_and_keeps_it(seeded_db, tmp_path, telegram):
    emu, phones = telegram
    data = seeded_data_dir(seeded_db, tmp_path / "data")
    port = free_port()
    env = _polling_env(emu, data, WEBHOOK_URL=f"http://127.0.0.1:{port}/hook", WEBHOOK_PORT=str(port),
                       WEBHOOK_LISTEN="127.0.0.1")
    async with ShippedBot(env):
        secret = (data / "webhook-secret").read_text()
        assert len(secret) >= 32 and (data / "webhook-secret").stat().st_mode & 0o077 == 0
        async with aiohttp.ClientSession() as http:
            async with http.get(emu.url + "/_emu/state") as r:
                assert (await r.json())["webhook"]["secret_token"] == secret
    async with ShippedBot(env):
        assert (data / "webhook-secret").read_text() == secret


# ---------------------------------------------------------------------------------------------------
# Time-driven pushes in the shipped process, on a shifted clock (BOT_CLOCK_START)
# ---------------------------------------------------------------------------------------------------

async def test_event_reminder_and_daily_digest_fire_on_a_shifted_clock(seeded_db, tmp_path, telegram):
    from tests.test_freshness import cli_import, corpus_excerpt

    emu, phones = telegram
    data = seeded_data_dir(seeded_db, tmp_path / "data")
    # the base library names the patent's holder: the operator imports it before the start
    excerpt = tmp_path / "holder.csv"
    corpus_excerpt(seeded_db, excerpt, "%近水平薄矿体%", institution="福州大学")
    await asyncio.to_thread(cli_import, _polling_env(emu, data), excerpt)
    async with ShippedBot(_polling_env(emu, data, BOT_CLOCK_START="2030-09-01T10:00:00+08:00")):
        enterprise = await user_with_role(phones, 5001, "王经理", "enterprise 福州新能科技有限公司")
        await enterprise.press("专精特新中小企业")
        await enterprise.press("▫️ 高端装备制造")
        assert "企业信息已保存" in (await enterprise.press("✔️ 完成")).text
        inventor = await make_inventor(phones)
        office = await user_with_role(phones, 6301, "林老师", "tto 福州大学")
        await link(inventor, office=office)
        await full_assessment(inventor)
        await inventor.press("✅ 确认提交")
        officer = await user_with_role(phones, 6201, "市局", "officer 市场监管局")
        await create_event(officer, title="装备专利路演", start="2030-09-03 09:30", capacity="5")
        await enterprise.send("/events")
        await enterprise.press("1")
        await enterprise.press("✍️ 报名")
        await enterprise.wait_for(lambda m: (m.document or {}).get("file_name", "").endswith(".ics"), timeout=15)
    # the next morning, 09:59 Beijing time: the event starts within a day, and a digest is due
    async with ShippedBot(_polling_env(emu, data, BOT_CLOCK_START="2030-09-02T09:59:00+08:00")):
        reminder = await enterprise.wait_for(lambda m: "活动提醒" in (m.text or "") and "明天" in m.text, timeout=20)
        assert "装备专利路演" in reminder.text
        digest = await wait_for_text(enterprise, "今日匹配专利", timeout=20)
        assert "近水平薄矿体" in digest.text


async def test_a_shifted_clock_is_refused_against_telegram(tmp_path):
    bot = ShippedBot({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_CLOCK_START": "2030-01-01T09:00:00+08:00",
                      "DATA_DIR": str(tmp_path)})
    out = subprocess.run(bot.args, env=bot.env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "BOT_CLOCK_START" in out.stderr and "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize("name, value", [("DB_POOL_SIZE", "ten"), ("ADMIN_IDS", "123,@admin"),
                                         ("FLOOD_RATE", "fast"), ("RETENTION_DAYS", "half a year")])
def test_an_unreadable_setting_is_named_not_a_traceback(tmp_path, name, value):
    bot = ShippedBot({"DATA_DIR": str(tmp_path), name: value})
    out = subprocess.run(bot.args, env=bot.env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert name in out.stderr and value.split(",")[-1] in out.stderr
    assert "Traceback" not in out.stderr + out.stdout and not list(tmp_path.iterdir())  # nothing written


def test_export_from_the_command_line_says_where_the_files_are(seeded_db, tmp_path):
    data = seeded_data_dir(seeded_db, tmp_path / "data")
    bot = ShippedBot({"DATA_DIR": str(data)}, ("export", "--out", "exports"), cwd=tmp_path)
    out = subprocess.run(bot.args, env=bot.env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    paths = [line.strip() for line in out.stdout.splitlines() if line.startswith("  ")]
    assert "Exported 3720 patents" in out.stdout and len(paths) == 2
    assert all(p.startswith(str(tmp_path / "exports")) and os.path.getsize(p) > 1000 for p in paths)
