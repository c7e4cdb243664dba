"""``SearchIndex``: the search engine's facade (pure Python + numpy, no database or Telegram imports).

Callers wrap patents in :class:`SearchDoc` and call ``SearchIndex.build(docs)`` (or
``SearchIndex.load_or_build(path, docs)`` to use the on-disk cache), then
``index.search(query, limit=..., offset=..., allowed_ids=...)``; ``upsert(doc)`` / ``remove(id)`` keep
it current. This module holds the index's state and what writes it (the vectorised build, the
delta segment of upserts with tombstones for removals, compaction), the postings access, and the
order of a search; the query side, scoring, id filters and the cache file are mixed in from
``variants``, ``scoring``, ``filters`` and ``persistence``.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Container, Iterable

import numpy as np

from bot.search import text as st
from bot.search.documents import FIELDS, SearchDoc, SearchHit, SearchResult, fingerprint_doc, pubno_keys
from bot.search.filters import FilterMixin
from bot.search.params import Params
from bot.search.persistence import PersistenceMixin
from bot.search.pinyin import PinyinMixin
from bot.search.scoring import ScoringMixin
from bot.search.semantic import Semantic
from bot.search.variants import QueryAnalysisMixin, trigram_array, trigram_codes

__all__ = ["SearchIndex"]


class SearchIndex(QueryAnalysisMixin, PinyinMixin, ScoringMixin, FilterMixin, PersistenceMixin):
    """The search engine. All of its state is set up in ``__init__``: documents are numbered in the
    order they came in (``_ids``); a removed or replaced one stays a tombstone (``_alive``) and an
    upsert goes to the delta segment until ``compact`` rewrites the main segment."""

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
        self._pinyin_reset()        # toneless readings of the vocabulary's CJK characters

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
                tri_parts.append(trigram_array("\n".join(new_segs)))
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
        self._pinyin_reset()

    def _fit_semantic(self) -> None:
        self._sem = None
        if self.params.semantic:
            self._sem = Semantic.fit(self._indptr, self._pdoc, self._psat, self._terms, len(self._ids),
                                     k=self.params.sem_dim, max_fit_docs=self.params.sem_fit_docs)

    def _register_doc(self, d: SearchDoc, num: int) -> None:
        if num == len(self._ids):
            self._ids.append(d.id)
            self._doc_pubkeys.append([])
            self._doc_fp.append(b"")
        self._ids[num] = d.id
        self._id2num[d.id] = num
        keys = pubno_keys(d.pub_no)
        self._doc_pubkeys[num] = keys
        for k in keys:
            self._add_pubkey(k, num)
        self._doc_fp[num] = fingerprint_doc(d)

    def _add_pubkey(self, k: str, num: int) -> None:
        first = self._pubno.setdefault(k, num)
        if first != num:
            self._pub_more.setdefault(k, []).append(num)

    # ------------------------------------------------------------------ incremental updates
    def upsert(self, doc: SearchDoc) -> None:
        if not isinstance(doc, SearchDoc) or not doc.id:
            raise ValueError("upsert needs a SearchDoc with a non-empty id")
        old = self._id2num.get(doc.id)
        if old is not None and self._alive[old] and self._doc_fp[old] == fingerprint_doc(doc):
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
        for code in trigram_codes(norms[:2]):
            self._tri_delta.setdefault(code >> 21, set()).add(code & ((1 << 21) - 1))
        self._pinyin_sync()
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
        df = min(df, n)  # postings still hold replaced docs until compaction: never a negative idf
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

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
            for k in pubno_keys(cand_no):
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
            mask = self._restrict_to_allowed(allowed_ids, cand, mask)
        local = np.nonzero(mask)[0]
        total = len(local)
        k = offset + limit
        if k == 0 or offset >= total:
            return SearchResult([], total, term_strings, self._suggest(terms) if total == 0 else (),
                                self._correction(terms))
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
        return SearchResult(hits, total, term_strings, suggestions, self._correction(terms))
