"""Typos by sound and by order, and pinyin input, from the index's own vocabulary.

Chinese users type through a pinyin input method, so their mistakes are mostly the right sound with
the wrong character (巷道 -> 相道, 锂电池 -> 锂点池) or two characters swapped (细纱机 -> 细机纱); some
speakers also mix up near sounds (n/l, h/f, z/zh, c/ch, s/sh, an/ang, en/eng, in/ing). And some type
the pinyin itself (``juejinji``, ``jue jin ji``).

Every CJK character of the vocabulary (its unigram terms) gets its toneless readings from pypinyin at
build time; they are extended as upserts bring new characters and saved in the on-disk cache. From
them: syllable -> corpus characters, and near-syllable key -> corpus characters. A query term that is
absent or rare gets, as alternatives weighted below the exact term:

* its single-character homophone substitutions (same pinyin, then near pinyin) that the corpus has,
* its adjacent transpositions that the corpus has,
* failing both, the corpus strings its whole pinyin spells (a beam over the bigram vocabulary).

An ASCII term (or a run of one-syllable ASCII terms) that parses as pinyin is decoded the same way.
Candidates are checked cheaply first (their bigrams must be in the vocabulary; the smaller bigram
document frequency bounds theirs) and only the best few are counted in the postings.
"""
from __future__ import annotations

import re
from functools import lru_cache

from bot.search import text as st

_ASCII_PINYIN_RE = re.compile(r"[a-z]+")
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("f", "h"))
_FUZZY_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"))


_TONELESS = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuvvvvvnnnm")


@lru_cache(maxsize=1)
def _phrase_readings() -> frozenset[tuple[str, str]]:
    """(character, toneless reading) pairs that words use (pypinyin's phrase table): a heteronym's
    second reading counts only when some word reads it so (行 hang in 银行, not 路 luo)."""
    import sys
    from pypinyin.phrases_dict import phrases_dict
    out = set()
    for phrase, pys in phrases_dict.items():
        if len(phrase) == len(pys):
            for ch, r in zip(phrase, pys):
                out.add((ch, r[0].translate(_TONELESS)))
    sys.modules.pop("pypinyin.phrases_dict", None)      # the table is big; only this set is kept
    return frozenset(out)


@lru_cache(maxsize=100_000)
def typed_readings(ch: str) -> tuple[str, ...]:
    """Every toneless reading of one CJK character, ``ü`` spelled ``v``, the first one first. An input
    method lists a character under each of them, rare ones too (体 under ben as well as ti), so a
    mistyped character may stand for a word read any of those ways."""
    from pypinyin import Style, pinyin
    got = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    return tuple(dict.fromkeys(r for r in (got[0] if got else []) if r.isascii() and r.isalpha()))


@lru_cache(maxsize=100_000)
def readings(ch: str) -> tuple[str, ...]:
    """The readings a corpus character is indexed by: its first reading, and its other readings that
    some word uses (巷: xiang, hang)."""
    used = _phrase_readings()
    return tuple(r for i, r in enumerate(typed_readings(ch)) if i == 0 or (ch, r) in used)


