"""Patent search engine: pure Python + numpy, no database or Telegram imports.

The lead's code loads patents from the DB, wraps them in :class:`SearchDoc` and calls
``SearchIndex.build(docs)`` at startup (or ``SearchIndex.load_or_build(path, docs)`` to use the
on-disk cache), then ``index.search(query, limit=..., offset=..., allowed_ids=...)``.  ``allowed_ids`` may be any
Container[str] (a set is fine); for a filter reused across many queries at large scale, pass
``index.id_filter(ids)`` (a cached numpy mask).  ``highlight_spans(text, hit.matched_terms)`` gives
the <b> spans for the UI.  Keep the index current with ``upsert(doc)`` / ``remove(id)``.

Design (see benchmarks/README.md for numbers):

* analysis: NFKC + lowercase; CJK runs -> jieba search-mode words + character bigrams (+ unigrams);
  ASCII alnum runs -> tokens.  Analysis is cached per sentence.
* scoring: BM25F (title > abstract > claims) with impacts precomputed per posting, postings kept in
  numpy CSR arrays (int32 doc numbers, float16 saturated tf); idf is computed at query time.
* query: split into user terms (whitespace / punctuation); every term may get *typo variants*
  (one character inserted, found through a corpus trigram table: "掘机" -> "掘进机") weighted by
  how much more frequent the variant is; docs are ranked by the number of terms matched
  (AND first, then OR) and then by BM25F; exact pub_no hits come first.
* only the documents in the union of the query's postings are scored (``_score_sparse``: local
  arrays, no per-query arrays of corpus length), unless every document can get a score (the LSA
  cosine, only built up to ``sem_max_docs``); that path (``_score_dense``) gives the same scores.
  Low-weight typo variants of a common term are skipped when scoring them would walk huge
  posting lists (``typo_big_postings``; never on small corpora).
* pseudo-relevance feedback / RM3 (off by default: no gain on the dev split).
* incremental upsert/remove: a small in-memory delta segment + tombstones, merged automatically.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import zipfile
from collections import Counter
from collections.abc import Container, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.search import text as st
from bot.search.semantic import Semantic

__all__ = ["SearchDoc", "SearchHit", "SearchResult", "SearchIndex", "StaleIndexError", "IdFilter",
           "highlight_spans", "normalize"]

normalize = st.normalize

ENGINE_VERSION = "1"

FIELDS = ("title", "abstract", "claims")
_POSMAP_MIN_CAND = 4096     # sparse scoring: above this many candidates, map doc -> slot densely


@dataclass(frozen=True)
class SearchDoc:
    id: str
    title: str = ""
    abstract: str = ""
    claims: str = ""
    pub_no: str | None = None


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float
    matched_terms: tuple[str, ...]


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    total: int
    terms: tuple[str, ...]
    suggestions: tuple[str, ...]


class StaleIndexError(ValueError):
    """The on-disk index cache does not match the expected fingerprint / engine version."""


@dataclass
class Params:
    k1: float = 1.2
    field_weights: tuple[float, float, float] = (3.0, 1.0, 0.4)
    field_b: tuple[float, float, float] = (0.5, 0.75, 0.75)
    w_word: float = 1.0          # query weight of jieba word features
    w_bigram: float = 0.6        # query weight of bigram features
    w_unigram: float = 0.5       # query weight of unigram features (1-char terms only)
    coord: float = 30.0          # bonus per fully matched user term (AND first, then OR)
    typo_min_len: int = 2
    typo_max_variants: int = 3
    typo_big_postings: int = 200_000   # a variant walking more postings than this ...
    typo_big_min_weight: float = 0.15  # ... is dropped when its weight is below this
    abbrev_weight: float = 0.0   # compound variants (锂电池 <-> 锂离子电池): same first/last char,
    abbrev_max_variants: int = 4 # query chars in order, 2 chars more or fewer; 0 = off
    max_terms: int = 8
    max_query_chars: int = 200
    semantic: bool = True        # corpus-trained LSA space + pseudo-relevance feedback
    sem_dim: int = 128
    sem_fit_docs: int = 12_000   # SVD fitted on a deterministic sample this big, all docs folded in
    sem_weight: float = 4.0      # weight of the (PRF-expanded) latent cosine
    sem_floor: float = 0.5       # cosine below this adds nothing (and never makes a doc a hit)
    sem_max_docs: int = 300_000  # above this the LSA space is skipped at build (memory/time)
    prf_docs: int = 5            # top lexical docs whose centroid expands the query
    prf_weight: float = 0.0      # (tuned on the dev split: PRF/RM3 did not help there; kept switchable)
    rm3_docs: int = 10           # RM3: feedback docs ...
    rm3_terms: int = 10          # ... expansion words taken from them ...
    rm3_weight: float = 0.0      # ... and their weight relative to the query's own words


def _fingerprint_doc(d: SearchDoc) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in (d.id, d.title or "", d.abstract or "", d.claims or "", d.pub_no or ""):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.digest()


def _pubno_keys(pub_no: str | None) -> list[str]:
    """Normalised lookup keys of a publication number: full and without the kind code."""
    p = st.normalize(pub_no or "").replace(" ", "")
    if not p:
        return []
    keys = [p]
    stripped = p.rstrip("0123456789")
    if stripped and stripped[-1].isalpha() and stripped[:-1] and stripped[:-1][-1].isdigit():
        keys.append(stripped[:-1])          # cn113914863a -> cn113914863
    return keys


def _trigram_array(text: str) -> np.ndarray:
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


class _Term:
    """One analysed user term with its alternatives (the term itself + typo variants)."""

    __slots__ = ("surface", "alts")

    def __init__(self, surface: str):
        self.surface = surface
        self.alts: list[tuple[str, float]] = []   # (string, weight)


def _take_alt(best_s: np.ndarray | None, best_m: np.ndarray, score: np.ndarray, matched: np.ndarray,
              weight: float, coord: float) -> np.ndarray:
    """Fold one variant of a query term into the term's best score (max over variants, weighted) and
    its match bonus; both scoring paths (dense and sparse) use it. Returns the new best score."""
    if weight != 1.0:
        score *= np.float32(weight)
    if best_s is None:
        best_s = score
    else:
        np.maximum(best_s, score, out=best_s)
    np.maximum(best_m, np.float32(weight * coord), out=best_m, where=matched)
    return best_s


class SearchIndex:
    # ------------------------------------------------------------------ construction
    def __init__(self, params: Params | None = None):
        self.params = params or Params()
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        # main CSR segment
        self._indptr = np.zeros(1, dtype=np.int64)
        self._pdoc = np.zeros(0, dtype=np.int32)
        self._psat = np.zeros(0, dtype=np.float16)
        # delta segment: term id -> ([docnums], [sat])
        self._delta: dict[int, tuple[list[int], list[float]]] = {}
        self._delta_docs = 0
        # documents
        self._ids: list[str] = []
        self._id2num: dict[str, int] = {}
        self._alive = np.zeros(0, dtype=bool)
        self._n_alive = 0
        self._pubno: dict[str, int] = {}
        self._pub_more: dict[str, list[int]] = {}   # key -> later docs sharing it (rare)
        self._doc_pubkeys: list[list[str]] = []
        self._doc_fp: list[bytes] = []
        self._avglen = np.ones(3, dtype=np.float64)
        # trigram table "a c b" -> (a,b) lookup for typo variants: sorted uint64 codes
        self._tri = np.zeros(0, dtype=np.uint64)
        self._tri_delta: dict[int, set[int]] = {}    # (a<<21|b) -> middle chars, from upserts
        self._sem: Semantic | None = None
        self._fwd = None            # lazily built doc -> word-feature matrix (RM3 feedback)
        self._exhaustive = False    # True: score every doc even when postings suffice (tests)

    def __len__(self) -> int:
        return self._n_alive

    @classmethod
    def build(cls, docs: Iterable[SearchDoc], params: Params | None = None) -> "SearchIndex":
        self = cls(params)
        self._build(docs)
        return self

    # -- per-document analysis ------------------------------------------------
    def _field_features(self, text: str, words: bool = True) -> tuple[Counter, int, str]:
        norm = st.normalize(text)
        c: Counter = Counter()
        for seg in st.segments(norm):
            for k, v in st.analyze_segment(seg, words):
                c[k] += v
        return c, len(text or ""), norm

    def _analyze_doc(self, d: SearchDoc) -> tuple[list[Counter], list[int], list[str]]:
        feats, lens, norms = [], [], []
        for f in FIELDS:
            c, n, norm = self._field_features(getattr(d, f) or "", f != "claims")
            feats.append(c)
            lens.append(n)
            norms.append(norm)
        return feats, lens, norms

    def _sat_for_doc(self, feats: list[Counter], lens: list[int]) -> dict[str, float]:
        p = self.params
        tfw: dict[str, float] = {}
        for fi in range(3):
            if not feats[fi]:
                continue
            norm = p.field_weights[fi] / (1.0 - p.field_b[fi] + p.field_b[fi] * lens[fi] / self._avglen[fi])
            for k, v in feats[fi].items():
                tfw[k] = tfw.get(k, 0.0) + v * norm
        k1 = p.k1
        return {k: t * (k1 + 1.0) / (t + k1) for k, t in tfw.items()}

    def _term_id(self, key: str) -> int:
        tid = self._vocab.get(key)
        if tid is None:
            tid = len(self._terms)
            self._vocab[key] = tid
            self._terms.append(key)
        return tid

    @staticmethod
    def _trigram_codes(norm_texts: Iterable[str]) -> set[int]:
        out: set[int] = set()
        for t in norm_texts:
            for m in st.CJK_RUN_RE.finditer(t):
                s = m.group()
                for i in range(len(s) - 2):
                    out.add((ord(s[i]) << 42) | (ord(s[i + 2]) << 21) | ord(s[i + 1]))
        return out

    def _build(self, docs: Iterable[SearchDoc], chunk_docs: int = 20_000) -> None:
        """Vectorised build: per-sentence feature-id arrays (cached), BM25F per chunk of docs with
        numpy, then a counting-sort merge of the chunks into the CSR arrays."""
        docs = [d for d in docs if isinstance(d, SearchDoc) and d.id]
        last = {d.id: i for i, d in enumerate(docs)}
        docs = [d for i, d in enumerate(docs) if last[d.id] == i]          # last one wins
        n = len(docs)
        p = self.params
        lens = np.zeros((n, 3), dtype=np.float32)
        for i, d in enumerate(docs):
            self._register_doc(d, i)
            lens[i] = (len(d.title or ""), len(d.abstract or ""), len(d.claims or ""))
        if n:
            self._avglen = np.maximum(lens.mean(axis=0).astype(np.float64), 1.0)
        fw = np.asarray(p.field_weights, dtype=np.float32)
        fb = np.asarray(p.field_b, dtype=np.float32)
        fnorm = fw / (1.0 - fb + fb * lens / self._avglen.astype(np.float32))     # (n, 3)
        seg_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        empty = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
        analyze = st.analyze_segment.__wrapped__
        term_id = self._term_id
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        tri_parts: list[np.ndarray] = []
        for start in range(0, n, chunk_docs):
            stop = min(n, start + chunk_docs)
            arr_t, arr_c, owner, sizes = [], [], [], []
            new_segs: list[str] = []
            for i in range(start, stop):
                d = docs[i]
                for f in range(3):
                    text = getattr(d, FIELDS[f])
                    if not text:
                        continue
                    words = f != 2
                    for seg in st.segments(st.normalize(text)):
                        key = seg if words else "\x00" + seg
                        e = seg_cache.get(key)
                        if e is None:
                            feats = analyze(seg, words)
                            e = (np.fromiter((term_id(k) for k, _ in feats), dtype=np.int32, count=len(feats)),
                                 np.fromiter((v for _, v in feats), dtype=np.float32, count=len(feats))) \
                                if feats else empty
                            if len(seg_cache) > 2_000_000:
                                seg_cache.clear()
                            seg_cache[key] = e
                            if words:
                                new_segs.append(seg)
                        arr_t.append(e[0])
                        arr_c.append(e[1])
                        owner.append(i * 3 + f)
                        sizes.append(len(e[0]))
            if new_segs:
                tri_parts.append(_trigram_array("\n".join(new_segs)))
            if not arr_t:
                continue
            t = np.concatenate(arr_t).astype(np.int64)
            c = np.concatenate(arr_c)
            own = np.repeat(np.asarray(owner, dtype=np.int64), sizes)
            doc = own // 3
            tfw = c * fnorm[doc, own % 3]
            key = t * (stop - start) + (doc - start)
            order = np.argsort(key, kind="stable")
            key, tfw = key[order], tfw[order]
            first = np.ones(len(key), dtype=bool)
            first[1:] = key[1:] != key[:-1]
            starts = np.nonzero(first)[0]
            tf = np.add.reduceat(tfw, starts)
            ukey = key[starts]
            sat = tf * (p.k1 + 1.0) / (tf + p.k1)
            out.append(((ukey // (stop - start)).astype(np.int32), (ukey % (stop - start) + start).astype(np.int32),
                        sat.astype(np.float16)))
        # merge chunks (each sorted by term then doc; chunks in doc order) by counting sort
        v = len(self._terms)
        counts = np.zeros(v, dtype=np.int64)
        for t, _, _ in out:
            counts += np.bincount(t, minlength=v)
        indptr = np.zeros(v + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        pdoc = np.empty(int(indptr[-1]), dtype=np.int32)
        psat = np.empty(int(indptr[-1]), dtype=np.float16)
        cursor = indptr[:-1].copy()
        while out:
            t, d_, s_ = out.pop(0)
            first = np.ones(len(t), dtype=bool)
            first[1:] = t[1:] != t[:-1]
            gstart = np.nonzero(first)[0]
            glen = np.diff(np.append(gstart, len(t)))
            within = np.arange(len(t)) - np.repeat(gstart, glen)
            dest = cursor[t] + within
            pdoc[dest] = d_
            psat[dest] = s_
            cursor[t[gstart]] += glen
        self._indptr, self._pdoc, self._psat = indptr, pdoc, psat
        self._fwd = None
        self._delta = {}
        self._delta_docs = 0
        self._alive = np.ones(n, dtype=bool)
        self._n_alive = n
        self._tri = np.unique(np.concatenate(tri_parts)) if tri_parts else np.zeros(0, dtype=np.uint64)
        if n <= p.sem_max_docs:
            self._fit_semantic()
        self._char_maps()

    def _fit_semantic(self) -> None:
        self._sem = None
        if self.params.semantic:
            self._sem = Semantic.fit(self._indptr, self._pdoc, self._psat, self._terms, len(self._ids),
                                     k=self.params.sem_dim, max_fit_docs=self.params.sem_fit_docs)

    def _set_main_csr(self, t: np.ndarray, d: np.ndarray, s: np.ndarray) -> None:
        order = np.lexsort((d, t))
        t, d, s = t[order], d[order], s[order]
        v = len(self._terms)
        counts = np.bincount(t, minlength=v) if len(t) else np.zeros(v, dtype=np.int64)
        self._indptr = np.zeros(v + 1, dtype=np.int64)
        np.cumsum(counts, out=self._indptr[1:])
        self._pdoc = d.astype(np.int32, copy=False)
        self._psat = s.astype(np.float16)
        self._fwd = None
        self._delta = {}
        self._delta_docs = 0

    def _register_doc(self, d: SearchDoc, num: int) -> None:
        if num == len(self._ids):
            self._ids.append(d.id)
            self._doc_pubkeys.append([])
            self._doc_fp.append(b"")
        self._ids[num] = d.id
        self._id2num[d.id] = num
        keys = _pubno_keys(d.pub_no)
        self._doc_pubkeys[num] = keys
        for k in keys:
            self._add_pubkey(k, num)
        self._doc_fp[num] = _fingerprint_doc(d)

    def _add_pubkey(self, k: str, num: int) -> None:
        first = self._pubno.setdefault(k, num)
        if first != num:
            self._pub_more.setdefault(k, []).append(num)

    # ------------------------------------------------------------------ incremental updates
    def upsert(self, doc: SearchDoc) -> None:
        if not isinstance(doc, SearchDoc) or not doc.id:
            raise ValueError("upsert needs a SearchDoc with a non-empty id")
        old = self._id2num.get(doc.id)
        if old is not None and self._alive[old] and self._doc_fp[old] == _fingerprint_doc(doc):
            return                                             # unchanged
        if old is not None:
            self._kill(old)
        feats, lens, norms = self._analyze_doc(doc)
        num = len(self._ids)
        self._register_doc(doc, num)
        if len(self._alive) <= num:
            grown = np.zeros(max(16, 2 * len(self._alive)), dtype=bool)
            grown[: len(self._alive)] = self._alive
            self._alive = grown
        self._alive[num] = True
        self._n_alive += 1
        qf = []
        for k, s in self._sat_for_doc(feats, lens).items():
            tid = self._term_id(k)
            ds, ss = self._delta.setdefault(tid, ([], []))
            ds.append(num)
            ss.append(s)
            qf.append((tid, s))
        if self._sem is not None:
            self._sem.add_doc(self._sem.fold_in([(t, s * self._idf(self._df(t))) for t, s in qf]))
        self._delta_docs += 1
        for code in self._trigram_codes(norms[:2]):
            self._tri_delta.setdefault(code >> 21, set()).add(code & ((1 << 21) - 1))
        if self._delta_docs > max(2000, len(self._ids) // 10):
            self.compact()

    def remove(self, doc_id: str) -> None:
        num = self._id2num.get(doc_id)
        if num is not None and self._alive[num]:
            self._kill(num)

    def _kill(self, num: int) -> None:
        self._alive[num] = False
        self._n_alive -= 1
        d_id = self._ids[num]
        if self._id2num.get(d_id) == num:
            del self._id2num[d_id]
        for k in self._doc_pubkeys[num]:
            if self._pubno.get(k) == num:
                del self._pubno[k]
                # another live doc may share the key: the first one registered
                for other in sorted(self._pub_more.get(k, ())):
                    if other != num and other < len(self._alive) and self._alive[other] \
                            and k in self._doc_pubkeys[other]:
                        self._pubno[k] = other
                        break

    def compact(self) -> None:
        """Merge the delta segment into the CSR arrays and drop removed documents.
        Works in blocks of terms so the peak extra memory is ~ one copy of the postings."""
        n_docs = len(self._ids)
        alive = self._alive[:n_docs]
        live = np.nonzero(alive)[0]
        remap = np.full(n_docs, -1, dtype=np.int32)
        remap[live] = np.arange(len(live), dtype=np.int32)
        v_main = len(self._indptr) - 1
        v = len(self._terms)
        delta_tids = sorted(self._delta)
        counts = np.zeros(v, dtype=np.int64)
        out_d: list[np.ndarray] = []
        out_s: list[np.ndarray] = []
        block = 4_000_000
        t0 = 0
        di = 0
        while t0 < v:
            if t0 < v_main:
                t1 = int(np.searchsorted(self._indptr, self._indptr[t0] + block, "right")) - 1
                t1 = min(max(t1, t0 + 1), v_main)
            else:
                t1 = v
            if t0 < v_main:
                a, b = self._indptr[t0], self._indptr[t1]
                tl = np.repeat(np.arange(t0, t1, dtype=np.int32), np.diff(self._indptr[t0:t1 + 1]))
                dl, sl = self._pdoc[a:b], self._psat[a:b]
            else:
                tl = np.zeros(0, dtype=np.int32)
                dl, sl = self._pdoc[:0], self._psat[:0]
            ext_t, ext_d, ext_s = [tl], [dl], [sl]
            while di < len(delta_tids) and delta_tids[di] < t1:
                tid = delta_tids[di]
                ds, ss = self._delta[tid]
                ext_t.append(np.full(len(ds), tid, dtype=np.int32))
                ext_d.append(np.asarray(ds, dtype=np.int32))
                ext_s.append(np.asarray(ss, dtype=np.float16))
                di += 1
            if len(ext_t) > 1:
                tl, dl, sl = np.concatenate(ext_t), np.concatenate(ext_d), np.concatenate(ext_s)
                order = np.argsort(tl, kind="stable")       # delta docs are newer -> already after main
                tl, dl, sl = tl[order], dl[order], sl[order]
            keep = alive[dl]
            tl, dl, sl = tl[keep], remap[dl[keep]], sl[keep]
            counts[t0:t1] = np.bincount(tl - t0, minlength=t1 - t0) if len(tl) else 0
            out_d.append(dl)
            out_s.append(sl)
            t0 = t1
        self._indptr = np.zeros(v + 1, dtype=np.int64)
        np.cumsum(counts, out=self._indptr[1:])
        self._pdoc = np.concatenate(out_d) if out_d else np.zeros(0, dtype=np.int32)
        del out_d
        self._psat = np.concatenate(out_s) if out_s else np.zeros(0, dtype=np.float16)
        del out_s
        self._delta = {}
        self._delta_docs = 0
        self._fwd = None
        self._ids = [self._ids[i] for i in live]
        self._doc_pubkeys = [self._doc_pubkeys[i] for i in live]
        self._doc_fp = [self._doc_fp[i] for i in live]
        self._id2num = {x: i for i, x in enumerate(self._ids)}
        self._pubno = {}
        self._pub_more = {}
        for i, keys in enumerate(self._doc_pubkeys):
            for k in keys:
                self._add_pubkey(k, i)
        self._alive = np.ones(len(live), dtype=bool)
        self._n_alive = len(live)
        if self._sem is not None:
            self._sem.doc_vecs = self._sem.doc_vecs[live]
        if self._tri_delta:
            codes = [(ab << 21) | c for ab, mids in self._tri_delta.items() for c in mids]
            self._tri = np.union1d(self._tri, np.asarray(codes, dtype=np.uint64))
            self._tri_delta = {}

    # ------------------------------------------------------------------ postings
    def _postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        if tid < len(self._indptr) - 1:
            a, b = self._indptr[tid], self._indptr[tid + 1]
            d, s = self._pdoc[a:b], self._psat[a:b]
        else:
            d, s = self._pdoc[:0], self._psat[:0]
        extra = self._delta.get(tid)
        if extra:
            d = np.concatenate([d, np.asarray(extra[0], dtype=np.int32)])
            s = np.concatenate([s, np.asarray(extra[1], dtype=np.float16)])
        return d, s

    def _df(self, tid: int | None) -> int:
        if tid is None:
            return 0
        n = 0
        if tid < len(self._indptr) - 1:
            n = int(self._indptr[tid + 1] - self._indptr[tid])
        extra = self._delta.get(tid)
        return n + (len(extra[0]) if extra else 0)

    def _idf(self, df: int) -> float:
        n = max(self._n_alive, 1)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    # ------------------------------------------------------------------ query analysis
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
        cands.sort(key=lambda x: (-x[0], x[1]))
        out = []
        for _, v in cands[: 4 * self.params.typo_max_variants]:
            df = self._phrase_df(v)
            if df:
                out.append((v, df))
        out.sort(key=lambda x: (-x[1], x[0]))
        return out[: self.params.typo_max_variants]

    def _and_docs(self, tids: list[int]) -> np.ndarray:
        """Docs (numbers) in all postings of tids: rarest list first, then binary-search filtering."""
        tids = sorted(set(tids), key=self._df)
        docs = self._postings(tids[0])[0]
        for t in tids[1:]:
            if not len(docs):
                break
            post = self._postings(t)[0]
            pos = np.searchsorted(post, docs)
            pos[pos >= len(post)] = 0
            docs = docs[post[pos] == docs] if len(post) else docs[:0]
        return docs

    def _phrase_df(self, s: str) -> int:
        """Approximate number of live docs containing string s (AND of its bigrams)."""
        tids = [self._vocab.get("b" + bg) for bg in dict.fromkeys(st.bigrams(s))]
        if not tids or any(t is None for t in tids):
            return 0
        docs = self._and_docs(tids)
        return int(self._alive[docs].sum()) if len(docs) else 0

    def _analyse(self, q: str) -> list[_Term]:
        terms: list[_Term] = []
        for s in self._split_query(q):
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
        return terms[: self.params.max_terms]

    def _analyse_term(self, s: str) -> _Term:
        t = _Term(s)
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
        if self.params.abbrev_weight > 0:
            have = {a for a, _ in t.alts}
            for v in self._compound_variants(s):
                if v not in have:
                    t.alts.append((v, self.params.abbrev_weight))
        return t

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
        scored.sort(key=lambda x: (-x[0], x[1]))
        out = []
        for _, v in scored[: 3 * self.params.abbrev_max_variants]:
            df = self._phrase_df(v)
            if df:
                out.append((df, v))
        out.sort(key=lambda x: (-x[0], x[1]))
        return [v for _, v in out[: self.params.abbrev_max_variants]]

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

    def _feature_scores(self, tid: int, n: int, cache: dict) -> np.ndarray | None:
        """Dense per-doc idf * saturated-tf array (float32) of one feature, cached for the query."""
        arr = cache.get(tid)
        if arr is None and tid not in cache:
            d, sat = self._postings(tid)
            if len(d):
                arr = np.bincount(d, weights=sat, minlength=n)[:n].astype(np.float32)
                arr *= np.float32(self._idf(self._df(tid)))
            cache[tid] = arr
        return arr

    def _score_alt(self, s: str, n: int, cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """BM25F score array (float32, a fresh array) and 'fully matched' bool array for one
        alternative string."""
        cache = {} if cache is None else cache
        score = np.zeros(n, dtype=np.float32)
        feats = self._term_features(s)
        need = 0
        matched_cnt = np.zeros(n, dtype=np.int8)
        missing = False
        for tid, qw, req in feats:
            need += req
            arr = self._feature_scores(tid, n, cache) if tid >= 0 else None
            if arr is None:
                missing = missing or req
                continue
            if qw == 1.0:
                score += arr
            else:
                score += arr * np.float32(qw)
            if req and not missing:
                matched_cnt += arr > 0
        if missing or not need:
            matched = np.zeros(n, dtype=bool)
        else:
            matched = matched_cnt >= min(need, 127)
        return score, matched

    def search(self, query: str, *, limit: int = 10, offset: int = 0,
               allowed_ids: Container[str] | None = None) -> SearchResult:
        try:
            return self._search(query, limit, offset, allowed_ids)
        except Exception:  # pragma: no cover - last line of defence: a query must never raise
            import logging
            logging.getLogger(__name__).exception("search failed for %r", query[:200] if isinstance(query, str) else query)
            return SearchResult([], 0, (), ())

    def _search(self, query, limit, offset, allowed_ids) -> SearchResult:
        if not isinstance(query, str):
            query = "" if query is None else str(query)
        limit = max(0, int(limit))
        offset = max(0, int(offset))
        q = st.normalize(query[:20000])
        n = len(self._ids)
        terms = self._analyse(q)
        term_strings = tuple(t.surface for t in terms)
        if n == 0 or self._n_alive == 0:
            return SearchResult([], 0, term_strings, ())

        # exact publication-number hits first
        pub_hits: list[int] = []
        pub_surface: dict[int, str] = {}
        for cand_no in st.pubno_candidates(q[:1000]):
            for k in _pubno_keys(cand_no):
                num = self._pubno.get(k)
                if num is not None and num not in pub_hits:
                    pub_hits.append(num)
                    pub_surface[num] = cand_no
                    break
        if self._dense_needed():
            cand, total_score, per_term_best = self._score_dense(terms, n)
        else:
            cand, total_score, per_term_best = self._score_sparse(terms, n, pub_hits)
        if pub_hits:
            top = total_score.max() if len(total_score) else 0.0
            at = np.searchsorted(cand, np.asarray(pub_hits, dtype=cand.dtype))
            for r, i in enumerate(at.tolist()):
                total_score[i] = top + 1e6 * (len(pub_hits) - r)

        mask = (total_score > 0) & self._alive[cand]
        if allowed_ids is not None:
            if isinstance(allowed_ids, IdFilter) and allowed_ids._index is self:
                mask &= allowed_ids._mask(n)[cand]
            else:
                dense = np.zeros(n, dtype=bool)
                dense[cand[mask]] = True
                mask &= self._allowed_mask(allowed_ids, dense)[cand]
        local = np.nonzero(mask)[0]
        total = len(local)
        k = offset + limit
        if k == 0 or offset >= total:
            return SearchResult([], total, term_strings, self._suggest(terms) if total == 0 else ())
        sc = total_score[local]
        if total > k and total > 2048:
            kth = np.partition(-sc, k - 1)[k - 1]
            sel = -sc <= kth
            local, sc = local[sel], sc[sel]
        order = np.lexsort((cand[local], -sc))[offset:k]
        hits = []
        for i in order:
            li = int(local[i])
            num = int(cand[li])
            matched = []
            for which in per_term_best:
                for m, s in which:
                    if m[li] > 0:
                        matched.append(s)
                        break
            if num in pub_surface:
                matched.insert(0, pub_surface[num])
            hits.append(SearchHit(self._ids[num], float(sc[i]), tuple(dict.fromkeys(matched))))
        suggestions = self._suggest(terms) if not any(h.matched_terms for h in hits) else ()
        return SearchResult(hits, total, term_strings, suggestions)

    def _dense_needed(self) -> bool:
        """Whole-corpus score arrays are needed when every doc may get a non-lexical score
        (the LSA cosine) or for RM3; otherwise only the docs in the query's postings are scored."""
        p = self.params
        if self._exhaustive:
            return True
        return (self._sem is not None and p.sem_weight > 0) or (p.rm3_weight > 0 and p.rm3_terms > 0)

    def _score_dense(self, terms: list[_Term], n: int):
        """Exhaustive scoring: (all doc numbers, score per doc, per-term [(matched mask, alt)])."""
        p = self.params
        total_score = np.zeros(n, dtype=np.float32)
        per_term_best: list[list[tuple[np.ndarray, str]]] = []
        fcache: dict = {}
        for t in terms:
            best_s = None
            best_m = np.zeros(n, dtype=np.float32)
            which = []
            for s, w in t.alts:
                if w <= 0:
                    continue
                sc, m = self._score_alt(s, n, fcache)
                best_s = _take_alt(best_s, best_m, sc, m, w, p.coord)
                which.append((m, s))
            if best_s is not None:
                total_score += best_s
                total_score += best_m
            per_term_best.append(which)

        if p.rm3_weight > 0 and p.rm3_terms > 0 and terms:
            self._add_rm3(terms, total_score, n)
        if self._sem is not None and p.sem_weight > 0 and terms:
            self._add_semantic(terms, total_score, n)
        return np.arange(n, dtype=np.int64), total_score, per_term_best

    def _score_sparse(self, terms: list[_Term], n: int, extra_docs: list[int]):
        """Same scores as :meth:`_score_dense` (bit for bit: the same float32 operations in the
        same order per doc), computed only for the docs in the union of the query's postings
        (the only docs with a non-zero lexical score) -- no per-query arrays of corpus length
        except one bool marker for large unions."""
        p = self.params
        plan = []
        tids: dict[int, None] = {}
        for t in terms:
            alts = []
            for s, w in t.alts:
                if w <= 0:
                    continue
                feats = self._term_features(s)
                alts.append((s, w, feats))
                for tid, _, _ in feats:
                    if tid >= 0:
                        tids[tid] = None
            plan.append(alts)
        posts = {}
        size = 0
        for tid in tids:
            d, sat = self._postings(tid)
            if len(d):
                posts[tid] = (d, sat)
                size += len(d)
        lists = [d for d, _ in posts.values()]
        if extra_docs:
            lists.append(np.unique(np.asarray(extra_docs, dtype=np.int32)))     # sorted
        if not lists:
            cand = np.zeros(0, dtype=np.int64)
        elif len(lists) == 1:
            cand = lists[0].astype(np.int64)
        elif size <= n >> 4:
            cand = np.unique(np.concatenate(lists)).astype(np.int64)
        else:
            mark = np.zeros(n, dtype=bool)
            for d in lists:
                mark[d] = True
            cand = np.flatnonzero(mark)
        c = len(cand)
        big = c > _POSMAP_MIN_CAND and size > n >> 4
        if big:
            posmap = np.empty(n, dtype=np.intp)
            posmap[cand] = np.arange(c, dtype=np.intp)
        local: dict = {}
        ones = None

        # np.add.at with intp indices: ~2-3x faster than fancy "+=" on numpy >= 1.25; every
        # posting list holds a doc once, so both give the same float32 sums
        def feat(tid, qw):
            e = local.get((tid, qw))
            if e is None:
                base = local.get(tid)
                if base is None:
                    d, sat = posts[tid]
                    li = posmap[d] if big else np.searchsorted(cand, d)
                    val = sat.astype(np.float32) * np.float32(self._idf(self._df(tid)))
                    pos = val > 0
                    base = (li, val, li if pos.all() else li[pos])
                    local[tid] = base
                e = base if qw == 1.0 else (base[0], base[1] * np.float32(qw), base[2])
                local[(tid, qw)] = e
            return e

        total_score = np.zeros(c, dtype=np.float32)
        per_term_best: list[list[tuple[np.ndarray, str]]] = []
        for alts in plan:
            best_s = None
            best_m = np.zeros(c, dtype=np.float32)
            which = []
            for s, w, feats in alts:
                score = np.zeros(c, dtype=np.float32)
                cnt = np.zeros(c, dtype=np.int8)
                need = 0
                missing = False
                for tid, qw, req in feats:
                    need += req
                    if tid < 0 or tid not in posts:
                        missing = missing or req
                        continue
                    li, val, pos_li = feat(tid, qw)
                    np.add.at(score, li, val)
                    if req and not missing:
                        if ones is None or len(ones) < len(pos_li):
                            ones = np.ones(max(len(pos_li), 1024), dtype=np.int8)
                        np.add.at(cnt, pos_li, ones[: len(pos_li)])
                if missing or not need:
                    m = np.zeros(c, dtype=bool)
                else:
                    m = cnt >= min(need, 127)
                best_s = _take_alt(best_s, best_m, score, m, w, p.coord)
                which.append((m, s))
            if best_s is not None:
                total_score += best_s
                total_score += best_m
            per_term_best.append(which)
        return cand, total_score, per_term_best

    def _forward(self):
        """doc x word-feature CSR (only 'w' features of the main segment) for RM3 feedback."""
        if self._fwd is None:
            from scipy import sparse
            v = len(self._indptr) - 1
            df = np.diff(self._indptr)
            n = len(self._ids)
            kinds = np.frombuffer("".join(t[0] for t in self._terms[:v]).encode("ascii"), dtype=np.uint8)
            ok = (kinds == ord("w")) & (df >= 2) & (df <= max(2, 0.2 * n))
            t_of = np.repeat(np.arange(v, dtype=np.int32), df)
            keep = ok[t_of]
            self._fwd = sparse.csr_matrix((self._psat[keep].astype(np.float32), (self._pdoc[keep], t_of[keep])),
                                          shape=(n, v))
        return self._fwd

    def _add_rm3(self, terms: list[_Term], total_score: np.ndarray, n: int) -> None:
        p = self.params
        cand = np.nonzero((total_score > 0) & self._alive[:n])[0]
        if len(cand) < 2:
            return
        top = cand[np.argsort(-total_score[cand], kind="stable")[: p.rm3_docs]]
        fwd = self._forward()
        top = top[top < fwd.shape[0]]
        if not len(top):
            return
        sub = fwd[top]
        w = np.asarray(sub.sum(axis=0)).ravel()
        nz = np.nonzero(w)[0]
        if not len(nz):
            return
        df = np.diff(self._indptr)[nz]
        idf = np.log(1.0 + (self._n_alive - df + 0.5) / (df + 0.5))
        sc = w[nz] * idf / len(top)
        own = set()
        for t in terms:
            for s, _ in t.alts:
                own.update(tid for tid, _, _ in self._term_features(s))
        order = np.argsort(-sc, kind="stable")
        picked = []
        for i in order:
            tid = int(nz[i])
            if tid in own or any(self._terms[tid][1:] in t.surface or t.surface in self._terms[tid][1:] for t in terms):
                continue
            picked.append((tid, float(sc[i])))
            if len(picked) >= p.rm3_terms:
                break
        if not picked:
            return
        mx = max(x for _, x in picked)
        for tid, x in picked:
            d, sat = self._postings(tid)
            wt = p.rm3_weight * p.w_word * self._idf(self._df(tid)) * (x / mx)
            total_score += np.bincount(d, weights=sat.astype(np.float32) * wt, minlength=n)[:n]

    def _add_semantic(self, terms: list[_Term], total_score: np.ndarray, n: int) -> None:
        p = self.params
        sem = self._sem
        qf = []
        for t in terms:
            for s, w in t.alts:
                if w > 0:
                    qf += [(tid, w * qw * self._idf(self._df(tid))) for tid, qw, _ in self._term_features(s) if tid >= 0]
        qvec = sem.fold_in(qf)
        lex = total_score > 0
        if p.prf_docs > 0 and p.prf_weight > 0 and lex.any():
            cand = np.nonzero(lex & self._alive[:n])[0]
            top = cand[np.argsort(-total_score[cand], kind="stable")[: p.prf_docs]]
            cen = sem.doc_vecs[top].astype(np.float32).mean(axis=0)
            nrm = float(np.linalg.norm(cen))
            if nrm > 0:
                cen /= nrm
                qvec = cen * p.prf_weight if qvec is None else qvec + cen * p.prf_weight
                qvec /= max(float(np.linalg.norm(qvec)), 1e-9)
        if qvec is None:
            return
        cos = sem.scores(qvec, n)
        gain = np.maximum(cos - p.sem_floor, 0.0) * (p.sem_weight / (1.0 - p.sem_floor))
        total_score += gain

    def id_filter(self, ids: Iterable[str]) -> "IdFilter":
        """Pre-compile a set of doc ids (an industry / intent filter) for repeated ``allowed_ids=``
        use: membership becomes a numpy mask lookup (fast at 1M docs).  Stays valid across
        upserts/removes (ids are re-resolved lazily when the index changes)."""
        return IdFilter(self, ids)

    def _allowed_mask(self, allowed_ids: Container[str], mask: np.ndarray) -> np.ndarray:
        n = len(mask)
        if isinstance(allowed_ids, IdFilter) and allowed_ids._index is self:
            return allowed_ids._mask(n)
        if type(allowed_ids) is frozenset:
            # immutable: cache its compiled mask (keeps a reference, so id() stays unique)
            cache = self.__dict__.setdefault("_fs_cache", {})
            f = cache.get(id(allowed_ids))
            if f is None or f[0] is not allowed_ids:
                if len(cache) >= 16:
                    cache.pop(next(iter(cache)))
                f = (allowed_ids, IdFilter(self, allowed_ids))
                cache[id(allowed_ids)] = f
            return f[1]._mask(n)
        size = None
        try:
            size = len(allowed_ids)  # type: ignore[arg-type]
        except TypeError:
            pass
        cand = np.nonzero(mask)[0]
        out = np.zeros(n, dtype=bool)
        if size is not None and hasattr(allowed_ids, "__iter__") and size < 4 * len(cand):
            nums = np.fromiter(map(self._id2num.get, allowed_ids, itertools.repeat(-1)), dtype=np.int64,
                               count=size)  # type: ignore[arg-type]
            nums = nums[(nums >= 0) & (nums < n)]
            out[nums] = True
        else:
            ids = self._ids
            keep = [num for num in cand.tolist() if ids[num] in allowed_ids]
            out[np.asarray(keep, dtype=np.int64)] = True
        return out

    def _suggest(self, terms: list[_Term]) -> tuple[str, ...]:
        out = []
        for t in terms:
            for s, w in t.alts[1:]:
                if s not in out:
                    out.append(s)
        return tuple(out[:5])

    # ------------------------------------------------------------------ persistence
    @staticmethod
    def fingerprint_docs(docs: Iterable[SearchDoc]) -> str:
        fps = sorted(_fingerprint_doc(d) for d in docs if isinstance(d, SearchDoc) and d.id)
        h = hashlib.blake2b(digest_size=20)
        h.update(ENGINE_VERSION.encode())
        for f in fps:
            h.update(f)
        return h.hexdigest()

    @property
    def fingerprint(self) -> str:
        h = hashlib.blake2b(digest_size=20)
        h.update(ENGINE_VERSION.encode())
        for f in sorted(self._doc_fp[i] for i in range(len(self._ids)) if self._alive[i]):
            h.update(f)
        return h.hexdigest()

    def save(self, path) -> None:
        """Write an ``.npz`` cache (no pickle).  Delta segments are merged first."""
        if self._delta or self._n_alive != len(self._ids):
            self.compact()
        meta = {
            "engine": ENGINE_VERSION,
            "fingerprint": self.fingerprint,
            "params": {k: getattr(self.params, k) for k in self.params.__dataclass_fields__},
            "ids": self._ids,
            "pubkeys": self._doc_pubkeys,
            "terms": self._terms,
            "avglen": self._avglen.tolist(),
        }
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            extra = {}
            if self._sem is not None:
                extra = {"sem_colmap": self._sem.colmap, "sem_terms": self._sem.term_vecs,
                         "sem_docs": self._sem.doc_vecs.astype(np.float16)}
            np.savez(fh, meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
                     indptr=self._indptr, pdoc=self._pdoc, psat=self._psat, tri=self._tri,
                     docfp=np.frombuffer(b"".join(self._doc_fp), dtype=np.uint8), **extra)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path, fingerprint: str | None = None) -> "SearchIndex":
        """Load a cache written by :meth:`save`.  Raises StaleIndexError if the engine version or
        the expected ``fingerprint`` (``SearchIndex.fingerprint_docs(docs)``) does not match."""
        try:
            z = np.load(path, allow_pickle=False)
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise StaleIndexError(f"unreadable index cache: {e}") from e
        if meta.get("engine") != ENGINE_VERSION:
            raise StaleIndexError("index cache written by another engine version")
        if fingerprint is not None and meta.get("fingerprint") != fingerprint:
            raise StaleIndexError("index cache is stale (documents changed)")
        prm = meta["params"]
        params = Params(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in prm.items()
                           if k in Params.__dataclass_fields__})
        self = cls(params)
        self._terms = meta["terms"]
        self._vocab = {t: i for i, t in enumerate(self._terms)}
        self._ids = meta["ids"]
        self._id2num = {x: i for i, x in enumerate(self._ids)}
        self._doc_pubkeys = meta["pubkeys"]
        for i, keys in enumerate(self._doc_pubkeys):
            for k in keys:
                self._add_pubkey(k, i)
        fp = bytes(z["docfp"])
        self._doc_fp = [fp[i * 16:(i + 1) * 16] for i in range(len(self._ids))]
        self._avglen = np.asarray(meta["avglen"], dtype=np.float64)
        self._indptr = z["indptr"]
        self._pdoc = z["pdoc"]
        self._psat = z["psat"]
        self._tri = z["tri"]
        if "sem_colmap" in z.files:
            self._sem = Semantic(z["sem_colmap"], z["sem_terms"], z["sem_docs"])
        self._alive = np.ones(len(self._ids), dtype=bool)
        self._n_alive = len(self._ids)
        if self.fingerprint != meta.get("fingerprint"):
            raise StaleIndexError("index cache is corrupt (fingerprint mismatch)")
        self._char_maps()
        return self

    @classmethod
    def load_or_build(cls, path, docs: Iterable[SearchDoc]) -> "SearchIndex":
        """Use the cache at ``path`` when it matches ``docs``; otherwise build and (re)write it."""
        docs = list(docs)
        fp = cls.fingerprint_docs(docs)
        try:
            if path is not None and Path(path).exists():
                return cls.load(path, fingerprint=fp)
        except StaleIndexError:
            pass
        idx = cls.build(docs)
        if path is not None:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                idx.save(path)
            except OSError:
                pass
        return idx


class IdFilter:
    """A Container[str] of doc ids bound to one SearchIndex (see SearchIndex.id_filter)."""

    def __init__(self, index: SearchIndex, ids: Iterable[str]):
        self._index = index
        self._ids = frozenset(ids)
        self._cache_key = None
        self._cached: np.ndarray | None = None

    def __contains__(self, x: object) -> bool:
        return x in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self):
        return iter(self._ids)

    def _mask(self, n: int) -> np.ndarray:
        ix = self._index
        key = (len(ix._ids), ix._n_alive, id(ix._indptr))
        if self._cached is None or self._cache_key != key:
            m = np.zeros(len(ix._ids), dtype=bool)
            nums = np.fromiter(map(ix._id2num.get, self._ids, itertools.repeat(-1)), dtype=np.int64,
                               count=len(self._ids))
            m[nums[nums >= 0]] = True
            self._cached, self._cache_key = m, key
        return self._cached[:n]


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
