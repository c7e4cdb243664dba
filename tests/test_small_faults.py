"""Small faults a user walking the bot ran into: an event-change notice too long for a document
caption, inline cards searched as queries, a deep link to a missing patent, list items running
together, a second 🏭 tap answered with the wrong message, and /cancel claiming a draft was saved."""
from __future__ import annotations

import re

from sqlalchemy import select

from bot.models import AssessmentStatus, OutboxMessage, SelfAssessment
from bot.delivery.notify import CAPTION_LIMIT, caption_length, fit_caption
from tests.harness import user_with_role
from tests.test_assessment import full_assessment, link, make_inventor
from tests.test_enterprise import record_licence_deal, register_enterprise
from tests.test_events import NOW, create_event, drain, event_id, with_role
from tests.test_search_ui import assess

# the longest title and place the event dialogs accept (bot/dialogs/event.py)
LONG_TITLE = ("福州市高校存量专利盘活暨新能源与储能产业专利转化对接会" * 4)[:100]
LONG_PLACE = ("福建省福州市闽侯县上街镇福州大学城学园路二号福州大学旗山校区科技园区综合服务中心大楼三层多功能报告厅" * 7)[:300]
NEW_PLACE = ("福建省福州市仓山区金山街道浦上大道福州海峡国际会展中心二号馆东侧四层专利交易与技术转移专题洽谈区" * 7)[:300]


# ------------------------------------------------------------------------------------------------
# an event change with the longest title and places still reaches every attendee, file included
# ------------------------------------------------------------------------------------------------

async def test_a_long_event_change_reaches_attendees_with_the_notice_and_the_calendar_file(bot):
    assert len(LONG_TITLE) == 100 and len(LONG_PLACE) == 300 and len(NEW_PLACE) == 300
    bot.clock.set(NOW)
    organiser = await with_role(bot, 8001, "officer", "科技局@鼓楼区", "王科长")
    zh = await with_role(bot, 8002, "enterprise", "福耀科技", "陈经理")
    en = await with_role(bot, 8003, "enterprise", "Fuzhou Optics", "Ann", lang="en")
    waiting = await with_role(bot, 8004, "enterprise", "闽江矿机", "林经理")
    done = await create_event(organiser, title=LONG_TITLE, place=LONG_PLACE, capacity="2")
    eid = await event_id(bot, LONG_TITLE)
    for u, label in ((zh, "✍️ 报名"), (en, "✍️ Sign up"), (waiting, "✍️ 报名")):
        (lst,) = await u.send("/events")
        await u.press("1", message_id=lst.message_id)
        await u.press(label)
    await drain(bot)
    # the signup confirmation fits a caption: one document as before
    confirmation = await zh.wait_for(lambda m: m.document is not None, timeout=10)
    assert "报名成功" in confirmation.caption and LONG_PLACE in confirmation.caption

    await organiser.press("✏️ 修改活动信息", message_id=done.last.message_id)
    await organiser.press("地点 / 链接")
    await organiser.send(NEW_PLACE)
    card = (await organiser.press("✅ 确认提交")).last
    assert "正在通知 3 位报名者" in card.text
    await drain(bot)

    for u, heading, follows in ((zh, "活动信息有变", "随后单独发送"), (en, "Event changed", "follows this message")):
        await u.refresh()
        notice = next(m for m in u.bot_messages() if heading in m.text)
        assert LONG_TITLE in notice.text and LONG_PLACE in notice.text and NEW_PLACE in notice.text
        assert follows in notice.text and notice.document is None
        assert any(x.startswith("✖️") for x in notice.labels)      # cancel my signup stays with the text
        later = [m for m in u.bot_messages() if m.seq > notice.seq and m.document is not None]
        assert later, "the calendar file did not arrive"
        doc = later[0]
        assert doc.document["file_name"] == f"event-{eid}.ics" and len(doc.caption or "") <= CAPTION_LIMIT
        ics = (await u.download(doc.document["file_id"])).decode()
        assert "BEGIN:VCALENDAR" in ics and "LOCATION:" in ics
    # the waitlisted attendee gets the text (no calendar file) as before
    await waiting.refresh()
    assert any("活动信息有变" in m.text and NEW_PLACE in m.text for m in waiting.bot_messages())
    # nothing failed in the outbox
    async with bot.services.storage.session() as s:
        rows = list(await s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.like(f"event:{eid}:%"))))
    assert rows and {r.status for r in rows} == {"sent"}, [(r.idempotency_key, r.status, r.last_error) for r in rows]


