"""The playground's demo data, black box: ``python run_bot.py`` with no token (the playground) on a
database holding only the shipped corpus, reached over HTTP as the simulated users. The demo data is
there from the first start (labelled on the page), makes /stats, /candidates, /browse, /review and the
patent card show holders, types, dates and progress, is the same after a restart and on another
fresh database, and a bot with a token seeds none of it."""
from __future__ import annotations

import re

import aiohttp
import pytest

from tests.shipped import ShippedBot, free_port, seeded_data_dir
from tests.test_shipped import Phones, _polling_env, telegram  # noqa: F401 (a fixture)

ADMIN, INVENTOR, ENTERPRISE, OFFICER, OFFICE = 1000, 1001, 1002, 1003, 1005  # devtools/playground_users.json


def playground_bot(data, port: int) -> ShippedBot:
    return ShippedBot({"DATA_DIR": str(data), "PLAYGROUND_PORT": str(port)}, cwd=data)


async def stats_text(url: str) -> str:
    async with Phones(url) as phones:
        admin = await phones.user(ADMIN, "管理员")
        replies = await admin.send("/stats")
        # the chart follows the table (drawn off the event loop; a first draw loads matplotlib)
        await admin.wait_for(lambda m: bool(m.photo), timeout=30)
        return replies[0].text


async def test_the_playground_opens_with_demo_data_in_every_view(seeded_db, tmp_path):
    data = seeded_data_dir(seeded_db, tmp_path / "a")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with playground_bot(data, port) as bot:
        async with aiohttp.ClientSession() as http, http.get(url + "/") as r:
            page = await r.text()
        assert "演示数据" in page and "Demo data" in page  # labelled where people look
        first = await stats_text(url)
        # /stats: progress per real Fuzhou institution, no "未关联单位" bar, counties against the target
        assert "福州大学" in first and "福建农林大学" in first and "未关联单位" not in first
        assert re.search(r"已盘点 [1-9]\d+", first) and re.search(r"已评价 [1-9]\d+", first)
        assert "✅ 鼓楼区：1/1" in first and "⚠️ 平潭县：0/1" in first
        async with Phones(url) as phones:
            officer = await phones.user(OFFICER, "陈科长")
            (cand,) = await officer.send("/candidates")
            total = int(re.search(r"共 (\d+) 件", cand.text).group(1))
            assert total > 100 and "授权 20" in cand.text and "暂无" not in cand.text
            assert re.search(r"· (福州大学|福建\w+|闽江学院|中国科学院\w+) ·", cand.text)
            office = await phones.user(OFFICE, "林老师")  # 福州大学's office: its own candidates only
            (own,) = await office.send("/candidates")
            assert 0 < int(re.search(r"共 (\d+) 件", own.text).group(1)) < total
            assert {"福州大学"} == set(re.findall(r"· (福州大学|福建\w+大学|闽江学院|中国科学院\w+) ·", own.text))
            (review,) = await office.send("/review")
            assert "待审核的自评（共 3 份）" in review.text
            enterprise = await phones.user(ENTERPRISE, "王经理")
            step = (await enterprise.send("/browse")).last
            assert int(re.search(r"共 (\d+) 件可转化专利", step.text).group(1)) > 100
            for _ in range(3):  # industry → maturity → prospect: the first (largest) branch each time
                step = (await enterprise.press(step.labels[0])).last
            card = await enterprise.press(step.labels[0])
            for field in ("专利权人：", "类型：", "法律状态：", "申请日：", "发明人：", "发明人自评（已审核）"):
                assert field in card.text, card.text
            # search results filtered by the patent type
            await enterprise.send("电池")
            await enterprise.press("🔎 筛选")
            await enterprise.press("专利类型")
            only = (await enterprise.press("实用新型")).last
            assert "专利类型：实用新型" in only.text and re.search(r"共 <b>\d+</b> 件", only.html)
            card = await enterprise.press("1")
            assert "类型：实用新型" in card.text
            # the patent the playground's inventor 张老师 links belongs to his institution
            await enterprise.send("CN113914863A")
            card = await enterprise.press("1")
            assert "专利权人：福州大学" in card.text and "授权公告日：" in card.text
        again = await stats_text(url)
    assert again == first
    # a restart applies nothing twice
    async with playground_bot(data, port):
        assert await stats_text(url) == first
    # another fresh database gets the same demo data (a fixed seed)
    other = seeded_data_dir(seeded_db, tmp_path / "b")
    async with playground_bot(other, port):
        assert await stats_text(url) == first
    assert bot.proc.returncode == 0


async def test_a_bot_with_a_token_seeds_nothing_invented(seeded_db, tmp_path, telegram):  # noqa: F811
    emulator, phones = telegram
    data = seeded_data_dir(seeded_db, tmp_path / "data")
    async with ShippedBot(_polling_env(emulator, data), cwd=tmp_path):
        admin = await phones.user(ADMIN, "管理员")
        replies = await admin.send("/stats")
        assert "未关联单位" in replies[0].text and "已盘点 0" in replies[0].text
        assert "福州大学" not in replies[0].text and "鼓楼区" not in replies[0].text
        cand = next(m for m in await admin.send("/candidates") if "开放许可候选专利" in (m.text or ""))
        assert "暂无" in cand.text
        await admin.send("CN113914863A")
        card = await admin.press("1")
        assert "专利权人" not in card.text and "申请日" not in card.text and "尚无发明人自评" in card.text


@pytest.mark.postgres
async def test_the_demo_data_on_postgresql(pg_url, tmp_path):
    """The same first start on PostgreSQL: the corpus, then the demo data, once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"DATA_DIR": str(tmp_path), "PLAYGROUND_PORT": str(port), "DATABASE_URL": pg_url,
           "PLAYGROUND_DATABASE_URL_OK": "1"}  # the playground on PostgreSQL, asked for explicitly
    first = await ShippedBot(env, cwd=tmp_path).astart(timeout=400)  # loads and indexes the corpus first
    try:
        text = await stats_text(url)
        assert "福州大学" in text and "未关联单位" not in text and "✅ 鼓楼区：1/1" in text
        async with Phones(url) as phones:
            (review,) = await (await phones.user(OFFICE, "林老师")).send("/review")
            assert "待审核的自评（共 3 份）" in review.text
    finally:
        assert await first.aterminate() == 0, first.output
    async with ShippedBot(env, cwd=tmp_path):  # applied once
        assert await stats_text(url) == text
