"""Matchmaking events end to end: an officer publishes through the dialog, subscribers get the notice
through the outbox, signups respect capacity under 100 concurrent taps (bot and storage, SQLite and
PostgreSQL), the waitlist is promoted with a push, reminders fire once across restarts, attendee
lists download, county targets, bad input and role checks."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.services.calendar import TZ, fmt_local
from bot.models import Event, EventSignup, SignupStatus
from bot.storage import Storage
from tests.harness import sign_up_in_turn, user_with_role

NOW = dt.datetime(2030, 9, 1, 10, 0, tzinfo=TZ)  # the tests' "today" (Beijing time)


def sh(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


async def with_role(bot, uid: int, role: str, scope: str, name: str = "用户", lang: str = "zh-hans"):
    return await user_with_role(bot, uid, name, f"{role} {scope}".strip(), lang)


async def create_event(officer, *, title="锂电池专利对接会", start="2030-09-20 14:30", place="福州大学科技园",
                       capacity="2", eligibility=("所有人",), topics=("本部门的订阅者",), kind="对接会"):
    await officer.send("/events")
    await officer.press("➕ 发布活动")
    await officer.send(title)
    await officer.press(kind)
    await officer.send(start)
    await officer.send(place)
    await officer.send(capacity)
    for e in eligibility:
        await officer.press("▫️ " + e)
    await officer.press("✔️ 完成")
    await officer.press("⏭ 跳过")  # industry
    await officer.press("⏭ 跳过")  # description
    for t in topics:
        await officer.press("▫️ " + t)
    review = (await officer.press("✔️ 完成")).last
    assert "请核对活动信息" in review.text and title in review.text
    done = await officer.press("✅ 确认提交")
    return done


async def event_id(bot, title: str) -> int:
    async with bot.services.storage.session() as s:
        return (await s.scalars(select(Event.id).where(Event.title == title))).one()


async def drain(bot, timeout=20.0):
    assert await bot.services.outbox.drain(timeout=timeout)


# --- publishing to subscribers, signing up, the waiting list and the attendee list ---------------------
# One event (one seat) published to the department's and the kind's subscribers; each test below takes
# the story as far as it needs (published → both signed up → the first cancels) and checks one step.

async def subscribe(user, topic: str):
    """``user`` opens /subscriptions and switches ``topic`` on; the view and the redrawn page."""
    (view,) = await user.send("/subscriptions")
    return view, (await user.press("▫️ " + topic)).last


def unsubscribe_for(msg, topic: str) -> bool:
    return any(x.startswith("🔕") and x.endswith(topic) for x in msg.labels)


def sign_up_button(msg) -> bool:
    return any(x.startswith("✍️") for x in msg.labels)


async def published_to_subscribers(bot):
    """The organiser publishes a one-seat meeting to the department's (the colleague) and the meeting
    kind's subscribers (the company); a bystander has only said /start. Both notices have arrived."""
    bot.clock.set(NOW)
    s = SimpleNamespace(organiser=await with_role(bot, 6001, "officer", "科技局@鼓楼区", "王科长"),
                        colleague=await with_role(bot, 6002, "officer", "科技局@鼓楼区", "李干事"),
                        company=await with_role(bot, 6003, "enterprise", "福耀科技", "陈经理"),
                        bystander=await bot.user(6004, "路人"))
    await s.bystander.send("/start")
    await subscribe(s.company, "对接会")
    s.done = await create_event(s.organiser, capacity="1", topics=("本部门的订阅者", "该活动类型的订阅者"))
    s.eid = await event_id(bot, "锂电池专利对接会")
    s.notice = await s.company.wait_for("锂电池专利对接会", timeout=10)
    s.cnotice = await s.colleague.wait_for("锂电池专利对接会", timeout=10)
    return s


async def both_signed_up(bot):
    """… the company signs up from its notice (confirmed), then the colleague (waitlisted)."""
    s = await published_to_subscribers(bot)
    s.signed = await s.company.press("✍️ 报名", message_id=s.notice.message_id)
    s.calendar = await s.company.wait_for(lambda m: m.document is not None, timeout=10)
    s.waitlisted = await s.colleague.press("✍️ 报名", message_id=s.cnotice.message_id)
    return s


