"""Text analysis for :mod:`bot.search` (pure Python, no DB / Telegram imports).

Normalisation: NFKC (full-width -> half-width), lowercase, control chars dropped.
Features of a piece of text (each is a string key with a one-letter kind prefix):

* ``w<word>``  jieba search-mode words of length >= 2 inside CJK runs, and
               ASCII alnum tokens (``cn113914863a``, ``pvc``, ``3d``)
* ``b<xy>``    CJK character bigrams (robust to jieba segmentation differences)
* ``u<x>``     CJK unigrams (used for one-character query terms)
"""
from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from functools import lru_cache

import jieba

_CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
CJK_RUN_RE = re.compile(f"[{_CJK_CLASS}]+")
# runs of CJK, or runs of ascii letters/digits (kept together: "cn113914863a", "abc123")
RUN_RE = re.compile(f"[{_CJK_CLASS}]+|[a-z0-9]+")
_CJK_CHAR_RE = re.compile(f"[{_CJK_CLASS}]")
# sentence-ish segments; analysis is cached per segment (boilerplate repeats a lot)
SEGMENT_RE = re.compile(r"[^。；;！!？?\n]+[。；;！!？?\n]*")
PUBNO_RE = re.compile(r"(?<![a-z0-9])([a-z]{2}\d{6,}(?:[a-z]\d?)?)(?![a-z0-9])")
_ASCII_GAP_RE = re.compile(r"(?<=[a-z0-9])[ .\-_/](?=[a-z0-9])")


def pubno_candidates(norm_query: str) -> list[str]:
    """Publication-number-like tokens of a normalised query ("cn 113914863 a" too)."""
    out: list[str] = []
    for q in (norm_query, _ASCII_GAP_RE.sub("", norm_query)):
        for m in PUBNO_RE.finditer(q):
            if m.group(1) not in out:
                out.append(m.group(1))
    return out
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")

_tok_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def tokenizer() -> jieba.Tokenizer:
    """A private jieba tokenizer (other modules may add words to jieba's global one)."""
    global _tokenizer
    if _tokenizer is None:
        with _tok_lock:
            if _tokenizer is None:
                jieba.setLogLevel(60)
                t = jieba.Tokenizer()
                t.initialize()
                _tokenizer = t
    return _tokenizer


def normalize(text: str | None) -> str:
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).lower()
    return _CTRL_RE.sub("", text)


def is_cjk(s: str) -> bool:
    return bool(s) and _CJK_CHAR_RE.match(s[0]) is not None


def cjk_words(run: str) -> list[str]:
    """jieba search-mode words (len >= 2) of a CJK run."""
    return [w for w in tokenizer().cut_for_search(run, HMM=False) if len(w) >= 2]


@lru_cache(maxsize=300_000)
def analyze_segment(seg: str, words: bool = True) -> tuple[tuple[str, int], ...]:
    """Feature counts of an already-normalised segment (cached).  ``words=False`` skips jieba
    (used for the long, low-weight claims field: bigrams/unigrams only)."""
    c: Counter[str] = Counter()
    for m in RUN_RE.finditer(seg):
        s = m.group()
        if is_cjk(s):
            c.update("u" + ch for ch in s)
            if len(s) >= 2:
                c.update("b" + s[i : i + 2] for i in range(len(s) - 1))
                if words:
                    c.update("w" + w for w in cjk_words(s))
        else:
            c["w" + s] += 1
    return tuple(c.items())


def segments(norm_text: str) -> list[str]:
    return SEGMENT_RE.findall(norm_text)


def bigrams(s: str) -> list[str]:
    return [s[i : i + 2] for i in range(len(s) - 1)]
