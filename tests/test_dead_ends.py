"""No dead ends that only a push could open: pushes can be missed, muted or deleted, so everything a
push offers is reachable from a command too — the reviewer's note and resubmission (/mypatents),
answering interest requests (/leads), an event's calendar file and waiting-list place (/myevents),
and unsubscribing (/subscriptions)."""
from __future__ import annotations

import re
from types import SimpleNamespace

from sqlalchemy import select

from bot.models import AssessmentStatus, Lead, SelfAssessment
from tests.harness import inventor_with_submitted_assessment, sign_up_in_turn, user_with_role
from tests.test_assessment import link, make_inventor
from tests.test_enterprise import open_card, register_enterprise
from tests.test_events import NOW, create_event, drain, event_id, with_role


async def test_mypatents_shows_the_reviewers_note_and_the_returned_assessment_is_resubmitted(bot):
    inv = await inventor_with_submitted_assessment(bot)
    tto = await user_with_role(bot, 7001, "技转办", "tto 福州大学")
    await tto.send("/review")
    await tto.press("↩️ 退回 1")
    await tto.send("请把技术成熟度改为实测值")
    await inv.wait_for("被退回修改", timeout=10)

    # without the push: /mypatents says it was returned, and why, on the patent's own line
    (mine,) = await inv.send("/mypatents")
    assert re.search(r"^1\. .* — 已退回$", mine.text, re.M), mine.text
    assert re.search(r"^\s+↩️ 退回意见：请把技术成熟度改为实测值$", mine.text, re.M), mine.text
    # opening it shows the note above the answers, ready to change and submit again
    card = (await inv.press("📝 1.")).last
    assert "请核对自评内容" in card.text and "退回意见：请把技术成熟度改为实测值" in card.text
    await inv.press("✏️ 技术成熟度")
    card = (await inv.press("6")).last
    assert "技术成熟度：6" in card.text and "退回意见" in card.text
    # changed but not yet resubmitted: a draft that still carries the note
    (mine,) = await inv.send("/mypatents")
    assert "— 草稿" in mine.text and "退回意见：请把技术成熟度改为实测值" in mine.text
    await inv.press("📝 1.")
    done = await inv.press("✅ 确认提交")
    assert "已提交" in done.text
    (mine,) = await inv.send("/mypatents")
    assert "— 已提交" in mine.text and "退回意见" not in mine.text
    (lst,) = await tto.send("/review")
    assert "近水平薄矿体" in lst.text
    async with bot.services.storage.session() as s:
        a = (await s.scalars(select(SelfAssessment))).one()
        assert a.status == AssessmentStatus.SUBMITTED.value and a.maturity == 6 and a.reviewer_note is None


async def test_mypatents_in_english_shows_the_note(bot):
    inv = await make_inventor(bot, 7011, "Li", lang="en")
    await link(inv)
    await submit_through_storage(bot, inv)
    tto = await user_with_role(bot, 7012, "Office", "tto 福州大学", "en")
    await tto.send("/review")
    await tto.press("↩️ Return 1")
    await tto.send("Please give the measured TRL")
    (mine,) = await inv.send("/mypatents")
    assert re.search(r"^1\. .* — returned$", mine.text, re.M), mine.text
    assert re.search(r"^\s+↩️ Reviewer's note: Please give the measured TRL$", mine.text, re.M), mine.text
    card = (await inv.press("📝 1.")).last
    assert "Reviewer's note: Please give the measured TRL" in card.text


async def submit_through_storage(bot, inv):
    """The assessment through storage (the dialog itself is tested in Chinese): submitted."""
    async with bot.services.storage.session() as s:
        await bot.services.storage.save_assessment(
            s, inv.user_id, "CN113914863A",
            {"industry_field": "equipment", "maturity": 7, "scenarios": ["manufacturing"], "prospect": 4,
             "intents": ["transfer"], "implemented": False, "payment_kind": "lump_sum"}, submit=True)


# --- /leads: answering interest requests without the push -----------------------------------------------

async def two_requests_pending(bot):
    """The inventor's linked patent, on whose card two companies have tapped 🤝; the outbox is drained.
    ``s.leads``: requester id → lead id; ``s.lst``: the inventor's /leads; ``s.line``: company → number."""
    s = SimpleNamespace(inventor=await make_inventor(bot))
    await link(s.inventor)
    s.first = await register_enterprise(bot, 7101, "福州新能科技有限公司")
    s.second = await register_enterprise(bot, 7102, "闽江矿机有限公司")
    s.interest = []
    for ent in (s.first, s.second):
        await open_card(ent)
        s.interest.append(await ent.press("🤝 有意向"))
    await drain_quietly(bot)
    async with bot.services.storage.session() as db:
        s.leads = {lead.requester_id: lead.id for lead in await db.scalars(select(Lead))}
    (s.lst,) = await s.inventor.send("/leads")
    s.line = {m.group(2): int(m.group(1)) for m in re.finditer(r"^(\d)\. 《.*》— (\S+) 发起$", s.lst.text, re.M)}
    return s