async def company_cancelled(bot):
    """… the company cancels from /myevents; the colleague's promotion push has arrived."""
    s = await both_signed_up(bot)
    (s.mine,) = await s.company.send("/myevents")
    s.cancelled = await s.company.press("✖️ 取消 1")
    s.promoted = await s.colleague.wait_for(lambda m: m.document is not None and "候补转为" in (m.caption or ""),
                                            timeout=10)
    return s


async def test_switching_a_subscription_on_redraws_the_same_message(bot):
    company = await with_role(bot, 6003, "enterprise", "福耀科技", "陈经理")
    view, toggled = await subscribe(company, "对接会")
    assert toggled.message_id == view.message_id and "✅ 对接会" in toggled.labels


async def test_publishing_tells_the_organiser_how_many_subscribers_and_ends_with_all_sent(bot):
    s = await published_to_subscribers(bot)
    assert "活动已发布" in s.done.text and "正在通知 2 位订阅者" in s.done.text
    assert "📄 报名名单 CSV" in s.done.last.labels  # the organiser's admin card
    prog = await bot.services.outbox.wait_broadcast(f"event:{s.eid}", timeout=10)
    assert prog.sent == 2


async def test_subscribers_get_the_notice_and_bystanders_do_not(bot):
    s = await published_to_subscribers(bot)
    assert "2030-09-20 14:30" in s.notice.text and "福州大学科技园" in s.notice.text
    # each notice can sign up and unsubscribe from the topic that brought it
    assert sign_up_button(s.notice) and unsubscribe_for(s.notice, "对接会") and len(s.notice.labels) == 2
    assert unsubscribe_for(s.cnotice, "科技局@鼓楼区")
    await drain(bot)
    await s.bystander.refresh()
    assert not any("锂电池专利对接会" in m.text for m in s.bystander.bot_messages())
    keys = {m.idempotency_key for m in await bot.services.storage.outbox_messages(broadcast_id=f"event:{s.eid}")}
    assert keys == {f"event:{s.eid}:notice:6002", f"event:{s.eid}:notice:6003"}


async def test_one_tap_signs_up_and_the_calendar_file_follows(bot):
    s = await both_signed_up(bot)
    assert "报名成功" in s.signed.toast
    doc = s.calendar
    assert doc.document["file_name"] == f"event-{s.eid}.ics" and "报名成功" in (doc.caption or doc.text)
    ics = (await s.company.download(doc.document["file_id"])).decode()
    assert "BEGIN:VCALENDAR" in ics and "DTSTART:20300920T063000Z" in ics and "锂电池专利对接会" in ics


async def test_a_double_tap_signs_up_once(bot):
    s = await both_signed_up(bot)
    again = await s.company.press("✍️ 报名", message_id=s.notice.message_id)
    assert "已经报过名" in again.toast


async def test_the_second_for_a_full_event_is_waitlisted(bot):
    s = await both_signed_up(bot)
    assert "候补名单（第 1 位）" in s.waitlisted.toast
    (mine,) = await s.company.send("/myevents")
    assert "锂电池专利对接会" in mine.text and "已确认" in mine.text


async def test_a_cancellation_promotes_the_first_waitlisted_who_is_told(bot):
    s = await company_cancelled(bot)
    assert "已取消报名" in s.cancelled.toast
    assert s.promoted.document["file_name"].endswith(".ics")
    async with bot.services.storage.session() as db:
        ev = await db.get(Event, s.eid)
        statuses = dict((await db.execute(select(EventSignup.user_id, EventSignup.status)
                                          .where(EventSignup.event_id == s.eid))).all())
    assert ev.confirmed_count == 1 and statuses == {6003: "cancelled", 6002: "confirmed"}