def test_fit_caption_cuts_html_safely():
    text = "📝 <b>标题</b>\n" + "\n".join(f"<s>{'旧地点' * 40}</s> → <b>{'新&amp;地点' * 40}</b>" for _ in range(8))
    assert caption_length(text) > CAPTION_LIMIT
    cut = fit_caption(text)
    assert caption_length(cut) <= CAPTION_LIMIT
    assert cut.count("<b>") == cut.count("</b>") and cut.count("<s>") == cut.count("</s>")
    assert not re.search(r"&[#a-zA-Z0-9]*$", cut.rstrip("\n…"))
    short = "✅ <b>已报名</b>"
    assert fit_caption(short) == short


async def test_no_outbox_document_carries_a_caption_over_the_limit(storage):
    async with storage.session() as s:
        await storage.enqueue(s, chat_id=1, key="long-html", kind="document", document=b"x", document_name="a.ics",
                              text="<b>" + "长" * 700 + "</b>\n" + "<i>" + "字&amp;" * 400 + "</i>")
        await storage.enqueue(s, chat_id=1, key="long-plain", kind="document", document=b"x", document_name="b.txt",
                              text="😀" * 800, parse_mode=None)
        await storage.enqueue(s, chat_id=1, key="short", kind="document", document=b"x", document_name="c.ics",
                              text="✅ <b>已报名</b>")
    rows = {r.idempotency_key: r.text for r in await storage.outbox_messages(chat_id=1)}
    assert caption_length(rows["long-html"]) <= CAPTION_LIMIT and rows["long-html"].count("<b>") == 1
    assert len(rows["long-plain"].encode("utf-16-le")) // 2 <= CAPTION_LIMIT
    assert rows["short"] == "✅ <b>已报名</b>"


async def test_the_organisers_attendee_list_caption_fits_with_a_long_title(bot):
    bot.clock.set(NOW)
    organiser = await with_role(bot, 8011, "officer", "科技局@鼓楼区", "王科长")
    done = await create_event(organiser, title=LONG_TITLE, place=LONG_PLACE, capacity="2")
    await organiser.press("📄 报名名单 CSV", message_id=done.last.message_id)
    doc = await organiser.wait_for(lambda m: m.document is not None, timeout=10)
    assert LONG_TITLE in doc.caption and len(doc.caption) <= CAPTION_LIMIT


# ------------------------------------------------------------------------------------------------
# an inline card chosen in the bot's own chat is not a search query (nor a dialog answer)
# ------------------------------------------------------------------------------------------------

async def test_an_inline_card_chosen_in_the_bots_chat_is_not_searched(bot):
    u = await bot.user(8101)
    await u.send("/start")
    results = await u.inline("掘进机")
    assert any(r["id"] == "CN113914863A" for r in results)
    chosen = await u.choose_inline(u.last_inline_query_id, "CN113914863A")
    assert not [m for m in chosen if m.from_bot]              # the bot said nothing about it
    await u.refresh()
    assert u.bot_messages()[-1].via_bot and "近水平薄矿体" in u.bot_messages()[-1].text
    assert not any("检索词太长" in m.text for m in u.bot_messages())
    # typed text is still a search
    (res,) = await u.send("掘进机")
    assert "共" in res.text

    # in the middle of a dialog the card is not taken as the answer either
    inv = await make_inventor(bot, 8102)
    await inv.send("/mypatents")
    step = (await inv.press("➕ 关联一件专利")).last
    results = await inv.inline("掘进机")
    chosen = await inv.choose_inline(inv.last_inline_query_id, "CN113914863A")
    assert not [m for m in chosen if m.from_bot]
    await inv.refresh()
    assert inv.bot_messages()[-1].via_bot and not any("太长" in m.text for m in inv.bot_messages())
    replies = await inv.send("掘进机")                 # the step still waits for keywords
    assert "CN113914863A" in " ".join(replies.last.labels) and step.message_id != replies.last.message_id


# ------------------------------------------------------------------------------------------------
# a deep link to a patent that doesn't exist says so
# ------------------------------------------------------------------------------------------------

async def test_a_deep_link_to_a_missing_patent_says_it_was_not_found(bot):
    u = await bot.user(8201)
    replies = await u.send("/start p_CN000000000X")
    assert "没有找到这件专利" in replies.text and "CN000000000X" in replies.text
    en = await bot.user(8202, "Ann", language_code="en")
    replies = await en.send("/start p_NOPE")
    assert "Patent not found" in replies.text
    # a real one still opens its card
    (card,) = await u.send("/start p_CN113914863A")
    assert "近水平薄矿体" in card.text


# ------------------------------------------------------------------------------------------------
# list items each on their own line (/mypatents, /review), in both languages
# ------------------------------------------------------------------------------------------------

def item_lines(text: str) -> list[str]:
    return re.findall(r"^(?:<b>)?(\d+)\.(?:</b>)? ", text, re.M)


