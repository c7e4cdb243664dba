"""Telegram command menus: the common commands for everyone, plus per-chat ones for role holders."""
from __future__ import annotations

from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.roles import RoleSet

MENU_COMMANDS = ("start", "browse", "help", "lang")
# extra commands shown (per chat) to holders of a role
ROLE_COMMANDS = {"inventor": ("mypatents", "leads"), "tto": ("review", "candidates", "export"),
                 "enterprise": ("profile", "leads"), "expert": (), "agency": ("leads", "experts", "events"),
                 "officer": ("stats", "experts", "candidates", "export"),
                 "admin": ("invite", "stats", "audit", "export")}
# events, subscriptions and reminders (issue 6): every role holder; officers and admins also deadlines
ROLE_COMMANDS = {r: cs + ("events", "myevents", "subscriptions") + (("deadlines",) if r in ("officer", "admin") else ())
                 for r, cs in ROLE_COMMANDS.items()}


async def set_chat_menu(bot: Any, services: Any, chat_id: int, lang: str, roles: RoleSet) -> None:
    """The command menu of one chat: the common commands plus those of the user's roles."""
    held = {g.role for g in roles.grants} | ({"admin"} if roles.is_admin else set())
    if not held:
        return  # the default menu fits
    names = list(MENU_COMMANDS) + [c for r, cs in ROLE_COMMANDS.items() if r in held for c in cs] + ["me", "cancel"]
    commands = [BotCommand(c, services.i18n.label(lang, f"cmd_{c}")) for c in dict.fromkeys(names)]
    try:
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id))
    except TelegramError:
        pass  # a menu is a convenience; never fail the user's action over it


