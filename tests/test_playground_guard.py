"""The playground as a web page the developer visits would attack it, and as a mistaken environment would
start it: ``python run_bot.py`` with no token in a subprocess, reached only over HTTP.

- Its ``/_emu/`` control API acts as every simulated user, the playground admin included: a request
  from another site (cross-origin, or a ``text/plain`` "simple" POST a page may send without asking, or
  a rebound DNS name) is refused and changes nothing; the page's own requests keep working.
- With the token unset by mistake and DATABASE_URL pointing elsewhere, the playground refuses to start
  (exit 2, one line) and writes nothing there, unless PLAYGROUND_DATABASE_URL_OK=1."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import aiohttp
import pytest

from bot.config import PROJECT_ROOT
from tests.shipped import ShippedBot, free_port, seeded_data_dir

ADMIN = 1000  # devtools/playground_users.json: the playground's admin


@pytest.fixture(scope="module")
def playground(seeded_db, tmp_path_factory):
    """The playground on a DATABASE_URL of the developer's choosing, asked for explicitly."""
    data = seeded_data_dir(seeded_db, tmp_path_factory.mktemp("guard") / "data")
    port = free_port()
    shutil.copy(data / "patents.db", data / "chosen.db")
    url = f"sqlite+aiosqlite:///{data / 'chosen.db'}"
    bot = ShippedBot({"DATA_DIR": str(data), "PLAYGROUND_PORT": str(port), "DATABASE_URL": url,
                      "PLAYGROUND_DATABASE_URL_OK": "1"}, cwd=data)
    bot.start(timeout=300)
    bot.url = f"http://127.0.0.1:{port}"
    yield bot
    code = bot.terminate()
    assert code == 0, bot.output


async def _admin_chat(url: str) -> list[str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/_emu/chats/{ADMIN}/messages") as r:
            return [m.get("text") or "" for m in (await r.json())["messages"]]


async def test_cross_site_requests_to_the_control_api_are_refused(playground):
    invite = {"user_id": ADMIN, "text": "/invite admin"}
    port = playground.url.rsplit(":", 1)[1]
    attacks = [
        # a page on another site posting JSON (after CORS) or a "simple" request with a JSON body
        ({"Origin": "https://evil.example", "Content-Type": "application/json"}, json.dumps(invite)),
        ({"Content-Type": "text/plain"}, json.dumps(invite)),
        ({"Origin": "https://evil.example", "Content-Type": "text/plain;charset=UTF-8",
          "Sec-Fetch-Site": "cross-site"}, json.dumps(invite)),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "user_id=1000&text=%2Finvite+admin"),
        # a rebound DNS name pointing at 127.0.0.1: the browser calls it same-origin, the Host tells
        ({"Host": f"evil.example:{port}", "Content-Type": "application/json"}, json.dumps(invite)),
    ]
    async with aiohttp.ClientSession() as http:
        for headers, body in attacks:
            async with http.post(playground.url + "/_emu/send", data=body, headers=headers) as r:
                assert r.status == 403, (headers, await r.text())
        # reading what the admin sees is refused cross-site too
        async with http.get(f"{playground.url}/_emu/chats/{ADMIN}/messages",
                            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}) as r:
            assert r.status == 403
    assert not any("/invite" in t or "start=i_" in t for t in await _admin_chat(playground.url))


async def test_the_playground_page_own_requests_still_work(playground):
    same_site = {"Origin": playground.url, "Sec-Fetch-Site": "same-origin"}
    async with aiohttp.ClientSession() as http:
        async with http.get(playground.url + "/_emu/bot", headers={"Sec-Fetch-Site": "same-origin"}) as r:
            assert r.status == 200 and (await r.json())["username"]
        async with http.post(playground.url + "/_emu/send", json={"user_id": ADMIN, "text": "/me"},
                             headers=same_site) as r:
            assert r.status == 200
    for _ in range(100):  # the bot answers /me: the admin's role on the database it was given
        if any("admin" in t or "管理员" in t for t in await _admin_chat(playground.url)):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(await _admin_chat(playground.url))


def test_the_playground_refuses_a_database_it_was_not_given(tmp_path):
    data = tmp_path / "data"
    elsewhere = tmp_path / "production.db"
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "PLAYGROUND_DATABASE_URL_OK", "WEBHOOK_URL")}
    env.update(DATA_DIR=str(data), DATABASE_URL=f"sqlite+aiosqlite:///{elsewhere}", PLAYGROUND_PORT=str(free_port()))
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "PLAYGROUND_DATABASE_URL_OK=1" in lines[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not elsewhere.exists() and not (data / "patents.db").exists()
