"""Query analysis: a query's user terms, the features each one is looked up by, and the variants
of a term found in the corpus -- typos (one character missing: "掘机" -> "掘进机", through the
corpus trigram table) and compounds/abbreviations (锂电池 <-> 锂离子电池, off by default)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bot.search import text as st
from bot.search.params import Params
from bot.search.pinyin import parse_pinyin


def trigram_array(text: str) -> np.ndarray:
    """Sorted unique (a<<42 | b<<21 | c) codes of CJK trigrams "a c b" in text (vectorised)."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    if len(cp) < 3:
        return np.zeros(0, dtype=np.uint64)
    cjk = ((cp >= 0x3400) & (cp <= 0x4DBF)) | ((cp >= 0x4E00) & (cp <= 0x9FFF)) | \
          ((cp >= 0xF900) & (cp <= 0xFAFF)) | ((cp >= 0x20000) & (cp <= 0x2EBEF))
    ok = cjk[:-2] & cjk[1:-1] & cjk[2:]
    idx = np.nonzero(ok)[0]
    codes = (cp[idx] << np.uint64(42)) | (cp[idx + 2] << np.uint64(21)) | cp[idx + 1]
    return np.unique(codes)


def trigram_codes(norm_texts: Iterable[str]) -> set[int]:
    """The codes of :func:`trigram_array` for the CJK runs of normalised texts (one document)."""
    out: set[int] = set()
    for t in norm_texts:
        for m in st.CJK_RUN_RE.finditer(t):
            s = m.group()
            for i in range(len(s) - 2):
                out.add((ord(s[i]) << 42) | (ord(s[i + 2]) << 21) | ord(s[i + 1]))
    return out


class QueryTerm:
    """One analysed user term with its alternatives (the term itself + typo variants)."""

    __slots__ = ("surface", "alts", "correction", "from_pinyin")

    def __init__(self, surface: str):
        self.surface = surface
        self.alts: list[tuple[str, float]] = []   # (string, weight)
        self.correction: str | None = None        # the variant strong enough to offer as "did you mean"
        self.from_pinyin = False                  # an ASCII term (or run of them) read as pinyin


