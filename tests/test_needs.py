"""The needs board end to end, on SQLite and PostgreSQL: an enterprise posts a need through the dialog,
sees the library's best matches; the offices and inventors holding them get it once, answer with one
tap, and "we can help" becomes a lead only when the enterprise agrees too; officers see it in /stats
and the export. Plus the attacks: the wrong role, another enterprise, a stranger's and a replayed tap."""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from bot.io.importer import import_file
from bot.storage import Storage
from tests.harness import running_program, user_with_role as make_role
from tests.test_assessment import link, make_inventor
from tests.test_enterprise import register_enterprise

BATTERY = "CN111000001A"
LIBRARY = [
    {"pub_no": BATTERY, "title": "一种低成本磷酸铁锂正极材料的制备方法", "institution": "福州大学",
     "industry_field": "new_energy", "inventors": "张老师",
     "abstract": "本发明公开了一种锂离子电池磷酸铁锂正极材料的低成本制备方法，采用固相烧结工艺，降低能耗和原料成本。"},
    {"pub_no": "CN111000002A", "title": "一种废旧锂电池正极材料的回收方法", "institution": "闽江学院",
     "industry_field": "new_energy",
     "abstract": "本发明涉及废旧锂离子电池回收，从正极材料中回收锂、铁和磷，工艺简单成本低。"},
    {"pub_no": "CN111000003A", "title": "一种近水平薄矿体掘进机", "institution": "福州大学", "industry_field": "equipment",
     "abstract": "本发明公开了一种用于近水平薄矿体开采的掘进机，包括截割机构和行走机构。"},
    {"pub_no": "CN111000004A", "title": "一种茶叶揉捻设备", "institution": "福建农林大学", "industry_field": "food",
     "abstract": "本发明公开了一种茶叶揉捻设备，提高揉捻均匀度。"},
]
PROBLEM = "磷酸铁锂正极材料成本太高，需要低成本的制备工艺"


async def library_program(db_url: str, folder):
    """The program on ``db_url`` with a small library imported first (as ``run_bot.py import`` does)."""
    path = folder / "library.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in LIBRARY) + "\n", encoding="utf-8")
    st = Storage(db_url)
    await st.migrate()
    await import_file(st, path)
    await st.close()
    return running_program(folder, db_url)


@pytest.fixture
async def bot(db_url, tmp_path):
    async with await library_program(db_url, tmp_path) as h:
        yield h


async def post_need(ent, problem=PROBLEM, coop="联合攻关"):
    (lst,) = await ent.send("/needs")
    assert "技术需求榜" in lst.text
    step = await ent.press("➕ 发布技术需求", message_id=lst.message_id)
    assert "技术难题" in step.last.text
    await ent.send(problem)
    await ent.press("新能源与储能")
    await ent.press("10–50 万元")
    await ent.press(coop)
    review = (await ent.send("2027-06-30")).last
    assert "请核对您的技术需求" in review.text and coop in review.text and "2027-06-30" in review.text
    return (await ent.press("✅ 确认提交")).last


async def board(bot):
    """An enterprise, the offices of the two institutions holding battery patents (one with a
    registered inventor), and an office whose patents do not match."""
    s = SimpleNamespace()
    s.inventor = await make_inventor(bot)
    await link(s.inventor, query=BATTERY, label=BATTERY)
    s.fzu = await make_role(bot, 5101, "林主任", "tto 福州大学")
    s.mju = await make_role(bot, 5102, "陈主任", "tto 闽江学院")
    s.agri = await make_role(bot, 5103, "黄主任", "tto 福建农林大学")
    s.ent = await register_enterprise(bot)
    return s


async def posted(bot):
    s = await board(bot)
    s.posted = await post_need(s.ent)
    assert await bot.services.outbox.drain(timeout=20)
    s.notice = await s.fzu.wait_for("企业技术需求", timeout=10)
    s.need_id = int(s.notice.raw_buttons[0][0]["callback_data"].split(":")[2])
    return s


def notices(u) -> list:
    return [m for m in u.bot_messages() if "企业技术需求" in m.text]


async def test_a_posted_need_shows_the_best_matches_and_reaches_their_holders_once(bot):
    s = await posted(bot)
    assert "技术需求已发布" in s.posted.text and "一种低成本磷酸铁锂正极材料的制备方法" in s.posted.text
    # 福州大学's two office users (the one who confirmed the inventor's link, and 林主任), 闽江学院's
    # office and the confirmed inventor
    assert "已转给 4 位" in s.posted.text
    assert PROBLEM in s.notice.text and "福州新能科技有限公司" in s.notice.text and "联合攻关" in s.notice.text
    assert s.notice.labels == ["🙋 我们能帮忙", "🙅 不适合我们"]
    for holder in (s.inventor, s.mju):
        await holder.wait_for("企业技术需求", timeout=10)
    await s.agri.refresh()
    assert not notices(s.agri)  # its patents do not match
    assert "王经理" not in s.notice.text  # no contact before both agree
    (lst,) = await s.ent.send("/needs")
    assert PROBLEM[:10] in lst.text and "已转给 4 位持有方" in lst.text and "征集中" in lst.text


