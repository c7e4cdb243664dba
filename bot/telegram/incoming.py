"""What arrives from Telegram is cleaned once, here at the edge, before anything reads it.

Control characters (NUL above all) in a user's name or text would otherwise reach the database, and
PostgreSQL refuses NUL in text: every later update of that user would fail. Each such character is
replaced by a space, one UTF-16 unit for one, so the offsets of message entities stay right. Tab,
newline and carriage return are text and stay.
"""
from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(value: Any) -> Any:
    """``value`` (decoded JSON) with every control character in its strings replaced by a space."""
    if isinstance(value, str):
        return _CONTROL.sub(" ", value) if _CONTROL.search(value) else value
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value
