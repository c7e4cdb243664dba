"""The playground as a person uses it: `python run_bot.py` with no token, a real headless Chromium
opens the page, types /start, and sees the bot's answer. Driven over the Chrome DevTools Protocol
(aiohttp websocket), so no extra browser-automation package is needed."""
from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from tests.browser import page
from tests.shipped import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def playground(seeded_db, tmp_path):
    """`python run_bot.py` with no token, on a copy of the seeded database."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(seeded_db / "patents.db", data / "patents.db")
    shutil.copytree(seeded_db / "cache", data / "cache")
    port = free_port()
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
    """Three other phones (over the emulator's HTTP API): the inventor asks to link a patent, the office
    confirms, an enterprise presses 🤝 on its card, and the bot pushes the request to the inventor."""
    from devtools.client import SimUser

    from tests.harness import office_confirms

    async with SimUser(url, 1001, "张老师", reply_timeout=15, quiet=0.5) as inventor, \
            SimUser(url, 1005, "林老师", reply_timeout=15, quiet=0.5) as office, \
            SimUser(url, 1002, "王经理", reply_timeout=15, quiet=0.5) as enterprise:
        await inventor.send("/mypatents")
        await inventor.press("➕ 关联一件专利")
        await inventor.send("掘进机")
        await inventor.press("CN113914863A")
        # the link is a request: 福州大学's office confirms it before requests reach the inventor
        await office_confirms(office, "CN113914863A", inventor)
        await enterprise.send("近水平薄矿体 掘进机")
        await enterprise.press("1")
        sent = await enterprise.press("🤝 有意向")
        assert "已向发明人转达" in sent.text


async def test_playground_page_answers_start(playground, tmp_path):
    async with page(playground, tmp_path / "chrome-profile", 1000, 900) as cdp:
        await cdp.wait_js("!!document.querySelector('#input')")
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
