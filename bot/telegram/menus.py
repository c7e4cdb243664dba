"""Who may use which command: ONE table (``COMMANDS``, mirrored by README's command table and checked
against it by tests/test_menus.py), and everything built from it — Telegram's command menus (the
default one, and one per chat for users whose menu differs), /help's list grouped by role and the
buttons of /start's main menu. Deriving all of them from one table is what keeps them from drifting.

A chat's menu is refreshed whenever what the user should see differs from what was last set: the
fingerprint of the menu (language, commands, descriptions) is stored with the user (``User.menu_key``)
and compared with the current roles on every update, so a granted, revoked or expired role, a /lang
choice, or a new release with different commands refreshes it at the user's next update.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import weakref
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import RetryAfter, TelegramError

from bot.models import Role
from bot.services.roles import RoleSet
from bot.telegram.callbacks import MenuCommand

log = logging.getLogger(__name__)

EVERYONE = "everyone"
INVENTOR, TTO, ENTERPRISE, EXPERT, OFFICER, AGENCY, ADMIN = (
    Role.INVENTOR, Role.TECH_TRANSFER, Role.ENTERPRISE, Role.EXPERT, Role.OFFICER, Role.AGENCY, Role.ADMIN)


@dataclass(frozen=True)
class Command:
    name: str
    roles: tuple[Role, ...] = ()  # who may use it; () = everyone
    button: bool = False  # also a button of /start's main menu (label: ``menu_btn[name]``)

    def allowed(self, held: frozenset[str]) -> bool:
        return not self.roles or any(r.value in held for r in self.roles)


# The order is the order of Telegram's command menu and, within each role, of /help.
COMMANDS: tuple[Command, ...] = (
    Command("start"),
    Command("mypatents", (INVENTOR,), button=True),
    Command("review", (TTO,), button=True),
    Command("profile", (ENTERPRISE,), button=True),
    Command("leads", (INVENTOR, ENTERPRISE, TTO, AGENCY), button=True),
    Command("needs", (ENTERPRISE,), button=True),
    Command("browse", button=True),
    Command("events", button=True),
    Command("myevents"),
    Command("newevent", (OFFICER, AGENCY, ADMIN)),
    Command("stats", (OFFICER, ADMIN), button=True),
    Command("deadlines", (OFFICER, ADMIN), button=True),
    Command("experts", (OFFICER, AGENCY, TTO, ADMIN)),
    Command("candidates", (OFFICER, TTO, AGENCY, ADMIN)),
    Command("export", (OFFICER, TTO, ADMIN)),
    Command("invite", (ADMIN,), button=True),
    Command("revoke", (ADMIN,)),
    Command("audit", (ADMIN,)),
    Command("subscriptions"),
    Command("me"),
    Command("lang"),
    Command("privacy"),
    Command("mydata"),
    Command("deleteme"),
    Command("help", button=True),
    Command("cancel"),
)
BY_NAME = {c.name: c for c in COMMANDS}
# /help's groups, in this order; a command is listed once, under the first group the user belongs to
GROUPS: tuple[str, ...] = (EVERYONE, *(r.value for r in Role))

MENU_COMMANDS = tuple(c.name for c in COMMANDS if not c.roles)  # everyone's: the default menu

RETRY_AFTER_FAILURE = dt.timedelta(minutes=10)


def held_roles(roles: RoleSet | None) -> frozenset[str]:
    """The role names a user holds (``admin`` also for ADMIN_IDS)."""
    if roles is None:
        return frozenset()
    return frozenset(g.role for g in roles.grants) | ({ADMIN.value} if roles.env_admin else set())


def commands_for(held: frozenset[str]) -> list[Command]:
    return [c for c in COMMANDS if c.allowed(held)]


def help_groups(held: frozenset[str]) -> list[tuple[str, list[Command]]]:
    """The user's commands grouped by role: everyone's first, then each held role's own."""
    groups: dict[str, list[Command]] = {}
    for c in commands_for(held):
        group = EVERYONE if not c.roles else next(g for g in GROUPS if g in held and Role(g) in c.roles)
        groups.setdefault(group, []).append(c)
    return [(g, groups[g]) for g in GROUPS if g in groups]