async def test_the_organiser_downloads_the_attendee_list_as_csv_and_xlsx(bot):
    s = await company_cancelled(bot)
    organiser = s.organiser
    await organiser.send("/myevents")
    card = (await organiser.press("⚙️ 管理：锂电池专利对接会")).last
    assert "组织方管理" in card.text and "已确认 1" in card.text and "已取消 1" in card.text
    await organiser.press("📄 报名名单 CSV")
    csv_doc = await organiser.wait_for(lambda m: m.document is not None and m.document["file_name"].endswith(".csv"))
    raw = await organiser.download(csv_doc.document["file_id"])
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:2] == ["序号", "姓名"] and rows[1][1] == "李干事" and rows[1][4] == "已确认" and len(rows) == 2
    await organiser.press("📊 报名名单 Excel")
    x_doc = await organiser.wait_for(lambda m: m.document is not None and m.document["file_name"].endswith(".xlsx"))
    wb = load_workbook(io.BytesIO(await organiser.download(x_doc.document["file_id"])))
    assert [c.value for c in wb.active[2]][1] == "李干事"


async def test_an_attendee_may_not_download_the_attendee_list(bot):
    s = await company_cancelled(bot)
    r = await s.company.press(callback_data=f"ev:f:{s.eid}:c", message_id=s.mine.message_id, stale=True)
    assert "🔒" in r.toast


async def test_hundred_concurrent_taps_through_the_bot(bot):
    await _hundred_taps(bot)


@pytest.mark.postgres
async def test_hundred_concurrent_taps_through_the_bot_on_postgres(pg_url, tmp_path):
    from tests.harness import running_program

    async with running_program(tmp_path, pg_url) as h:
        await _hundred_taps(h)


async def _hundred_taps(bot, n=100, capacity=10):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 6101, "officer", "工信局@仓山区", "组织者")
    st = bot.services.storage
    users = []
    for i in range(n):  # 100 phone users subscribed to roadshows (set up directly: the test is the tapping)
        uid = 7000 + i
        await st.touch_user(uid, f"用户{i}", None, "zh", "zh")
        await st.toggle_subscription(uid, "event_kind", "roadshow")
        users.append(await bot.user(uid, f"用户{i}"))
    await create_event(organiser, title="路演推介会", kind="路演推介", capacity=str(capacity),
                       topics=("该活动类型的订阅者",))
    eid = await event_id(bot, "路演推介会")
    await bot.services.outbox.wait_broadcast(f"event:{eid}", timeout=30)
    notices = await asyncio.gather(*(u.wait_for("路演推介会", timeout=10) for u in users))
    replies = await asyncio.gather(*(u.press("✍️ 报名", message_id=m.message_id) for u, m in zip(users, notices)))
    toasts = [r.toast or "" for r in replies]
    assert sum("报名成功" in t for t in toasts) == capacity
    assert sum("候补名单" in t for t in toasts) == n - capacity
    async with st.session() as s:
        ev = await s.get(Event, eid)
        counts = dict((await s.execute(select(EventSignup.status, func.count()).where(EventSignup.event_id == eid)
                                       .group_by(EventSignup.status))).all())
    assert ev.confirmed_count == capacity and counts == {"confirmed": capacity, "waitlisted": n - capacity}
    await drain(bot, 30)
    confirmations = [m for m in await st.outbox_messages() if m.idempotency_key.startswith(f"event:{eid}:confirmed:")]
    assert len(confirmations) == capacity and all(m.kind == "document" and m.status == "sent" for m in confirmations)


