"""Corpus-trained latent semantic space for :mod:`bot.search` (no downloaded weights).

LSA: truncated SVD of the BM25F-weighted doc x feature matrix (jieba words + CJK bigrams with
3 <= df <= 30 % of docs).  Feature vectors = right singular vectors; document vectors = X @ V
(L2-normalised, float16).  For big corpora the SVD is fitted on a deterministic sample of docs
and every document is folded in.  Queries are folded in the same way; pseudo-relevance feedback
adds the centroid of the top lexical hits (Rocchio in the latent space).
"""
from __future__ import annotations

import numpy as np


class Semantic:
    __slots__ = ("colmap", "term_vecs", "doc_vecs", "k")

    def __init__(self, colmap: np.ndarray, term_vecs: np.ndarray, doc_vecs: np.ndarray):
        self.colmap = colmap            # term id -> row in term_vecs, or -1 (int32, len = vocab at fit time)
        self.term_vecs = term_vecs      # (n_features, k) float32
        self.doc_vecs = np.asarray(doc_vecs, dtype=np.float32)   # (n_docs, k), rows L2-normalised
        self.k = term_vecs.shape[1]

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, indptr, pdoc, psat, terms: list[str], n_docs: int, *, k: int = 160,
            max_fit_docs: int = 60_000, min_df: int = 3, max_df_frac: float = 0.3, seed: int = 0):
        from scipy.sparse.linalg import svds

        if n_docs < 30:
            return None
        v = len(indptr) - 1
        df = np.diff(indptr)
        kinds = np.frombuffer("".join(t[0] for t in terms).encode("ascii"), dtype=np.uint8) \
            if terms else np.zeros(0, dtype=np.uint8)
        sel = (df >= min_df) & (df <= max(min_df, max_df_frac * n_docs)) & (kinds[:v] != ord("u"))
        cols = np.nonzero(sel)[0]
        if len(cols) < 10:
            return None
        colmap = np.full(v, -1, dtype=np.int32)
        colmap[cols] = np.arange(len(cols), dtype=np.int32)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        X = cls._matrix(indptr, pdoc, psat, colmap, idf, n_docs, len(cols))
        if n_docs > max_fit_docs:
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(n_docs, max_fit_docs, replace=False))
            Xf = X[rows]
        else:
            Xf = X
        k = int(min(k, min(Xf.shape) - 1))
        if k < 2:
            return None
        _, s, vt = svds(Xf.astype(np.float32), k=k, random_state=seed)
        order = np.argsort(-s)
        term_vecs = np.ascontiguousarray(vt[order].T, dtype=np.float32)
        doc_vecs = cls._normalise(np.asarray(X @ term_vecs, dtype=np.float32))
        return cls(colmap, term_vecs, doc_vecs.astype(np.float16))

    @staticmethod
    def _matrix(indptr, pdoc, psat, colmap, idf, n_docs, n_cols):
        from scipy import sparse
        v = len(colmap)
        t_of = np.repeat(np.arange(v, dtype=np.int64), np.diff(indptr[: v + 1]))
        keep = colmap[t_of] >= 0
        t_k = t_of[keep]
        vals = psat[: len(t_of)][keep].astype(np.float32) * idf[t_k]
        return sparse.csr_matrix((vals, (pdoc[: len(t_of)][keep], colmap[t_k])), shape=(n_docs, n_cols))

    @staticmethod
    def _normalise(m: np.ndarray) -> np.ndarray:
        nrm = np.linalg.norm(m, axis=-1, keepdims=True)
        nrm[nrm == 0] = 1.0
        return m / nrm

    # ------------------------------------------------------------------ use
    def fold_in(self, feats: list[tuple[int, float]]) -> np.ndarray | None:
        """L2-normalised vector of weighted features [(term id, weight)], or None."""
        acc = np.zeros(self.k, dtype=np.float32)
        hit = False
        for tid, w in feats:
            if 0 <= tid < len(self.colmap):
                c = self.colmap[tid]
                if c >= 0:
                    acc += w * self.term_vecs[c]
                    hit = True
        if not hit:
            return None
        n = float(np.linalg.norm(acc))
        return acc / n if n > 0 else None

    def add_doc(self, vec: np.ndarray | None) -> None:
        row = np.zeros((1, self.k), dtype=np.float32) if vec is None else vec.astype(np.float32)[None, :]
        self.doc_vecs = np.concatenate([self.doc_vecs, row])

    def scores(self, qvec: np.ndarray, n: int) -> np.ndarray:
        # einsum: single-threaded C loop; a BLAS matvec this small thrashes OpenBLAS threads
        return np.einsum("ij,j->i", self.doc_vecs[:n], qvec.astype(np.float32))