async def test_mypatents_items_are_on_their_own_lines(bot):
    for uid, lang, add in ((8301, "zh-hans", "➕ 关联一件专利"), (8302, "en", "➕ Add a patent")):
        u = await make_inventor(bot, uid, lang=lang)
        for query, label in (("掘进机", "CN113914863A"), ("衣物处理装置 预约控制", "CN114232276A"),
                             ("双面坡口", "CN111185648A")):
            await link(u, query, label)
        (mine,) = await u.send("/mypatents")
        assert item_lines(mine.text) == ["1", "2", "3"], mine.text
        for pub in ("CN113914863A", "CN114232276A", "CN111185648A"):
            assert re.search(rf"^\d\. .*{pub}.* — \S+", mine.text, re.M), mine.text


async def test_review_items_are_on_their_own_lines(bot):
    for i, pid in enumerate(("CN113914863A", "CN114232276A", "CN111185648A")):
        await assess(bot, 8400 + i, pid, review=False)
    for uid, lang in ((8411, "zh-hans"), (8412, "en")):
        tto = await user_with_role(bot, uid, "技转办", "tto 福州大学", lang)
        (lst,) = await tto.send("/review")
        assert item_lines(lst.text) == ["1", "2", "3"], lst.text
        for pub in ("CN113914863A", "CN114232276A", "CN111185648A"):
            line = next(x for x in lst.text.splitlines() if pub in x)
            assert re.match(r"^\d\. ", line), line
        # each item's details are on the line below it, not glued to the next item
        assert not re.search(r"\d\. [^\n]*\d\. ", lst.text), lst.text


def test_digest_items_are_on_their_own_lines():
    from types import SimpleNamespace as NS

    from bot.i18n import Translator

    t = Translator()
    patents = [NS(id=f"P{i}", title=f"专利{i}", pub_no=f"CN{i}" if i != 1 else None) for i in range(3)]
    for lang in ("zh", "en"):
        text = t.render(lang, "notify_digest", day="2030-09-01", total=3, patents=patents)
        assert item_lines(text) == ["1", "2", "3"], text


# ------------------------------------------------------------------------------------------------
# 🏭 tapped twice; /cancel of a reopened submitted assessment
# ------------------------------------------------------------------------------------------------

async def test_a_second_industrialised_tap_says_it_is_recorded_already(bot):
    inventor = await make_inventor(bot)
    await link(inventor)
    tto = await user_with_role(bot, 8501, "技转办", "tto 福州大学")
    await register_enterprise(bot, 8502, "福州矿机有限公司")
    card = await record_licence_deal(tto, "福州矿机有限公司")
    label = next(x for x in card.labels if x.startswith("🏭"))
    first = await tto.press(label, message_id=card.message_id)
    assert "已标记为产业化" in first.text
    again = await tto.press(label, message_id=card.message_id)
    assert again.alert and "已经标记为产业化" in again.toast
    assert not [m for m in again if "自评" in m.text]
    # another institution's office can't touch it, and is not told anything about it
    other = await user_with_role(bot, 8503, "厦大技转", "tto 厦门大学")
    txn = card.button(label)["callback_data"]
    r = await other.press(callback_data=txn, message_id=other.last_bot_message().message_id, stale=True)
    assert "过期" in r.toast and "产业化" not in r.toast


async def test_cancelling_a_reopened_assessment_tells_the_truth(bot):
    u = await make_inventor(bot)
    await link(u)
    await full_assessment(u)
    await u.press("✅ 确认提交")
    # reopened and left with /cancel: nothing changed, it stays submitted
    await u.send("/mypatents")
    await u.press("📝 1.")
    said = (await u.send("/cancel")).last
    assert "未作修改" in said.text and "已提交" in said.text and "草稿" not in said.text
    # the same with the dialog's own cancel button
    await u.send("/mypatents")
    await u.press("📝 1.")
    r = await u.press("✖️ 取消")
    assert "未作修改" in r.text and "已提交" in r.text
    (mine,) = await u.send("/mypatents")
    assert "— 已提交" in mine.text
    # after a change it really is a draft, and /cancel says so
    await u.press("📝 1.")
    await u.press("✏️ 技术成熟度")
    await u.press("5")
    said = (await u.send("/cancel")).last
    assert "草稿" in said.text
    async with bot.services.storage.session() as s:
        assert (await s.scalars(select(SelfAssessment))).one().status == AssessmentStatus.DRAFT.value
    # a new patent left before the first answer: nothing was saved
    await link(u, "双面坡口", "CN111185648A")
    await u.send("/mypatents")
    await u.press("📝 2.")
    said = (await u.send("/cancel")).last
    assert "还没有保存任何内容" in said.text
