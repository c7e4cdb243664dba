"""A patent's legal status (法律状态) as the base library writes it: free text such as 有效, 实质审查中,
未缴年费终止, 专利权届满终止, 全部无效. Only one distinction matters to the workflow: whether the right has
ended, after which a patent is no longer a candidate for an open licence. The vocabulary is data
(``bot/io/legal_status.json``) so an office can extend it without touching code."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

VOCABULARY = Path(__file__).resolve().parent.parent / "io" / "legal_status.json"


@lru_cache(maxsize=1)
def ended_markers() -> tuple[str, ...]:
    """Substrings whose presence in a legal status means the right has ended."""
    return tuple(json.loads(VOCABULARY.read_text(encoding="utf-8"))["ended"])

