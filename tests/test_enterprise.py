"""Enterprise evaluation end to end: registration, ratings with feedback pushes, interest/leads,
transactions and product filing, expert pool, daily digests with quiet hours, export."""
from __future__ import annotations

import csv
import datetime as dt
import io
from types import SimpleNamespace

from openpyxl import load_workbook

from bot.services.digest import SHANGHAI
from devtools.client import wait_until
from tests.harness import clock_jump, user_with_role as make_role
from tests.test_assessment import full_assessment, link, make_inventor

PATENT = "CN113914863A"


async def open_card(u, query="近水平薄矿体 掘进机"):
    (res,) = await u.send(query)
    return (await u.press("1")).last


async def record_licence_deal(tto, company: str):
    """The patent's office records a filed licence to ``company`` from the card; returns the new card."""
    await open_card(tto)
    await tto.press("📝 登记转化交易")
    await tto.press("许可")
    await tto.send("2024-09-30")
    await tto.press("已办理登记/备案")
    await tto.send(company)
    await tto.press("✅ 确认提交")
    return await open_card(tto)


async def register_enterprise(bot, uid=5001, company="福州新能科技有限公司"):
    u = await make_role(bot, uid, "王经理", f"enterprise {company}")
    step = u.last_bot_message()
    assert "企业类型" in step.text
    await u.press("专精特新中小企业")
    await u.press("▫️ 高端装备制造")
    await u.press("▫️ 新能源与储能")
    done = await u.press("✔️ 完成")
    assert "企业信息已保存" in done.text and "专精特新" in done.text
    return u


# --- ratings: the dialog, the feedback pushes, the card, the export ---------------------------------------

class Typed(str):
    """A step of a dialog the user types rather than taps."""


async def rate(u, *steps: str):
    """``u`` opens the patent's card and rates it: taps each of ``steps`` (types the ``Typed`` ones);
    the reply to the last."""
    await open_card(u)
    reply = await u.press("⭐ 评价")
    for step in steps:
        reply = await (u.send(step) if isinstance(step, Typed) else u.press(step))
    return reply


ENTERPRISE_RATING = ("4 ⭐", "▫️ 降低成本", Typed("希望适配小型矿山"), "✔️ 完成", "▫️ 获得许可", "▫️ 联合攻关", "✔️ 完成",
                     "⏭ 跳过", "⏭ 跳过")
EXPERT_RATING = ("5 ⭐", "▫️ 暂无", "✔️ 完成", "▫️ 暂无", "✔️ 完成", "⏭ 跳过", "⏭ 跳过", "✅ 确认提交")


async def rated_by_an_enterprise(bot):
    """The inventor's linked patent, its office, and an enterprise that rates it (the review step
    shown before submitting)."""
    s = SimpleNamespace(inventor=await make_inventor(bot))
    await link(s.inventor)
    s.tto = await make_role(bot, 5101, "技转办", "tto 福州大学")
    s.ent = await register_enterprise(bot)
    s.review = (await rate(s.ent, *ENTERPRISE_RATING)).last
    s.saved = await s.ent.press("✅ 确认提交")
    return s


async def rated_by_an_expert_too(bot):
    """… and by an expert (the inventor's push about it has arrived)."""
    s = await rated_by_an_enterprise(bot)
    s.expert = await make_role(bot, 5102, "李专家", "expert equipment")
    await rate(s.expert, *EXPERT_RATING)
    await s.inventor.wait_for("收到专家评价", timeout=10)
    return s


async def test_an_enterprise_may_rate_a_patent_and_show_interest_from_its_card(bot):
    inventor = await make_inventor(bot)
    await link(inventor)
    ent = await register_enterprise(bot)
    card = await open_card(ent)
    assert "⭐ 评价" in card.labels and "🤝 有意向" in card.labels
    step = await ent.press("⭐ 评价")
    assert "产业化前景" in step.last.text


async def test_a_rating_reaches_the_inventor_and_the_office(bot):
    s = await rated_by_an_enterprise(bot)
    assert "请核对您的评价" in s.review.text and "希望适配小型矿山" in s.review.text
    assert "已保存您对" in s.saved.text
    for who in (s.inventor, s.tto):
        msg = await who.wait_for("收到企业评价", timeout=10)
        assert "福州新能科技有限公司" in msg.text and "联合攻关" in msg.text and "希望适配小型矿山" in msg.text


