"""Deadline reminders end to end: the seeded task-table deadlines remind subscribers at 09:00 Beijing
time, a missed due date gets one overdue notice (not a burst of the skipped reminders), nothing is
lost or repeated across restarts; officers add their own deadlines through a dialog."""
from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from bot.services.calendar import local
from bot.services.deadlines import deadline_plan
from bot.models import Deadline
from tests.test_events import drain, sh, with_role


async def settle(bot, *users):
    await asyncio.sleep(1.5)  # the scheduler notices clock jumps within a tick
    await drain(bot)
    for u in users:
        await u.refresh()


def texts(u, needle):
    return [m for m in u.bot_messages() if needle in m.text]


async def test_seeded_deadlines_remind_at_nine_and_overdue_once_across_restarts(bot):
    officer = await with_role(bot, 6501, "officer", "市场监管局", "市局")
    bot.clock.set(sh(2024, 7, 1, 8, 59, 0))
    await settle(bot, officer)
    assert not texts(officer, "任务节点提醒")
    bot.clock.set(sh(2024, 7, 1, 9, 0, 1))
    msg = await officer.wait_for("任务节点提醒", timeout=10)
    assert "完成各类经营主体在综合服务平台的注册和专家入库" in msg.text and "还有 30 天" in msg.text
    assert msg.labels == ["🔕 退订：任务节点提醒"]  # officers are subscribed by default
    (row,) = [m for m in await bot.services.storage.outbox_messages(chat_id=6501)
              if m.idempotency_key.startswith("deadline:")]
    assert row.idempotency_key.endswith(":30:6501") and local(row.not_before).strftime("%H:%M") == "09:00"
    await bot.restart()
    await settle(bot, officer)
    assert len(texts(officer, "任务节点提醒")) == 1  # computed from the database: not sent again
    # the bot "sleeps" through the 7- and 1-day reminders and wakes after the due date: one overdue
    # notice for it (no burst), and the next deadline's 30-day reminder due at the same 09:00
    bot.clock.set(sh(2024, 8, 1, 9, 0, 5))
    overdue = await officer.wait_for("任务节点已逾期", timeout=10)
    assert "完成各类经营主体" in overdue.text and "已过 1 天" in overdue.text
    await officer.wait_for("专利评价专家库建设完成", timeout=10)
    await settle(bot, officer)
    assert len(texts(officer, "完成各类经营主体")) == 2
    await bot.restart()
    bot.clock.advance(hours=1)
    await settle(bot, officer)
    assert len(texts(officer, "完成各类经营主体")) == 2 and len(texts(officer, "专利评价专家库")) == 1
    async with bot.services.storage.session() as s:
        d = (await s.scalars(select(Deadline).where(Deadline.key == "plan2024_registration"))).one()
    assert d.last_reminder_at == sh(2024, 8, 1, 9, 0)


def test_deadline_plan_is_pure_and_skips_missed_slots():
    d = Deadline(id=1, title="t", due_date=dt.date(2030, 6, 30), lead_days=[30, 7, 1], last_reminder_at=None)
    assert deadline_plan(d, sh(2030, 5, 31, 8, 0)) == (None, None, sh(2030, 5, 31, 9, 0))
    assert deadline_plan(d, sh(2030, 6, 25, 12, 0))[:2] == ("7", sh(2030, 6, 23, 9, 0))  # newest missed only
    d.last_reminder_at = sh(2030, 6, 23, 9, 0)
    assert deadline_plan(d, sh(2030, 6, 25, 12, 0)) == (None, None, sh(2030, 6, 29, 9, 0))
    assert deadline_plan(d, sh(2030, 7, 1, 9, 0))[:2] == ("overdue", sh(2030, 7, 1, 9, 0))
    assert deadline_plan(d, sh(2030, 9, 1, 9, 0)) == (None, None, None)  # long past: history, not news


async def test_officer_adds_a_deadline_and_bad_input_repeats_the_step(bot):
    bot.clock.set(sh(2030, 5, 1, 10, 0))
    officer = await with_role(bot, 6502, "officer", "科技局@长乐区", "区局")
    (lst,) = await officer.send("/deadlines")
    assert "任务节点" in lst.text and "09:00" in lst.text
    await officer.press("➕ 添加任务节点")
    r = await officer.send("长" * 201)
    assert "200" in r.text and "请输入任务事项" in r.last.text
    await officer.send("组织县区专利对接会")
    for typed, expected in (("下个月", "看不懂这个日期"), ("2030-02-30", "看不懂这个日期"),
                            ("2030-04-30", "不能早于今天"), ("2099-01-01", "太远")):
        r = await officer.send(typed)
        assert expected in r.text and "截止日期？" in r.last.text, typed
    await officer.send("2030-05-20")
    for typed in ("abc", "400", "1 2 3 4 5 6"):
        r = await officer.send(typed)
        assert "请输入 1 到 5 个" in r.text and "提前几天提醒" in r.last.text, typed
    review = (await officer.send("7/1")).last
    assert "请核对任务节点" in review.text and "7/1" in review.text
    done = await officer.press("✅ 确认提交")
    assert "已添加任务节点" in done.text
    bot.clock.set(sh(2030, 5, 13, 8, 59, 58))
    msg = await officer.wait_for(lambda m: "组织县区专利对接会" in m.text and "还有 7 天" in m.text, timeout=10)
    assert "🔕 退订：任务节点提醒" in msg.labels
    # not an officer: refused
    nobody = await bot.user(6503, "路人")
    (msg,) = await nobody.send("/deadlines")
    assert "🔒" in msg.text
    r = await nobody.press(callback_data="dl:n", message_id=msg.message_id, stale=True)
    assert "权限" in r.toast


