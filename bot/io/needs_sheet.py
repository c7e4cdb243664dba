"""The export's "needs" sheet: one row per technology need and holder it was put to, with the holder's
answer and whether the lead it opened was agreed by both sides (bot/storage/needs.py)."""
from __future__ import annotations

import datetime as dt
from typing import Any

NEED_SHEET_COLUMNS = ["need_id", "enterprise", "problem", "industry", "budget", "cooperation", "deadline", "status",
                      "created_at", "institution", "patent_id", "answer", "lead"]


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def needs_sheet(rows: list[dict[str, Any]]) -> tuple[str, list[str], list[dict[str, Any]]]:
    """(sheet name, columns, rows) as ``bot.io.export.build_export`` writes its sheets."""
    return "needs", NEED_SHEET_COLUMNS, [{c: _cell(r.get(c)) for c in NEED_SHEET_COLUMNS} for r in rows]
