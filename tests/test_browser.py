"""The playground as a person uses it: `python run_bot.py` with no token, a real headless Chromium
opens the page, types /start, and sees the bot's answer. Driven over the Chrome DevTools Protocol
(aiohttp websocket), so no extra browser-automation package is needed."""
from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot.config import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CDP:
    """A minimal Chrome DevTools Protocol client for one page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self._id = 0

    async def call(self, method: str, **params):
        self._id += 1
        my_id = self._id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), 30)
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def js(self, expression: str):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JS error: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def wait_js(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for: {expression}")


@pytest.fixture
def playground(seeded_db, tmp_path):
    """`python run_bot.py` with no token, on a copy of the seeded database."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(seeded_db / "patents.db", data / "patents.db")
    shutil.copytree(seeded_db / "cache", data / "cache")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "DATABASE_URL")}
    env.update(DATA_DIR=str(data), PLAYGROUND_PORT=str(port), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "run_bot.py")], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Playground ready" in line:
            break
    assert any(f"http://127.0.0.1:{port}" in line for line in lines), "".join(lines)
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def push_interest_request(url: str) -> None:
    """Two other phones (over the emulator's HTTP API): the inventor links a patent, an enterprise
    presses 🤝 on its card, and the bot pushes the request to the inventor."""
    from devtools.client import SimUser

    async with SimUser(url, 1001, "张老师", reply_timeout=15, quiet=0.5) as inventor, \
            SimUser(url, 1002, "王经理", reply_timeout=15, quiet=0.5) as enterprise:
        await inventor.send("/mypatents")
        await inventor.press("➕ 关联一件专利")
        await inventor.send("掘进机")
        await inventor.press("CN113914863A")
        await enterprise.send("近水平薄矿体 掘进机")
        await enterprise.press("1")
        sent = await enterprise.press("🤝 有意向")
        assert "已向发明人转达" in sent.text


async def test_playground_page_answers_start(playground, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but chromium is not installed")
        pytest.skip("chromium not installed")
    profile = tmp_path / "chrome-profile"
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--window-size=1000,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        devtools_port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{devtools_port}/json/list") as r:
                pages = [t for t in await r.json() if t["type"] == "page"]
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = CDP(ws)
                await cdp.call("Page.enable")
                await cdp.call("Page.navigate", url=playground)
                await cdp.wait_js("document.querySelector('#input') && "
                                  "document.querySelectorAll('#user-select option').length >= 3")
                labels = await cdp.js("[...document.querySelectorAll('#user-select option')].map(o => o.text)")
                assert any("Inventor" in x for x in labels) and any("Officer" in x for x in labels)
                # type /start and press the send button, like a person
                await cdp.js("""(() => { const i = document.querySelector('#input'); i.focus();
                    i.value = '/start'; i.dispatchEvent(new Event('input', {bubbles: true}));
                    document.querySelector('#send').click(); return true; })()""")
                text = await cdp.wait_js("[...document.querySelectorAll('.msg.bot')].map(m => m.innerText)"
                                         ".find(t => t.includes('欢迎使用'))")
                assert "专利盘活" in text
                assert await cdp.js("[...document.querySelectorAll('.msg.user')].some(m => m.innerText.includes('/start'))")
                # a search shows hits with the matched term in bold
                await cdp.js("""(() => { const i = document.querySelector('#input');
                    i.value = '掘进机'; document.querySelector('#send').click(); return true; })()""")
                bold = await cdp.wait_js("[...document.querySelectorAll('.msg.bot b')].map(b => b.innerText)"
                                         ".find(t => t === '掘进机')")
                assert bold == "掘进机"
                # a push arrives on the page: the inventor's view shows an enterprise's interest request
                await cdp.js("""(() => { const s = document.querySelector('#user-select'); s.value = '1001';
                    s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()""")
                await push_interest_request(playground)
                push = await cdp.wait_js("[...document.querySelectorAll('.msg.bot')].map(m => m.innerText)"
                                         ".find(t => t.includes('有对接意向'))", timeout=30)
                assert "福州新能科技有限公司" in push
                shot = await cdp.call("Page.captureScreenshot", format="png")
                out = Path(os.environ.get("SCREENSHOT_DIR", tmp_path)) / "playground.png"
                out.write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
