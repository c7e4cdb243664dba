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


def run(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {"DATA_DIR": str(data_dir), "SEED_CORPUS": "0", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=data_dir)


def exported(data_dir: Path) -> tuple[dict[str, dict[str, str]], Path]:
    """What ``run_bot.py export`` writes: the CSV's rows by id, and the XLSX's path."""
    out = run(data_dir, "export", "--out", "out")
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

def test_a_gb18030_csv_with_a_bad_row_late_imports_nothing_then_everything_once_fixed(tmp_path):
    rows = rows_csv(1500)
    rows[1199]["grant_date"] = "2021-13-45"  # file line 1201: after the first 1,000 rows
    path = tmp_path / "基础库.csv"
    write_csv(path, rows, encoding="gb18030")  # what Chinese Excel writes as "CSV"
    out = run(tmp_path, "import", str(path))
    refused(out, "line 1201", "grant_date", "1 of 1500 rows")
    assert exported(tmp_path)[0] == {}  # the first 1,000 rows were not committed either
    rows[1199]["grant_date"] = "2021-12-31"
    write_csv(path, rows, encoding="gb18030")
    out = run(tmp_path, "import", "--json", str(path))
    rep = json.loads(out.stdout)
    assert out.returncode == 0 and rep["added"] == 1500 and rep["encoding"] == "gb18030" and rep["written"]
    got, _ = exported(tmp_path)
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