async def test_we_can_help_opens_a_lead_only_when_the_enterprise_agrees(bot):
    s = await posted(bot)
    sent = await s.fzu.press("🙋 我们能帮忙", message_id=s.notice.message_id)
    assert "已告诉企业" in sent.text
    offer = await s.ent.wait_for("有专利持有方能帮忙", timeout=10)
    assert "福州大学" in offer.text and "林主任" not in offer.text
    assert offer.labels == ["✅ 同意对接", "🙅 暂不对接"]
    assert not any("王经理" in m.text for m in s.fzu.bot_messages())
    agreed = await s.ent.press("✅ 同意对接", message_id=offer.message_id)
    assert "已同意对接" in agreed.text and "林主任" in agreed.text
    contact = await s.fzu.wait_for("同意就需求", timeout=10)
    assert "王经理" in contact.text
    again = await s.ent.press(callback_data=offer.raw_buttons[0][0]["callback_data"], message_id=offer.message_id,
                              stale=True)
    assert "已经处理过" in again.text
    # both sides find the lead again in /leads, with the contact; an office it did not go to does not
    (mine,) = await s.fzu.send("/leads")
    assert "技术需求对接" in mine.text and "我方回应" in mine.text and "双方同意" in mine.text and "王经理" in mine.text
    (theirs,) = await s.ent.send("/leads")
    assert "福州大学 愿意帮忙" in theirs.text and "双方同意" in theirs.text and "林主任" in theirs.text
    (other,) = await s.agri.send("/leads")
    assert "技术需求对接" not in other.text and "王经理" not in other.text



async def test_an_offer_missed_in_the_push_is_answered_from_needs(bot):
    s = await posted(bot)
    await s.fzu.press("🙋 我们能帮忙", message_id=s.notice.message_id)
    await s.ent.wait_for("有专利持有方能帮忙", timeout=10)
    (lst,) = await s.ent.send("/needs")
    assert "等待您同意对接" in lst.text and "福州大学" in lst.text and "林主任" not in lst.text
    pressed = await s.ent.press("✅ 同意 #1", message_id=lst.message_id)
    page = next(m for m in pressed if m.message_id == lst.message_id)
    assert "等待您同意对接" not in page.text and "✅ 同意 #1" not in page.labels and "✏️ 修改 1" in page.labels
    assert "林主任" in pressed.last.text  # the contact, now that both agreed
    await s.fzu.wait_for("同意就需求", timeout=10)


async def test_not_for_us_is_recorded_and_the_enterprise_is_not_bothered(bot):
    s = await posted(bot)
    passed = await s.mju.press("🙅 不适合我们", message_id=(await s.mju.wait_for("企业技术需求", timeout=10)).message_id)
    assert "不适合我们" in passed.text
    assert await bot.services.outbox.drain(timeout=20)
    await s.ent.refresh()
    assert not any("有专利持有方能帮忙" in m.text for m in s.ent.bot_messages())


async def test_officers_see_needs_and_answers_in_stats_and_the_export(bot):
    s = await posted(bot)
    await s.fzu.press("🙋 我们能帮忙", message_id=s.notice.message_id)
    offer = await s.ent.wait_for("有专利持有方能帮忙", timeout=10)
    await s.ent.press("✅ 同意对接", message_id=offer.message_id)
    officer = await make_role(bot, 5201, "陈科长", "officer 科技局")
    replies = await officer.send("/stats")
    text = " ".join(m.text for m in replies)
    assert "需求 1 条" in text and "有持有方回应能帮忙 1" in text and "双方同意对接 1" in text
    # a county officer counts only the needs put to the county's institutions (none in 鼓楼区 here)
    county = await make_role(bot, 5202, "鼓楼科技", "officer 科技局@鼓楼区")
    text = " ".join(m.text for m in await county.send("/stats"))
    assert "需求 0 条" in text and "双方同意对接 0" in text and "专家评估请求 0" in text
    replies = await officer.send("/export")
    xlsx = next(m for m in replies if m.document and m.document["file_name"].endswith(".xlsx"))
    wb = load_workbook(io.BytesIO(await officer.download(xlsx.document["file_id"])), read_only=True)
    width = 13  # the sheet's columns; a row's empty trailing cells are not stored
    rows = [tuple(r) + (None,) * (width - len(r)) for r in wb["技术需求"].iter_rows(values_only=True)]
    assert rows[0][:3] == ("需求编号", "企业", "技术难题") and len(rows) == 5  # one per holder told
    helped = [r for r in rows[1:] if r[11] == "能帮忙"]
    assert len(helped) == 1 and helped[0][12] == "双方同意" and helped[0][9] == "福州大学"
    assert rows[1][5] == "联合攻关" and rows[1][7] == "征集中"  # the people's words, not codes


