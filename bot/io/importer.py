"""Import patents from the kppatent-zh JSONL corpus or the documented standard CSV/XLSX format.

All or nothing: every row of a file is read and checked first; if any row is bad, nothing is written
and every bad row is reported with its line number. A good file is written in one transaction.
Idempotent: every row gets a stable id (its pub_no, an explicit ``id`` column, or source+idx) and a
content hash; re-importing unchanged rows writes nothing. Before any row is parsed the file passes
``bot.io.guard`` (size, encoding, XLSX bomb limits). Headers may be the code names, the export's
people's headers (Chinese or English) or the base library's usual ones. See docs/IMPORT_FORMAT.md.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.io.cells import restore
from bot.io.columns import column_key, patent_type_code, patent_type_from_pub_no, yes_no
from bot.io.guard import MAX_ROWS, ImportRefused, inspect_xlsx, read_text
from bot.storage import Storage, UpsertCounts

STANDARD_COLUMNS = ["id", "pub_no", "title", "title_derived", "abstract", "claims", "institution", "county",
                    "applicant", "inventors", "ipc", "patent_type", "filing_date", "grant_date", "industry_field",
                    "legal_status", "source", "source_idx"]
_KNOWN = frozenset(STANDARD_COLUMNS) | {"idx"}
REQUIRED_ANY = ("title", "abstract", "claims")
DATE_COLUMNS = ("filing_date", "grant_date")

LIMITS = {"id": 48, "pub_no": 32, "title": 500, "institution": 200, "county": 64, "applicant": 300,
          "inventors": 500, "ipc": 200, "industry_field": 64, "legal_status": 64, "source": 128,
          "abstract": 20000, "claims": 100000}
# a CSV field may be this long before the csv module gives up on the line; longer than any column
CSV_FIELD_LIMIT = 1 << 20
PUB_NO_RE = re.compile(r"^[A-Z]{2}\d{5,13}[A-Z]?\d?$")
ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,48}$")  # ≤ 48: ids travel in 64-byte callback data
# parsing patterns, not UI text: the separators of several patentees, and a date written 2021年5月6日
_APPLICANT_SEP = re.compile(r"[;；、]")
_CN_DATE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$")

# Corpus-parsing patterns (not UI text): boilerplate openings of Chinese patent abstracts, stripped
# to derive a readable title such as "一种…方法" → "…方法".
_BOILERPLATE = re.compile(
    r"^(?:\d+[.、．]\s*)?"
    r"(?:本(?:发明|实用新型|申请|公开|文|技术|外观设计)(?:的目的)?(?:实施例)?)?"
    r"(?:主要|具体)?(?:公开|提供|涉及|提出|揭示|描述|公布|属于|在于提供|是)?(?:了|的是)?"
    r"(?:用于)?(?:一种|一类|一个|一套|一些|多种)?")
_CLAUSE_END = re.compile(r"[，。；：,;:！？!?\n]")
_FIELD_SENTENCE = re.compile(r"(?:技术)?领域")
_SECOND_CLAUSE = re.compile(r"^(?:更)?(?:尤其|具体|特别)?(?:地)?(?:是)?(?:涉及|为|是|公开)(?:了)?(?:一种|一类|一个)?")
DERIVED_TITLE_MAX = 40


class RowError(ValueError):
    pass


@dataclass
class ImportReport:
    path: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    encoding: str | None = None
    refused: str | None = None  # the whole file was refused before its rows were read

    @property
    def written(self) -> bool:
        return not self.errors and self.refused is None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "added": self.added, "updated": self.updated,
                "unchanged": self.unchanged, "written": self.written, "encoding": self.encoding,
                "refused": self.refused, "errors": [{"line": n, "error": e} for n, e in self.errors]}


def derive_title(abstract: str, claims: str = "") -> str:
    """A short display title from the first clause of the abstract (or first claim)."""
    for text in (abstract, claims):
        text = (text or "").strip()
        if not text:
            continue
        clauses = [c.strip() for c in _CLAUSE_END.split(text) if c.strip()]
        for i, clause in enumerate(clauses[:3]):
            # "本发明属于X技术领域，具体涉及一种Y" — the field sentence is not the invention
            if _FIELD_SENTENCE.search(clause) and i + 1 < len(clauses) and len(clauses) > 1 and i == 0:
                continue
            core = _BOILERPLATE.sub("", clause).strip() or clause
            core = _SECOND_CLAUSE.sub("", core).strip() or core
            if len(core) > DERIVED_TITLE_MAX:
                core = core[:DERIVED_TITLE_MAX - 1] + "…"
            return core
    return ""


def _clean(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.strftime("%Y-%m-%d")
    s = str(restore(v)).replace("\x00", "").strip()
    return s or None


def _parse_date(column: str, v: str | None) -> dt.date | None:
    if not v:
        return None
    v = v.strip()
    if m := _CN_DATE.match(v):
        v = "-".join(m.groups())
    v = v.replace("/", "-").replace(".", "-")
    if re.fullmatch(r"\d{8}", v):
        v = f"{v[:4]}-{v[4:6]}-{v[6:]}"
    m = re.match(r"^(\d{4}-\d{1,2}-\d{1,2})", v)
    if not m:
        raise RowError(f"{column} {v!r} is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat("-".join(f"{int(x):02d}" if i else x for i, x in
                                               enumerate(m.group(1).split("-"))))
    except ValueError as e:
        raise RowError(f"{column} {v!r}: {e}") from None


def _bool(v: str | None) -> bool | None:
    if v is None:
        return None
    b = yes_no(v)
    if b is None:
        raise RowError(f"title_derived {v!r} is not a yes/no value")
    return b


def normalise_row(raw: dict[str, Any], *, default_source: str, line_no: int) -> dict[str, Any]:
    """One input row → the Patent column dict (plus ``institution`` name and ``county``); raises RowError."""
    if not isinstance(raw, dict):
        raise RowError("row is not an object")
    r: dict[str, str | None] = {}
    for k, v in raw.items():
        if isinstance(k, str):
            key = column_key(k, _KNOWN)
            value = _clean(v)
            if value is not None or key not in r:
                r[key] = value
    for k, limit in LIMITS.items():
        if r.get(k) and len(r[k]) > limit:
            raise RowError(f"{k} is longer than {limit} characters")
    if not any(r.get(k) for k in REQUIRED_ANY):
        raise RowError("row has no title, abstract or claims")
    pub_no = r.get("pub_no")
    if pub_no:
        pub_no = pub_no.upper().replace(" ", "")
        if not PUB_NO_RE.match(pub_no):
            raise RowError(f"pub_no {pub_no!r} is not a publication number like CN113914863A")
    source = r.get("source") or default_source
    idx_raw = r.get("source_idx") or r.get("idx")
    source_idx: int | None = None
    if idx_raw is not None:
        try:
            source_idx = int(idx_raw)
        except ValueError:
            raise RowError(f"idx {idx_raw!r} is not an integer") from None
    if r.get("id"):
        pid = r["id"]
        if not ID_RE.match(pid):
            raise RowError(f"id {pid!r} may only contain letters, digits, '.', '_' and '-'")
    elif pub_no:
        pid = pub_no
    else:
        # stable id from source + position in the source (kppatent-zh rows without pub_no)
        short = re.sub(r"[^A-Za-z0-9_.\-]", "_", source.rsplit("/", 1)[-1])[:40]
        pid = f"{short}-{source_idx if source_idx is not None else line_no}"
    abstract = r.get("abstract") or ""
    claims = r.get("claims") or ""
    title = r.get("title")
    derived_flag = _bool(r.get("title_derived"))
    if title and not derived_flag:
        title_derived = False
    else:
        title = title or derive_title(abstract, claims)
        title_derived = True
    patent_type = None
    if r.get("patent_type"):
        patent_type = patent_type_code(r["patent_type"])
        if patent_type is None:
            raise RowError(f"patent_type {r['patent_type']!r} is not a patent type: invention / utility_model / "
                           f"design, or a name the export uses for one (labels_io.j2)")
    else:
        patent_type = patent_type_from_pub_no(pub_no)
    applicant = r.get("applicant")
    # the base library names the patent's owner (专利权人); a university's patent is owned by it
    institution = r.get("institution") or (applicant and _APPLICANT_SEP.split(applicant)[0].strip()) or None
    rec = {
        "id": pid, "pub_no": pub_no, "title": title, "title_derived": title_derived,
        "abstract": abstract, "claims": claims, "applicant": applicant,
        "inventors": r.get("inventors"), "ipc": r.get("ipc"), "patent_type": patent_type,
        "filing_date": _parse_date("filing_date", r.get("filing_date")),
        "grant_date": _parse_date("grant_date", r.get("grant_date")),
        "industry_field": r.get("industry_field"), "legal_status": r.get("legal_status"),
        "source": source, "source_idx": source_idx, "institution": institution,
    }
    h = hashlib.sha256(json.dumps({k: str(v) if v is not None else None for k, v in rec.items()},
                                  ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    rec["content_hash"] = h
    rec["county"] = r.get("county")  # the institution's, not the patent's: outside the hash
    return rec


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    from openpyxl import load_workbook

    inspect_xlsx(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for damaged files; none may escape as a traceback
        raise ImportRefused(f"the XLSX cannot be read ({type(e).__name__}: {e})") from None
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(rows, [])]
        for n, values in enumerate(rows, start=2):
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            yield n, dict(zip(header, values))
    finally:
        wb.close()


def iter_raw_rows(path: Path, report: ImportReport | None = None) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """(line number, raw row dict or the parse error) for a JSONL(.gz), CSV(.gz) or XLSX file.
    Raises ImportRefused for a file that must not be read at all."""
    name = path.name.lower()
    if name.endswith(".xlsx"):
        yield from _xlsx_rows(path)
        return
    base = name[:-3] if name.endswith(".gz") else name
    if not base.endswith((".csv", ".jsonl", ".json", ".txt")):
        raise ImportRefused("unknown file type: use .csv, .xlsx or .jsonl (optionally .gz)")
    decoded = read_text(path)
    if report is not None:
        report.encoding = decoded.encoding
    text = io.StringIO(decoded.text, newline="")
    if base.endswith(".csv"):
        if csv.field_size_limit() < CSV_FIELD_LIMIT:
            csv.field_size_limit(CSV_FIELD_LIMIT)
        reader = csv.DictReader(text)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                # the csv module cannot resynchronise after this; the file stops here
                # DictReader.line_num lags on an error; its underlying reader's counts the failing line
                yield reader.reader.line_num, RowError(f"unreadable CSV ({e}); nothing after this line was read")
                return
            yield reader.line_num, row
    for n, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as e:
            yield n, RowError(f"invalid JSON: {e.msg} at column {e.colno}")


async def import_file(storage: Storage, path: str | Path, *, source: str | None = None) -> ImportReport:
    """Read and check every row of ``path``; write them all in one transaction, or nothing if any row
    is bad (``report.errors``) or the file is refused (``report.refused``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    default_source = source or path.name.split(".")[0]
    report = ImportReport(path=str(path))
    records: list[tuple[int, dict[str, Any]]] = []
    seen_ids: dict[str, int] = {}
    seen_pub: dict[str, str] = {}
    try:
        for line_no, raw in iter_raw_rows(path, report):
            report.rows += 1
            if report.rows > MAX_ROWS:
                raise ImportRefused(f"the file has more than {MAX_ROWS:,} rows (split it into several files)")
            if isinstance(raw, Exception):
                report.errors.append((line_no, str(raw)))
                continue
            try:
                rec = normalise_row(raw, default_source=default_source, line_no=line_no)
            except RowError as e:
                report.errors.append((line_no, str(e)))
                continue
            if rec["id"] in seen_ids:
                report.errors.append((line_no, f"duplicate id {rec['id']} (first on line {seen_ids[rec['id']]})"))
                continue
            if rec["pub_no"] and seen_pub.get(rec["pub_no"], rec["id"]) != rec["id"]:
                report.errors.append((line_no, f"pub_no {rec['pub_no']} repeats another row's"))
                continue
            seen_ids[rec["id"]] = line_no
            if rec["pub_no"]:
                seen_pub[rec["pub_no"]] = rec["id"]
            records.append((line_no, rec))
    except ImportRefused as e:
        report.refused = str(e)
        return report
    owners = await storage.pub_no_owners([r["pub_no"] for _, r in records if r["pub_no"]])
    for line_no, rec in records:
        owner = owners.get(rec["pub_no"]) if rec["pub_no"] else None
        if owner and owner != rec["id"]:
            report.errors.append((line_no, f"pub_no {rec['pub_no']} already belongs to patent {owner}"))
    if report.errors:
        report.errors.sort()
        return report
    counts, changed = await storage.import_patents([r for _, r in records])
    _add(report, counts)
    report.changed_ids.extend(changed)
    return report


def _add(report: ImportReport, c: UpsertCounts) -> None:
    report.added += c.added
    report.updated += c.updated
    report.unchanged += c.unchanged
