"""Revoking roles and invites, and attacks on it: through the emulator as the admin, the revoked user and an
outsider act, and through ``python run_bot.py revoke`` as an operator would, while the bot runs.

A revocation is effective at the user's next update: commands and stale buttons are refused, the command
menu drops the role's commands, and a running dialog that needed the role ends with a message."""
from __future__ import annotations

import asyncio
import subprocess
import sys

from bot.config import PROJECT_ROOT
from tests.harness import ADMIN, invite_code, user_with_role
from tests.test_menus import menu

OFFICER_ARGS = "officer 市场监管局"


async def _admin(bot):
    return bot.users.get(ADMIN) or await bot.user(ADMIN, "管理员")


async def _revoke_through_bot(bot, uid: int, label_part: str) -> str:
    """The admin lists the user's roles with /revoke, taps the role and confirms; the final answer."""
    admin = await _admin(bot)
    (listing,) = await admin.send(f"/revoke {uid}")
    button = next(x for x in listing.labels if label_part in x)
    asked = await admin.press(button, message_id=listing.message_id)
    assert "确认撤销" in asked.last.text
    done = await admin.press("✖️ 确认撤销", message_id=asked.last.message_id)
    return done.last.text


async def test_a_revoked_officer_is_refused_at_the_next_update(bot):
    officer = await user_with_role(bot, 8001, "市局", OFFICER_ARGS)
    replies = await officer.send("/stats")
    assert "存量专利盘活进度" in replies[0].text
    xlsx_message = next(m for m in replies if "📥 下载 XLSX" in m.labels)
    assert "stats" in menu(bot, 8001)
    # a dialog that needs the role is under way when the role goes
    await officer.send("/newevent")
    done = await _revoke_through_bot(bot, 8001, "部门工作人员")
    assert "已撤销" in done and "市场监管局" in done

    # the stale button of the earlier /stats: refused, no spreadsheet
    stale = await officer.press("📥 下载 XLSX", message_id=xlsx_message.message_id)
    assert stale.answer is not None and not any(m.document for m in stale)
    # the running dialog ends with a message; the next text is a search again
    stopped = await officer.send("锂电池专利对接会")
    assert any("流程已结束" in m.text for m in stopped)
    (searched, *_) = await officer.send("锂电池")
    assert "流程已结束" not in searched.text and "🔒" not in searched.text
    (refused,) = await officer.send("/stats")
    assert "🔒" in refused.text
    assert "stats" not in menu(bot, 8001)
    # the admin sees it in the audit log; a second revoke of the same role changes nothing
    (audit,) = await (await _admin(bot)).send("/audit 8001")
    assert "revoke_role" in audit.text
    (listing,) = await (await _admin(bot)).send("/revoke 8001")
    assert "没有可撤销的身份" in listing.text and not listing.labels


async def test_a_revoked_role_can_be_granted_again(bot):
    officer = await user_with_role(bot, 8011, "市局", OFFICER_ARGS)
    await _revoke_through_bot(bot, 8011, "部门工作人员")
    (refused,) = await officer.send("/stats")
    assert "🔒" in refused.text
    (granted,) = await officer.send(f"/start {await invite_code(await _admin(bot), OFFICER_ARGS)}")
    assert "🔒" not in granted.text
    replies = await officer.send("/stats")
    assert "存量专利盘活进度" in replies[0].text


