"""Users find what they may do: per-user command menus, /start's main menu and /help, all from one
table (bot/telegram/menus.py COMMANDS) that agrees with README's command tables."""
from __future__ import annotations

import re

from sqlalchemy import update

from bot.telegram import menus
from bot.config import PROJECT_ROOT
from bot.models import RoleGrant, User
from tests.harness import ADMIN, invite_code, user_with_role

EVERYONE = ["start", "browse", "events", "myevents", "subscriptions", "me", "lang", "privacy", "mydata", "deleteme",
            "help", "cancel"]
README_WHO = {"everyone": None, "inventors": "inventor", "offices": "tto", "enterprises": "enterprise",
              "experts": "expert", "agencies": "agency", "officers": "officer", "admins": "admin"}


def menu(bot, uid: int) -> list[str]:
    return [c["command"] for c in bot.emulator.commands_for(uid)]


def descriptions(bot, uid: int) -> dict[str, str]:
    return {c["command"]: c["description"] for c in bot.emulator.commands_for(uid)}


def descriptions_en(bot, uid: int) -> dict[str, str]:
    return {c["command"]: c["description"] for c in bot.emulator.commands_for(uid, language_code="en")}


def help_commands(text: str) -> list[str]:
    return re.findall(r"^/(\w+) — ", text, re.MULTILINE)


def set_my_commands_calls(bot) -> int:
    return len(bot.emulator.calls("setMyCommands")) + len(bot.emulator.calls("deleteMyCommands"))


async def revoke(bot, uid: int, role: str) -> None:
    """What a future /revoke (or an expiry) would do: the grant is no longer active."""
    async with bot.services.storage.session() as s:
        await s.execute(update(RoleGrant).where(RoleGrant.user_id == uid, RoleGrant.role == role)
                        .values(revoked_at=bot.clock()))


def readme_table() -> dict[str, set[str] | None]:
    """README's Telegram command tables: command → the roles in its "who" column (None: everyone)."""
    found: dict[str, set[str] | None] = {}
    for line in (PROJECT_ROOT / "README.md").read_text("utf-8").splitlines():
        if not line.startswith("| `/"):
            continue
        first, who = line.split("|")[1:3]
        who = re.sub(r"\([^)]*\)", "", who)
        roles = {README_WHO[part.split()[-1]] for part in who.split(",") if part.strip()}
        for name in re.findall(r"`/(\w+)", first):
            found[name] = None if roles == {None} else roles
    return found


async def test_one_table_agrees_with_readme_and_the_registered_commands(bot):
    table = {c.name: ({r.value for r in c.roles} or None) for c in menus.COMMANDS}
    assert readme_table() == table
    from telegram.ext import CommandHandler

    registered = {name for handlers in bot.app.handlers.values() for h in handlers
                  if isinstance(h, CommandHandler) for name in h.commands}
    assert registered == set(table)
    assert all(len(menus.callback_data(c).encode()) <= 64 for c in menus.COMMANDS)


async def test_a_user_without_roles_sees_everyones_commands_and_buttons(bot):
    u = await bot.user(7001, "路人")
    (welcome,) = await u.send("/start")
    assert "欢迎使用" in welcome.text
    assert welcome.buttons == [["📚 浏览专利库", "📅 活动"], ["❓ 帮助"]]
    # no chat menu of their own: Telegram's default one, which lists the same commands
    assert menu(bot, 7001) == EVERYONE
    # and no chat menu of their own: an English client sees the English default
    assert descriptions_en(bot, 7001)["help"] == "How to use this bot"
    (help_,) = await u.send("/help")
    assert help_commands(help_.text) == EVERYONE
    assert "所有人" in help_.text and "邀请链接" in help_.text and "/mypatents" not in help_.text
    # every button works: it runs the command
    assert "使用帮助" in (await u.press("❓ 帮助")).text
    assert "转化资源库" in (await u.press("📚 浏览专利库")).text
    events = await u.press("📅 活动")
    assert events.text and events.answer is not None


async def test_inventor_gets_a_menu_buttons_and_help_for_the_role(bot):
    u = await user_with_role(bot, 7011, "张老师", "inventor 福州大学")
    assert "发明人" in u.bot_messages()[-1].text
    commands = menu(bot, 7011)
    assert commands[:3] == ["start", "mypatents", "leads"] and set(EVERYONE) <= set(commands)
    assert not {"review", "stats", "invite", "profile"} & set(commands)
    assert descriptions(bot, 7011)["mypatents"] == "我的专利与自评"
    (welcome,) = await u.send("/start")
    assert welcome.labels == ["📋 我的专利", "🤝 我的意向", "📚 浏览专利库", "📅 活动", "❓ 帮助"]
    mine = await u.press("📋 我的专利")
    assert "➕ 关联一件专利" in mine.last.labels  # the same answer as /mypatents
    (typed,) = await u.send("/mypatents")
    assert typed.text == mine.last.text
    (help_,) = await u.send("/help")
    assert help_commands(help_.text) == EVERYONE + ["mypatents", "leads"]
    assert "<b>发明人</b>" in help_.html
    assert set(help_commands(help_.text)) == set(menu(bot, 7011))  # help and menu from one table


