"""Names users type for the things the bot keeps as codes: industries (``new_energy``, 新能源与储能,
新能源, "New energy"), counties (长乐区, 长乐, changle) and department kinds (科技局 -> its kind code).

One resolver for every command argument and filter that names one of them: exact code or name
first, then a name the text starts or is contained in (新能源 -> 新能源与储能), then the same by
toneless pinyin (xinnengyuan). An ambiguous text (two codes match equally) resolves to nothing, so
the caller shows its usage rather than guessing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from bot.search import text as st
from bot.search.pinyin import parse_pinyin, readings

_PARTS_RE = re.compile(r"[与和及、/&,，]| and ")
_COUNTY_SUFFIX = ("区", "市", "县")


def _key(text: str) -> str:
    return re.sub(r"\s+", "", st.normalize(text))


def _spellings(text: str) -> set[str]:
    """The toneless pinyin of a name (every reading of its characters: 长乐 changle, zhangle), ASCII
    kept; at most 16."""
    out = [""]
    for ch in _key(text):
        rs = (readings(ch) or (ch,)) if st.is_cjk(ch) else (ch,)
        out = [o + r for o in out for r in rs][:16]
    return set(out)


class NameResolver:
    """Resolve what a user typed to one code of a vocabulary (``code -> its names``)."""

    def __init__(self, names: Mapping[str, Iterable[str]]):
        self._exact: dict[str, set[str]] = {}
        self._names: list[tuple[str, str, set[str]]] = []     # (code, name key, its pinyin spellings)
        for code, ns in names.items():
            for n in [code, *ns]:
                k = _key(n)
                if not k:
                    continue
                self._exact.setdefault(k, set()).add(code)
                self._names.append((code, k, _spellings(k)))

    def resolve(self, text: str | None) -> str | None:
        k = _key(text or "")
        if not k or len(k) > 64:
            return None
        hit = self._exact.get(k)
        if hit:
            return next(iter(hit)) if len(hit) == 1 else None
        if len(k) >= 2:
            got = {code for code, name, _ in self._names if name.startswith(k) or k in name}
            if len(got) == 1:
                return got.pop()
            if got:
                return None
        typed = _spellings(k) if any(st.is_cjk(ch) for ch in k) else ({k} if parse_pinyin(k) else set())
        typed = {t for t in typed if len(t) >= 4}
        if typed:
            got = {code for code, _, pys in self._names if typed & pys}
            got = got or {code for code, _, pys in self._names if any(p.startswith(t) for p in pys for t in typed)}
            if len(got) == 1:
                return got.pop()
        return None


def industry_names(label_modules: Iterable[object]) -> dict[str, list[str]]:
    """Industry code -> its names in every locale (``labels.opt["industry"]``) and their parts
    (新能源与储能: 新能源, 储能)."""
    out: dict[str, list[str]] = {}
    for labels in label_modules:
        for code, name in getattr(labels, "opt", {}).get("industry", {}).items():
            lst = out.setdefault(code, [])
            lst.append(name)
            lst += [p.strip() for p in _PARTS_RE.split(name) if len(p.strip()) >= 2]
    return out


def county_names(counties: Iterable[str]) -> dict[str, list[str]]:
    """County -> its names: the full one and without 区/市/县 (长乐区: 长乐)."""
    return {c: [c[:-1]] if c.endswith(_COUNTY_SUFFIX) and len(c) > 2 else [] for c in counties}


def resolver_of_industries(label_modules: Iterable[object]) -> NameResolver:
    return NameResolver(industry_names(label_modules))


def resolver_of_counties(counties: Iterable[str]) -> NameResolver:
    return NameResolver(county_names(counties))


def resolver_of_department_kinds(fragments: Mapping[str, Iterable[str]]) -> NameResolver:
    return NameResolver(fragments)


def canonical_officer_scope(scope: str, counties: NameResolver) -> str:
    """``科技局@长乐`` -> ``科技局@长乐区``: the county part of an officer's scope by its stored name."""
    name, at, county = scope.partition("@")
    if not at:
        return scope
    return f"{name.strip()}@{counties.resolve(county) or county.strip()}"
