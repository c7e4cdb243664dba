"""Inventor self-assessment end to end: invites → my patents → the guided dialog → review."""
from __future__ import annotations

import asyncio
import re

from sqlalchemy import select

from bot.models import AssessmentStatus, AuditLog, SelfAssessment
from tests.harness import ADMIN, invite_code, office_confirms, office_of, own_patent, user_with_role


async def invite(bot, admin, args: str) -> str:
    return await invite_code(admin, args)


async def make_inventor(bot, uid=3001, name="张老师", institution="福州大学", lang="zh-hans"):
    u = await user_with_role(bot, uid, name, f"inventor {institution}", lang)
    msg = u.bot_messages()[-1]
    assert "发明人" in msg.text or "inventor" in msg.text
    # in-process (a BotHarness) the link set-up can give the patent its institution; not against run_bot.py
    u.harness, u.institution = (bot if hasattr(bot, "services") else None), institution
    return u


async def link(u, query="掘进机", label="CN113914863A", office=None):
    """The inventor asks to link the patent whose hit shows ``label`` and the office of the inventor's
    institution confirms it. In-process the set-up first records that institution as the patent's
    holder (the shipped corpus names none); against a shipped bot pass its ``office`` user, and the
    patent must already be the institution's (demo data or an import)."""
    bot = getattr(u, "harness", None)
    patent_text = label
    if bot is not None:
        page = await bot.services.catalog.search(query, limit=6)
        (patent,) = [p for p in page.patents if label in f"{p.pub_no or ''} {p.title}"][:1]
        await own_patent(bot, patent.id, u.institution)
        office = await office_of(bot, u.institution)
        patent_text = patent.pub_no or patent.title[:20]
    await u.send("/mypatents")
    await u.press(callback_data="mp:link")  # "➕ 关联一件专利", in any language
    replies = await u.send(query)
    assert label in " ".join(replies.last.labels)
    done = await u.press(label)
    assert "📨" in done.text, done.text
    if office is not None:
        await office_confirms(office, patent_text, u)


async def test_invites_grant_roles_once_and_expire(bot):
    admin = await bot.user(ADMIN, "管理员")
    (usage,) = await admin.send("/invite")
    assert "用法" in usage.text
    (needs,) = await admin.send("/invite inventor")
    assert "范围" in needs.text
    code = await invite(bot, admin, "inventor 福州大学 uses=1 days=1")
    a = await bot.user(3101, "甲")
    b = await bot.user(3102, "乙")
    (ok,) = await a.send(f"/start {code}")
    assert "发明人" in ok.text and "福州大学" in ok.text
    (again,) = await a.send(f"/start {code}")
    assert "已经拥有" in again.text  # a second open doesn't consume or duplicate
    (used_up,) = (await b.send(f"/start {code}"))[:1]
    assert "无效或已过期" in used_up.text
    (me,) = await a.send("/me")
    assert "发明人 @ 福州大学" in me.text
    # role-based command menu for this chat
    assert "mypatents" in [c["command"] for c in bot.emulator.commands_for(3101)]
    # expiry follows the service clock
    code2 = await invite(bot, admin, "tto 福州大学 days=1")
    bot.clock.advance(days=2)
    (expired,) = (await b.send(f"/start {code2}"))[:1]
    assert "无效或已过期" in expired.text
    # unknown and forged codes
    (bad,) = (await b.send("/start i_doesnotexist"))[:1]
    assert "无效或已过期" in bad.text


async def test_only_admins_invite_and_only_inventors_assess(bot):
    nobody = await bot.user(3201, "路人")
    (msg,) = await nobody.send("/invite inventor 福州大学")
    assert "🔒" in msg.text
    (msg,) = await nobody.send("/mypatents")
    assert "🔒" in msg.text
    (msg,) = await nobody.send("/review")
    assert "🔒" in msg.text
    # a forged callback for another user's patent does nothing
    inv = await make_inventor(bot, 3202)
    await link(inv)
    nobody_reply = await nobody.send("/start")
    r = await nobody.press(callback_data="mp:a:CN113914863A", message_id=nobody_reply.last.message_id, stale=True)
    assert "权限" in (r.toast or "")
    async with bot.services.storage.session() as s:
        assert (await s.scalars(select(SelfAssessment))).all() == []