async def test_roles_add_up_and_each_command_is_listed_once(bot):
    u = await user_with_role(bot, 7021, "王主任", "officer 市场监管局")
    admin = bot.users[ADMIN]
    await u.send(f"/start {await invite_code(admin, 'agency 海峡技术转移中心')}")
    commands = menu(bot, 7021)
    assert len(commands) == len(set(commands))
    assert {"stats", "deadlines", "newevent", "experts", "candidates", "export", "leads"} <= set(commands)
    assert not {"invite", "audit", "mypatents", "review"} & set(commands)
    (help_,) = await u.send("/help")
    listed = help_commands(help_.text)
    assert sorted(listed) == sorted(commands)
    # officer's group first, then the agency's own: /leads
    assert help_.text.index("部门工作人员") < help_.text.index("/stats") < help_.text.index("服务机构") \
        < help_.text.index("/leads")
    (welcome,) = await u.send("/start")
    assert welcome.labels == ["🤝 我的意向", "📊 统计", "⏰ 任务节点", "📚 浏览专利库", "📅 活动", "❓ 帮助"]
    deadlines = await u.press("⏰ 任务节点")
    assert deadlines.text and "🔒" not in deadlines.text


async def test_admin_ids_admin_gets_the_admin_menu(bot):
    admin = bot.users.get(ADMIN) or await bot.user(ADMIN, "管理员")
    (welcome,) = await admin.send("/start")
    assert {"invite", "audit", "stats", "deadlines", "export"} <= set(menu(bot, ADMIN))
    assert "🎟 邀请链接" in welcome.labels
    usage = await admin.press("🎟 邀请链接")
    assert "用法" in usage.text
    (help_,) = await admin.send("/help")
    assert "<b>管理员</b>" in help_.html and "/audit" in help_.text


async def test_english_menu_and_lang_switch(bot):
    u = await user_with_role(bot, 7031, "Olivia", "officer 市场监管局", lang="en")
    assert descriptions(bot, 7031)["stats"] == "Progress statistics"
    (welcome,) = await u.send("/start")
    assert "📊 Statistics" in welcome.labels
    (help_,) = await u.send("/help")
    assert "<b>Officer</b>" in help_.html and "/stats — Progress statistics" in help_.text
    await u.send("/lang")
    await u.press("中文")
    assert descriptions(bot, 7031)["stats"] == "进度统计"
    # a user without roles who chose a language gets the menu in it, whatever the client's language
    plain = await bot.user(7032, "Ben", language_code="en")
    await plain.send("/lang")
    await plain.press("中文")
    assert descriptions(bot, 7032)["help"] == "使用帮助"
    assert menu(bot, 7032) == EVERYONE


async def test_a_revoked_role_leaves_the_menu_at_the_next_update(bot):
    u = await user_with_role(bot, 7041, "林老师", "inventor 福州大学")
    admin = bot.users[ADMIN]
    await u.send(f"/start {await invite_code(admin, 'tto 福州大学')}")
    assert {"mypatents", "review"} <= set(menu(bot, 7041))
    (welcome,) = await u.send("/start")
    assert "📝 待审核" in welcome.labels
    await revoke(bot, 7041, "tto")
    await u.send("/me")
    assert "mypatents" in menu(bot, 7041) and "review" not in menu(bot, 7041)
    # the old main menu's button answers like the command would
    refused = await u.press("📝 待审核", message_id=welcome.message_id)
    assert refused.answer is not None
    assert "🔒" in refused.text and "技术转移办公室" in refused.text
    # no role left: back to the default menu, the chat's own one deleted
    await revoke(bot, 7041, "inventor")
    deletes = len(bot.emulator.calls("deleteMyCommands"))
    (help_,) = await u.send("/help")
    assert help_commands(help_.text) == EVERYONE
    assert len(bot.emulator.calls("deleteMyCommands")) == deletes + 1
    assert menu(bot, 7041) == EVERYONE
    async with bot.services.storage.session() as s:
        assert (await s.get(User, 7041)).menu_key is None


async def test_the_menu_is_set_once_and_remembered_across_a_restart(bot):
    u = await user_with_role(bot, 7051, "专家", "expert new_energy")
    assert set(menu(bot, 7051)) == set(EVERYONE) and descriptions_en(bot, 7051)["help"] == "使用帮助"
    before = set_my_commands_calls(bot)
    for text in ("/help", "/me", "掘进机"):
        await u.send(text)
    assert set_my_commands_calls(bot) == before  # unchanged roles: no Telegram call
    await bot.restart()
    before = set_my_commands_calls(bot)  # the restart set the default menus again
    await u.send("/help")
    assert set_my_commands_calls(bot) == before  # stored with the user, not in memory


async def test_a_telegram_error_never_fails_the_users_action(bot):
    admin = await bot.user(ADMIN, "管理员")
    code = await invite_code(admin, "inventor 福州大学")
    u = await bot.user(7061, "赵老师")
    bot.emulator.inject_fault("setMyCommands", status=500, count=1)
    (ok,) = await u.send(f"/start {code}")
    assert "发明人" in ok.text  # the invite still worked and said so
    assert "mypatents" not in menu(bot, 7061)
    await u.send("/help")
    assert "mypatents" not in menu(bot, 7061)  # waits before asking Telegram again
    bot.clock.advance(minutes=11)
    await u.send("/help")
    assert "mypatents" in menu(bot, 7061)
