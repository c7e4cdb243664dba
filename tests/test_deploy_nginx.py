"""The reference deployment (docs/DEPLOY.md) run as written: nginx, configured from deploy/'s
template, in front of two ``python run_bot.py`` webhook workers on one PostgreSQL. Telegram's side is
the emulator, which posts every update to nginx's URL, as Telegram would."""
from __future__ import annotations

import asyncio
import json
import os

import aiohttp
import pytest

from devtools.emulator import BotAPIEmulator
from devtools.nginx import NginxFront, nginx_binary
from tests.harness import ADMIN
from tests.shipped import ShippedBot, free_port
from tests.test_shipped import TOKEN, Phones, _polling_env

SECRET = "deploy-Secret_0123456789"


@pytest.fixture
def nginx_available():
    if nginx_binary() is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("nginx is not installed (.ci/run installs nginx-light)")
        pytest.skip("nginx is not installed")


@pytest.mark.postgres
async def test_two_workers_behind_nginx_answer_everyone_and_refuse_forged_updates(nginx_available, pg_url, tmp_path):
    ports = [free_port(), free_port()]
    front = NginxFront(free_port(), [f"127.0.0.1:{p}" for p in ports], "/tg-hook", tmp_path / "nginx")
    async with BotAPIEmulator(token=TOKEN) as emu, Phones(emu.url) as phones:
        def worker_env(i: int) -> dict[str, str]:
            return _polling_env(emu, tmp_path / f"worker-{i}", DATABASE_URL=pg_url, SEED_CORPUS="0",
                                WEBHOOK_URL=front.url, WEBHOOK_SECRET=SECRET, WEBHOOK_LISTEN="127.0.0.1",
                                WEBHOOK_PORT=str(ports[i]), OUTBOX_WORKER_ID=f"worker-{i}")

        await asyncio.to_thread(front.start)
        try:
            first = await ShippedBot(worker_env(0)).astart()  # migrations first, as the deployment says
            second = await ShippedBot(worker_env(1)).astart()
            try:
                assert all(b.ready_line.startswith("Bot ready: webhook") for b in (first, second))
                users = [await phones.user(6600 + i, f"用户{i}") for i in range(6)]
                for u in users:
                    (welcome,) = await u.send("/start")
                    assert "欢迎使用" in welcome.text
                (help_msg,) = await users[0].send("/help")
                assert help_msg.text
                # each update went through nginx, and both workers took some
                seen = front.upstreams()
                assert {addr for addr, _ in seen} == {f"127.0.0.1:{p}" for p in ports}, seen
                assert all(status == "200" for _, status in seen), seen
                # a forged update (no secret, or a wrong one) is refused through nginx, and nothing answers it
                forged = {"update_id": 999999, "message": {"message_id": 1, "date": 0, "text": "/stats",
                                                           "chat": {"id": ADMIN, "type": "private"},
                                                           "from": {"id": ADMIN, "is_bot": False,
                                                                    "first_name": "x"}}}
                async with aiohttp.ClientSession() as http:
                    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                        for _ in range(2):  # round robin: both workers refuse it
                            async with http.post(front.url, data=json.dumps(forged), headers=headers) as r:
                                assert r.status == 403
                    async with http.get(front.url) as r:
                        assert r.status == 403  # only POST is proxied
                await asyncio.sleep(1)
                admin = await phones.user(ADMIN, "管理员")
                assert not [m for m in admin.transcript() if m.from_bot]
            finally:
                codes = [await second.aterminate(), await first.aterminate()]
            assert codes == [0, 0], first.output + second.output
            assert "Traceback" not in first.output + second.output
        finally:
            await asyncio.to_thread(front.stop)