class QueryAnalysisMixin:
    """The query side of :class:`~bot.search.index.SearchIndex` (mixed into it). Reads the index's
    vocabulary, its trigram table and, through ``_df`` / ``_phrase_df``, its postings."""

    params: Params
    _vocab: dict[str, int]               # feature key -> term id
    _terms: list[str]                    # term id -> feature key
    _indptr: np.ndarray                  # main segment's term offsets (its length tracks the vocabulary)
    _tri: np.ndarray                     # sorted trigram codes of the main segment
    _tri_delta: dict[int, set[int]]      # (a<<21|b) -> middle chars, from upserts since the last compaction

    def _split_query(self, q: str) -> list[str]:
        p = self.params
        q = q[: p.max_query_chars * 4]
        out: list[str] = []
        seen = set()
        for m in st.RUN_RE.finditer(q):
            s = m.group()[: p.max_query_chars]
            if s not in seen:
                seen.add(s)
                out.append(s)
            if len(out) >= p.max_terms:
                break
        return out

    def _term_features(self, s: str) -> list[tuple[int, float, bool]]:
        """(term id, query weight, required-for-'matched') for an alternative string."""
        p = self.params
        out: list[tuple[int, float, bool]] = []
        if st.is_cjk(s):
            if len(s) == 1:
                tid = self._vocab.get("u" + s)
                return [(tid, p.w_unigram, True)] if tid is not None else [(-1, 0.0, True)]
            for bg in dict.fromkeys(st.bigrams(s)):
                tid = self._vocab.get("b" + bg)
                out.append((tid if tid is not None else -1, p.w_bigram, True))
            for w in dict.fromkeys(st.cjk_words(s)):
                tid = self._vocab.get("w" + w)
                if tid is not None:
                    out.append((tid, p.w_word, False))
        else:
            tid = self._vocab.get("w" + s)
            out.append((tid if tid is not None else -1, p.w_word, True))
        return out

    def _typo_variants(self, s: str) -> list[tuple[str, int]]:
        """Strings with one CJK char inserted inside ``s`` that occur in the corpus, with doc freq.
        Candidates come from the trigram table ("a ? b" for each adjacent pair of s), are ranked by
        an upper bound of their doc freq (min df of the two new bigrams) and the best few verified."""
        if not st.is_cjk(s) or len(s) < self.params.typo_min_len or len(s) > 12:
            return []
        mask21 = (1 << 21) - 1
        cands: list[tuple[int, str]] = []
        for i in range(1, len(s)):
            a, b = ord(s[i - 1]), ord(s[i])
            base = (a << 42) | (b << 21)
            l = int(np.searchsorted(self._tri, np.uint64(base), "left"))
            r = int(np.searchsorted(self._tri, np.uint64(base | mask21), "right"))
            mids = [int(c) & mask21 for c in self._tri[l:r]]
            if self._tri_delta:
                mids += list(self._tri_delta.get((a << 21) | b, ()))
            for c in set(mids):
                ch = chr(c)
                ub = min(self._df(self._vocab.get("b" + s[i - 1] + ch)), self._df(self._vocab.get("b" + ch + s[i])))
                if ub:
                    cands.append((ub, s[:i] + ch + s[i:]))
        p = self.params
        return self._most_frequent(cands, 4 * p.typo_max_variants, p.typo_max_variants)

    def _most_frequent(self, cands: list[tuple[int, str]], tries: int, keep: int) -> list[tuple[str, int]]:
        """The ``keep`` most frequent of the candidate strings that occur in the corpus, as
        (string, doc freq): only the ``tries`` best by their upper bound of doc freq (the ``int``
        of each candidate) are counted, counting being the expensive part."""
        cands.sort(key=lambda x: (-x[0], x[1]))
        out = []
        for _, v in cands[:tries]:
            df = self._phrase_df(v)
            if df:
                out.append((v, df))
        out.sort(key=lambda x: (-x[1], x[0]))
        return out[:keep]

    def _analyse(self, q: str) -> list[QueryTerm]:
        terms: list[QueryTerm] = []
        raw = self._split_query(q)
        i = 0
        while i < len(raw):
            group = self._pinyin_group(raw, i) if self.params.pinyin else None
            if group is not None:
                i, syls, surface = group
                words = self._pinyin_words(syls)
                if len(words) == 1:
                    terms.append(self._analyse_pinyin(surface, words[0][1]))
                else:
                    terms.extend(self._analyse_pinyin("".join(sy), sp) for sy, sp in words)
                continue
            s = raw[i]
            i += 1
            t = self._analyse_term(s)
            # a long CJK run typed without spaces ("锂电池的正极材料") that matches nothing verbatim
            # (even with one char inserted) is split into its jieba words, each its own term
            if (st.is_cjk(s) and len(s) >= 4 and t.alts[0][1] == 0.0
                    and max((w for _, w in t.alts[1:]), default=0.0) < 0.5):
                pieces = [w for w in st.tokenizer().lcut(s, HMM=False) if len(w) >= 2]
                if len(pieces) >= 2:
                    terms.extend(self._analyse_term(w) for w in dict.fromkeys(pieces))
                    continue
            if t.alts[0][1] == 0.0 and len(t.alts) == 1:
                t.alts[0] = (s, 1.0)       # unknown term: keep it (partial bigram matches still count)
            terms.append(t)
        terms = terms[: self.params.max_terms]
        if any(t.from_pinyin for t in terms):
            self._pick_jointly(terms)
        return terms

    def _analyse_term(self, s: str) -> QueryTerm:
        t = QueryTerm(s)
        df = self._phrase_df(s) if st.is_cjk(s) and len(s) >= 2 else None
        if df is None:
            feats = self._term_features(s)
            df = max((self._df(f[0]) for f in feats if f[0] >= 0), default=0) if feats else 0
        t.alts.append((s, 1.0 if df else 0.0))
        p = self.params
        for v, vdf in self._typo_variants(s):
            w = vdf / (vdf + df + 0.5)
            if w > 0.05:
                # a low-weight variant of a term that is itself common adds at most w * coord
                # points, but scoring it means walking its (huge, at 1M docs) posting lists:
                # skip it when it is that expensive (never happens on small corpora)
                if w < p.typo_big_min_weight and self._alt_postings(v) > p.typo_big_postings:
                    continue
                t.alts.append((v, w))
        if p.pinyin and st.is_cjk(s) and len(s) >= 2 and df <= p.py_rare_df:
            have = {a for a, _ in t.alts}
            for v, vdf, trust in self._sound_order_variants(s, df):
                w = trust * vdf / (vdf + df + 0.5)
                if v not in have and w > 0.05:
                    t.alts.append((v, w))
        if self.params.abbrev_weight > 0:
            have = {a for a, _ in t.alts}
            for v in self._compound_variants(s):
                if v not in have:
                    t.alts.append((v, self.params.abbrev_weight))
        best = max(t.alts[1:], key=lambda a: a[1], default=None)
        # offered when the typed term is not in the corpus at all, or far rarer than the variant
        if best is not None and (best[1] >= p.correct_min_weight or (df == 0 and best[1] > 0.3)):
            t.correction = best[0]
        return t

    def _pinyin_group(self, raw: list[str], i: int) -> tuple[int, tuple[str, ...], str] | None:
        """(next index, syllables, surface) when ``raw[i]`` starts pinyin input: one ASCII term of
        two or more syllables, or a run of one-syllable terms (``jue jin ji``); else None."""
        syls = parse_pinyin(raw[i])
        if syls is None:
            return None
        if len(syls) >= 2:
            return i + 1, syls, raw[i]
        j = i + 1
        out = list(syls)
        while j < len(raw):
            more = parse_pinyin(raw[j])
            if more is None or len(more) != 1:
                break
            out.extend(more)
            j += 1
        if len(out) < 2:
            return None
        return j, tuple(out), " ".join(raw[i:j])

    def _analyse_pinyin(self, surface: str, spelled: list[tuple[str, int]]) -> QueryTerm:
        """A term typed as pinyin: its corpus spellings (``spelled``, best first), weighted below
        the ASCII term itself when that is a word of the corpus too."""
        p = self.params
        t = self._analyse_term(surface) if " " not in surface else QueryTerm(surface)
        if " " in surface:
            t.alts.append((surface, 0.0))
        df = self._df(self._vocab.get("w" + surface)) if " " not in surface else 0
        if spelled:
            top = spelled[0][1]
            for v, vdf in spelled:
                t.alts.append((v, p.py_input_trust * vdf / (top + df + 0.5)))
            t.from_pinyin = True
            if t.alts[-len(spelled)][1] >= p.correct_min_weight or df == 0:
                t.correction = spelled[0][0]
        if all(w == 0.0 for _, w in t.alts):
            t.alts[0] = (surface, 1.0)
        return t

    def _pick_jointly(self, terms: list[QueryTerm]) -> None:
        """A pinyin term spells several corpus strings (zhengji: 正极, 整机); keep the combination of
        spellings that occur together most often, the others weighted down."""
        choices = [[a for a in t.alts if a[1] > 0 and st.is_cjk(a[0])] if t.from_pinyin else [] for t in terms]
        fixed = [max(t.alts, key=lambda a: a[1])[0] for t in terms]
        ambiguous = [k for k, c in enumerate(choices) if len(c) > 1][:3]
        if not ambiguous or len(terms) < 2:
            return
        import itertools
        best, best_n = None, 0
        for combo in itertools.product(*(choices[k] for k in ambiguous)):
            strings = list(fixed)
            for k, (v, _) in zip(ambiguous, combo):
                strings[k] = v
            tids = []
            for v in strings:
                feats = self._term_features(v)
                tids += [tid for tid, _, req in feats if req]
            if any(tid < 0 for tid in tids) or not tids:
                continue
            docs = self._and_docs(tids)
            n = int(self._alive[docs].sum()) if len(docs) else 0
            if n > best_n:
                best, best_n = combo, n
        if best is None:
            return
        for k, (v, w) in zip(ambiguous, best):
            t = terms[k]
            top = max(a[1] for a in t.alts)
            t.alts = [(a, top if a == v else aw * 0.3) for a, aw in t.alts]
            if t.correction is not None:
                t.correction = v

    def _correction(self, terms: list[QueryTerm]) -> str | None:
        """The query with each term replaced by its strong variant, when any term has one."""
        if not any(t.correction for t in terms):
            return None
        return " ".join(t.correction or t.surface for t in terms)

    def _alt_postings(self, s: str) -> int:
        """Number of postings scoring alternative ``s`` walks."""
        return sum(self._df(tid) for tid, _, _ in self._term_features(s) if tid >= 0)

    def _compound_variants(self, s: str) -> list[str]:
        """Compound / abbreviation variants found in the corpus: two characters inserted at one
        place (锂电池 -> 锂离子电池) or two inner characters deleted (锂离子电池 -> 锂电池)."""
        if not st.is_cjk(s) or len(s) < 3 or len(s) > 10:
            return []
        nxt, prv = self._char_maps()
        cands: set[str] = set()
        for i in range(1, len(s) - 1):
            for j in range(i + 1, len(s) - 1):
                v = s[:i] + s[i + 1:j] + s[j + 1:]
                if len(v) >= 2:
                    cands.add(v)
        mask21 = (1 << 21) - 1
        for i in range(1, len(s)):
            a, b = s[i - 1], s[i]
            c1s = nxt.get(a, "")
            if not c1s or not len(self._tri):
                continue
            # 4-gram "a c1 c2 b": (c1 ? b) must be a corpus trigram (its middle is c2) ...
            c1v = np.frombuffer(c1s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
            base = (c1v << np.uint64(42)) | np.uint64(ord(b) << 21)
            lo = np.searchsorted(self._tri, base, "left")
            hi = np.searchsorted(self._tri, base | np.uint64(mask21), "right")
            pairs = []
            for c1, l, h in zip(c1s, lo.tolist(), hi.tolist()):
                if h > l:
                    pairs += [(c1, code & mask21) for code in self._tri[l:min(h, l + 64)].tolist()]
            if not pairs:
                continue
            # ... and so must (a ? c2) with middle c1
            tcodes = np.asarray([(ord(a) << 42) | (c2 << 21) | ord(c1) for c1, c2 in pairs], dtype=np.uint64)
            j = np.searchsorted(self._tri, tcodes)
            j[j >= len(self._tri)] = 0
            ok = self._tri[j] == tcodes
            for (c1, c2), good in zip(pairs, ok.tolist()):
                if good:
                    cands.add(s[:i] + c1 + chr(c2) + s[i:])
        scored = []
        for v in cands:
            ub = min((self._df(self._vocab.get("b" + bg)) for bg in st.bigrams(v)), default=0)
            if ub:
                scored.append((ub, v))
        p = self.params
        return [v for v, _ in self._most_frequent(scored, 3 * p.abbrev_max_variants, p.abbrev_max_variants)]

    def _char_maps(self) -> tuple[dict[str, str], dict[str, str]]:
        """next/previous CJK characters seen after/before each character (from the bigram vocab)."""
        cm = getattr(self, "_cm", None)
        if cm is None or cm[0] != len(self._indptr):
            nxt: dict[str, set] = {}
            prv: dict[str, set] = {}
            for t in self._terms[: len(self._indptr) - 1]:
                if t[0] == "b":
                    nxt.setdefault(t[1], set()).add(t[2])
                    prv.setdefault(t[2], set()).add(t[1])
            cm = (len(self._indptr), {k: "".join(sorted(v)) for k, v in nxt.items()},
                  {k: "".join(sorted(v)) for k, v in prv.items()})
            self._cm = cm
        return cm[1], cm[2]

    def _suggest(self, terms: list[QueryTerm]) -> tuple[str, ...]:
        out = []
        for t in terms:
            for s, w in t.alts[1:]:
                if s not in out:
                    out.append(s)
        return tuple(out[:5])
