"""Column names and cell values in both forms an import or export may use: the code form
(``patent_type`` = ``utility_model``, scripts' form) and the people's form of the XLSX
(``专利类型`` = ``实用新型``), with the national platform's usual headers accepted too.

The people's words live in ``locales/<lang>/labels_io.j2``; this module only maps between them.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from bot.i18n import LANGUAGES, Translator

PATENT_TYPES = ("invention", "utility_model", "design")
# the kind code that ends a Chinese publication number names the patent type
_KIND_CODE_TYPE = {"A": "invention", "B": "invention", "C": "invention", "U": "utility_model", "Y": "utility_model",
                   "S": "design", "D": "design"}
_SPACES = re.compile(r"[\s\u3000]+")


@lru_cache(maxsize=1)
def translator() -> Translator:
    return Translator()


def labels(lang: str) -> Any:
    return translator().label_module(lang)


def _norm(header: str) -> str:
    return _SPACES.sub("", header).lower()


@lru_cache(maxsize=1)
def _header_map() -> dict[str, str]:
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        L = labels(lang)
        out.update({_norm(k): v for k, v in L.io_header_aliases.items()})
        out.update({_norm(v): k for k, v in L.io_columns.items()})
    return out


def column_key(header: Any, known: frozenset[str]) -> str:
    """The code name of a header cell: a code name itself, a people's header in any language, or one
    of the base library's usual headers; anything else is returned normalised (and ignored)."""
    h = _norm(str(header)) if header is not None else ""
    if h in known:
        return h
    return _header_map().get(h, h)


@lru_cache(maxsize=1)
def _patent_type_map() -> dict[str, str]:
    out = {t: t for t in PATENT_TYPES}
    for lang in LANGUAGES:
        L = labels(lang)
        out.update({_norm(v): k for k, v in L.io_patent_type.items()})
        out.update({_norm(k): v for k, v in L.io_patent_type_aliases.items()})
    return out


def patent_type_code(value: str | None) -> str | None:
    """``发明`` / ``实用新型专利`` / ``utility_model`` … → the code; None if unknown."""
    if not value:
        return None
    return _patent_type_map().get(_norm(value))


def patent_type_from_pub_no(pub_no: str | None) -> str | None:
    if not pub_no or not pub_no.startswith("CN"):
        return None
    m = re.search(r"([A-Z])\d?$", pub_no[2:])
    return _KIND_CODE_TYPE.get(m.group(1)) if m else None


@lru_cache(maxsize=1)
def _yes_no_map() -> dict[str, bool]:
    out = {"1": True, "true": True, "yes": True, "y": True, "t": True,
           "0": False, "false": False, "no": False, "n": False, "f": False}
    for lang in LANGUAGES:
        L = labels(lang)
        out.update({_norm(v): k == "1" for k, v in L.io_yes_no.items()})
    return out


def yes_no(value: str) -> bool | None:
    return _yes_no_map().get(_norm(value))
