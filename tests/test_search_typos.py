"""Search as Chinese users type it, end to end: pinyin-IME typos answered with "您是不是要找" and a
button that runs the correction, pinyin input, the inline mode's suggestion, and industry names typed
in Chinese (/experts 新能源)."""
from __future__ import annotations

from tests.harness import user_with_role

MINING = "CN113914863A"        # 近水平薄矿体 ... 掘进机: in the seeded corpus


def patent_buttons(msg) -> list[str]:
    return [b["callback_data"] for b in msg.raw_buttons[0] if b["callback_data"].startswith("pc:")] \
        if msg.raw_buttons else []


async def test_homophone_typo_gets_a_did_you_mean_button_that_runs_the_correction(bot):
    u = await bot.user(6101)
    (msg,) = await u.send("掘近机")
    assert "您是不是要找：掘进机？" in msg.text
    assert "🔎 搜索：掘进机" in msg.labels
    assert any(MINING in c for c in patent_buttons(msg))       # the typo already finds it
    ran = (await u.press("🔎 搜索：掘进机")).last
    assert ran.message_id == msg.message_id                      # edited in place
    assert "“掘进机”" in ran.text and "您是不是要找" not in ran.text
    assert any(MINING in c for c in patent_buttons(ran))
    # the button carries a saved search of this user: forged, replayed by another user -> refused
    data = msg.button("🔎 搜索：掘进机")["callback_data"]
    assert data.startswith("sc:") and len(data.encode()) <= 64
    r = await u.press(callback_data="sc:999999", message_id=ran.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    other = await bot.user(6102)
    await other.send("/start")
    r = await other.press(callback_data=data, message_id=other.last_bot_message().message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"
    r = await u.press(callback_data="sc:abc", message_id=ran.message_id, stale=True)
    assert r.toast == "这个菜单已过期，请重新操作。"


async def test_transposed_and_near_sound_typos_are_corrected(bot):
    u = await bot.user(6103)
    (msg,) = await u.send("锂点池")
    assert "您是不是要找：锂电池？" in msg.text and "没有找到" not in msg.text
    (msg,) = await u.send("进掘机")                               # two characters swapped
    assert "您是不是要找：掘进机？" in msg.text
    assert any(MINING in c for c in patent_buttons(msg))


async def test_a_typed_characters_rare_reading_counts(bot):
    # an input method lists 提 under shi as well as ti: "马提体" stands for 马氏体 (martensite)
    u = await bot.user(6106)
    (msg,) = await u.send("马提体")
    assert "您是不是要找：马氏体？" in msg.text and "没有找到" not in msg.text


async def test_correct_query_gets_no_suggestion(bot):
    u = await bot.user(6104)
    (msg,) = await u.send("掘进机")
    assert "您是不是要找" not in msg.text and not any(lb.startswith("🔎 搜索：") for lb in msg.labels)


async def test_pinyin_input_finds_what_the_characters_find(bot):
    u = await bot.user(6105)
    (typed,) = await u.send("掘进机")
    for query in ("juejinji", "jue jin ji"):
        (msg,) = await u.send(query)
        assert "您是不是要找：掘进机？" in msg.text
        assert patent_buttons(msg) == patent_buttons(typed) or any(MINING in c for c in patent_buttons(msg))
    (msg,) = await u.send("lidianchi zhengji")
    assert "您是不是要找：锂电池 正极？" in msg.text


async def test_no_results_always_offers_the_nearest_corrections(bot):
    u = await bot.user(6106)
    await u.send("锂点池")
    await u.press("🔎 筛选")
    await u.press("技术成熟度 ≥")
    none = (await u.press("≥9")).last                             # nothing is assessed: no results
    assert "没有找到" in none.text and "锂电池" in none.text
    assert "🔎 搜索：锂电池" in none.labels and "✖ 清除筛选" in none.labels


async def test_inline_query_with_a_typo_offers_the_correction(bot):
    u = await bot.user(6107)
    results = await u.inline("掘近机")
    assert any(r["id"] == MINING for r in results)
    button = u.last_inline_answer["button"]
    assert button["text"] == "您是不是要找：掘进机"
    param = button["start_parameter"]
    assert param.startswith("q_") and len(param) <= 64
    opened = await u.send(f"/start {param}")                      # the button opens the bot with it
    assert "“掘进机”" in opened.text and "无效或已过期" not in opened.text
    # a correctly typed inline query has no button; a forged payload is a bad link, not an error
    await u.inline("掘进机")
    assert not u.last_inline_answer.get("button")
    bad = await u.send("/start q_!!!")
    assert "无效或已过期" in bad.text


async def test_experts_accepts_industry_names_in_chinese(bot):
    await user_with_role(bot, 6201, "李专家", "expert 新能源")          # the admin types the name too
    await user_with_role(bot, 6202, "赵专家", "expert equipment")
    officer = await user_with_role(bot, 6203, "陈科长", "officer 科技局")
    for typed in ("新能源", "储能", "new_energy", "xinnengyuan"):
        (msg,) = await officer.send(f"/experts {typed}")
        assert "李专家" in msg.text and "赵专家" not in msg.text, typed
        assert "新能源与储能" in msg.text
    (msg,) = await officer.send("/experts 高端装备")
    assert "赵专家" in msg.text and "李专家" not in msg.text
    (msg,) = await officer.send("/experts 火星农业")                 # unknown: said so, all experts shown
    assert "没有名为“火星农业”的领域" in msg.text and "李专家" in msg.text and "赵专家" in msg.text
    nobody = await bot.user(6204)
    (msg,) = await nobody.send("/experts 新能源")
    assert "🔒" in msg.text and "李专家" not in msg.text


async def test_invite_takes_a_county_by_its_short_name(bot):
    officer = await user_with_role(bot, 6301, "林科长", "officer 科技局@长乐")
    (me,) = await officer.send("/me")
    assert "长乐区" in me.text
