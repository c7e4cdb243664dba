"""Search quality: our SearchIndex vs four baselines on the dev set, one markdown table.

    python benchmarks/build_devset.py        # once (deterministic)
    python benchmarks/search_quality.py [--split dev|test|all] [--only ours] [--breakdown]

Metrics: known-item MRR@10 and Recall@10 (one relevant doc per query), topical nDCG@10
(graded labels), mean ms/query (single thread, after warm-up). Pinyin-IME columns: the known-item
queries of kind "ime" typed with a homophone / near-sound character or two characters swapped
("IME typo"), the same queries typed correctly, and queries typed as pinyin.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import load_docs  # noqa: E402
from bot.search import text as st  # noqa: E402
from bot.search import SearchIndex  # noqa: E402

DEVSET = Path(__file__).resolve().parent / "devset.json"
K = 10


# ------------------------------------------------------------------ metrics
def rr_at_k(ranked: list[str], rel: dict[str, int]) -> float:
    for i, d in enumerate(ranked[:K]):
        if rel.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at_k(ranked: list[str], rel: dict[str, int]) -> float:
    r = [d for d in rel if rel[d] > 0]
    return sum(1 for d in ranked[:K] if rel.get(d, 0) > 0) / max(1, len(r))


def ndcg_at_k(ranked: list[str], rel: dict[str, int]) -> float:
    dcg = sum((2 ** rel.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:K]))
    ideal = sorted(rel.values(), reverse=True)[:K]
    idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


# ------------------------------------------------------------------ baselines
def doc_text(d) -> str:
    return st.normalize("\n".join(x for x in (d.title, d.abstract, d.claims) if x))


def q_terms(q: str) -> list[str]:
    return [t for t in re.split(r"\s+", st.normalize(q)) if t]


class SubstringAnd:
    name = "substring AND, ranked by term count"

    def __init__(self, docs):
        self.ids = [d.id for d in docs]
        self.texts = [doc_text(d) for d in docs]

    def search(self, q: str) -> list[str]:
        terms = q_terms(q)
        if not terms:
            return []
        scored = []
        for i, t in enumerate(self.texts):
            if all(x in t for x in terms):
                scored.append((-sum(t.count(x) for x in terms), i))
        scored.sort()
        return [self.ids[i] for _, i in scored[:K]]


class Fts5Trigram:
    name = "SQLite FTS5 trigram + bm25"

    def __init__(self, docs):
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE p USING fts5(id UNINDEXED, title, abstract, claims, tokenize='trigram')")
        self.db.executemany("INSERT INTO p VALUES (?,?,?,?)",
                            [(d.id, st.normalize(d.title), st.normalize(d.abstract), st.normalize(d.claims))
                             for d in docs])

    def search(self, q: str) -> list[str]:
        # trigram never matches < 3 chars: those terms are dropped (all short -> no result)
        terms = [t for t in q_terms(q) if len(t) >= 3]
        if not terms:
            return []
        expr = " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)
        try:
            rows = self.db.execute("SELECT id FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?", (expr, K)).fetchall()
        except sqlite3.Error:
            return []
        return [r[0] for r in rows]


class RapidfuzzScan:
    name = "rapidfuzz partial_token_set scan"

    def __init__(self, docs):
        from rapidfuzz import fuzz, process
        self.fuzz, self.process = fuzz, process
        self.ids = [d.id for d in docs]
        self.texts = [st.normalize((d.title or "") + " " + (d.abstract or "")) for d in docs]

    def search(self, q: str) -> list[str]:
        qn = st.normalize(q)
        if not qn.strip():
            return []
        res = self.process.extract(qn, self.texts, scorer=self.fuzz.partial_token_set_ratio, limit=K)
        return [self.ids[i] for _, _, i in res]


class JiebaBM25:
    """Okapi BM25 (k1=1.5, b=0.75, Lucene idf) over jieba search-mode tokens — what bm25s does."""
    name = "jieba (search mode) + BM25"

    def __init__(self, docs, k1=1.5, b=0.75):
        from scipy import sparse
        self.ids = [d.id for d in docs]
        tok = st.tokenizer()
        vocab: dict[str, int] = {}
        rows, cols, vals, lens = [], [], [], []
        for i, d in enumerate(docs):
            toks = [t for t in tok.cut_for_search(doc_text(d)) if t.strip()]
            lens.append(len(toks))
            for t, c in Counter(toks).items():
                rows.append(i)
                cols.append(vocab.setdefault(t, len(vocab)))
                vals.append(c)
        n = len(docs)
        tf = sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)), dtype=np.float64)
        lens = np.asarray(lens, dtype=np.float64)
        avg = lens.mean()
        df = np.bincount(cols, minlength=len(vocab))
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        tf = tf.tocoo()
        denom = tf.data + k1 * (1 - b + b * lens[tf.row] / avg)
        w = tf.data * (k1 + 1) / denom * self.idf[tf.col]
        self.m = sparse.csc_matrix((w, (tf.row, tf.col)), shape=tf.shape)
        self.vocab = vocab

    def search(self, q: str) -> list[str]:
        toks = [t for t in st.tokenizer().cut_for_search(st.normalize(q)) if t.strip()]
        cols = [self.vocab[t] for t in toks if t in self.vocab]
        if not cols:
            return []
        s = np.asarray(self.m[:, cols].sum(axis=1)).ravel()
        nz = np.nonzero(s)[0]
        top = nz[np.argsort(-s[nz], kind="stable")[:K]]
        return [self.ids[i] for i in top]


class Ours:
    name = "**ours: bot.search.SearchIndex**"

    def __init__(self, docs, index=None):
        self.index = index or SearchIndex.build(docs)

    def search(self, q: str) -> list[str]:
        return [h.id for h in self.index.search(q, limit=K).hits]


# ------------------------------------------------------------------ evaluation
def evaluate(method, queries: list[dict]) -> dict:
    for q in queries[:5]:
        method.search(q["query"])           # warm-up
    known = [q for q in queries if q["kind"] == "known"]
    topical = [q for q in queries if q["kind"] == "topical"]
    out: dict = {}
    t0 = time.perf_counter()
    runs = {}
    for q in queries:
        runs[id(q)] = method.search(q["query"])
    out["ms"] = (time.perf_counter() - t0) * 1000 / max(1, len(queries))
    out["mrr"] = float(np.mean([rr_at_k(runs[id(q)], q["relevant"]) for q in known])) if known else float("nan")
    out["r10"] = float(np.mean([recall_at_k(runs[id(q)], q["relevant"]) for q in known])) if known else float("nan")
    typo = [q for q in known if q["typo"]]
    out["mrr_typo"] = float(np.mean([rr_at_k(runs[id(q)], q["relevant"]) for q in typo])) if typo else float("nan")
    out["ndcg"] = float(np.mean([ndcg_at_k(runs[id(q)], q["relevant"]) for q in topical])) if topical else float("nan")
    ime = [q for q in queries if q["kind"] == "ime" and q["typo_kind"] != "pinyin"]
    pyq = [q for q in queries if q["kind"] == "ime" and q["typo_kind"] == "pinyin"]
    for name, qs in (("ime", ime), ("pinyin", pyq)):
        out[f"mrr_{name}"] = float(np.mean([rr_at_k(runs[id(q)], q["relevant"]) for q in qs])) if qs else float("nan")
        out[f"r10_{name}"] = float(np.mean([recall_at_k(runs[id(q)], q["relevant"]) for q in qs])) if qs else float("nan")
    if ime and isinstance(method, Ours):        # the baselines' correctly typed figure: the known-item column
        out["mrr_ime_correct"] = float(np.mean([rr_at_k(method.search(q["correct"]), q["relevant"]) for q in ime]))
    else:
        out["mrr_ime_correct"] = float("nan")
    out["by_sub"] = {sub: float(np.mean([rr_at_k(runs[id(q)], q["relevant"]) for q in ime + pyq if q["sub"] == sub]))
                     for sub in sorted({q["sub"] for q in ime + pyq})}
    kp = [q for q in queries if q["kind"] == "keyphrase"]
    out["ndcg_kp"] = float(np.mean([ndcg_at_k(runs[id(q)], q["relevant"]) for q in kp])) if kp else float("nan")
    out["runs"] = runs
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="both", choices=["dev", "test", "all", "both"])
    ap.add_argument("--only", default=None, help="'ours' to skip the baselines")
    ap.add_argument("--no-derived-titles", action="store_true",
                    help="index title='' for abstract-only patents (default mimics the importer)")
    ap.add_argument("--breakdown", action="store_true", help="print per-kind failures of ours")
    args = ap.parse_args(argv)

    if not DEVSET.exists():
        from benchmarks import build_devset
        build_devset.main()
    ds = json.loads(DEVSET.read_text())
    allq = ds["known"] + ds["topical"] + ds["keyphrase"] + ds.get("ime", [])
    splits = ["dev", "test"] if args.split == "both" else [args.split]

    from benchmarks.build_devset import field_stripped_docs
    docs = load_docs(derived_titles=not args.no_derived_titles)
    # topical queries are evaluated on the corpus with the field-statement clauses removed
    # (their labels come from those clauses); known-item queries on the real corpus.
    stripped = field_stripped_docs(docs)
    classes = [Ours] + ([] if args.only == "ours" else [SubstringAnd, Fts5Trigram, RapidfuzzScan, JiebaBM25])
    t = time.perf_counter()
    ours_known = Ours(docs)
    build_ours = time.perf_counter() - t
    methods = [(ours_known, Ours(stripped))] + [(c(docs), c(stripped)) for c in classes[1:]]

    print(f"corpus: {len(docs)} patents; known-item queries: {len(ds['known'])} "
          f"({sum(q['typo'] for q in ds['known'])} with one char dropped); topical: {len(ds['topical'])}; "
          f"keyphrase: {len(ds['keyphrase'])}; pinyin-IME: {len(ds.get('ime', []))} "
          f"({dict(Counter(q['sub'] for q in ds.get('ime', [])))}); "
          f"our index build: {build_ours:.1f} s\n")
    # how lexical each topical set's labels are (the held-out set's: 38 % of its relevant patents
    # contain every query term): field labels are lexical, keyphrase labels are like the held-out's
    for kind, corpus in (("topical", stripped), ("keyphrase", docs)):
        by_id = {d.id: d for d in corpus}
        for sp in splits:
            pairs = [(q["query"].split(), by_id[i]) for q in ds[kind] if sp == "all" or q["split"] == sp
                     for i in q["relevant"] if i in by_id]
            verbatim = sum(all(t in f"{d.title or ''}{d.abstract or ''}{d.claims or ''}" for t in terms)
                           for terms, d in pairs)
            print(f"{kind} {sp}: {verbatim}/{len(pairs)} = {verbatim / max(1, len(pairs)):.2f} of the relevant "
                  f"patents contain every query term (held-out set: 0.38)")
    print()
    print("| split | method | known-item MRR@10 | R@10 | MRR@10 (dropped char) | IME typo MRR@10 | IME typo R@10 "
          "| same, typed correctly MRR@10 | pinyin input MRR@10 | pinyin R@10 | topical nDCG@10 "
          "| keyphrase nDCG@10 | ms/query |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results = {}
    for sp in splits:
        qs = [q for q in allq if sp == "all" or q["split"] == sp]
        for mk, mt in methods:
            # known-item and keyphrase queries run on the real corpus, field-class ones on the
            # field-stripped corpus
            r = evaluate(mk, [q for q in qs if q["kind"] in ("known", "keyphrase", "ime")])
            r2 = evaluate(mt, [q for q in qs if q["kind"] == "topical"])
            nk, nt = sum(q["kind"] != "topical" for q in qs), sum(q["kind"] == "topical" for q in qs)
            r["ms"] = (r["ms"] * nk + r2["ms"] * nt) / max(1, nk + nt)
            r["ndcg"] = r2["ndcg"]
            r["runs"].update(r2["runs"])
            m = mk
            results[(sp, m.name)] = r
            print(f"| {sp} | {m.name} | {r['mrr']:.3f} | {r['r10']:.3f} | {r['mrr_typo']:.3f} | "
                  f"{r['mrr_ime']:.3f} | {r['r10_ime']:.3f} | {r['mrr_ime_correct']:.3f} | "
                  f"{r['mrr_pinyin']:.3f} | {r['r10_pinyin']:.3f} | "
                  f"{r['ndcg']:.3f} | {r['ndcg_kp']:.3f} | {r['ms']:.1f} |")
    if args.breakdown:
        ours = methods[0][0]
        for sp in splits:
            qs = [q for q in allq if sp == "all" or q["split"] == sp]
            r = results[(sp, ours.name)]
            print(f"\n## misses of ours ({sp})")
            print("pinyin-IME MRR@10 by kind:", {k: round(v, 3) for k, v in r["by_sub"].items()})
            for q in qs:
                if q["kind"] in ("known", "ime") and rr_at_k(r["runs"][id(q)], q["relevant"]) < 1:
                    tgt = next(iter(q["relevant"]))
                    ranked = r["runs"][id(q)]
                    pos = ranked.index(tgt) + 1 if tgt in ranked else None
                    print(f"- {q['query']!r} typo={q.get('sub', q['typo'])} meant={q.get('correct')!r} "
                          f"src={q['source']} target={tgt} rank={pos}")
            for q in qs:
                if q["kind"] == "topical":
                    print(f"- topical {q['query']!r} nDCG={ndcg_at_k(r['runs'][id(q)], q['relevant']):.2f} "
                          f"rel={len(q['relevant'])}")


if __name__ == "__main__":
    main()
