"""Standard-format export (docs/EXPORT_FORMAT.md): inventory + self-assessments + ratings +
transactions as CSV (UTF-8 with BOM, for Excel) and XLSX (openpyxl).

The first columns are exactly the import format's (docs/IMPORT_FORMAT.md), so an exported file
re-imports into the same patents, ids and derived-title flags included.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook

from bot.io.importer import STANDARD_COLUMNS
from bot.io.needs_sheet import needs_sheet

ASSESSMENT_COLUMNS = ["sa_status", "sa_industry", "sa_maturity", "sa_scenarios", "sa_scenario_text", "sa_prospect",
                      "sa_intents", "sa_implemented", "sa_implemented_how", "sa_licence_kind", "sa_payment_kind",
                      "sa_open_licence", "sa_price_range"]
RATING_SUMMARY_COLUMNS = ["ratings_count", "ratings_expert_count", "ratings_mean_prospect", "ratings_cooperation"]
TRANSACTION_COLUMNS = ["txn_count", "txn_kinds", "txn_dates", "txn_filed", "txn_counterparties", "txn_industrialised"]
PATENT_SHEET_COLUMNS = STANDARD_COLUMNS + ASSESSMENT_COLUMNS + RATING_SUMMARY_COLUMNS + TRANSACTION_COLUMNS
RATING_SHEET_COLUMNS = ["patent_id", "rater_id", "is_expert", "prospect", "improvement_needs", "improvement_text",
                        "cooperation_intents", "price_expectation", "comment", "updated_at"]
TRANSACTION_SHEET_COLUMNS = ["patent_id", "kind", "date", "filed", "counterparty", "industrialised",
                             "product_filing_status"]
# Excel refuses cells over 32,767 characters
XLSX_CELL_LIMIT = 32767


@dataclass(frozen=True)
class ExportFiles:
    csv: bytes
    xlsx: bytes
    patents: int
    ratings: int
    transactions: int


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return ";".join(str(x) for x in v)
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def patent_row(p: dict[str, Any]) -> dict[str, Any]:
    row = {c: _cell(p.get(c)) for c in STANDARD_COLUMNS}
    a = p.get("assessment") or {}
    for c in ASSESSMENT_COLUMNS:
        row[c] = _cell(a.get(c[3:] if c != "sa_industry" else "industry_field"))
    ratings = p.get("ratings") or []
    prospects = [r.prospect for r in ratings if r.prospect]
    row["ratings_count"] = len(ratings)
    row["ratings_expert_count"] = sum(1 for r in ratings if r.is_expert)
    row["ratings_mean_prospect"] = round(sum(prospects) / len(prospects), 2) if prospects else ""
    row["ratings_cooperation"] = ";".join(sorted({i for r in ratings for i in (r.cooperation_intents or [])}))
    txns = p.get("transactions") or []
    row["txn_count"] = len(txns)
    row["txn_kinds"] = ";".join(t.kind for t in txns)
    row["txn_dates"] = ";".join(t.date.isoformat() for t in txns)
    row["txn_filed"] = ";".join("1" if t.filed else "0" for t in txns)
    row["txn_counterparties"] = ";".join(t.counterparty or "" for t in txns)
    row["txn_industrialised"] = ";".join("1" if t.industrialised else "0" for t in txns)
    return row


def build_export(data: dict[str, list[dict[str, Any]]]) -> ExportFiles:
    rows = [patent_row(p) for p in data["patents"]]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=PATENT_SHEET_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    csv_bytes = text.getvalue().encode("utf-8-sig")

    wb = Workbook(write_only=True)
    sheets = (("patents", PATENT_SHEET_COLUMNS, rows),
              ("ratings", RATING_SHEET_COLUMNS, [{c: _cell(r.get(c)) for c in RATING_SHEET_COLUMNS}
                                                 for r in data["ratings"]]),
              ("transactions", TRANSACTION_SHEET_COLUMNS, [{c: _cell(t.get(c)) for c in TRANSACTION_SHEET_COLUMNS}
                                                           for t in data["transactions"]]),
              needs_sheet(data.get("needs", [])))
    for name, columns, items in sheets:
        ws = wb.create_sheet(name)
        ws.append(columns)
        for item in items:
            ws.append([str(v)[:XLSX_CELL_LIMIT] if isinstance(v, str) else v for v in (item[c] for c in columns)])
    out = io.BytesIO()
    wb.save(out)
    return ExportFiles(csv_bytes, out.getvalue(), len(rows), len(data["ratings"]), len(data["transactions"]))


def export_names(now: dt.datetime) -> tuple[str, str]:
    stamp = now.strftime("%Y%m%d-%H%M")
    return f"patents-{stamp}.csv", f"patents-{stamp}.xlsx"
