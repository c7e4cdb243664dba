"""Standard-format export (docs/EXPORT_FORMAT.md) in two forms:

* the CSV (UTF-8 with BOM) is the code form for scripts: code names as headers, codes as values
  (``transfer;license``), ISO dates;
* the XLSX is the form people open: headers and values in the reader's language (转让、许可), dates as
  real dates, one sheet each for patents, ratings and transactions.

Both start with exactly the import format's columns, so either file re-imports without loss. Every
text cell goes through ``bot.io.cells.neutralise``: nothing a user typed can become a formula.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook

from bot.io.cells import neutralise
from bot.io.columns import labels as labels_of
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
_BOOLEAN_COLUMNS = {"title_derived", "sa_implemented", "sa_open_licence", "is_expert", "filed", "industrialised"}
_DATE_COLUMNS = {"filing_date", "grant_date", "date"}


@dataclass(frozen=True)
class ExportFiles:
    csv: bytes
    xlsx: bytes
    patents: int
    ratings: int
    transactions: int


def _cell(v: Any) -> Any:
    """The code form of one value."""
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
    """One patent in the code form (the CSV's row)."""
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


class _PeoplesForm:
    """Code-form values → the words of the reader's language (labels_io.j2 and the dialogs' options)."""

    def __init__(self, L: Any) -> None:
        opt = L.opt
        self.L = L
        self.sep = L.io_list_sep
        self.codes: dict[str, dict[str, str]] = {
            "patent_type": L.io_patent_type, "sa_status": L.io_sa_status, "sa_industry": opt["industry"],
            "sa_scenarios": opt["scenarios"], "sa_intents": opt["intents"], "sa_licence_kind": opt["licence_kind"],
            "sa_payment_kind": opt["payment_kind"], "sa_price_range": opt["price_range"],
            "ratings_cooperation": opt["coop"], "cooperation_intents": opt["coop"], "improvement_needs": opt["needs"],
            "price_expectation": opt["price_range"], "txn_kinds": opt["tx_kind"], "kind": opt["tx_kind"],
            "product_filing_status": L.filing_status, "txn_filed": L.io_yes_no, "txn_industrialised": L.io_yes_no,
            "industry": opt["industry"], "cooperation": opt.get("n_coop", {}), "budget": opt["price_range"],
            "answer": L.io_need_answer, "lead": L.io_need_lead, "status": L.io_need_status}

    def value(self, column: str, v: Any) -> Any:
        if v is None or v == "":
            return None
        if column in _DATE_COLUMNS:
            return dt.date.fromisoformat(v) if isinstance(v, str) else v
        if column == "updated_at" and isinstance(v, str):
            return dt.datetime.fromisoformat(v)
        if column in _BOOLEAN_COLUMNS:
            return self.L.io_yes_no.get(str(v), v)
        words = self.codes.get(column)
        if words is not None and isinstance(v, str):
            return self.sep.join(words.get(code, code) for code in v.split(";"))
        if column == "txn_dates" and isinstance(v, str):
            return self.sep.join(v.split(";"))
        return v

    def header(self, column: str) -> str:
        return self.L.io_columns.get(column, column)


def _xlsx(sheets: list[tuple[str, list[str], list[dict[str, Any]]]], form: _PeoplesForm) -> bytes:
    wb = Workbook(write_only=True)
    for name, columns, rows in sheets:
        ws = wb.create_sheet(form.L.io_sheets.get(name, name))
        ws.append([form.header(c) for c in columns])
        for row in rows:
            values = []
            for c in columns:
                v = form.value(c, row[c])
                if isinstance(v, str):
                    v = neutralise(v)[:XLSX_CELL_LIMIT]
                values.append(v)
            ws.append(values)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise(row[c]) for c in columns])
    return text.getvalue().encode("utf-8-sig")


def build_export(data: dict[str, list[dict[str, Any]]], lang: str = "zh") -> ExportFiles:
    rows = [patent_row(p) for p in data["patents"]]
    ratings = [{c: _cell(r.get(c)) for c in RATING_SHEET_COLUMNS} for r in data["ratings"]]
    txns = [{c: _cell(t.get(c)) for c in TRANSACTION_SHEET_COLUMNS} for t in data["transactions"]]
    xlsx = _xlsx([("patents", PATENT_SHEET_COLUMNS, rows), ("ratings", RATING_SHEET_COLUMNS, ratings),
                  ("transactions", TRANSACTION_SHEET_COLUMNS, txns), needs_sheet(data.get("needs", []))],
                 _PeoplesForm(labels_of(lang)))
    return ExportFiles(_csv(PATENT_SHEET_COLUMNS, rows), xlsx, len(rows), len(ratings), len(txns))


def export_names(now: dt.datetime) -> tuple[str, str]:
    stamp = now.strftime("%Y%m%d-%H%M")
    return f"patents-{stamp}.csv", f"patents-{stamp}.xlsx"