async def add_deadline(officer, title: str, due: str, leads: str = "1") -> None:
    await officer.send("/deadlines")
    await officer.press("➕ 添加任务节点")
    await officer.send(title)
    await officer.send(due)
    await officer.send(leads)
    assert "已添加任务节点" in (await officer.press("✅ 确认提交")).text


async def test_reminders_reach_only_the_departments_a_deadline_is_for(bot):
    """The task table assigns each deadline to department kinds; an officer's own deadline is for
    their department. Officers of other departments are not reminded."""
    sci = await with_role(bot, 6511, "officer", "科技局@长乐区", "长乐科技")
    edu = await with_role(bot, 6512, "officer", "教育局", "市教育局")
    city_sci = await with_role(bot, 6513, "officer", "科技局", "市科技局")
    sci2 = await with_role(bot, 6514, "officer", "科技局@长乐区", "长乐科技二")
    bot.clock.set(sh(2024, 7, 1, 9, 0, 1))   # 30 days before 注册和专家入库 (市场监管/科技/工信/国资)
    for u in (sci, city_sci, sci2):
        msg = await u.wait_for("任务节点提醒", timeout=10)
        assert "完成各类经营主体在综合服务平台的注册和专家入库" in msg.text
    await settle(bot, edu)
    assert not texts(edu, "任务节点提醒")          # 教育 is not in that row of the task table
    (lst,) = await edu.send("/deadlines")
    assert "🏛 市场监管（知识产权）、科技、工信、国资" in lst.text
    assert "🏛 市场监管（知识产权）、教育、科技" in lst.text   # 存量专利全部盘点入库 includes 教育

    # an officer's own deadline: their department only (not the city-level 科技局, not 教育局)
    await add_deadline(sci, "长乐区专利盘点", "2024-07-20")
    (lst,) = await sci.send("/deadlines")
    assert "长乐区专利盘点" in lst.text and "🏛 科技局@长乐区" in lst.text
    bot.clock.set(sh(2024, 7, 19, 9, 0, 1))
    for u in (sci, sci2):
        await u.wait_for(lambda m: "长乐区专利盘点" in m.text and "还有 1 天" in m.text, timeout=10)
    await settle(bot, edu, city_sci)
    assert not texts(edu, "长乐区专利盘点") and not texts(city_sci, "长乐区专利盘点")


async def test_officer_deletes_own_deadline_and_its_reminder_is_not_sent(bot):
    bot.clock.set(sh(2030, 5, 1, 10, 0))
    mine = await with_role(bot, 6521, "officer", "科技局@闽侯县", "闽侯科技")
    colleague = await with_role(bot, 6522, "officer", "科技局@闽侯县", "闽侯科技二")
    await add_deadline(mine, "闽侯县专利盘点<初稿>", "2030-05-10")
    (lst,) = await mine.send("/deadlines")
    assert "🗑 删除：闽侯县专利盘点<初稿>" in lst.labels
    assert not [b for b in lst.labels if "完成各类经营主体" in b]       # the plan's own rows stay
    (theirs,) = await colleague.send("/deadlines")
    assert "闽侯县专利盘点" in theirs.text and not [b for b in theirs.labels if b.startswith("🗑")]
    async with bot.services.storage.session() as s:
        d_id = (await s.scalars(select(Deadline.id).where(Deadline.key.is_(None)))).one()
    r = await colleague.press(callback_data=f"dl:D:{d_id}", message_id=theirs.message_id, stale=True)
    assert "不是您添加的" in r.toast                                    # forged: nothing deleted
    assert await bot.services.storage.get_deadline(d_id) is not None

    ask = (await mine.press("🗑 删除：闽侯县专利盘点<初稿>", message_id=lst.message_id)).last
    assert "删除任务节点？" in ask.text and "闽侯县专利盘点&lt;初稿&gt;" in ask.html
    back = (await mine.press("⬅️ 保留")).last
    assert "任务节点" in back.text and "🗑 删除：闽侯县专利盘点<初稿>" in back.labels
    await mine.press("🗑 删除：闽侯县专利盘点<初稿>", message_id=back.message_id)
    r = await mine.press("⚠️ 确认删除")
    assert "已删除" in r.toast and "闽侯县专利盘点" not in r.last.text
    again = await mine.press(callback_data=f"dl:D:{d_id}", message_id=r.last.message_id, stale=True)
    assert "已删除" in again.toast                                       # double tap: nothing more
    entries = await bot.services.storage.audit_entries("deadline", str(d_id))
    assert [e.action for e in entries].count("delete_deadline") == 1
    bot.clock.set(sh(2030, 5, 9, 9, 0, 5))                               # its 1-day reminder slot
    await settle(bot, mine, colleague)
    for u in (mine, colleague):
        assert not [m for m in u.bot_messages() if "任务节点提醒" in m.text and "闽侯县" in m.text]


async def test_admin_may_delete_any_officers_deadline(bot):
    from tests.harness import ADMIN

    bot.clock.set(sh(2030, 5, 1, 10, 0))
    officer = await with_role(bot, 6531, "officer", "工信局@福清市", "福清工信")
    await add_deadline(officer, "福清市企业评价反馈", "2030-06-01", "7")
    admin = bot.users.get(ADMIN) or await bot.user(ADMIN, "管理员")
    (lst,) = await admin.send("/deadlines")
    assert "🗑 删除：福清市企业评价反馈" in lst.labels
    await admin.press("🗑 删除：福清市企业评价反馈", message_id=lst.message_id)
    r = await admin.press("⚠️ 确认删除")
    assert "已删除" in r.toast and "福清市企业评价反馈" not in r.last.text
    (mine,) = await officer.send("/deadlines")
    assert "福清市企业评价反馈" not in mine.text