@pytest.mark.parametrize("n,capacity", [(100, 7)])
async def test_concurrent_signups_in_storage(storage: Storage, n, capacity):
    """Directly against the storage layer, on SQLite and PostgreSQL: 100 concurrent signups plus
    double taps confirm exactly ``capacity``; concurrent cancellations promote from the waitlist."""
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(n):
        await storage.touch_user(8000 + i, f"u{i}", None, "zh", "zh")
    async with storage.session() as s:
        ev = await storage.create_event(s, 8000, title="t", kind="deal", starts_at=now + dt.timedelta(days=3),
                                        place="p", online_link=None, capacity=capacity, eligibility=[],
                                        description=None, county="", department_id=None, industry=None, now=now)
        eid = ev.id
    async def sign_up(uid):
        async with storage.session() as s:
            return await storage.sign_up(s, eid, uid, now)

    async def cancel(uid):
        async with storage.session() as s:
            return await storage.cancel_signup(s, eid, uid, now, hand_on=True)

    taps = [sign_up(8000 + i) for i in range(n)] + [sign_up(8000 + i) for i in range(0, n, 10)]
    outcomes = await asyncio.gather(*taps)
    statuses = [o.status for o in outcomes if o.new]
    assert statuses.count(SignupStatus.CONFIRMED) == capacity
    assert statuses.count(SignupStatus.WAITLISTED) == n - capacity
    assert sum(not o.new for o in outcomes) == n // 10

    async def check():
        async with storage.session() as s:
            e = await s.get(Event, eid)
            rows = dict((await s.execute(select(EventSignup.status, func.count())
                                         .where(EventSignup.event_id == eid).group_by(EventSignup.status))).all())
            total = await s.scalar(select(func.count()).select_from(EventSignup).where(EventSignup.event_id == eid))
        assert total == n  # never two rows for one user
        assert e.confirmed_count == rows.get("confirmed", 0) <= capacity
        return rows

    await check()
    confirmed = [8000 + i for i, o in enumerate(outcomes[:n]) if o.new and o.status is SignupStatus.CONFIRMED]
    cancels = await asyncio.gather(*(cancel(uid) for uid in confirmed[:4]))
    assert all(c.previous is SignupStatus.CONFIRMED for c in cancels)
    promoted = [c.promoted_user_id for c in cancels]
    assert None not in promoted and len(set(promoted)) == 4 and not set(promoted) & set(confirmed)
    rows = await check()
    assert rows == {"confirmed": capacity, "waitlisted": n - capacity - 4, "cancelled": 4}


async def test_event_reminders_fire_once_across_restarts(bot):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 6201, "officer", "市场监管局@晋安区", "组织者")
    member = await with_role(bot, 6202, "officer", "市场监管局@晋安区", "参会者")
    await create_event(organiser, title="交易撮合会", kind="交易撮合", start="2030-09-10 15:00", capacity="0")
    notice = await member.wait_for("交易撮合会", timeout=10)
    await member.press("✍️ 报名", message_id=notice.message_id)
    await member.wait_for(lambda m: m.document is not None, timeout=10)
    start = sh(2030, 9, 10, 15, 0)

    def reminders(which):
        return [m for m in member.bot_messages() if "活动提醒" in m.text and which in m.text]

    bot.clock.set(start - dt.timedelta(days=1, minutes=1))
    await asyncio.sleep(1.5)
    await member.refresh()
    assert not reminders("明天")
    bot.clock.set(start - dt.timedelta(days=1) + dt.timedelta(seconds=5))
    day = await member.wait_for(lambda m: "活动提醒" in m.text and "明天" in m.text, timeout=10)
    assert "🔕 退订：已报名活动的提醒" in day.labels
    await bot.restart()  # the new process recomputes from the database: nothing is sent again
    await asyncio.sleep(1.5)
    await drain(bot)
    await member.refresh()
    assert len(reminders("明天")) == 1
    bot.clock.set(start - dt.timedelta(minutes=59))
    await member.wait_for(lambda m: "活动提醒" in m.text and "1 小时后" in m.text, timeout=10)
    await bot.restart()
    bot.clock.set(start + dt.timedelta(hours=2))
    await asyncio.sleep(1.5)
    await drain(bot)
    await member.refresh()
    assert len(reminders("明天")) == 1 and len(reminders("1 小时后")) == 1
    eid = await event_id(bot, "交易撮合会")
    keys = [m.idempotency_key for m in await bot.services.storage.outbox_messages(chat_id=6202)]
    assert keys.count(f"event:{eid}:remind:day:6202") == 1 and keys.count(f"event:{eid}:remind:hour:6202") == 1