def fuzzy_key(syllable: str) -> str:
    """The key near syllables share: z/zh, c/ch, s/sh, n/l, h/f and an/ang, en/eng, in/ing merged."""
    s = syllable
    for a, b in _FUZZY_INITIALS:
        if s.startswith(a) and s != "ng":
            s = b + s[len(a):]
            break
    for a, b in _FUZZY_FINALS:
        if s.endswith(a) and len(s) > len(a) - 1:
            s = s[: -len(a)] + b
            break
    return s


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless syllable of Mandarin (from pypinyin's character table)."""
    from pypinyin.pinyin_dict import pinyin_dict
    out: set[str] = set()
    for cp, rs in pinyin_dict.items():
        if 0x4E00 <= cp <= 0x9FFF:
            out.update(r.translate(_TONELESS) for r in rs.split(","))
    return frozenset(r for r in out if r.isascii() and r.isalpha())


@lru_cache(maxsize=20_000)
def parse_pinyin(token: str) -> tuple[str, ...] | None:
    """A run of letters as pinyin syllables (fewest syllables; ``xian`` is one, ``xi'an`` typed as
    ``xi an`` is two), or None when it is not pinyin."""
    if not token or len(token) > 60 or not token.isascii() or not token.isalpha():
        return None
    syl = syllables()
    n = len(token)
    best: list[tuple[int, int] | None] = [None] * (n + 1)   # (count, previous cut)
    best[0] = (0, 0)
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(i + 1, min(n, i + 6) + 1):
            if token[i:j] in syl:
                cand = (best[i][0] + 1, i)
                if best[j] is None or cand[0] < best[j][0]:
                    best[j] = cand
    if best[n] is None:
        return None
    out = []
    j = n
    while j > 0:
        i = best[j][1]
        out.append(token[i:j])
        j = i
    return tuple(reversed(out))


class PinyinMixin:
    """The sound/order side of :class:`~bot.search.index.SearchIndex` (mixed into it)."""

    _terms: list[str]
    _vocab: dict[str, int]

    # ------------------------------------------------------------------ the vocabulary's readings
    def _pinyin_reset(self, known: dict[str, str] | None = None) -> None:
        """Forget the readings (a fresh build), or take them from the cache (``char -> "a,b"``)."""
        self._py_readings: dict[str, tuple[str, ...]] = {}
        self._py_exact: dict[str, list[str]] = {}
        self._py_fuzzy: dict[str, list[str]] = {}
        self._py_upto = 0
        syllables()                 # loaded once, here rather than by the first pinyin query
        self._py_next: dict = {}
        self._py_homophones: dict[tuple[str, bool], list[str]] = {}
        if known:
            for ch, rs in known.items():
                self._py_add(ch, tuple(r for r in rs.split(",") if r))
        self._pinyin_sync()

    def _py_add(self, ch: str, rs: tuple[str, ...]) -> None:
        self._py_readings[ch] = rs
        for r in rs:
            self._py_exact.setdefault(r, []).append(ch)
            fk = fuzzy_key(r)
            lst = self._py_fuzzy.setdefault(fk, [])
            if ch not in lst:
                lst.append(ch)

    def _pinyin_sync(self) -> None:
        """Give the vocabulary's CJK characters added since the last call their readings."""
        terms = self._terms
        if self._py_upto >= len(terms):
            return
        for t in terms[self._py_upto:]:
            if len(t) == 2 and t[0] == "u" and t[1] not in self._py_readings:
                self._py_add(t[1], readings(t[1]))
        self._py_upto = len(terms)
        self._py_homophones = {}

    def _pinyin_cache_meta(self) -> dict[str, str]:
        self._pinyin_sync()
        return {ch: ",".join(rs) for ch, rs in self._py_readings.items()}

    # ------------------------------------------------------------------ helpers
    def _bdf(self, bigram: str) -> int:
        return self._df(self._vocab.get("b" + bigram))

    def _udf(self, ch: str) -> int:
        return self._df(self._vocab.get("u" + ch))

    def _next_chars(self, ch: str) -> frozenset[str]:
        """Characters the vocabulary has right after ``ch`` (main segment and upserts alike)."""
        if self._py_next.get("") != len(self._indptr):          # compacted or grown since
            self._py_next = {"": len(self._indptr)}
        got = self._py_next.get(ch)
        if got is None:
            nxt, _ = self._char_maps()
            got = frozenset(nxt.get(ch, ""))
            self._py_next[ch] = got
        return got

    def _homophones(self, ch: str, near: bool) -> list[str]:
        """Corpus characters read like ``ch`` (any of its readings); ``near``: like a near syllable,
        excluding the exact ones."""
        got = self._py_homophones.get((ch, near))
        if got is None:
            got = self._py_homophones[(ch, near)] = self._homophones_of(ch, near)
        return got

    def _homophones_of(self, ch: str, near: bool) -> list[str]:
        out: dict[str, None] = {}
        for r in (typed_readings(ch) if self.params.py_typed_heteronyms else readings(ch)):
            if near:
                for c in self._py_fuzzy.get(fuzzy_key(r), ()):
                    out[c] = None
            else:
                for c in self._py_exact.get(r, ()):
                    out[c] = None
        if near:
            for c in self._homophones(ch, False):
                out.pop(c, None)
        out.pop(ch, None)
        return list(out)

    # ------------------------------------------------------------------ typos by sound and order
    def _sound_order_variants(self, s: str, df: int = 0) -> list[tuple[str, int, float]]:
        """(corpus string, its doc freq, how much it is trusted) for a CJK term: homophone (1.0),
        near-sound (0.85) substitutions of one character, adjacent transpositions (0.95); when none
        exists and the term is absent (``df`` 0), what its whole pinyin spells (0.8)."""
        self._pinyin_sync()
        p = self.params
        if not st.is_cjk(s) or len(s) < 2 or len(s) > 12:
            return []
        cands: list[tuple[int, str]] = []
        kind: dict[str, float] = {}
        for i in range(len(s) - 1):
            v = s[:i] + s[i + 1] + s[i] + s[i + 2:]
            if v != s and v not in kind:
                ub = min((self._bdf(b) for b in st.bigrams(v)), default=0)
                if ub:
                    cands.append((ub, v))
                    kind[v] = p.py_swap_trust
        for near, trust in ((False, 1.0), (True, p.py_near_trust)):
            for i, ch in enumerate(s):
                for c in self._homophones(ch, near):
                    ub = 1 << 30
                    if i > 0:
                        ub = min(ub, self._bdf(s[i - 1] + c))
                    if ub and i + 1 < len(s):
                        ub = min(ub, self._bdf(c + s[i + 1]))
                    if ub:
                        v = s[:i] + c + s[i + 1:]
                        if v not in kind:
                            cands.append((ub, v))
                            kind[v] = trust
        if len(s) == 2:             # a bigram's doc freq is exact: nothing to count
            cands.sort(key=lambda x: (-x[0], x[1]))
            found = [(v, d) for d, v in cands[: p.py_max_variants]]
        else:
            found = self._most_frequent(cands, p.py_tries, p.py_max_variants)
        if not found and not df and len(s) >= 3:
            spelled = self._decode([self._spellings(ch) for ch in s])
            found = [(v, d) for v, d in spelled if v != s]
            for v, _ in found:
                kind[v] = p.py_spell_trust
        # two characters that are a word (jieba's, in the vocabulary) beat two that only meet
        # across words (巷道 over 响道)
        return [(v, d, kind[v] * (1.0 if len(v) > 2 or ("w" + v) in self._vocab else p.py_nonword_factor))
                for v, d in found]

    def _spellings(self, ch: str) -> list[str]:
        """``ch`` and the corpus characters read like it."""
        return [ch] + self._homophones(ch, False)

    def _decode(self, positions: list[list[str]], keep: int = 0) -> list[tuple[str, int]]:
        """The corpus strings with one of ``positions[i]``'s characters at each place, best first
        (a beam over the bigram vocabulary, ranked by the smallest bigram doc freq), as (string,
        doc freq), counted for the best few."""
        p = self.params
        if not positions or any(not ch for ch in positions):
            return []
        beam = sorted(((self._udf(c), c) for c in positions[0]), reverse=True)
        beam = [(d, c) for d, c in beam if d][: p.py_beam]
        for allowed in positions[1:]:
            allowed_set = set(allowed)
            nxt: list[tuple[int, str]] = []
            for ub, v in beam:
                for c in self._next_chars(v[-1]) & allowed_set:
                    d = min(ub, self._bdf(v[-1] + c))
                    if d:
                        nxt.append((d, v + c))
            nxt.sort(key=lambda x: (-x[0], x[1]))
            beam = nxt[: p.py_beam]
            if not beam:
                return []
        if len(positions) == 2:             # a bigram's doc freq is exact: nothing to count
            return [(v, d) for d, v in beam[: keep or p.py_max_variants]]
        return self._most_frequent(beam, p.py_tries, keep or p.py_max_variants)

    # ------------------------------------------------------------------ pinyin input
    def _pinyin_decode(self, syls: tuple[str, ...]) -> list[tuple[str, int]]:
        """Corpus strings spelled by these syllables (two or more), best first."""
        self._pinyin_sync()
        if len(syls) < 2 or len(syls) > 12:
            return []
        got = self._decode([self._py_exact.get(sy, []) for sy in syls],
                           keep=self.params.py_beam if len(syls) == 2 else self.params.py_tries)
        # two syllables spell a word of the vocabulary (液体), not two characters that only meet
        # across words (的技)
        got = [(v, d if len(v) > 2 or ("w" + v) in self._vocab else d // 10) for v, d in got]
        got.sort(key=lambda x: (-x[1], x[0]))
        return [(v, d) for v, d in got if d][: self.params.py_max_variants]

    def _pinyin_words(self, syls: tuple[str, ...]) -> list[tuple[tuple[str, ...], list[tuple[str, int]]]]:
        """The syllables as one corpus string, or else cut into the longest spans that spell one
        (``yetixidiji`` -> 液体 + 洗涤剂), each with its spellings."""
        whole = self._pinyin_decode(syls)
        if whole or len(syls) <= 2:
            return [(syls, whole)]
        out = []
        i, budget = 0, 16
        while i < len(syls) - 1 and budget > 0:
            for j in range(min(len(syls), i + 6), i + 1, -1):
                if len(syls) - j == 1 and j - i > 2:
                    continue                    # would leave one syllable alone: take a shorter span
                budget -= 1
                got = self._pinyin_decode(syls[i:j])
                if got:
                    out.append((syls[i:j], got))
                    i = j
                    break
                if budget <= 0:
                    break
            else:
                i += 1
        return out or [(syls, [])]
