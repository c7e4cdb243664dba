"""Search UI end to end: paging, filters, patent cards, /browse, inline mode and deep links."""
from __future__ import annotations

import re

from bot.dialogs.self_assessment import answers_to_columns
from bot.models import Role
from tests.harness import confirmed_link


async def assess(bot, inventor_id: int, patent_id: str, *, review: bool, **answers):
    """Seed a submitted (and optionally reviewed) assessment through the storage layer."""
    st = bot.services.storage
    await st.touch_user(inventor_id, "发明人", None, "zh", "zh")
    inst = await st.institution_by_name("福州大学", create=True)
    await st.grant_role(inventor_id, Role.INVENTOR, institution_id=inst)
    await confirmed_link(st, inventor_id, patent_id, inst)
    base = {"industry": "new_energy", "maturity": "6", "scenarios": ["energy"], "prospect": "4",
            "intents": ["transfer"], "implemented": "no"}
    async with st.session() as s:
        await st.save_assessment(s, inventor_id, patent_id, answers_to_columns({**base, **answers}), submit=True)
    if review:
        async with st.session() as s:
            from sqlalchemy import select

            from bot.models import AssessmentStatus, SelfAssessment, utcnow

            a = (await s.scalars(select(SelfAssessment).where(SelfAssessment.patent_id == patent_id))).one()
            await st.record_review(s, a.id, 1, AssessmentStatus.REVIEWED, None, utcnow())


def numbers(msg) -> list[int]:
    return [int(x) for x in re.findall(r"^(\d+)\. ", msg.text, re.M)]


