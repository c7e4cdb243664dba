"""Grid-tune query-time parameters of SearchIndex on the DEV split only (indexes built once).

    python benchmarks/tune.py "coord=[5,20,1000]" "sem_weight=[0,4,8]"
"""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.build_devset import field_stripped_docs  # noqa: E402
from benchmarks.corpus import load_docs  # noqa: E402
from benchmarks.search_quality import DEVSET, ndcg_at_k, recall_at_k, rr_at_k  # noqa: E402
from bot.search import Params, SearchIndex  # noqa: E402


def main(argv):
    split = "dev"
    grid = {}
    for a in argv:
        if a.startswith("--split="):
            split = a.split("=", 1)[1]
            continue
        k, v = a.split("=", 1)
        grid[k] = json.loads(v)
    ds = json.loads(DEVSET.read_text())
    known = [q for q in ds["known"] if split == "all" or q["split"] == split]
    topical = [q for q in ds["topical"] if split == "all" or q["split"] == split]
    keyphrase = [q for q in ds["keyphrase"] if split == "all" or q["split"] == split]
    docs = load_docs()
    stripped = field_stripped_docs(docs)
    build_keys = {"k1", "field_weights", "field_b", "sem_dim", "sem_fit_docs", "semantic"}
    keys = list(grid)
    built = {}
    for combo in itertools.product(*[grid[k] for k in keys]):
        prm = Params(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in zip(keys, combo)})
        bkey = tuple((k, json.dumps(v)) for k, v in zip(keys, combo) if k in build_keys)
        if bkey not in built:
            built.clear()
            built[bkey] = (SearchIndex.build(docs, prm), SearchIndex.build(stripped, prm))
        ik, it = built[bkey]
        for ix in (ik, it):
            for k, v in zip(keys, combo):
                setattr(ix.params, k, tuple(v) if isinstance(v, list) else v)
        runs = {q["query"]: [h.id for h in ik.search(q["query"]).hits] for q in known}
        mrr = np.mean([rr_at_k(runs[q["query"]], q["relevant"]) for q in known])
        r10 = np.mean([recall_at_k(runs[q["query"]], q["relevant"]) for q in known])
        typo = np.mean([rr_at_k(runs[q["query"]], q["relevant"]) for q in known if q["typo"]])
        nd = np.mean([ndcg_at_k([h.id for h in it.search(q["query"]).hits], q["relevant"]) for q in topical])
        kp = np.mean([ndcg_at_k([h.id for h in ik.search(q["query"]).hits], q["relevant"]) for q in keyphrase])
        print(dict(zip(keys, combo)), f"MRR={mrr:.3f} R10={r10:.3f} typo={typo:.3f} nDCG={nd:.3f} "
              f"kp={kp:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