async def first_accepted(bot):
    """… the inventor accepts the first company's request from the list."""
    s = await two_requests_pending(bot)
    s.accepted = await s.inventor.press(f"✅ 同意 {s.line['福州新能科技有限公司']}", message_id=s.lst.message_id)
    return s


async def both_answered(bot):
    """… and then declines the other one (now number 1)."""
    s = await first_accepted(bot)
    s.declined = await s.inventor.press("🙅 婉拒 1", message_id=s.lst.message_id)
    return s


def answer_buttons(msg) -> dict[str, set[str]]:
    """The numbered answer buttons of a /leads list: number → {"accept", "decline"}."""
    kinds = {"✅": "accept", "🙅": "decline"}
    out: dict[str, set[str]] = {}
    for label in msg.labels:
        icon, number = label.split(" ")[0], label.rsplit(" ", 1)[-1]
        out.setdefault(number, set()).add(kinds[icon])
    return out


def redrawn(reply, lst):
    return next(m for m in reply if m.message_id == lst.message_id)


async def test_leads_lists_each_request_with_its_answers_and_reveals_no_contact(bot):
    s = await two_requests_pending(bot)
    assert all("已向发明人转达" in r.text for r in s.interest)
    assert "待您回复" in s.lst.text
    assert answer_buttons(s.lst) == {"1": {"accept", "decline"}, "2": {"accept", "decline"}}
    assert set(s.line) == {"福州新能科技有限公司", "闽江矿机有限公司"}, s.lst.text
    assert "张老师" not in " ".join(m.text for m in s.first.bot_messages())


async def test_someone_else_cannot_answer_the_inventors_lead(bot):
    s = await two_requests_pending(bot)
    other = await user_with_role(bot, 7103, "别的发明人", "inventor 福州大学")
    forged = await other.press(callback_data=f"ld:a:{s.leads[7101]}:l",
                               message_id=other.last_bot_message().message_id, stale=True)
    assert forged.alert and "过期" in forged.toast
    async with bot.services.storage.session() as db:
        assert (await db.get(Lead, s.leads[7101])).status == "pending"


async def test_accepting_from_leads_redraws_the_list_and_sends_the_contact(bot):
    s = await first_accepted(bot)
    assert "已同意" in s.accepted.text
    page = redrawn(s.accepted, s.lst)
    assert answer_buttons(page) == {"1": {"accept", "decline"}}  # only the other request is left to answer
    assert re.search(r"^• 《.*》— 福州新能科技有限公司 发起 · 已同意$", page.text, re.M), page.text
    contact = await s.first.wait_for("发明人同意就", timeout=10)
    assert "张老师" in contact.text


async def test_a_decided_lead_says_so_from_the_list_and_from_the_push(bot):
    s = await first_accepted(bot)
    again = await s.inventor.press(callback_data=f"ld:a:{s.leads[7101]}:l", message_id=s.lst.message_id, stale=True)
    assert "已经处理过" in again.text
    push = next(m for m in s.inventor.bot_messages() if "福州新能科技有限公司" in m.text and "有对接意向" in m.text)
    again = await s.inventor.press("✅ 同意对接", message_id=push.message_id)
    assert "已经处理过" in again.text


async def test_declining_from_leads_reveals_nothing_to_that_company(bot):
    s = await both_answered(bot)
    assert "已婉拒" in s.declined.text
    page = redrawn(s.declined, s.lst)
    assert not page.labels and "待您回复" not in page.text
    await s.second.wait_for("发明人暂不就", timeout=10)
    await drain_quietly(bot)
    assert "张老师" not in " ".join(m.text for m in s.second.bot_messages())
    async with bot.services.storage.session() as db:
        assert {lead.requester_id: lead.status for lead in await db.scalars(select(Lead))} == {
            7101: "accepted", 7102: "declined"}


async def test_the_company_sees_the_outcome_in_its_own_leads(bot):
    s = await both_answered(bot)
    (theirs,) = await s.first.send("/leads")
    assert "我发起 · 已同意" in theirs.text and not theirs.labels


async def test_leads_in_english(bot):
    inventor = await make_inventor(bot, 7111, "Wang", lang="en")
    await link(inventor)
    ent = await register_enterprise(bot, 7112, "Fuzhou Mining")
    await open_card(ent)
    await ent.press("🤝 有意向")
    (lst,) = await inventor.send("/leads")
    assert "Awaiting your answer" in lst.text and lst.labels == ["✅ Accept 1", "🙅 Decline 1"]
    r = await inventor.press("✅ Accept 1")
    assert "Accepted" in r.text


async def drain_quietly(bot):
    assert await bot.services.outbox.drain(timeout=20)


