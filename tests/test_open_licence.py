"""/candidates (开放许可候选) end to end on SQLite and PostgreSQL: a patent whose right has ended
(未缴年费终止, 专利权届满, 全部无效, "lapsed") is never offered for an open licence, a partly invalidated
or unknown-status one still is, and an office sees only its own institution's."""
from __future__ import annotations

import json

import pytest

from bot.io.importer import import_file
from bot.storage import Storage
from tests.harness import running_program, user_with_role as make_role

OLD = "2016-05-10"  # granted long before the harness clock's "today"
LIBRARY = [
    ("CN105000001A", "一种有效的茶叶烘干装置", "福州大学", "有效"),
    ("CN105000002A", "一种年费未缴的锂电池隔膜", "福州大学", "未缴年费终止"),
    ("CN105000003A", "一种到期的水泵叶轮", "福州大学", "专利权届满终止"),
    ("CN105000004A", "一种被宣告全部无效的阀门", "闽江学院", "全部无效"),
    ("CN105000005A", "一种部分无效的织机", "闽江学院", "部分无效"),
    ("CN105000006A", "一种状态未知的农药喷头", "闽江学院", None),
    ("CN105000007A", "一种英文状态的电机", "闽江学院", "Lapsed"),
]


@pytest.fixture
async def bot(db_url, tmp_path):
    path = tmp_path / "library.jsonl"
    rows = [{"pub_no": no, "title": title, "institution": inst, "grant_date": OLD, "legal_status": status,
             "abstract": title + "，结构简单。"} for no, title, inst, status in LIBRARY]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    st = Storage(db_url)
    await st.migrate()
    await import_file(st, path)
    await st.close()
    async with running_program(tmp_path, db_url) as h:
        yield h


async def test_ended_patents_are_not_open_licence_candidates(bot):
    officer = await make_role(bot, 7101, "陈科长", "officer 科技局")
    (msg,) = await officer.send("/candidates")
    listed = {no for no, *_ in LIBRARY if no in msg.text}
    assert listed == {"CN105000001A", "CN105000005A", "CN105000006A"}, msg.text
    assert "权利未终止" in msg.text
    office = await make_role(bot, 7102, "林主任", "tto 闽江学院")
    (own,) = await office.send("/candidates")
    assert {no for no, *_ in LIBRARY if no in own.text} == {"CN105000005A", "CN105000006A"}
    stranger = await bot.user(7103)
    (msg,) = await stranger.send("/candidates")
    assert "🔒" in msg.text and "CN105" not in msg.text