async def test_bad_input_repeats_the_step_and_roles_are_checked(bot):
    bot.clock.set(NOW)
    officer = await with_role(bot, 6301, "officer", "教育局@福清市", "officer")
    await officer.send("/events")
    await officer.press("➕ 发布活动")
    too_long = await officer.send("长" * 101)
    assert "100" in too_long.text and "请输入活动名称" in too_long.last.text
    await officer.send("专利路演")
    await officer.press("路演推介")
    for typed, expected in (("明天下午", "看不懂这个时间"), ("2030-02-30 10:00", "看不懂这个时间"),
                            ("2030-08-31 10:00", "已经过去"), ("2040-01-01 10:00", "太远")):
        r = await officer.send(typed)
        assert expected in r.text, (typed, r.text)
        assert "开始时间" in r.last.text  # the same step again
    await officer.send("2030-09-05 09:30")
    r = await officer.send("http://broken")
    assert "链接格式不对" in r.text and "地点" in r.last.text
    await officer.send("https://meeting.example.org/j/123")
    for typed in ("abc", "-1", "1000001", "十"):
        r = await officer.send(typed)
        assert "名额请输入" in r.text and "名额有多少" in r.last.text
    await officer.send("30")
    r = await officer.press("✔️ 完成")
    assert r.toast == "请至少选择一项。"
    await officer.send("/cancel")

    # not an officer: refused everywhere an officer acts
    company = await with_role(bot, 6302, "enterprise", "某公司", "企业")
    (msg,) = await company.send("/newevent")
    assert "🔒" in msg.text
    (lst,) = await company.send("/events")
    assert "➕ 发布活动" not in lst.labels and "📊 县（市）区年度目标" not in lst.labels
    for data in ("ev:n", "ev:t", "ev:f:1:c"):
        r = await company.press(callback_data=data, message_id=lst.message_id, stale=True)
        assert "权限" in (r.toast or "") or "🔒" in (r.toast or ""), data
    # forged and stale event ids get a polite toast
    r = await company.press(callback_data="ev:s:999999", message_id=lst.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    r = await company.press(callback_data="ev:c:abc", message_id=lst.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    # eligibility: an inventors-only event refuses the enterprise
    await create_event(officer, title="发明人专场", eligibility=("发明人",), topics=("本地区的订阅者",))
    eid = await event_id(bot, "发明人专场")
    r = await company.press(callback_data=f"ev:s:{eid}", message_id=lst.message_id, stale=True)
    assert "特定对象" in r.toast


async def test_county_targets_for_city_level_officers(bot):
    bot.clock.set(sh(2030, 3, 1, 10, 0))
    city = await with_role(bot, 6401, "officer", "市场监管局", "市局")
    county = await with_role(bot, 6402, "officer", "市场监管局@鼓楼区", "区局")
    await create_event(county, title="鼓楼区对接会", start="2030-03-05 14:00", topics=("本部门的订阅者",))
    await create_event(county, title="鼓楼区下半年对接会", start="2030-10-05 14:00", topics=("本部门的订阅者",))
    (lst,) = await county.send("/events")
    assert "📊 县（市）区年度目标" not in lst.labels  # county level: no targets view
    r = await county.press(callback_data="ev:t", message_id=lst.message_id, stale=True)
    assert "市级" in r.toast
    bot.clock.set(sh(2030, 4, 1, 10, 0))  # the first one has been held
    (lst,) = await city.send("/events")
    view = (await city.press("📊 县（市）区年度目标")).last
    assert view.message_id == lst.message_id and "2030 年" in view.text
    assert "✅ 鼓楼区：已举办 1，计划 1" in view.text and "⚠️ 台江区：已举办 0" in view.text
    assert "已完成：1/13" in view.text


async def test_service_agency_organises_its_own_events_only(bot):
    bot.clock.set(NOW)
    agency = await with_role(bot, 7701, "agency", "海峡技术转移中心", "机构")
    officer = await with_role(bot, 7702, "officer", "科技局", "科长")
    done = await create_event(agency, title="专利路演推介会", topics=("本地区的订阅者",), kind="路演推介")
    assert "已发布" in done.text or "专利路演推介会" in done.text
    eid = await event_id(bot, "专利路演推介会")
    async with bot.services.storage.session() as s:
        ev = await s.get(Event, eid)
        assert ev.organiser_user_id == 7701 and ev.organiser_department_id is None
    # an officer's event is not the agency's to manage
    await create_event(officer, title="官方对接会")
    other = await event_id(bot, "官方对接会")
    r = await agency.press(callback_data=f"ev:f:{other}:c", message_id=agency.last_bot_message().message_id,
                           stale=True)
    assert r.toast or r.alert


# --- calling an event off --------------------------------------------------------------------------------

async def two_signed_up_for_a_called_off_candidate(bot):
    """An organiser's one-seat event with one confirmed (first) and one waitlisted (second) attendee;
    an officer of another department stands by."""
    bot.clock.set(NOW)
    s = SimpleNamespace(organiser=await with_role(bot, 6101, "officer", "科技局@鼓楼区", "王科长"),
                        other_officer=await with_role(bot, 6102, "officer", "科技局@仓山区", "赵科长"),
                        first=await with_role(bot, 6103, "enterprise", "福耀科技", "陈经理"),
                        second=await with_role(bot, 6104, "enterprise", "宁德新能源", "林经理"))
    s.done = await create_event(s.organiser, title="氢能<路演>", capacity="1")
    s.eid = await event_id(bot, "氢能<路演>")
    s.signups = await sign_up_in_turn(bot, [s.first, s.second])
    return s


async def called_off(bot):
    """… and the organiser calls it off from the admin card (asked once more, then confirmed)."""
    s = await two_signed_up_for_a_called_off_candidate(bot)
    await s.organiser.press("🚫 取消本次活动", message_id=s.done.last.message_id)
    s.confirmed = await s.organiser.press("⚠️ 确认取消并通知报名者")
    return s


async def test_only_the_organisers_side_can_call_an_event_off(bot):
    s = await two_signed_up_for_a_called_off_candidate(bot)
    assert "报名成功" in s.signups[0].toast and "候补" in s.signups[1].toast
    assert "🚫 取消本次活动" in s.done.last.labels
    # attendees don't get the button; a forged or forwarded one is refused, with nothing changed
    assert not any("🚫 取消本次活动" in m.labels for m in s.first.bot_messages())
    for u in (s.first, s.other_officer):
        r = await u.press(callback_data=f"ev:K:{s.eid}", message_id=u.last_bot_message().message_id, stale=True)
        assert "🔒" in r.toast
    assert (await bot.services.storage.get_event(s.eid)).status == "published"


async def test_calling_off_asks_once_more_says_who_is_affected_and_can_be_stepped_back_from(bot):
    s = await two_signed_up_for_a_called_off_candidate(bot)
    ask = (await s.organiser.press("🚫 取消本次活动", message_id=s.done.last.message_id)).last
    assert "确认取消活动「<b>氢能&lt;路演&gt;</b>」" in ask.html and "2 人将收到取消通知" in ask.text
    back = (await s.organiser.press("⬅️ 不取消")).last
    assert "组织方管理" in back.text and (await bot.services.storage.get_event(s.eid)).status == "published"


async def test_everyone_signed_up_is_told_once_that_it_is_called_off(bot):
    s = await called_off(bot)
    assert "正在通知 2 位报名者" in s.confirmed.toast
    card = s.confirmed.last
    assert "该活动已取消" in card.text and "🚫 取消本次活动" not in card.labels
    again = await s.organiser.press(callback_data=f"ev:K:{s.eid}", message_id=card.message_id, stale=True)
    assert "已取消或已开始" in again.toast  # a double tap sends nothing more
    for u in (s.first, s.second):
        notice = await u.wait_for("活动取消通知", timeout=10)
        assert "氢能&lt;路演&gt;" in notice.html and "2030-09-20 14:30" in notice.text
    await drain(bot)
    keys = [m.idempotency_key for m in await bot.services.storage.outbox_messages()
            if ":called_off:" in (m.idempotency_key or "")]
    assert sorted(keys) == [f"event:{s.eid}:called_off:6103", f"event:{s.eid}:called_off:6104"]


async def test_a_called_off_event_leaves_the_lists_and_takes_no_more_signups(bot):
    s = await called_off(bot)
    (lst,) = await s.second.send("/events")
    assert "氢能" not in lst.text
    (mine,) = await s.first.send("/myevents")
    assert "氢能" not in mine.text
    r = await s.second.press(callback_data=f"ev:s:{s.eid}:c", message_id=lst.message_id, stale=True)
    assert "不再接受报名" in r.toast


async def test_the_audit_log_says_who_called_an_event_off(bot):
    s = await called_off(bot)
    entries = await bot.services.storage.audit_entries("event", str(s.eid))
    assert any(e.action == "event_called_off" and e.actor_id == 6101 and e.after["notified"] == 2 for e in entries)


# --- changing an event's time and seats -------------------------------------------------------------------

EDITABLE = {"时间", "地点 / 链接", "名额", "活动介绍"}


async def three_signed_up_for_one_seat(bot):
    """An organiser's one-seat event with one confirmed and two waitlisted attendees (in that order);
    an officer of another department stands by."""
    bot.clock.set(NOW)
    s = SimpleNamespace(organiser=await with_role(bot, 6111, "officer", "科技局@鼓楼区", "王科长"),
                        other_officer=await with_role(bot, 6112, "officer", "科技局@仓山区", "赵科长"),
                        people=[await with_role(bot, 6113 + i, "enterprise", f"企业{i}", f"经理{i}") for i in range(3)])
    s.first, s.second, s.third = s.people
    s.done = await create_event(s.organiser, title="储能专利路演", capacity="1")
    s.eid = await event_id(bot, "储能专利路演")
    await sign_up_in_turn(bot, s.people)
    return s


async def edit(organiser, field: str, message_id: int, *typed: str):
    """The organiser opens the edit of ``field`` from the card ``message_id`` and types each of ``typed``;
    the replies to the edit button and to each typed line."""
    ask = (await organiser.press("✏️ 修改活动信息", message_id=message_id)).last
    await organiser.press(field)
    return ask, [await organiser.send(t) for t in typed]


async def time_changed(bot):
    """… the organiser moves it to 2030-09-21 09:00 (after one time in the past) and submits."""
    s = await three_signed_up_for_one_seat(bot)
    s.ask, (s.past, s.time_review) = await edit(s.organiser, "时间", s.done.last.message_id,
                                                "2020-01-01 10:00", "2030-09-21 09:00")
    s.card = (await s.organiser.press("✅ 确认提交")).last
    return s


async def seat_added(bot):
    """… then gives it a second seat (after a negative number) and submits."""
    s = await time_changed(bot)
    _, (s.negative, s.seat_review) = await edit(s.organiser, "名额", s.card.message_id, "-3", "2")
    s.card = (await s.organiser.press("✅ 确认提交")).last
    return s


async def test_only_the_organisers_side_may_change_an_event(bot):
    s = await three_signed_up_for_one_seat(bot)
    assert (await bot.services.storage.signup_status(s.eid, s.second.user_id)) == "waitlisted"
    (theirs,) = await s.other_officer.send("/events")
    r = await s.other_officer.press(callback_data=f"ev:e:{s.eid}", message_id=theirs.message_id, stale=True)
    assert "🔒" in r.toast


async def test_a_new_time_is_checked_as_when_publishing_then_shown_old_beside_new(bot):
    s = await time_changed(bot)
    assert "要改哪一项" in s.ask.text and EDITABLE <= set(s.ask.labels)
    assert "这个时间已经过去了" in s.past.text and "开始时间？" in s.past.last.text
    assert "2030-09-20 14:30 → 2030-09-21 09:00" in s.time_review.last.text


async def test_a_new_time_is_saved_and_every_attendee_is_told(bot):
    s = await time_changed(bot)
    assert "已修改「时间」，正在通知 3 位报名者" in s.card.text and "2030-09-21 09:00" in s.card.text
    ev = await bot.services.storage.get_event(s.eid)
    assert fmt_local(ev.starts_at) == "2030-09-21 09:00" and ev.reminder_stage == 0  # reminders start over
    changed = await s.first.wait_for("活动信息有变", timeout=10)
    assert "2030-09-20 14:30" in changed.text and "2030-09-21 09:00" in changed.text
    assert "日历文件" in changed.text and changed.document is not None        # confirmed: a fresh .ics
    for u in (s.second, s.third):                                              # waitlisted: no file
        msg = await u.wait_for("活动信息有变", timeout=10)
        assert msg.document is None and "✖️ 取消报名" in msg.labels


async def test_one_more_seat_promotes_the_first_waitlisted_who_is_told(bot):
    s = await seat_added(bot)
    assert "新的名额？" in s.negative.last.text
    assert "1 → <b>2</b>" in s.seat_review.last.html
    assert "1 位候补者转为正式报名" in s.card.text
    up = await s.second.wait_for("组织方增加了名额", timeout=10)
    assert up.document is not None
    storage = bot.services.storage
    assert (await storage.signup_status(s.eid, s.second.user_id)) == "confirmed"
    assert (await storage.signup_status(s.eid, s.third.user_id)) == "waitlisted"  # the next one waits on
    assert (await storage.get_event(s.eid)).confirmed_count == 2
    await drain(bot)
    assert not [m for m in s.third.bot_messages() if "增加了名额" in m.text]


async def test_every_change_is_in_the_audit_log_with_its_author(bot):
    s = await seat_added(bot)
    entries = await bot.services.storage.audit_entries("event", str(s.eid))
    edits = [e for e in entries if e.action == "event_edited"]
    assert len(edits) == 2 and all(e.actor_id == 6111 for e in edits)
    assert any(e.before == {"capacity": 1} and e.after == {"capacity": 2, "promoted": 1} for e in edits)


async def test_a_started_event_can_no_longer_be_changed(bot):
    s = await time_changed(bot)
    bot.clock.set(sh(2030, 9, 21, 9, 30))
    r = await s.organiser.press(callback_data=f"ev:e:{s.eid}", message_id=s.card.message_id, stale=True)
    assert "不能再修改" in r.toast


async def test_a_new_place_reaches_an_english_attendee_in_english(bot):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 6121, "officer", "工信局", "刘处长")
    guest = await with_role(bot, 6122, "enterprise", "Fuzhou Optics", "Ann", lang="en")
    done = await create_event(organiser, title="光电专利对接会", capacity="0")
    eid = await event_id(bot, "光电专利对接会")
    (lst,) = await guest.send("/events")
    await guest.press("1", message_id=lst.message_id)
    await guest.press("✍️ Sign up")
    await drain(bot)
    await organiser.press("✏️ 修改活动信息", message_id=done.last.message_id)
    await organiser.press("地点 / 链接")
    r = await organiser.send("https://localhost")                   # a link that can't be one
    assert "地点？" in r.last.text and r.text != r.last.text
    review = (await organiser.send("https://meeting.example.com/abc")).last
    assert "福州大学科技园 → " in review.text
    card = (await organiser.press("✅ 确认提交")).last
    assert "已修改「地点 / 链接」，正在通知 1 位报名者" in card.text and "🔗 https://meeting.example.com/abc" in card.text
    msg = await guest.wait_for("Event changed", timeout=10)
    assert "Place / online link: 福州大学科技园 → https://meeting.example.com/abc" in msg.text
    assert "<s>福州大学科技园</s>" in msg.html
    assert "updated calendar file" in msg.text and msg.document is not None
    assert "✖️ Cancel my signup" in msg.labels
    ev = await bot.services.storage.get_event(eid)
    assert ev.place is None and ev.online_link == "https://meeting.example.com/abc"


async def test_an_edit_submitted_after_the_event_was_called_off_changes_nothing(bot):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 6131, "officer", "卫健委", "周主任")
    colleague = await with_role(bot, 6132, "officer", "卫健委", "吴科长")      # same department: may manage
    done = await create_event(organiser, title="医疗器械专利路演", capacity="5")
    eid = await event_id(bot, "医疗器械专利路演")
    await organiser.press("✏️ 修改活动信息", message_id=done.last.message_id)
    await organiser.press("地点 / 链接")
    review = (await organiser.send("福州海峡国际会展中心")).last
    assert "福州大学科技园 → 福州海峡国际会展中心" in review.text
    # meanwhile a colleague of the organising department calls it off
    (lst,) = await colleague.send("/events")
    await colleague.press("1", message_id=lst.message_id)
    await colleague.press("🚫 取消本次活动")
    await colleague.press("⚠️ 确认取消并通知报名者")
    card = (await organiser.press("✅ 确认提交", message_id=review.message_id)).last
    assert "活动已开始或已取消，未作修改" in card.text and "该活动已取消" in card.text
    ev = await bot.services.storage.get_event(eid)
    assert ev.place == "福州大学科技园" and ev.status == "cancelled"
    assert not [e for e in await bot.services.storage.audit_entries("event", str(eid)) if e.action == "event_edited"]
