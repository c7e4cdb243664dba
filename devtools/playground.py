"""Playground: the Bot API emulator + a browser chat page + the real bot, all on this machine.

No Telegram token needed. ``bot.bootstrap.start`` runs the bot exactly as in production (same
Application, same services, real HTTP long polling); only the Bot API endpoint is the local emulator,
started here, and the simulated users listed in ``playground_users.json`` get their roles.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.services.invites import resolve_scope
from bot.models import Role
from devtools.demo_data import apply_demo_data

USERS_FILE = Path(__file__).parent / "playground_users.json"


def playground_users() -> list[dict]:
    return json.loads(USERS_FILE.read_text(encoding="utf-8"))


def playground_admins() -> frozenset[int]:
    """The simulated admin is an admin of this local playground only."""
    return frozenset(u["id"] for u in playground_users() if u.get("admin"))


async def start_emulator(settings: Settings, token: str) -> Any:
    from devtools.emulator import BotAPIEmulator

    emulator = BotAPIEmulator(token=token, serve_playground=True, playground_users=playground_users())
    await emulator.start(host=settings.playground_host, port=settings.playground_port)
    return emulator


async def grant_playground_roles(services: Any) -> None:
    """Give each simulated user the roles listed for it, so every side can be tried at once.
    (Real users get roles only through invites.) Then the demo data, once (``devtools/demo_data.py``)."""
    st = services.storage
    for u in playground_users():
        await st.touch_user(u["id"], u["first_name"], u.get("username"), u.get("language_code"),
                            services.settings.default_language)
        for role_name, scope in u.get("roles", []):
            role = Role(role_name)
            await st.grant_role(u["id"], role, **await resolve_scope(st, role, scope))
    await apply_demo_data(services)