async def test_a_revoked_invite_code_grants_nothing(bot):
    admin = await _admin(bot)
    code = await invite_code(admin, f"{OFFICER_ARGS} uses=5")
    first = await bot.user(8021, "先到者")
    await first.send(f"/start {code}")
    (asked,) = await admin.send(f"/revoke {code}")
    assert "已使用 1/5" in asked.text
    done = await admin.press("✖️ 作废此邀请", message_id=asked.message_id)
    assert "已作废" in done.last.text
    # a replay of the confirm button changes nothing more
    again = await admin.press(callback_data=asked.raw_buttons[0][0]["callback_data"], message_id=asked.message_id,
                              stale=True)
    assert "已被撤销" in again.last.text
    late = await bot.user(8022, "后到者")
    (answer, *_) = await late.send(f"/start {code}")
    assert "无效" in answer.text or "失效" in answer.text or "过期" in answer.text, answer.text
    (refused,) = await late.send("/stats")
    assert "🔒" in refused.text
    (me,) = await late.send("/me")
    assert "部门工作人员" not in me.text
    # roles granted before the revocation stay until revoked one by one
    replies = await first.send("/stats")
    assert "存量专利盘活进度" in replies[0].text
    (audit,) = await admin.send(f"/audit {ADMIN}")
    assert "revoke_invite" in audit.text
    # bad input: a clear answer, never an error
    for bad, answer in (("/revoke", "用法"), ("/revoke 99999999999999999999", "用法"), ("/revoke 1 2", "用法"),
                        ("/revoke i_NoSuchCode", "没有这个邀请码")):
        (msg,) = await admin.send(bad)
        assert answer in msg.text, (bad, msg.text)


async def test_a_non_admins_forged_revoke_does_nothing(bot):
    victim = await user_with_role(bot, 8031, "市局", OFFICER_ARGS)
    attacker = await user_with_role(bot, 8032, "区局", "officer 科技局@鼓楼区")
    code = await invite_code(await _admin(bot), "enterprise 某企业有限公司 uses=3")
    (refused,) = await attacker.send("/revoke 8031")
    assert "🔒" in refused.text
    (refused,) = await attacker.send(f"/revoke {code}")
    assert "🔒" in refused.text
    anchor = (await attacker.send("/me")).last
    for grant_id in range(1, 12):
        for data in (f"rk:g:{grant_id}", f"rk:gy:{grant_id}", f"rk:iy:{grant_id}"):
            r = await attacker.press(callback_data=data, message_id=anchor.message_id, stale=True)
            assert r.answer is not None and not any("已撤销" in m.text or "已作废" in m.text for m in r)
    replies = await victim.send("/stats")
    assert "存量专利盘活进度" in replies[0].text
    newcomer = await bot.user(8033, "新企业用户")
    await newcomer.send(f"/start {code}")
    (me,) = await newcomer.send("/me")
    assert "企业" in me.text


async def test_the_cli_revokes_while_the_bot_runs(bot):
    officer = await user_with_role(bot, 8041, "市局", OFFICER_ARGS)
    replies = await officer.send("/stats")
    assert "存量专利盘活进度" in replies[0].text
    env = {"DATABASE_URL": bot.settings.database_url, "DATA_DIR": str(bot.data_dir), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, str(PROJECT_ROOT / "run_bot.py"), "revoke", "user", "8041", "officer"]
    done = await asyncio.to_thread(subprocess.run, run, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "revoked: user 8041 officer" in done.stdout, done.stdout + done.stderr
    (refused,) = await officer.send("/stats")
    assert "🔒" in refused.text
    again = await asyncio.to_thread(subprocess.run, run, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "no officer to revoke" in again.stderr and "Traceback" not in again.stderr


async def test_revoke_and_grant_again_on_both_backends(db_url, tmp_path):
    """The guarded UPDATEs and the reactivated row (one per user, role and scope) on SQLite and
    PostgreSQL, on an empty database."""
    from tests.harness import running_program

    async with running_program(tmp_path, db_url) as bot:
        officer = await user_with_role(bot, 8051, "市局", OFFICER_ARGS)
        assert "已撤销" in await _revoke_through_bot(bot, 8051, "部门工作人员")
        (refused,) = await officer.send("/stats")
        assert "🔒" in refused.text
        code = await invite_code(await _admin(bot), OFFICER_ARGS)
        await officer.send(f"/start {code}")
        (stats, *_) = await officer.send("/stats")
        assert "🔒" not in stats.text
        (asked,) = await (await _admin(bot)).send(f"/revoke {code}")
        done = await (await _admin(bot)).press("✖️ 作废此邀请", message_id=asked.message_id)
        assert "已作废" in done.last.text