async def test_paging_survives_restart_and_cards_go_back(bot):
    u = await bot.user(4001)
    (first,) = await u.send("电池")
    total = int(re.search(r"共 (\d+) 件", first.text).group(1))
    assert total > 10 and "第 1/" in first.text
    assert numbers(first) == [1, 2, 3, 4, 5]
    assert first.buttons[0] == ["1", "2", "3", "4", "5"] and "下一页 ▶" in first.buttons[1]
    assert len(first.text) < 4096
    page2 = (await u.press("下一页 ▶")).last
    assert page2.message_id == first.message_id and "第 2/" in page2.text  # edited in place
    assert numbers(page2) == [6, 7, 8, 9, 10]
    assert "◀ 上一页" in page2.buttons[1]
    await bot.restart()
    page3 = (await u.press("下一页 ▶")).last  # the query lives in the database
    assert numbers(page3) == [11, 12, 13, 14, 15]
    card = (await u.press("12")).last
    assert "摘要" in card.text and card.buttons[-1] == ["⬅️ 返回结果"]
    back = (await u.press("⬅️ 返回结果")).last
    assert numbers(back) == [11, 12, 13, 14, 15]
    # a forged or foreign saved-search id is refused politely
    r = await u.press(callback_data="sr:999999:0", message_id=back.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    other = await bot.user(4002)
    qid = back.raw_buttons[1][0]["callback_data"].split(":")[1]
    await other.send("/start")
    r = await other.press(callback_data=f"sr:{qid}:0", message_id=other.last_bot_message().message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"


async def test_filters_by_buttons(bot):
    u = await bot.user(4010)
    (res,) = await u.send("电池")
    ids = [b["callback_data"].split(":")[1] for b in res.raw_buttons[0]]
    await assess(bot, 9001, ids[0], review=True, intents=["license"], maturity="8")
    await assess(bot, 9002, ids[1], review=False, intents=["transfer"], maturity="3", implemented="yes")
    await u.press("🔎 筛选")
    menu = (await u.press("转化意愿")).last
    assert "许可" in menu.labels
    filtered = (await u.press("许可")).last
    assert "共 <b>1</b> 件" in filtered.html and "转化意愿：许可" in filtered.text
    assert filtered.raw_buttons[0][0]["callback_data"].split(":")[1] == ids[0]
    await u.press("🔎 筛选")
    await u.press("技术成熟度 ≥")
    none = (await u.press("≥9")).last
    assert "没有找到" in none.text and "清除筛选" in none.text
    cleared = (await u.press("✖ 清除筛选")).last
    assert "筛选" not in cleared.text.splitlines()[1] and int(re.search(r"共 (\d+) 件", cleared.text).group(1)) > 10
    await u.press("🔎 筛选")
    await u.press("是否已实施")
    impl = (await u.press("已实施")).last
    assert impl.raw_buttons[0][0]["callback_data"].split(":")[1] == ids[1] and "共 <b>1</b> 件" in impl.html
    await u.press("🔎 筛选")
    await u.press("仅看已自评")
    both = (await u.press("已自评")).last
    assert "共 <b>1</b> 件" in both.html  # implemented=yes AND assessed
    # the card shows the assessment summary
    card = (await u.press("1")).last
    assert "发明人自评" in card.text and "TRL 3" in card.text and "转让" in card.text


async def test_no_results_suggests_terms(bot):
    u = await bot.user(4020)
    (msg,) = await u.send("zzzzqqq")
    assert "没有找到" in msg.text
    (msg,) = await u.send("锂电泄漏检测装置结构")
    assert msg.text  # either hits or a polite no-result message, never silence


async def test_inline_query_and_deep_link(bot):
    u = await bot.user(4030)
    results = await u.inline("掘进机")
    assert results and any(r["id"] == "CN113914863A" for r in results)
    chosen = next(r for r in results if r["id"] == "CN113914863A")
    url = chosen["reply_markup"]["inline_keyboard"][0][0]["url"]
    assert url == "https://t.me/patent_pilot_bot?start=p_CN113914863A"
    await u.choose_inline(u.last_inline_query_id, "CN113914863A")
    await u.refresh()
    posted = [m for m in u.transcript() if m.via_bot][-1]
    assert "近水平薄矿体" in posted.text and "公开号" in posted.text
    card = (await u.press("在机器人中查看", message_id=posted.message_id)).last  # the deep link opens the card
    assert "近水平薄矿体" in card.text and "CN113914863A" in card.text and not card.via_bot
    # paging of inline results
    many = await u.inline("电池")
    assert len(many) == 10
    # an empty inline query answers with nothing, no error
    assert await u.inline("") == []


async def test_deep_link_to_unknown_patent(bot):
    u = await bot.user(4040)
    replies = await u.send("/start p_NOPE")
    assert "没有找到这件专利" in replies.text and "无效或已过期" not in replies.text


async def test_browse_library_by_industry_maturity_prospect(bot):
    u = await bot.user(4050)
    (empty,) = await u.send("/browse")
    assert "还没有入库专利" in empty.text
    await assess(bot, 9101, "CN113914863A", review=True, industry="equipment", maturity="7", prospect="5")
    await assess(bot, 9102, "data_A-1520", review=True, industry="new_energy", maturity="4", prospect="3",
                 intents=["license", "self"])
    await assess(bot, 9103, "data_A-1521", review=False, industry="new_energy")  # not reviewed: not listed
    await assess(bot, 9104, "data_A-1522", review=True, industry="new_energy", intents=["self"])  # not offered
    (root,) = await u.send("/browse")
    assert "共 2 件" in root.text
    assert sorted(root.labels) == ["新能源与储能 (1)", "高端装备制造 (1)"]
    lvl1 = (await u.press("高端装备制造 (1)")).last
    assert lvl1.buttons[0] == ["TRL 7 (1)"]
    lvl2 = (await u.press("TRL 7 (1)")).last
    assert lvl2.buttons[0] == ["前景 5⭐ (1)"]
    lvl3 = (await u.press("前景 5⭐ (1)")).last
    assert "近水平薄矿体" in lvl3.buttons[0][0]
    card = (await u.press(lvl3.buttons[0][0])).last
    assert "TRL 7" in card.text and "已审核" in card.text
    up = (await u.send("/browse")).last
    assert up.labels


async def test_every_card_fits_in_one_message(bot):
    """Telegram's 4096-character limit: the emulator enforces it, so sending every long card proves it."""
    import gzip
    import json

    from bot.config import SHIPPED_CORPUS

    rows = [json.loads(line) for line in gzip.open(SHIPPED_CORPUS, "rt", encoding="utf-8")]
    longest = sorted(rows, key=lambda r: -len((r.get("abstract") or "") + (r.get("title") or "")))[:3]
    u = await bot.user(4060)
    for r in longest:
        pid = r.get("pub_no") or f"{r['source'].rsplit('/', 1)[-1]}-{int(r['idx'])}"
        replies = await u.send(f"/start p_{pid}")
        assert replies and all(len(m.text) <= 4096 for m in replies)
        assert "摘要" in replies.last.text