def main_menu(held: frozenset[str]) -> list[Command]:
    """/start's buttons: the user's role-specific ones first, then everyone's."""
    buttons = [c for c in commands_for(held) if c.button]
    return sorted(buttons, key=lambda c: not c.roles)  # stable: table order within each part


def callback_data(command: Command) -> str:
    return MenuCommand(command.name).pack()


def _bot_commands(i18n: Any, lang: str, commands: list[Command]) -> list[BotCommand]:
    return [BotCommand(c.name, i18n.label(lang, f"cmd_{c.name}")) for c in commands]


# per Translator (its labels are the descriptions): (lang, roles) -> (fingerprint, commands)
_menus: weakref.WeakKeyDictionary[Any, dict[tuple[str, frozenset[str]], tuple[str, list[BotCommand]]]] = \
    weakref.WeakKeyDictionary()


def chat_menu(i18n: Any, lang: str, held: frozenset[str]) -> tuple[str, list[BotCommand]]:
    """(fingerprint, commands) of the menu for these roles in this language; computed once per
    combination, as this runs on every update."""
    known = _menus.setdefault(i18n, {})
    found = known.get((lang, held))
    if found is None:
        commands = _bot_commands(i18n, lang, commands_for(held))
        text = "\n".join([lang, *(f"{c.command} {c.description}" for c in commands)])
        found = known[(lang, held)] = (hashlib.sha1(text.encode()).hexdigest()[:16], commands)
    return found


def wanted_menu_key(i18n: Any, user: Any, held: frozenset[str]) -> str | None:
    """The fingerprint the user's chat should show; None when Telegram's default menu fits (no role,
    and a language Telegram picks itself: the default menus exist per client language, a /lang choice
    may differ from the client's)."""
    if not held and not user.language_chosen:
        return None
    return chat_menu(i18n, user.language, held)[0]


async def refresh_chat_menu(context: Any, user: Any, roles: RoleSet | None) -> None:
    """Bring the user's private-chat menu in line with their roles and language, if it is not yet.
    Costs nothing when it is (one comparison); never fails the user's action over a Telegram error.
    ``context``: the update's BotContext (bot, services, bot_data)."""
    services = context.services
    held = held_roles(roles)
    wanted = wanted_menu_key(services.i18n, user, held)
    if wanted == user.menu_key:
        return
    # after a failure, later updates wait a while instead of each calling Telegram again
    retry_at: dict[int, dt.datetime] = context.bot_data.setdefault("menus.retry_at", {})
    now = services.clock()
    if user.id in retry_at and now < retry_at[user.id]:
        return
    try:
        if wanted is None:
            await context.bot.delete_my_commands(scope=BotCommandScopeChat(user.id))
        else:
            await context.bot.set_my_commands(chat_menu(services.i18n, user.language, held)[1],
                                              scope=BotCommandScopeChat(user.id))
    except TelegramError as e:
        # a menu is a convenience: the user's action goes on
        log.warning("could not set the command menu of chat %s: %s", user.id, e)
        if len(retry_at) > 10_000:
            retry_at.clear()
        wait = RETRY_AFTER_FAILURE
        if isinstance(e, RetryAfter):
            ra = e.retry_after
            wait = ra if isinstance(ra, dt.timedelta) else dt.timedelta(seconds=ra)
        retry_at[user.id] = now + wait
        return
    retry_at.pop(user.id, None)
    await services.storage.set_menu_key(user.id, wanted)
    user.menu_key = wanted


async def set_default_menus(bot: Any, i18n: Any) -> None:
    """The menu of everyone without a chat menu of their own: Chinese by default, English for clients
    set to English."""
    for lang in ("zh", "en"):
        await bot.set_my_commands(_bot_commands(i18n, lang, commands_for(frozenset())),
                                  scope=BotCommandScopeDefault(), language_code=None if lang == "zh" else "en")
