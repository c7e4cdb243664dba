"""Import: the shipped corpus, the standard CSV/XLSX format, idempotency and bad rows — both databases."""
from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

from openpyxl import Workbook

from bot.config import PROJECT_ROOT, SHIPPED_CORPUS
from bot.io.importer import STANDARD_COLUMNS, derive_title, import_file


async def test_shipped_corpus_imports_once_and_is_idempotent(storage):
    first = await import_file(storage, SHIPPED_CORPUS)
    assert first.errors == []
    assert (first.rows, first.added) == (3720, 3720)
    assert await storage.count_patents() == 3720
    fp = await storage.patent_fingerprint()
    again = await import_file(storage, SHIPPED_CORPUS)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3720)
    assert await storage.patent_fingerprint() == fp  # nothing was written

    with_pub = await storage.get_patent("CN113914863A")
    assert with_pub.title == "一种近水平薄矿体智能掘进机机械开采方法" and not with_pub.title_derived
    # abstract-only rows: stable id from source+idx, derived title flagged as derived
    rows = [json.loads(line) for line in gzip.open(SHIPPED_CORPUS, "rt", encoding="utf-8")]
    bare = next(r for r in rows if not r.get("pub_no") and not r.get("title"))
    pid = f"{bare['source'].rsplit('/', 1)[-1]}-{int(bare['idx'])}"
    p = await storage.get_patent(pid)
    assert p is not None and p.title_derived and p.pub_no is None
    assert p.title == derive_title(bare["abstract"]) and 0 < len(p.title) <= 40
    assert p.abstract == bare["abstract"]


def test_derive_title_strips_boilerplate():
    assert derive_title("本发明公开了一种近水平薄矿体开采方法，包括如下步骤") == "近水平薄矿体开采方法"
    assert derive_title("本发明涉及磁性材料技术领域，尤其涉及一种软磁材料及其生产方法。") == "软磁材料及其生产方法"
    assert derive_title("", "1.一种回收碳纤维板材的制造方法，其特征在于") == "回收碳纤维板材的制造方法"
    assert len(derive_title("甲" * 200)) == 40


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=STANDARD_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r)


GOOD = [
    {"pub_no": "CN100000001A", "title": "一种锂电池正极材料", "abstract": "正极材料的制备方法。",
     "institution": "福州大学", "inventors": "张三;李四", "ipc": "H01M4/36", "grant_date": "2021-05-06",
     "industry_field": "新能源"},
    {"id": "fzu-2024-007", "abstract": "本发明公开了一种茶叶烘干装置，包括烘箱。", "institution": "福建农林大学"},
    {"title": "无公开号的专利", "abstract": "摘要", "source": "manual", "source_idx": "5"},
]


async def test_csv_standard_format_bad_rows_reported_by_line(storage, tmp_path):
    bad = [
        {"pub_no": "NOT A NUMBER", "title": "x", "abstract": "y"},          # line 5
        {"title": "", "abstract": "", "claims": ""},                        # line 6: no text
        {"title": "日期错", "abstract": "a", "grant_date": "2021-13-45"},   # line 7
        {"title": "t" * 501, "abstract": "a"},                              # line 8: too long
        dict(GOOD[0]),                                                      # line 9: duplicate id
    ]
    path = tmp_path / "patents.csv"
    _write_csv(path, GOOD + bad)
    report = await import_file(storage, path)
    assert (report.rows, report.added, report.written) == (8, 0, False)  # all or nothing
    lines = [n for n, _ in report.errors]
    assert lines == [5, 6, 7, 8, 9], report.errors
    assert "pub_no" in report.errors[0][1] and "grant_date" in report.errors[2][1]
    assert await storage.get_patent("CN100000001A") is None
    _write_csv(path, GOOD)
    report = await import_file(storage, path)
    assert (report.rows, report.added, report.errors) == (3, 3, [])
    p = await storage.get_patent("CN100000001A")
    assert p.grant_date.isoformat() == "2021-05-06" and p.inventors == "张三;李四" and p.institution_id
    derived = await storage.get_patent("fzu-2024-007")
    assert derived.title == "茶叶烘干装置" and derived.title_derived
    assert await storage.get_patent("manual-5") is not None
    again = await import_file(storage, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    # an edited row updates in place
    edited = [dict(GOOD[0], abstract="改进后的正极材料制备方法。")] + GOOD[1:]
    _write_csv(path, edited)
    third = await import_file(storage, path)
    assert (third.added, third.updated, third.unchanged) == (0, 1, 2)
    assert third.changed_ids == ["CN100000001A"]


async def test_xlsx_standard_format(storage, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(STANDARD_COLUMNS)
    for r in GOOD:
        ws.append([r.get(c) for c in STANDARD_COLUMNS])
    ws.append([None] * len(STANDARD_COLUMNS))  # blank rows are ignored
    ws.append(["bad id!", None, "t", None, "a"] + [None] * (len(STANDARD_COLUMNS) - 5))
    path = tmp_path / "patents.xlsx"
    wb.save(path)
    report = await import_file(storage, path)
    assert report.added == 0 and [n for n, _ in report.errors] == [6]
    ws.delete_rows(6)
    wb.save(path)
    report = await import_file(storage, path)
    assert report.added == 3 and report.errors == []
    again = await import_file(storage, path)
    assert again.unchanged == 3 and again.added == again.updated == 0


async def test_jsonl_with_broken_lines(storage, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join([
        json.dumps({"source": "s", "idx": 0, "abstract": "一种装置。"}, ensure_ascii=False),
        "{not json",
        json.dumps(["a list"]),
        "",
        json.dumps({"source": "s", "idx": "3", "title": None, "abstract": "一种方法。", "claims": None},
                   ensure_ascii=False),
    ]), encoding="utf-8")
    report = await import_file(storage, path)
    assert report.added == 0
    assert [n for n, _ in report.errors] == [2, 3]
    assert await storage.get_patent("s-3") is None


def test_import_cli_reports_and_is_idempotent(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "SEED_CORPUS": "0", "PATH": "/usr/bin:/bin"}
    path = tmp_path / "p.csv"
    _write_csv(path, GOOD + [{"title": "", "abstract": ""}])
    cmd = [sys.executable, str(PROJECT_ROOT / "run_bot.py"), "import", "--json", str(path)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr  # 1 = bad rows: nothing imported
    rep = json.loads(out.stdout)
    assert rep["added"] == 0 and not rep["written"]
    assert rep["errors"] == [{"line": 5, "error": "row has no title, abstract or claims"}]
    _write_csv(path, GOOD)
    out1 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out1.returncode == 0 and json.loads(out1.stdout)["added"] == 3
    out2 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(out2.stdout)["unchanged"] == 3
    missing = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py"), "import", "nope.csv"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stderr
