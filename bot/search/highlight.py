"""Where a hit's matched terms stand in the original text, for the <b> marks of the result list."""
from __future__ import annotations

from collections.abc import Iterable

from bot.search import text as st


def highlight_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Non-overlapping, sorted ``(start, end)`` spans of ``terms`` in the *original* ``text``
    (matching is done on the normalised forms; longer terms win)."""
    if not text:
        return []
    norm_chars: list[str] = []
    back: list[int] = []
    for i, ch in enumerate(text):
        nc = st.normalize(ch)
        for c in nc:
            norm_chars.append(c)
            back.append(i)
    norm = "".join(norm_chars)
    back.append(len(text))
    tl = sorted({st.normalize(t).strip() for t in terms if t and st.normalize(t).strip()}, key=lambda s: -len(s))
    taken = [False] * len(norm)
    spans: list[tuple[int, int]] = []
    for t in tl:
        start = norm.find(t)
        while start != -1:
            end = start + len(t)
            if not any(taken[start:end]):
                for j in range(start, end):
                    taken[j] = True
                spans.append((back[start], back[end - 1] + 1))
            start = norm.find(t, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a < merged[-1][1]:
            continue
        merged.append((a, b))
    return merged
