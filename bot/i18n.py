"""User-visible text: jinja2 templates in ``locales/<lang>/``.

* ``<name>.j2`` — message bodies in Telegram HTML; autoescaped, so user text is always safe.
* ``labels.j2`` — short plain strings (buttons, command descriptions) as ``{% set key = "…" %}`` or
  macros; rendered without HTML escaping because Telegram shows button labels verbatim.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from bot.config import LOCALES_DIR

LANGUAGES = ("zh", "en")
TELEGRAM_MESSAGE_LIMIT = 4096


def highlight(text: str | None, terms: Iterable[str] = ()) -> Markup:
    """Escape ``text`` for Telegram HTML and wrap occurrences of ``terms`` in <b>."""
    text = text or ""
    spans = find_spans(text, terms)
    out, pos = [], 0
    for a, b in spans:
        out.append(html.escape(text[pos:a], quote=False))
        out.append("<b>" + html.escape(text[a:b], quote=False) + "</b>")
        pos = b
    out.append(html.escape(text[pos:], quote=False))
    return Markup("".join(out))


def find_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Non-overlapping spans of terms in text, longest term first, case-insensitive."""
    low = text.lower()
    taken: list[tuple[int, int]] = []
    for term in sorted({t.lower() for t in terms if t and t.strip()}, key=len, reverse=True):
        start = 0
        while (i := low.find(term, start)) >= 0:
            j = i + len(term)
            if all(j <= a or i >= b for a, b in taken):
                taken.append((i, j))
            start = j
    return sorted(taken)


_TAG = re.compile(r"<(/?)([a-zA-Z-]+)[^>]*>")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit_message(html: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> str:
    """Keep a rendered Telegram-HTML message under the limit: cut at a line boundary, add an
    ellipsis line and close any tag left open. Telegram counts the text without tags, so cutting the
    markup length is conservative."""
    if utf16_len(html) <= limit:
        return html
    budget = limit - 10
    cut = html[:budget]
    while utf16_len(cut) > budget:
        cut = cut[: int(len(cut) * 0.9)]
    if "\n" in cut[len(cut) // 2:]:
        cut = cut[: cut.rfind("\n")]
    cut = re.sub(r"<[^>]*$", "", cut)  # a tag cut in half
    cut = re.sub(r"&[#a-zA-Z0-9]*$", "", cut)  # an entity cut in half
    stack: list[str] = []
    for closing, name in _TAG.findall(cut):
        if closing:
            if stack and stack[-1] == name:
                stack.pop()
        else:
            stack.append(name)
    out = cut + "".join(f"</{t}>" for t in reversed(stack)) + "\n…"
    return out if utf16_len(out) <= limit else fit_message(cut[: int(len(cut) * 0.9)] + "\n", limit)


def truncate(text: str | None, n: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else text[: n - 1] + "…"


class _Labels(SimpleNamespace):
    pass


def _merged_labels(env: Environment, folder: Path) -> _Labels:
    """labels.j2 plus every labels_<feature>.j2 (features keep their strings in their own file);
    a feature file may use the names defined in labels.j2 (e.g. ``opt``)."""
    base = env.get_template("labels.j2").module
    merged = {k: getattr(base, k) for k in dir(base) if not k.startswith("_")}
    for extra in sorted(folder.glob("labels_*.j2")):
        module = env.get_template(extra.name).make_module(vars=merged)
        merged.update({k: getattr(module, k) for k in dir(module) if not k.startswith("_")})
    return _Labels(**merged)


class Translator:
    def __init__(self, locales_dir: Path = LOCALES_DIR, default: str = "zh") -> None:
        self.default = default if default in LANGUAGES else "zh"
        self._envs: dict[str, Environment] = {}
        self._labels: dict[str, Any] = {}
        for lang in LANGUAGES:
            loader = FileSystemLoader(str(locales_dir / lang))
            env = Environment(loader=loader, autoescape=select_autoescape(default=True, default_for_string=True),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
            env.filters["hl"] = highlight
            env.filters["cut"] = truncate
            self._envs[lang] = env
            plain = Environment(loader=loader, autoescape=False, undefined=StrictUndefined)
            self._labels[lang] = _merged_labels(plain, locales_dir / lang)

    def lang(self, lang: str | None) -> str:
        return lang if lang in self._envs else self.default

    def render(self, lang: str | None, name: str, /, **ctx: Any) -> str:
        """Render ``locales/<lang>/<name>.j2``; the result is Telegram HTML."""
        lang = self.lang(lang)
        # every template can use the labels module as ``L`` (role names, option labels…)
        return self._envs[lang].get_template(f"{name}.j2").render({"L": self._labels[lang], **ctx}).strip()

    def label_module(self, lang: str | None) -> Any:
        """The labels.j2 module (attributes: every ``{% set %}``, e.g. the ``opt`` option tables)."""
        return self._labels[self.lang(lang)]

    def label(self, lang: str | None, key: str, /, **kwargs: Any) -> str:
        value = getattr(self._labels[self.lang(lang)], key)
        if callable(value):
            value = value(**kwargs)
        return str(value).strip()
