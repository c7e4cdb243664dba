"""Playground: the Bot API emulator + a browser chat page + the real bot, all on this machine.

No Telegram token needed. The bot runs exactly as in production (same Application, same handlers,
real HTTP long polling) — only the Bot API endpoint is the local emulator.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path

from telegram import Update

from bot.app import build_application
from bot.config import Settings
from bot.devserver.emulator import BotAPIEmulator
from bot.invites import resolve_scope
from bot.models import Role
from bot.runtime import _stop_event, open_services

log = logging.getLogger(__name__)

PLAYGROUND_TOKEN = "1000000001:PLAYGROUND-local-token"
USERS_FILE = Path(__file__).parent / "devserver" / "playground_users.json"


def playground_users() -> list[dict]:
    return json.loads(USERS_FILE.read_text(encoding="utf-8"))


async def grant_playground_roles(services, users: list[dict]) -> None:
    """Give each simulated user the roles listed for it, so every side can be tried at once.
    (Real users get roles only through invites.)"""
    st = services.storage
    for u in users:
        await st.touch_user(u["id"], u["first_name"], u.get("username"), u.get("language_code"),
                            services.settings.default_language)
        for role_name, scope in u.get("roles", []):
            role = Role(role_name)
            await st.grant_role(u["id"], role, **await resolve_scope(st, role, scope))


async def run_playground(settings: Settings, *, ready: asyncio.Event | None = None,
                         stop: asyncio.Event | None = None) -> None:
    users = playground_users()
    # the simulated admin is an admin of this local playground only
    settings = replace(settings, admin_ids=settings.admin_ids | {u["id"] for u in users if u.get("admin")})
    emulator = BotAPIEmulator(token=PLAYGROUND_TOKEN, serve_playground=True, playground_users=users)
    await emulator.start(host=settings.playground_host, port=settings.playground_port)
    services = await open_services(settings)
    await grant_playground_roles(services, users)
    app = build_application(services, token=PLAYGROUND_TOKEN, base_url=emulator.base_url,
                            base_file_url=emulator.base_file_url)
    try:
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)
            url = f"http://{settings.playground_host}:{emulator.port}"
            print(f"Playground ready: open {url} in a browser (Ctrl+C to stop)", flush=True)
            if ready is not None:
                ready.set()
            await (stop or _stop_event()).wait()
            await app.updater.stop()
            await app.stop()
    finally:
        await services.storage.close()
        await emulator.stop()