async def test_the_card_shows_the_number_of_ratings_and_the_average_prospect(bot):
    s = await rated_by_an_enterprise(bot)
    card = await open_card(s.ent)
    assert "市场评价：1 条" in card.text and "平均前景 4.0⭐" in card.text


async def test_a_second_rating_by_the_same_enterprise_replaces_the_first(bot):
    s = await rated_by_an_enterprise(bot)
    await rate(s.ent, "✏️ 产业化前景", "2 ⭐", "✅ 确认提交")
    await s.inventor.wait_for("更新的评价", timeout=10)
    card = await open_card(s.ent)
    assert "市场评价：1 条" in card.text and "平均前景 2.0⭐" in card.text


async def test_an_experts_rating_is_counted_as_an_experts(bot):
    s = await rated_by_an_expert_too(bot)
    card = await open_card(s.expert)
    assert "🤝 有意向" not in card.labels  # interest is the enterprises' to show
    assert "市场评价：2 条（专家 1）" in card.text


async def test_the_export_carries_the_ratings(bot):
    s = await rated_by_an_expert_too(bot)
    officer = await make_role(bot, 5103, "陈科长", "officer 市场监管局")
    replies = await officer.send("/export")
    docs = [m for m in replies if m.document]
    assert {d.document["file_name"].rsplit(".", 1)[1] for d in docs} == {"csv", "xlsx"}
    csv_doc = next(d for d in docs if d.document["file_name"].endswith(".csv"))
    raw = await officer.download(csv_doc.document["file_id"])
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}
    assert len(rows) == 3720 and rows[PATENT]["ratings_count"] == "2" and rows[PATENT]["ratings_expert_count"] == "1"
    xlsx_doc = next(d for d in docs if d.document["file_name"].endswith(".xlsx"))
    wb = load_workbook(io.BytesIO(await officer.download(xlsx_doc.document["file_id"])), read_only=True)
    ratings = list(wb["企业与专家评价"].iter_rows(values_only=True))
    assert ratings[0][0] == "专利编号" and len(ratings) == 3 and {r[0] for r in ratings[1:]} == {PATENT}


async def test_an_enterprise_may_not_export(bot):
    ent = await register_enterprise(bot)
    (msg,) = await ent.send("/export")
    assert "🔒" in msg.text


async def test_interest_accept_and_decline_without_leaking_contacts(bot):
    inventor = await make_inventor(bot)
    await link(inventor)
    ent = await register_enterprise(bot)
    await open_card(ent)
    sent = await ent.press("🤝 有意向")
    assert "已向发明人转达" in sent.text
    ask = await inventor.wait_for("有对接意向", timeout=10)
    assert "福州新能科技有限公司" in ask.text and ask.labels == ["✅ 同意对接", "🙅 暂不对接"]
    assert "张老师" not in " ".join(m.text for m in ent.bot_messages())  # nothing revealed yet
    again = await ent.press("🤝 有意向")
    assert "已经表达过" in again.text
    # someone else can't decide the inventor's lead, even with the right callback data
    other = await bot.user(5201, "路人")
    await other.send("/start")
    r = await other.press(callback_data=ask.raw_buttons[0][0]["callback_data"],
                          message_id=other.last_bot_message().message_id, stale=True)
    assert r.alert or r.toast
    decided = await inventor.press("✅ 同意对接", message_id=ask.message_id)
    assert "已同意" in decided.text
    contact = await ent.wait_for("发明人同意就", timeout=10)
    assert "张老师" in contact.text
    twice = await inventor.press(callback_data=ask.raw_buttons[0][0]["callback_data"], message_id=ask.message_id,
                                 stale=True)
    assert "已经处理过" in twice.text
    (leads,) = await ent.send("/leads")
    assert "已同意" in leads.text