async def full_assessment(u):
    """Answer every step like a phone user: taps, typing, multi-select, skip."""
    await u.send("/mypatents")
    step = await u.press("📝 1.")
    card = step.last
    # a mining patent: the suggestion (from its text) is the first button; the inventor changes it
    assert "第 1/" in card.text and "建议归入：冶金与建材" in card.text
    assert card.labels[0] == "冶金与建材"
    await u.press("高端装备制造")
    step = await u.send("7")  # typing the option works as well as tapping it
    assert "应用场景" in step.last.text
    await u.press("▫️ 智能制造")
    await u.press("▫️ 能源电力")
    step = await u.press("✅ 能源电力")  # untick again
    assert "✅ 智能制造" in step.last.labels and "▫️ 能源电力" in step.last.labels
    step = await u.send("矿山开采")
    assert "已补充：矿山开采" in step.last.text
    await u.press("✔️ 完成")
    await u.press("4 ⭐")
    await u.press("▫️ 转让")
    await u.press("▫️ 许可")
    step = await u.press("✔️ 完成")
    assert "是否已实施" in step.last.text
    step = await u.press("未实施")
    assert "许可方式" in step.last.text  # implemented_how skipped: not implemented
    await u.press("普通许可")
    await u.press("入门费 + 提成")
    await u.press("愿意开放许可")
    await u.press("⏭ 跳过")  # price is optional
    review = await u.press("通过本机器人留言")
    return review.last


async def test_full_assessment_edit_from_review_and_submit(bot):
    u = await make_inventor(bot)
    await link(u)
    (lst,) = await u.send("/mypatents")
    assert "未评估" in lst.text
    card = await full_assessment(u)
    assert "请核对自评内容" in card.text
    for expected in ("高端装备制造", "技术成熟度</b>：7", "智能制造；矿山开采", "转让、许可", "普通许可",
                     "入门费 + 提成", "愿意开放许可", "期望价格</b>：—"):
        assert expected.replace("</b>", "") in card.text or expected in card.html, expected
    # edit one field from the review card: back to the card afterwards, others kept
    step = await u.press("✏️ 技术成熟度")
    assert "TRL" in step.last.text
    card = (await u.press("8")).last
    assert "请核对自评内容" in card.text and "技术成熟度：8" in card.text and "矿山开采" in card.text
    # dropping "license" removes the licence questions; adding it back asks them again
    await u.press("✏️ 转化意愿")
    await u.press("✅ 许可")
    card = (await u.press("✔️ 完成")).last
    assert "许可方式" not in card.text and "付款方式" in card.text
    done = await u.press("✅ 确认提交")
    assert "已提交" in done.text
    (lst,) = await u.send("/mypatents")
    assert "已提交" in lst.text
    async with bot.services.storage.session() as s:
        a = (await s.scalars(select(SelfAssessment))).one()
        assert (a.maturity, a.prospect, a.industry_field) == (8, 4, "equipment")
        assert a.intents == ["transfer"] and a.scenarios == ["manufacturing"] and a.scenario_text == "矿山开采"
        assert a.implemented is False and a.licence_kind is None and a.payment_kind == "upfront_royalty"
        assert a.status == AssessmentStatus.SUBMITTED.value and a.submitted_at is not None
        actions = [x.action for x in await s.scalars(select(AuditLog).where(AuditLog.entity_kind == "assessment"))]
        assert actions[-1] == "submit_assessment" and "save_assessment" in actions


async def test_every_answer_survives_a_restart_mid_dialog(bot):
    u = await make_inventor(bot)
    await link(u)
    await u.send("/mypatents")
    await u.press("📝 1.")
    await u.press("新材料")
    step = await u.press("5")
    live = step.last
    assert "应用场景" in live.text
    await u.press("▫️ 医疗健康")  # a pending multi-select tick
    await bot.restart()  # a brand-new Application on the same database, as after kill -9
    step = await u.press("▫️ 环境保护", message_id=live.message_id)
    assert "✅ 医疗健康" in step.last.labels and "✅ 环境保护" in step.last.labels
    step = await u.press("✔️ 完成")
    assert "产业化前景" in step.last.text
    async with bot.services.storage.session() as s:
        a = (await s.scalars(select(SelfAssessment))).one()
        assert (a.industry_field, a.maturity, a.scenarios) == ("new_materials", 5, ["healthcare", "environment"])
        assert a.status == "draft"
    await u.send("/cancel")
    (lst,) = await u.send("/mypatents")
    assert "草稿" in lst.text
    # resuming continues at the first unanswered step with earlier answers kept
    step = await u.press("📝 1.")
    assert "产业化前景" in step.last.text and "第 4/" in step.last.text


