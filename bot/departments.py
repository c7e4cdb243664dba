"""Which departments a deadline is for: one representation for the plan's task table and officers'
own deadlines.

``Deadline.departments`` holds scope tokens:

* ``kind:<code>``  every department of that kind, city and county level (the plan's task table
  names kinds: 市场监管, 科技 …; codes and name fragments in ``data/department_kinds.json``)
* ``dept:<id>``    one department (an officer's own deadline)

An empty list means every department. A department's kind is read from its name (admins type
the name in ``/invite officer 科技局@长乐区``), so no extra column or admin step is needed.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache

from bot.config import PROJECT_ROOT

KIND, DEPT = "kind:", "dept:"


@lru_cache(maxsize=1)
def kind_fragments() -> dict[str, tuple[str, ...]]:
    raw = json.loads((PROJECT_ROOT / "data" / "department_kinds.json").read_text(encoding="utf-8"))
    return {k: tuple(v) for k, v in raw.items() if not k.startswith("_")}


def kind_of(name: str | None) -> str | None:
    """The kind code of a department from its name, or None if no fragment matches."""
    text = (name or "").partition("@")[0]
    for code, fragments in kind_fragments().items():
        if any(f in text for f in fragments):
            return code
    return None


def kind_token(code: str) -> str:
    return KIND + code


def dept_token(dept_id: int) -> str:
    return f"{DEPT}{int(dept_id)}"


def in_scope(tokens: Iterable[str], dept_id: int, dept_name: str | None) -> bool:
    """Whether department ``dept_id`` (named ``dept_name``) is among a deadline's ``tokens``."""
    tokens = list(tokens)
    if not tokens:
        return True
    kind = kind_of(dept_name)
    return (dept_token(dept_id) in tokens) or (kind is not None and kind_token(kind) in tokens)


def parse(tokens: Iterable[str]) -> tuple[list[str], list[int]]:
    """(kind codes, department ids) of a deadline's tokens; unknown tokens are ignored."""
    kinds, ids = [], []
    for t in tokens:
        if t.startswith(KIND):
            kinds.append(t[len(KIND):])
        elif t.startswith(DEPT) and t[len(DEPT):].isdigit():
            ids.append(int(t[len(DEPT):]))
    return kinds, ids
