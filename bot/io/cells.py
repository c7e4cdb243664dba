"""Spreadsheet cells that cannot run: every CSV and XLSX writer passes its text through
``neutralise`` and every reader through ``restore``.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and openpyxl as a formula (CSV/DDE injection). OWASP's advice: prefix such text with a
single quote. To keep that reversible, text that already starts with quotes followed by one of those
characters gets one more quote, so ``restore(neutralise(x)) == x`` for every string.
"""
from __future__ import annotations

import re
from typing import Any

TRIGGERS = "=+-@\t\r"
_NEEDS_QUOTE = re.compile(r"^'*[=+\-@\t\r]")
_QUOTED = re.compile(r"^'+[=+\-@\t\r]")


def neutralise(value: Any) -> Any:
    """The cell value to write: text that a spreadsheet would evaluate gets a leading ``'``."""
    if isinstance(value, str) and _NEEDS_QUOTE.match(value):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """The inverse of ``neutralise`` for a cell read back from an exported file."""
    if isinstance(value, str) and _QUOTED.match(value):
        return value[1:]
    return value


def neutralise_row(values: list[Any]) -> list[Any]:
    return [neutralise(v) for v in values]
