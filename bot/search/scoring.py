"""Scoring: BM25F over the postings (impacts precomputed per posting, idf at query time), the
coordination bonus per matched user term, and the LSA cosine / pseudo-relevance feedback / RM3
added on top. Two paths give the same float32 scores bit for bit: ``_score_dense`` (every doc) and
``_score_sparse`` (only the docs in the union of the query's postings)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bot.search.params import Params
from bot.search.semantic import Semantic
from bot.search.variants import QueryTerm


# sparse scoring: above this many candidates (and a large union), map doc -> slot through one
# array of corpus length rather than a binary search per posting
_POSMAP_MIN_CAND = 4096


# per user term, its alternatives that count: (string, weight, its features from _term_features)
QueryPlan = list[list[tuple[str, float, list[tuple[int, float, bool]]]]]


def _sum_over_terms(plan: QueryPlan, size: int, coord: float, score_alt: Callable[[list], tuple[np.ndarray, np.ndarray]]
                    ) -> tuple[np.ndarray, list[list[tuple[np.ndarray, str]]]]:
    """The lexical score of ``size`` docs: per user term, the best of its alternatives (each weighted)
    plus the bonus ``weight * coord`` of the best one the doc fully matches. ``score_alt(features)``
    gives an alternative's fresh float32 scores and its matched flags; both scoring paths use this,
    so they add the same float32 numbers in the same order. Also returns, per term, the
    [(matched flags, alternative)] that tell a hit's matched terms."""
    total_score = np.zeros(size, dtype=np.float32)
    per_term_best: list[list[tuple[np.ndarray, str]]] = []
    for alts in plan:
        best_s = None
        best_m = np.zeros(size, dtype=np.float32)
        which = []
        for s, w, feats in alts:
            score, matched = score_alt(feats)
            if w != 1.0:
                score *= np.float32(w)
            if best_s is None:
                best_s = score
            else:
                np.maximum(best_s, score, out=best_s)
            np.maximum(best_m, np.float32(w * coord), out=best_m, where=matched)
            which.append((matched, s))
        if best_s is not None:
            total_score += best_s
            total_score += best_m
        per_term_best.append(which)
    return total_score, per_term_best


def _fully_matched(count: np.ndarray, need: int, missing: bool) -> np.ndarray:
    """An alternative is matched where the doc has all ``need`` required features (none missing
    from the corpus); ``count`` is how many each doc has, in int8."""
    if missing or not need:
        return np.zeros(len(count), dtype=bool)
    return count >= min(need, 127)


class ScoringMixin:
    """The scoring side of :class:`~bot.search.index.SearchIndex` (mixed into it). Reads the postings
    through ``_postings`` / ``_df`` / ``_idf`` and the query features through ``_term_features``."""

    params: Params
    _indptr: np.ndarray          # main segment: term offsets ...
    _pdoc: np.ndarray            # ... doc numbers ...
    _psat: np.ndarray            # ... and saturated, field-weighted tf per posting
    _terms: list[str]
    _ids: list[str]
    _alive: np.ndarray
    _n_alive: int
    _sem: Semantic | None
    _fwd: object                 # doc x word-feature matrix for RM3, built on first use
    _exhaustive: bool

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

    def _score_alt(self, feats: list[tuple[int, float, bool]], n: int, cache: dict) -> tuple[np.ndarray, np.ndarray]:
        """BM25F score array (float32, a fresh array) and 'fully matched' bool array for one
        alternative (its features)."""
        score = np.zeros(n, dtype=np.float32)
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
        return score, _fully_matched(matched_cnt, need, missing)

    def _query_plan(self, terms: list[QueryTerm]) -> QueryPlan:
        """Per user term, its alternatives with a positive weight, with their features."""
        return [[(s, w, self._term_features(s)) for s, w in t.alts if w > 0] for t in terms]

    def _dense_needed(self) -> bool:
        """Whole-corpus score arrays are needed when every doc may get a non-lexical score
        (the LSA cosine) or for RM3; otherwise only the docs in the query's postings are scored."""
        p = self.params
        if self._exhaustive:
            return True
        return (self._sem is not None and p.sem_weight > 0) or (p.rm3_weight > 0 and p.rm3_terms > 0)

    def _score_dense(self, terms: list[QueryTerm], n: int):
        """Exhaustive scoring: (all doc numbers, score per doc, per-term [(matched mask, alt)])."""
        p = self.params
        fcache: dict = {}
        total_score, per_term_best = _sum_over_terms(self._query_plan(terms), n, p.coord,
                                                     lambda feats: self._score_alt(feats, n, fcache))
        if p.rm3_weight > 0 and p.rm3_terms > 0 and terms:
            self._add_rm3(terms, total_score, n)
        if self._sem is not None and p.sem_weight > 0 and terms:
            self._add_semantic(terms, total_score, n)
        return np.arange(n, dtype=np.int64), total_score, per_term_best

    def _score_sparse(self, terms: list[QueryTerm], n: int, extra_docs: list[int]):
        """Same scores as :meth:`_score_dense` (bit for bit: the same float32 operations in the
        same order per doc), computed only for the docs in the union of the query's postings
        (the only docs with a non-zero lexical score) -- no per-query arrays of corpus length
        except one bool marker for large unions."""
        p = self.params
        plan = self._query_plan(terms)
        tids = dict.fromkeys(tid for alts in plan for _, _, feats in alts for tid, _, _ in feats if tid >= 0)
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

        def score_alt(feats):
            nonlocal ones
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
            return score, _fully_matched(cnt, need, missing)

        total_score, per_term_best = _sum_over_terms(plan, c, p.coord, score_alt)
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

    def _add_rm3(self, terms: list[QueryTerm], total_score: np.ndarray, n: int) -> None:
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

    def _add_semantic(self, terms: list[QueryTerm], total_score: np.ndarray, n: int) -> None:
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