async def test_transaction_industrialisation_and_filing_reminder(bot):
    inventor = await make_inventor(bot)
    await link(inventor)
    tto = await make_role(bot, 5301, "技转办", "tto 福州大学")
    ent = await register_enterprise(bot, company="福州矿机有限公司")
    card = await open_card(tto)
    assert "📝 登记转化交易" in card.labels
    assert "📝 登记转化交易" not in (await open_card(ent)).labels  # only the patent's own office
    await tto.press("📝 登记转化交易")
    await tto.press("许可")
    r = await tto.send("2024-13-45")
    assert "看不懂这个日期" in r.text
    r = await tto.send("2999-01-01")
    assert "日期不合理" in r.text
    await tto.send("2024-09-30")
    await tto.press("已办理登记/备案")
    review = (await tto.send("福州矿机有限公司")).last
    assert "请核对交易信息" in review.text and "2024-09-30" in review.text
    await tto.press("✅ 确认提交")
    card = await open_card(tto)
    assert "转化交易：许可 2024-09-30（已登记）" in card.text
    label = next(x for x in card.labels if x.startswith("🏭"))
    done = await tto.press(label)
    assert "已标记为产业化" in done.text
    reminder = await ent.wait_for("专利密集型产品备案认定试点平台", timeout=10)
    assert "营业执照" in reminder.text
    saved = await ent.press("已提交备案", message_id=reminder.message_id)
    assert "已提交备案" in saved.text
    from sqlalchemy import select

    from bot.models import Transaction

    async with bot.services.storage.session() as s:
        t = (await s.scalars(select(Transaction))).one()
        assert t.industrialised and t.product_filing_status == "filed" and t.enterprise_id is not None


async def test_expert_pool_and_open_licence_candidates(bot):
    await make_role(bot, 5401, "李专家", "expert new_energy")
    await make_role(bot, 5402, "赵专家", "expert equipment")
    officer = await make_role(bot, 5403, "陈科长", "officer 科技局")
    (msg,) = await officer.send("/experts")
    assert "李专家" in msg.text and "赵专家" in msg.text
    (msg,) = await officer.send("/experts new_energy")
    assert "李专家" in msg.text and "赵专家" not in msg.text
    (msg,) = await officer.send("/candidates")
    assert "开放许可候选专利" in msg.text
    nobody = await bot.user(5404)
    (msg,) = await nobody.send("/experts")
    assert "🔒" in msg.text


async def test_daily_digest_batches_and_respects_quiet_hours(bot):
    ent = await register_enterprise(bot)  # industries: equipment, new_energy
    inventor = await make_inventor(bot)
    job = bot.services.digests
    # two patents become transferable in the enterprise's fields during the evening (after the pass the
    # jump to the evening causes, or that pass would send a digest of the first one)
    await clock_jump(bot, dt.datetime(2024, 9, 2, 22, 0, tzinfo=SHANGHAI), job)
    await link(inventor)
    await full_assessment(inventor)
    await inventor.press("✅ 确认提交")
    await link(inventor, "正极活性物质 可再充电锂电池", "正极活性物质和包括其的可再充电锂电池")
    await inventor.send("/mypatents")
    await inventor.press("📝 2.")
    for label in ("新能源与储能", "6", "▫️ 能源电力", "✔️ 完成", "3 ⭐", "▫️ 许可", "✔️ 完成", "未实施",
                  "排他许可", "一次性付款", "不开放许可", "⏭ 跳过", "⏭ 跳过"):
        if label == "6":
            await inventor.send(label)
        else:
            await inventor.press(label)
    await inventor.press("✅ 确认提交")
    # the job runs by itself: at start, every few minutes, and whenever the clock jumps
    await clock_jump(bot, dt.datetime(2024, 9, 2, 23, 30, tzinfo=SHANGHAI), job)  # quiet hours
    await clock_jump(bot, dt.datetime(2024, 9, 3, 7, 59, tzinfo=SHANGHAI), job)
    await ent.refresh()
    assert not [m for m in ent.bot_messages() if "今日匹配专利" in m.text]
    await clock_jump(bot, dt.datetime(2024, 9, 3, 8, 5, tzinfo=SHANGHAI), job)
    digest = await ent.wait_for("今日匹配专利", timeout=10)
    assert "2 件新的可转化专利" in digest.text and "近水平薄矿体" in digest.text and "锂电池" in digest.text
    await clock_jump(bot, dt.datetime(2024, 9, 3, 12, 0, tzinfo=SHANGHAI), job)  # once a day
    await bot.restart()  # and across a restart: the new process's job runs at once
    await wait_until(lambda: bot.services.digests.runs >= 1, timeout=10)
    await clock_jump(bot, dt.datetime(2024, 9, 4, 10, 0, tzinfo=SHANGHAI), bot.services.digests)  # nothing new
    assert await bot.services.outbox.drain(timeout=10)
    await ent.refresh()
    digests = [m for m in ent.bot_messages() if "今日匹配专利" in m.text]
    assert len(digests) == 1