async def test_an_edit_rematches_without_telling_anyone_twice_and_closing_stops_answers(bot):
    s = await posted(bot)
    (lst,) = await s.ent.send("/needs")
    review = await s.ent.press("✏️ 修改 1", message_id=lst.message_id)
    assert "请核对您的技术需求" in review.last.text
    await s.ent.press("✏️ 合作方式")
    await s.ent.press("委托研发")
    done = (await s.ent.press("✅ 确认提交")).last
    assert "技术需求已修改" in done.text and "没有新的持有方需要通知" in done.text
    assert await bot.services.outbox.drain(timeout=20)
    await s.fzu.refresh()
    assert len(notices(s.fzu)) == 1
    (lst,) = await s.ent.send("/needs")
    assert "委托研发" in lst.text
    closed = await s.ent.press("🔒 关闭 1", message_id=lst.message_id)
    assert "已关闭" in closed.text
    late = await s.fzu.press("🙋 我们能帮忙", message_id=s.notice.message_id)
    assert "已关闭" in (late.toast or "")
    (lst,) = await s.ent.send("/needs")
    assert "已关闭" in lst.text and "✏️ 修改 1" not in lst.labels



async def test_a_holder_reads_the_need_and_answers_in_english(bot):
    office = await make_role(bot, 5104, "Lin", "tto 福州大学", lang="en")
    ent = await register_enterprise(bot)
    await post_need(ent)
    notice = await office.wait_for("technology need", timeout=10)
    assert "Joint R&D" in notice.text and notice.labels == ["🙋 We can help", "🙅 Not for us"]
    sent = await office.press("🙋 We can help", message_id=notice.message_id)
    assert "The enterprise has been told" in sent.text


# --- attacks ----------------------------------------------------------------------------------------------

async def test_only_enterprises_post_needs(bot):
    s = await board(bot)
    (msg,) = await s.fzu.send("/needs")
    assert "🔒" in msg.text
    r = await s.fzu.press(callback_data="nd:n", message_id=msg.message_id, stale=True)
    assert "🔒" in (r.toast or "")


async def test_another_enterprise_can_neither_edit_nor_close_a_need(bot):
    s = await posted(bot)
    rival = await register_enterprise(bot, uid=5301, company="厦门竞争者有限公司")
    anchor = rival.last_bot_message().message_id
    for data in (f"nd:e:{s.need_id}", f"nd:c:{s.need_id}"):
        r = await rival.press(callback_data=data, message_id=anchor, stale=True)
        assert "过期" in (r.toast or "")
    (lst,) = await s.ent.send("/needs")
    assert "征集中" in lst.text and "✏️ 修改 1" in lst.labels  # still open, unchanged
    assert PROBLEM[:10] in lst.text


async def test_only_the_holders_told_may_answer_and_only_once(bot):
    s = await posted(bot)
    anchor = s.agri.last_bot_message().message_id
    forged = await s.agri.press(callback_data=f"nd:a:{s.need_id}:h", message_id=anchor, stale=True)
    assert "过期" in (forged.toast or "")
    await s.fzu.press("🙋 我们能帮忙", message_id=s.notice.message_id)
    replay = await s.fzu.press(callback_data=s.notice.raw_buttons[0][0]["callback_data"],
                               message_id=s.notice.message_id, stale=True)
    assert "已经回复过" in (replay.toast or "")
    assert await bot.services.outbox.drain(timeout=20)
    await s.ent.refresh()
    offers = [m for m in s.ent.bot_messages() if "有专利持有方能帮忙" in m.text]
    assert len(offers) == 1 and "福建农林大学" not in offers[0].text


async def test_only_the_needs_enterprise_may_agree_to_the_lead(bot):
    s = await posted(bot)
    await s.fzu.press("🙋 我们能帮忙", message_id=s.notice.message_id)
    offer = await s.ent.wait_for("有专利持有方能帮忙", timeout=10)
    data = offer.raw_buttons[0][0]["callback_data"]
    rival = await register_enterprise(bot, uid=5301, company="厦门竞争者有限公司")
    r = await rival.press(callback_data=data, message_id=rival.last_bot_message().message_id, stale=True)
    assert "过期" in (r.toast or "")
    r = await s.mju.press(callback_data=data, message_id=s.mju.last_bot_message().message_id, stale=True)
    assert "🔒" in (r.toast or "")
    assert await bot.services.outbox.drain(timeout=20)
    await s.fzu.refresh()
    assert not any("同意就需求" in m.text for m in s.fzu.bot_messages())  # no contact leaked
    agreed = await s.ent.press("✅ 同意对接", message_id=offer.message_id)
    assert "已同意对接" in agreed.text


async def test_forged_ids_no_key_can_hold_are_refused_politely(bot):
    ent = await register_enterprise(bot)
    anchor = ent.last_bot_message().message_id
    for data in ("nd:a:99999999999:h", "nd:e:99999999999", "nd:c:99999999999", "nd:d:a:99999999999"):
        r = await ent.press(callback_data=data, message_id=anchor, stale=True)
        assert "过期" in (r.toast or ""), data