async def test_stale_and_double_tapped_buttons(bot):
    u = await make_inventor(bot)
    await link(u)
    await u.send("/mypatents")
    first = (await u.press("📝 1.")).last
    old_data = first.raw_buttons[0][0]["callback_data"]
    # double tap: two taps on the same button before the bot answers
    r1, r2 = await asyncio.gather(u.press("高端装备制造"), u.press("高端装备制造"))
    toasts = {r1.toast, r2.toast}
    assert "已收到，无需重复点击。" in toasts
    async with bot.services.storage.session() as s:
        a = (await s.scalars(select(SelfAssessment))).one()
        assert a.industry_field == "equipment"
    # typed text moves the dialog to a new message; the old one is now stale
    await u.send("6")
    newest = u.last_bot_message()
    r = await u.press(callback_data=old_data, message_id=first.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    assert "应用场景" in u.last_bot_message().text and u.last_bot_message().message_id != newest.message_id
    # garbage callback data on the live message
    r = await u.press(callback_data="dlg:zz:o:99", message_id=u.last_bot_message().message_id, stale=True)
    assert r.toast
    r = await u.press(callback_data="nonsense", message_id=u.last_bot_message().message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    # after a restart, an old dialog message is still handled politely
    await bot.restart()
    r = await u.press(callback_data=old_data, message_id=first.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"


async def test_validation_messages_keep_the_step(bot):
    u = await make_inventor(bot, lang="en")
    await own_patent(bot, "CN113914863A")
    office = await office_of(bot)
    await u.send("/mypatents")
    await u.press("➕ Add a patent")
    r = await u.send("x" * 150)
    assert "too long" in r.text and "keyword" in r.last.text
    step = await u.send("掘进机")
    await u.press("CN113914863A")
    await office_confirms(office, "CN113914863A", u)
    await u.send("/mypatents")
    step = await u.press("📝 1.")
    assert "Step 1 of" in step.last.text
    r = await u.send("not a button")
    assert "buttons" in r.text and "Industry field" in r.last.text
    await u.press("Advanced equipment")
    r = await u.send("12")  # out of range maturity
    assert "buttons" in r.text and "TRL" in r.last.text
    await u.send("3")
    r = await u.press("✔️ Done")  # nothing chosen
    assert r.toast == "Please choose at least one option."
    r = await u.send("y" * 201)
    assert "too long" in r.text
    r = await u.press("⏭ Skip") if "⏭ Skip" in u.buttons() else None
    assert r is None  # scenarios is not optional: no skip button


async def test_batch_review_return_and_approve(bot):
    admin = await bot.user(ADMIN, "管理员")
    inv = await make_inventor(bot)
    await link(inv)
    await full_assessment(inv)
    await inv.press("✅ 确认提交")
    other_tto_code = await invite(bot, admin, "tto 厦门大学")
    other = await bot.user(3302, "厦大老师")
    await other.send(f"/start {other_tto_code}")
    (msg,) = await other.send("/review")
    assert "没有待审核" in msg.text  # other institutions' assessments are not visible

    code = await invite(bot, admin, "tto 福州大学")
    tto = await bot.user(3301, "技转办")
    await tto.send(f"/start {code}")
    (lst,) = await tto.send("/review")
    assert "待审核的自评" in lst.text and "近水平薄矿体" in lst.text
    step = await tto.press("↩️ 退回 1")
    assert "修改意见" in step.last.text
    await tto.send("请补充实施情况")
    note = await inv.wait_for("被退回修改")
    assert "请补充实施情况" in note.text
    # the other office can't act on it, even with forged callback data
    forged = await other.press(callback_data=lst.raw_buttons[0][0]["callback_data"],
                               message_id=lst.message_id, stale=True)
    assert "这份自评已经处理过" in forged.text
    (mine,) = await inv.send("/mypatents")
    assert "已退回" in mine.text
    card = (await inv.press("📝 1.")).last  # everything answered: straight to the review card
    assert "请核对自评内容" in card.text
    await inv.press("✅ 确认提交")
    (lst,) = await tto.send("/review")
    r1, r2 = await asyncio.gather(tto.press("✅ 通过 1"), tto.press("✅ 通过 1"))
    texts = r1.text + r2.text
    assert "已通过" in texts and "已经处理过" in texts  # the double tap acts once
    ok = await inv.wait_for("已通过技术转移办公室审核")
    assert ok
    (mine,) = await inv.send("/mypatents")
    assert "已审核" in mine.text


async def test_invite_from_the_command_line(bot):
    import subprocess
    import sys

    from bot.config import PROJECT_ROOT

    env = {"DATABASE_URL": bot.settings.database_url, "BOT_USERNAME": "patent_pilot_bot", "PATH": "/usr/bin:/bin"}
    out = await asyncio.to_thread(subprocess.run, [sys.executable, str(PROJECT_ROOT / "run_bot.py"), "invite",
                                                   "tto", "福建农林大学", "--uses", "2"],
                                  env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    code = re.search(r"start=(i_\w+)", out.stdout).group(1)
    u = await bot.user(3401, "农大技转")
    (msg,) = await u.send(f"/start {code}")
    assert "技术转移办公室 @ 福建农林大学" in msg.text
    bad = await asyncio.to_thread(subprocess.run, [sys.executable, str(PROJECT_ROOT / "run_bot.py"), "invite",
                                                   "wizard"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Usage" in bad.stderr