async def test_myevents_sends_the_calendar_file_again_and_shows_the_waiting_list_place(bot):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 7201, "officer", "科技局@鼓楼区", "王科长")
    people = [await with_role(bot, 7202 + i, "enterprise", f"企业{i}", f"经理{i}") for i in range(3)]
    await create_event(organiser, title="氢能专利对接会", capacity="1")
    eid = await event_id(bot, "氢能专利对接会")
    await sign_up_in_turn(bot, people)
    confirmed, next_up, last = people

    (mine,) = await confirmed.send("/myevents")
    assert re.search(r"^1\. 氢能专利对接会 — 已确认$", mine.text, re.M), mine.text
    assert "📅 日历 1" in mine.labels
    r = await confirmed.press("📅 日历 1")
    assert "日历文件已发送" in r.toast
    doc = next(m for m in r if m.document is not None)
    assert doc.document["file_name"] == f"event-{eid}.ics" and "氢能专利对接会" in (doc.caption or doc.text)
    ics = (await confirmed.download(doc.document["file_id"])).decode()
    assert "BEGIN:VCALENDAR" in ics and "DTSTART:20300920T063000Z" in ics and "氢能专利对接会" in ics

    (mine,) = await last.send("/myevents")
    assert re.search(r"^1\. 氢能专利对接会 — 候补（第 2 位）$", mine.text, re.M), mine.text
    assert not [x for x in mine.labels if x.startswith("📅 日历")]
    (mine2,) = await next_up.send("/myevents")
    assert "候补（第 1 位）" in mine2.text
    # a forged calendar button for a waitlisted signup, or for someone who isn't signed up: no file
    r = await last.press(callback_data=f"ev:i:{eid}", message_id=mine.message_id, stale=True)
    assert r.alert and "候补" in r.toast and not [m for m in r if m.document]
    nobody = await with_role(bot, 7209, "enterprise", "路人企业", "路人")
    r = await nobody.press(callback_data=f"ev:i:{eid}", message_id=nobody.last_bot_message().message_id, stale=True)
    assert r.alert and "没有报名" in r.toast and not [m for m in r if m.document]

    # the confirmed one cancels: the first on the waiting list moves up, the last is now first
    await confirmed.press("✖️ 取消 1", message_id=(await confirmed.send("/myevents")).last.message_id)
    await drain(bot)
    (mine,) = await last.send("/myevents")
    assert "候补（第 1 位）" in mine.text
    (mine2,) = await next_up.send("/myevents")
    assert "— 已确认" in mine2.text and "📅 日历 1" in mine2.labels


async def test_myevents_in_english(bot):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 7211, "officer", "工信局", "刘处长")
    ann = await with_role(bot, 7212, "enterprise", "Fuzhou Optics", "Ann", lang="en")
    bob = await with_role(bot, 7213, "enterprise", "Min Lasers", "Bob", lang="en")
    await create_event(organiser, title="光电专利对接会", capacity="1")
    for u in (ann, bob):
        (lst,) = await u.send("/events")
        await u.press("1", message_id=lst.message_id)
        await u.press("✍️ Sign up")
    (mine,) = await bob.send("/myevents")
    assert re.search(r"^1\. 光电专利对接会 — waiting list \(no\. 1\)$", mine.text, re.M), mine.text
    (mine,) = await ann.send("/myevents")
    r = await ann.press("📅 Calendar 1")
    assert "Calendar file sent" in r.toast and any(m.document for m in r)


async def test_a_pushs_unsubscribe_is_also_in_subscriptions(bot):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 7301, "officer", "科技局@鼓楼区", "王科长")
    company = await with_role(bot, 7302, "enterprise", "福耀科技", "陈经理")
    await company.send("/subscriptions")
    await company.press("▫️ 对接会")
    await create_event(organiser, title="第一场对接会", topics=("该活动类型的订阅者",))
    notice = await company.wait_for("第一场对接会", timeout=10)
    assert "🔕 退订：对接会" in notice.labels
    # the push is gone (deleted, muted, missed): the same topic is switched off in /subscriptions
    (view,) = await company.send("/subscriptions")
    assert "✅ 对接会" in view.labels
    page = (await company.press("✅ 对接会", message_id=view.message_id)).last
    assert "▫️ 对接会" in page.labels
    # signing up adds the reminders topic, whose unsubscribe the confirmation carries; it is listed too
    await company.press("✍️ 报名", message_id=notice.message_id)
    doc = await company.wait_for(lambda m: m.document is not None, timeout=10)
    assert "🔕 退订：已报名活动的提醒" in doc.labels
    (view,) = await company.send("/subscriptions")
    assert "✅ 已报名活动的提醒" in view.labels
    await create_event(organiser, title="第二场对接会", topics=("该活动类型的订阅者",))
    await drain(bot)
    await company.refresh()
    assert not any("第二场对接会" in m.text for m in company.bot_messages())
