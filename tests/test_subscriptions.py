"""Subscriptions end to end: officers' defaults, toggles edited in place, and the one-tap
unsubscribe on every push (exactly that subscription; forged or foreign ids refused politely)."""
from __future__ import annotations

from sqlalchemy import select

from bot.models import Subscription
from tests.test_events import NOW, create_event, drain, with_role


async def subs(bot, uid):
    async with bot.services.storage.session() as s:
        rows = await s.scalars(select(Subscription).where(Subscription.user_id == uid,
                                                          Subscription.topic_kind != "_defaults"))
        return {(r.topic_kind, r.topic_value): r.active for r in rows}


async def test_defaults_toggles_and_pages(bot):
    officer = await with_role(bot, 6601, "officer", "科技局@鼓楼区", "科员")
    (view,) = await officer.send("/subscriptions")
    assert {"✅ 任务节点提醒", "✅ 部门：科技局@鼓楼区", "▫️ 对接会"} <= set(view.labels)
    page = (await officer.press("📍 地区 ▶")).last
    assert page.message_id == view.message_id and "✅ 鼓楼区" in page.labels and "▫️ 台江区" in page.labels
    page = (await officer.press("▫️ 台江区")).last
    assert page.message_id == view.message_id and "✅ 台江区" in page.labels
    await officer.press("⬆️ 返回上一级")
    await officer.press("🏭 产业领域 ▶")
    page = (await officer.press("▫️ 新能源与储能")).last
    assert "✅ 新能源与储能" in page.labels
    await officer.press("⬆️ 返回上一级")
    page = (await officer.press("✅ 任务节点提醒")).last
    assert "▫️ 任务节点提醒" in page.labels and page.message_id == view.message_id
    got = await subs(bot, 6601)
    assert got[("county", "台江区")] and got[("industry", "new_energy")] and got[("county", "鼓楼区")]
    assert got[("deadlines", "")] is False
    # defaults are applied once: what was turned off stays off
    (again,) = await officer.send("/subscriptions")
    assert "▫️ 任务节点提醒" in again.labels
    # a forged toggle code changes nothing
    r = await officer.press(callback_data="sb:m:d999", message_id=again.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    # English
    en = await with_role(bot, 6602, "officer", "工信局", "Ann", lang="en")
    (view,) = await en.send("/subscriptions")
    assert "Subscriptions" in view.text and "✅ Deadline reminders" in view.labels


async def test_unsubscribe_from_a_push_in_one_tap(bot):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 6611, "officer", "农业农村局@闽侯县", "组织者")
    member = await with_role(bot, 6612, "officer", "农业农村局@闽侯县", "科员")
    other = await with_role(bot, 6613, "officer", "卫健委@闽侯县", "别人")
    await create_event(organiser, title="农业专利对接会", topics=("本部门的订阅者",))
    notice = await member.wait_for("农业专利对接会", timeout=10)
    button = notice.button("🔕 退订：农业农村局@闽侯县")
    r = await member.press("🔕 退订：农业农村局@闽侯县", message_id=notice.message_id)
    assert "已退订「农业农村局@闽侯县」" in r.toast
    await member.refresh()
    assert member.buttons(notice) == ["✍️ 报名"]  # the used button is gone, signup stays
    got = await subs(bot, 6612)
    assert got[("department", str(await bot.services.storage.department_by("农业农村局", "闽侯县")))] is False
    assert got[("county", "闽侯县")] and got[("deadlines", "")]  # exactly that one subscription
    # pressed again (an old copy), forged, or someone else's id: polite answers, no change
    r = await member.press(callback_data=button["callback_data"], message_id=notice.message_id, stale=True)
    assert "已经退订" in r.toast
    r = await member.press(callback_data="un:999999", message_id=notice.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    await other.send("/start")
    r = await other.press(callback_data=button["callback_data"], message_id=other.last_bot_message().message_id,
                          stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    # the next notice of that department doesn't reach the member any more
    await create_event(organiser, title="第二场对接会", topics=("本部门的订阅者",))
    await drain(bot)
    await member.refresh()
    assert not any("第二场对接会" in m.text for m in member.bot_messages())
