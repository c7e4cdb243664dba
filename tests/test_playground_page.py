"""The playground page as people use it: on a phone-sized screen, with invite links, and across a
restart of the playground (`python run_bot.py` with no token) under an open page. Headless Chromium
over the Chrome DevTools Protocol, as in test_browser.py."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot.config import PROJECT_ROOT
from devtools.emulator import BotAPIEmulator
from tests.browser import CDP, page
from tests.shipped import free_port

ADMIN, INVENTOR, ENTERPRISE = 1000, 1001, 1002  # devtools/playground_users.json


async def test_each_emulator_has_its_own_instance_id_and_a_stale_page_hears_it_at_once():
    async with BotAPIEmulator() as a, BotAPIEmulator() as b, aiohttp.ClientSession() as http:
        assert a.instance != b.instance
        a.add_user(1, "甲")
        async with http.get(f"{a.url}/_emu/bot") as r:
            assert (await r.json())["instance"] == a.instance
        started = time.monotonic()
        async with http.get(f"{a.url}/_emu/chats/1/messages",
                            params={"after_seq": "99", "wait": "5", "instance": b.instance}) as r:
            t = await r.json()
        assert t["instance"] == a.instance and time.monotonic() - started < 2
        started = time.monotonic()
        async with http.get(f"{a.url}/_emu/chats/1/messages",
                            params={"after_seq": "0", "wait": "0.5", "instance": a.instance}) as r:
            assert (await r.json())["messages"] == []
        assert time.monotonic() - started >= 0.4  # its own page still long-polls
        started = time.monotonic()
        async with http.get(f"{a.url}/_emu/chats/1/messages",
                            params={"after_seq": "0", "wait": "0.5", "instance": ""}) as r:
            assert r.status == 200
        assert time.monotonic() - started >= 0.4  # so does a client that knows no instance


class Playground:
    """`python run_bot.py` (no token) on a copy of the seeded database; stop and start it again on the
    same port and data, like a developer restarting it."""

    def __init__(self, seeded_db: Path, folder: Path):
        self.data = folder / "data"
        self.data.mkdir()
        shutil.copy(seeded_db / "patents.db", self.data / "patents.db")
        shutil.copytree(seeded_db / "cache", self.data / "cache")
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "DATABASE_URL")}
        env.update(DATA_DIR=str(self.data), PLAYGROUND_PORT=str(self.port), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "run_bot.py")], env=env, cwd=self.folder,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Playground ready" in line:
                break
        assert any(self.url in line for line in lines), "".join(lines)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc.stdout.close()
        self.proc = None


@pytest.fixture
def playground(seeded_db, tmp_path):
    p = Playground(seeded_db, tmp_path)
    p.start()
    yield p
    p.stop()


async def type_and_send(cdp: CDP, text: str) -> None:
    await cdp.js(f"""(() => {{ const i = document.querySelector('#input'); i.focus(); i.value = {text!r};
        i.dispatchEvent(new Event('input', {{bubbles: true}})); document.querySelector('#send').click();
        return true; }})()""")


async def bot_text(cdp: CDP, needle: str, timeout: float = 30) -> str:
    return await cdp.wait_js(f"[...document.querySelectorAll('.msg.bot')].map(m => m.innerText)"
                             f".find(t => t.includes({needle!r}))", timeout)


async def switch_mobile(cdp: CDP, user_id: int) -> None:
    await cdp.js(f"""(() => {{ const s = document.querySelector('#user-select-mobile'); s.value = '{user_id}';
        s.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()""")
    await cdp.wait_js(f"localStorage.getItem('pg-user') === '{user_id}'")


async def open_pages(cdp: CDP) -> int:
    async with cdp.http.get(f"{cdp.devtools}/json/list") as r:
        return len([t for t in await r.json() if t["type"] == "page"])


async def test_phone_width_switcher_and_invite_links(playground, tmp_path):
    async with page(playground.url, tmp_path / "profile", 390) as cdp:
        assert await cdp.js("getComputedStyle(document.querySelector('#sidebar')).display") == "none"
        box = await cdp.js("""(() => { const r = document.querySelector('#user-select-mobile').getBoundingClientRect();
            return [r.left, r.right, r.width, r.height]; })()""")
        assert box[0] >= 0 and box[1] <= 390 and box[2] > 80 and box[3] > 20, box  # visible, on screen
        labels = await cdp.js("[...document.querySelectorAll('#user-select-mobile option')].map(o => o.text)")
        assert any("Admin" in x for x in labels) and any("Enterprise" in x for x in labels)
        # switching users on the phone-sized page: each has their own chat
        await switch_mobile(cdp, ENTERPRISE)
        await type_and_send(cdp, "/me")
        assert "王经理" in await bot_text(cdp, "ID 1002")
        await switch_mobile(cdp, ADMIN)
        await cdp.wait_js("!document.querySelector('.msg')")  # the enterprise's chat is not shown here
        await type_and_send(cdp, "/me")
        await bot_text(cdp, "ID 1000")
        # the "/" popup offers the admin's own command menu, set by the bot at that first message
        await cdp.wait_js("""(() => { const i = document.querySelector('#input'); i.focus(); i.value = '/inv';
            i.dispatchEvent(new Event('input', {bubbles: true}));
            return [...document.querySelectorAll('#popup .cmd')].some(c => c.innerText === '/invite'); })()""")
        await cdp.js("document.querySelector('#input').value = '', true")
        assert await cdp.js("document.querySelector('#user-select-mobile').value") == str(ADMIN)
        # an invite link in the bot's answer opens here, as this user sending /start i_…
        await type_and_send(cdp, "/invite inventor 福州大学")
        href = await cdp.wait_js("(document.querySelector('.msg.bot .text a[href*=\"?start=i_\"]') || {}).href")
        assert href.startswith("https://t.me/")
        code = href.split("?start=")[1]
        await cdp.js("document.querySelector('.msg.bot .text a[href*=\"?start=i_\"]').click(), true")
        await cdp.wait_js(f"[...document.querySelectorAll('.msg.user')].some(m => m.innerText.includes('/start {code}'))")
        await bot_text(cdp, "身份已开通")
        assert await cdp.js("location.href") == playground.url + "/"
        assert await open_pages(cdp) == 1  # nothing opened t.me
        # a bare t.me/<bot>?start=… in a message is a link too, and opens here as well
        await type_and_send(cdp, "看看 t.me/patent_pilot_bot?start=zz9 这个")
        await cdp.wait_js("!!document.querySelector('.msg.user .text a[href$=\"?start=zz9\"]')")
        await cdp.js("document.querySelector('.msg.user .text a[href$=\"?start=zz9\"]').click(), true")
        await cdp.wait_js("[...document.querySelectorAll('.msg.user')].some(m => m.innerText.includes('/start zz9'))")
        await bot_text(cdp, "欢迎使用")
        assert await open_pages(cdp) == 1
        assert not await cdp.js("document.querySelector('#error-bar').offsetParent")


async def test_a_restarted_playground_resets_the_open_page_quietly(playground, tmp_path):
    async with page(playground.url, tmp_path / "profile", 1000) as cdp:
        await cdp.js(f"document.querySelector('#user-select').value = '{INVENTOR}', "
                     "document.querySelector('#user-select').dispatchEvent(new Event('change')), true")
        await type_and_send(cdp, "/start")
        await bot_text(cdp, "欢迎使用")
        for needle in ("/help", "掘进机"):
            await type_and_send(cdp, needle)
            await cdp.wait_js(f"[...document.querySelectorAll('.msg.user .text')].some(m => m.innerText === {needle!r})")
        await cdp.wait_js("document.querySelectorAll('.msg.bot').length >= 3")
        playground.stop()
        playground.start()
        # an old button pressed right after the restart: its message no longer exists anywhere
        await cdp.js("""(() => { const b = [...document.querySelectorAll('.msg.bot .kb button')]
            .find(x => x.innerText.includes('帮助')); if (b) b.click(); return true; })()""")
        # the page notices the new emulator and starts over, without errors and without a reload
        await cdp.wait_js("!document.querySelector('.msg') && !!document.querySelector('.intro')", timeout=30)
        await cdp.wait_js("getComputedStyle(document.querySelector('#error-bar')).display === 'none'", timeout=15)
        assert await cdp.js("document.querySelector('#user-select').value") == str(INVENTOR)
        await type_and_send(cdp, "/start")
        await bot_text(cdp, "欢迎使用")
        await cdp.js("""(() => { [...document.querySelectorAll('.msg.bot .kb button')]
            .find(x => x.innerText.includes('帮助')).click(); return true; })()""")
        await bot_text(cdp, "使用帮助")
        ids = await cdp.js("[...document.querySelectorAll('.msg')].map(m => Number(m.dataset.id))")
        assert ids == sorted(ids) and len(ids) == 3, ids  # the new instance's messages only
        error = await cdp.js("document.querySelector('#error-bar').textContent")
        assert "not found" not in error
        assert await cdp.js("getComputedStyle(document.querySelector('#error-bar')).display") == "none"
