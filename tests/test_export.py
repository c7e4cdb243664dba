"""Standard-format export and its round trip through the importer, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import datetime as dt
import io

from openpyxl import load_workbook
from sqlalchemy import delete, select

from bot.io.export import PATENT_SHEET_COLUMNS, build_export
from bot.io.importer import import_file
from bot.models import AuditLog, EnterpriseRating, InventorPatent, Patent, SelfAssessment, Transaction, User
from bot.models import Role
from bot.storage.exports import ExportScope
from tests.test_import import GOOD, _write_csv
from tests.harness import confirmed_link


async def _seed(storage, tmp_path):
    path = tmp_path / "in.csv"
    _write_csv(path, GOOD + [{"abstract": "本发明公开了一种茶叶杀青机，包括滚筒。", "source": "x", "source_idx": "9",
                              "grant_date": "2015-03-01"}])
    await import_file(storage, path)
    await storage.touch_user(1, "发明人", None, "zh", "zh")
    await storage.touch_user(2, "企业", None, "zh", "zh")
    inst = await storage.institution_by_name("福州大学")
    await storage.grant_role(1, Role.INVENTOR, institution_id=inst)
    await confirmed_link(storage, 1, "CN100000001A", inst)
    async with storage.session() as s:
        await storage.save_assessment(s, 1, "CN100000001A", {"industry_field": "new_energy", "maturity": 6,
                                                             "scenarios": ["energy"], "prospect": 4,
                                                             "intents": ["license"], "implemented": False},
                                      submit=True)
        await storage.save_rating(s, 2, "CN100000001A", {"prospect": 5, "improvement_needs": ["cost"],
                                                         "improvement_text": "更便宜", "cooperation_intents": ["joint_rd"],
                                                         "price_expectation": None, "comment": "好"},
                                  is_expert=False, enterprise_id=None)
        await storage.record_transaction(s, 1, "CN100000001A", kind="license", date=dt.date(2024, 9, 30),
                                         filed=True, counterparty="某公司", enterprise_id=None)


async def _hashes(storage) -> dict[str, tuple]:
    async with storage.session() as s:
        return {p.id: (p.content_hash, p.title, p.title_derived) for p in await s.scalars(select(Patent))}


async def test_export_contents_and_round_trip(storage, tmp_path):
    await _seed(storage, tmp_path)
    files = build_export(await storage.export_data(ExportScope.everything()))
    assert (files.patents, files.ratings, files.transactions) == (4, 1, 1)
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(files.csv.decode("utf-8-sig")))}
    assert list(next(csv.reader(io.StringIO(files.csv.decode("utf-8-sig"))))) == PATENT_SHEET_COLUMNS
    r = rows["CN100000001A"]
    assert (r["sa_status"], r["sa_maturity"], r["sa_intents"], r["institution"]) == ("submitted", "6", "license", "福州大学")
    assert (r["ratings_count"], r["ratings_mean_prospect"], r["ratings_cooperation"]) == ("1", "5.0", "joint_rd")
    assert (r["txn_kinds"], r["txn_dates"], r["txn_filed"]) == ("license", "2024-09-30", "1")
    assert rows["x-9"]["title_derived"] == "1" and rows["x-9"]["title"] == "茶叶杀青机"
    wb = load_workbook(io.BytesIO(files.xlsx), read_only=True)
    assert wb.sheetnames == ["专利", "企业与专家评价", "转化交易", "技术需求"]
    head = next(wb["专利"].iter_rows(values_only=True))
    assert head[:4] == ("编号", "公开号", "专利名称", "名称由摘要生成") and "转化意愿" in head

    before = await _hashes(storage)
    for name, data in (("export.csv", files.csv), ("export.xlsx", files.xlsx)):
        path = tmp_path / name
        path.write_bytes(data)
        again = await import_file(storage, path)  # into the same database: nothing changes
        assert (again.added, again.updated, again.unchanged, again.errors) == (0, 0, 4, [])
        # into an empty database: the same patents, ids, titles, derived flags and content
        async with storage.session() as s:
            for model in (Transaction, EnterpriseRating, SelfAssessment, InventorPatent):
                await s.execute(delete(model))
            await s.execute(delete(Patent))
        fresh = await import_file(storage, path)
        assert fresh.added == 4 and fresh.errors == []
        assert await _hashes(storage) == before
        await _seed_again(storage)


async def _seed_again(storage):
    """Put the links back so the next format's round trip starts from the same state."""
    inst = await storage.institution_by_name("福州大学")
    await confirmed_link(storage, 1, "CN100000001A", inst)


async def test_export_scoped_to_an_institution(storage, tmp_path):
    await _seed(storage, tmp_path)
    inst = await storage.institution_by_name("福州大学")
    data = await storage.export_data(ExportScope(frozenset({inst})))
    assert [p["id"] for p in data["patents"]] == ["CN100000001A"]
    assert len(data["ratings"]) == 1 and len(data["transactions"]) == 1
    async with storage.session() as s:
        assert await s.scalar(select(User).where(User.id == 2)) is not None
        assert (await s.scalars(select(AuditLog.action))).all()
