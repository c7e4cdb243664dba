"""Import patents from the kppatent-zh JSONL corpus or the documented standard CSV/XLSX format.

Idempotent: every row gets a stable id (its pub_no, an explicit ``id`` column, or source+idx) and a
content hash; re-importing unchanged rows writes nothing. A bad row is reported with its line number
and skipped; the rest import. See docs/IMPORT_FORMAT.md for the columns.
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.storage import Storage, UpsertCounts

STANDARD_COLUMNS = ["id", "pub_no", "title", "title_derived", "abstract", "claims", "institution",
                    "applicant", "inventors", "ipc", "grant_date", "industry_field", "legal_status",
                    "source", "source_idx"]
REQUIRED_ANY = ("title", "abstract", "claims")

LIMITS = {"id": 48, "pub_no": 32, "title": 500, "institution": 200, "applicant": 300, "inventors": 500,
          "ipc": 200, "industry_field": 64, "legal_status": 64, "source": 128, "abstract": 20000,
          "claims": 100000}
PUB_NO_RE = re.compile(r"^[A-Z]{2}\d{5,13}[A-Z]?\d?$")
ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,48}$")  # ≤ 48: ids travel in 64-byte callback data

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

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "added": self.added, "updated": self.updated,
                "unchanged": self.unchanged, "errors": [{"line": n, "error": e} for n, e in self.errors]}


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
    s = str(v).replace("\x00", "").strip()
    return s or None


def _parse_date(v: str | None) -> dt.date | None:
    if not v:
        return None
    v = v.strip().replace("/", "-").replace(".", "-")
    if re.fullmatch(r"\d{8}", v):
        v = f"{v[:4]}-{v[4:6]}-{v[6:]}"
    m = re.match(r"^(\d{4}-\d{1,2}-\d{1,2})", v)
    if not m:
        raise RowError(f"grant_date {v!r} is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat("-".join(f"{int(x):02d}" if i else x for i, x in
                                               enumerate(m.group(1).split("-"))))
    except ValueError as e:
        raise RowError(f"grant_date {v!r}: {e}") from None


def _bool(v: str | None) -> bool | None:
    if v is None:
        return None
    lv = v.lower()
    if lv in ("1", "true", "yes", "y", "t"):
        return True
    if lv in ("0", "false", "no", "n", "f"):
        return False
    raise RowError(f"title_derived {v!r} is not a boolean")


def normalise_row(raw: dict[str, Any], *, default_source: str, line_no: int) -> dict[str, Any]:
    """One input row → the Patent column dict (plus ``institution`` name); raises RowError."""
    if not isinstance(raw, dict):
        raise RowError("row is not an object")
    r = {k.strip().lower(): _clean(v) for k, v in raw.items() if isinstance(k, str)}
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
    rec = {
        "id": pid, "pub_no": pub_no, "title": title, "title_derived": title_derived,
        "abstract": abstract, "claims": claims, "applicant": r.get("applicant"),
        "inventors": r.get("inventors"), "ipc": r.get("ipc"), "grant_date": _parse_date(r.get("grant_date")),
        "industry_field": r.get("industry_field"), "legal_status": r.get("legal_status"),
        "source": source, "source_idx": source_idx, "institution": r.get("institution"),
    }
    h = hashlib.sha256(json.dumps({k: str(v) if v is not None else None for k, v in rec.items()},
                                  ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    rec["content_hash"] = h
    return rec


def iter_raw_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """(line number, raw row dict or the parse error) for a JSONL(.gz), CSV(.gz) or XLSX file."""
    name = path.name.lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [str(h).strip().lower() if h is not None else "" for h in next(rows, [])]
        for n, values in enumerate(rows, start=2):
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            yield n, dict(zip(header, values))
        wb.close()
        return
    opener = gzip.open if name.endswith(".gz") else open
    base = name[:-3] if name.endswith(".gz") else name
    with opener(path, "rb") as fb:
        text = io.TextIOWrapper(fb, encoding="utf-8-sig", errors="strict", newline="")
        if base.endswith(".csv"):
            reader = csv.DictReader(text)
            for row in reader:
                yield reader.line_num, row
            return
        n = 0
        while True:
            n += 1
            try:
                line = text.readline()
            except UnicodeDecodeError as e:
                yield n, RowError(f"not UTF-8: {e.reason}")
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                yield n, RowError(f"invalid JSON: {e.msg} at column {e.colno}")


async def import_file(storage: Storage, path: str | Path, *, source: str | None = None,
                      batch_size: int = 1000) -> ImportReport:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    default_source = source or path.name.split(".")[0]
    report = ImportReport(path=str(path))
    batch: list[tuple[int, dict[str, Any]]] = []
    seen_ids: dict[str, int] = {}
    seen_pub: dict[str, str] = {}

    async def flush() -> None:
        if not batch:
            return
        pub_nos = [r["pub_no"] for _, r in batch if r["pub_no"]]
        owners = await storage.pub_no_owners(pub_nos)
        good = []
        for line_no, rec in batch:
            owner = owners.get(rec["pub_no"]) if rec["pub_no"] else None
            if owner and owner != rec["id"]:
                report.errors.append((line_no, f"pub_no {rec['pub_no']} already belongs to patent {owner}"))
                continue
            good.append(rec)
        names = {r["institution"] for r in good if r["institution"]}
        inst_ids = await storage.institution_ids(names) if names else {}
        for rec in good:
            rec["institution_id"] = inst_ids.get(rec.pop("institution"))
        counts, changed = await storage.upsert_patents(good)
        _add(report, counts)
        report.changed_ids.extend(changed)
        batch.clear()

    for line_no, raw in iter_raw_rows(path):
        report.rows += 1
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
        batch.append((line_no, rec))
        if len(batch) >= batch_size:
            await flush()
    await flush()
    return report


def _add(report: ImportReport, c: UpsertCounts) -> None:
    report.added += c.added
    report.updated += c.updated
    report.unchanged += c.unchanged
