"""Unit tests for bot.search (fast: a small synthetic corpus + a 250-doc slice of the real one)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from bot.search import (SearchDoc, SearchHit, SearchIndex, SearchResult, StaleIndexError,
                        highlight_spans)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "data" / "patents.jsonl.gz"

DOCS = [
    SearchDoc("CN113914863A", "一种近水平薄矿体智能掘进机机械开采方法",
              "本发明公开了一种近水平薄矿体智能掘进机机械开采方法，包括沿矿体走向划分盘区。",
              "1.一种近水平薄矿体智能掘进机机械开采方法。", "CN113914863A"),
    SearchDoc("d-1", "锂电池正极材料及其制备方法", "本发明涉及一种锂电池正极材料，容量高，循环寿命长。"),
    SearchDoc("d-2", "", "一种锂离子电池负极材料的制备方法，采用石墨烯包覆。"),
    SearchDoc("d-3", "衣物处理装置", "一种衣物处理装置的预约控制方法，获取用户信息。"),
    SearchDoc("d-4", "电池管理系统", "本实用新型提供一种电池管理系统，用于电动汽车动力电池的均衡。"),
    SearchDoc("d-5", "掘进机截割头", "一种掘进机截割头，包括截齿和齿座。", "", "CN200000001U"),
    SearchDoc("d-6", "PVC管道连接件", "一种PVC管道连接件，耐腐蚀，3D打印成型。"),
    SearchDoc("d-7", "", "一种正极极片的涂布工艺，提高锂电池能量密度。"),
]


@pytest.fixture(scope="module")
def idx() -> SearchIndex:
    return SearchIndex.build(DOCS)


def corpus_docs(n: int) -> list[SearchDoc]:
    """The first ``n`` patents of the shipped corpus (ids as the importer gives them)."""
    docs = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= n:
                break
            r = json.loads(line)
            pid = r.get("pub_no") or f"{r['source'].split('/')[-1]}-{int(r['idx'])}"
            docs.append(SearchDoc(pid, r.get("title") or "", r.get("abstract") or "", r.get("claims") or "",
                                  r.get("pub_no") or None))
    return docs


@pytest.fixture(scope="module")
def real_idx() -> SearchIndex:
    return SearchIndex.build(corpus_docs(250))


def ids(res: SearchResult) -> list[str]:
    return [h.id for h in res.hits]


def test_types_and_len(idx):
    assert len(idx) == len(DOCS)
    r = idx.search("锂电池")
    assert isinstance(r, SearchResult)
    assert all(isinstance(h, SearchHit) for h in r.hits)
    assert isinstance(r.terms, tuple) and isinstance(r.suggestions, tuple)


def test_and_first(idx):
    r = idx.search("锂电池 正极")
    assert ids(r)[0] == "d-1"              # both terms, in the title
    assert set(ids(r)[:2]) == {"d-1", "d-7"}
    assert set(r.hits[0].matched_terms) == {"锂电池", "正极"}
    assert r.terms == ("锂电池", "正极")


def test_or_fallback(idx):
    r = idx.search("锂电池 不存在的词汇")
    assert r.total >= 1 and ids(r)[0] in {"d-1", "d-7"}


def test_field_weights_title_first(idx):
    r = idx.search("掘进机")
    assert set(ids(r)[:2]) == {"CN113914863A", "d-5"}
    assert ids(r)[0] == "d-5"              # short title "掘进机截割头" beats the long one


def test_dropped_character(idx):
    for q, want in [("掘机", {"d-5", "CN113914863A"}), ("锂池 正极", {"d-1"}), ("衣处理", {"d-3"})]:
        r = idx.search(q)
        assert r.hits and r.hits[0].id in want, (q, ids(r))


def test_unspaced_long_query_is_split(idx):
    r = idx.search("锂电池的正极材料")           # never occurs verbatim
    assert ids(r)[0] == "d-1"
    assert set(r.hits[0].matched_terms) >= {"锂电池", "正极"}


def test_pub_no_exact(idx):
    for q in ["CN113914863A", "cn113914863a", "ＣＮ113914863Ａ", "CN113914863", " CN113914863A 掘进机"]:
        r = idx.search(q)
        assert ids(r)[0] == "CN113914863A", q
    assert ids(idx.search("CN200000001U"))[0] == "d-5"


def test_ascii_and_fullwidth(idx):
    assert ids(idx.search("pvc"))[0] == "d-6"
    assert ids(idx.search("ＰＶＣ 管道"))[0] == "d-6"
    assert ids(idx.search("3d"))[0] == "d-6"


@pytest.mark.parametrize("q", ["", "   ", "\n\t", "😀😀", '" OR 1=1 --', "NEAR(", "a" * 4096, "锂" * 4096,
                               "*", "\x00", "\ud800", "电池" * 2000, "(((", "title:锂电池", "-", "🔋 电池"])
def test_weird_queries_never_raise(idx, q):
    r = idx.search(q)
    assert isinstance(r, SearchResult)
    assert r.total >= len(r.hits)


def test_paging_and_allowed(idx):
    full = idx.search("一种", limit=100)
    assert full.total == len(full.hits)
    pages = [h.id for off in range(0, full.total, 3) for h in idx.search("一种", limit=3, offset=off).hits]
    assert pages == ids(full)
    allowed = {"d-2", "d-3"}
    r = idx.search("一种", allowed_ids=allowed, limit=100)
    assert set(ids(r)) <= allowed and r.total == len(r.hits) == 2
    assert idx.search("一种", allowed_ids=set()).total == 0
    f = idx.id_filter(allowed)
    assert ids(idx.search("一种", allowed_ids=f, limit=100)) == ids(r)
    assert ids(idx.search("一种", allowed_ids=frozenset(allowed), limit=100)) == ids(r)
    assert ids(idx.search("一种", allowed_ids=list(allowed), limit=100)) == ids(r)
    assert idx.search("一种", limit=0).hits == []
    assert idx.search("一种", offset=1000).hits == []


def test_upsert_remove():
    ix = SearchIndex.build(DOCS[:3])
    assert ix.search("掘进机截割头").hits[0].id != "d-5"
    ix.upsert(DOCS[5])
    assert len(ix) == 4
    assert ix.search("截割头").hits[0].id == "d-5"
    assert ix.search("CN200000001U").hits[0].id == "d-5"
    ix.upsert(SearchDoc("d-5", "齿轮箱", "一种齿轮箱"))          # replace
    assert len(ix) == 4
    assert ix.search("截割头").total == 0
    assert ix.search("齿轮箱").hits[0].id == "d-5"
    assert ix.search("CN200000001U").total == 0
    ix.remove("d-5")
    ix.remove("does-not-exist")
    assert len(ix) == 3 and ix.search("齿轮箱").total == 0
    ix.compact()
    assert len(ix) == 3 and ix.search("锂电池").hits[0].id == "d-1"
    f = ix.id_filter({"new", "d-1"})
    ix.upsert(SearchDoc("new", "掘进机", "全新的掘进机"))
    assert ix.search("掘进机").hits[0].id == "new"
    assert ids(ix.search("掘进机", allowed_ids=f)) == ["new"]


def test_save_load_roundtrip(tmp_path, idx):
    p = tmp_path / "idx.npz"
    idx.save(p)
    fp = SearchIndex.fingerprint_docs(DOCS)
    ix2 = SearchIndex.load(p, fingerprint=fp)
    assert len(ix2) == len(idx)
    for q in ["锂电池 正极", "掘机", "CN113914863A", "pvc"]:
        a, b = idx.search(q), ix2.search(q)
        assert ids(a) == ids(b) and [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits])
    with pytest.raises(StaleIndexError):
        SearchIndex.load(p, fingerprint=SearchIndex.fingerprint_docs(DOCS[:-1]))
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(StaleIndexError):
        SearchIndex.load(tmp_path / "bad.npz")
    ix3 = SearchIndex.load_or_build(tmp_path / "cache.npz", DOCS)
    ix4 = SearchIndex.load_or_build(tmp_path / "cache.npz", DOCS)
    assert ids(ix3.search("锂电池")) == ids(ix4.search("锂电池"))


def test_highlight_spans():
    text = "一种锂电池正极材料，锂电池"
    assert highlight_spans(text, ["锂电池", "正极"]) == [(2, 5), (5, 7), (10, 13)]
    assert highlight_spans(text, ["电池", "锂电池"]) == [(2, 5), (10, 13)]     # longest wins, no overlap
    assert highlight_spans("ＰＶＣ管道", ["pvc"]) == [(0, 3)]
    assert highlight_spans("", ["x"]) == [] and highlight_spans("abc", []) == []
    assert highlight_spans("abc", ["", " "]) == []


def test_real_corpus_known_items(real_idx):
    r = real_idx.search("智能掘进机 开采")
    assert ids(r)[0] == "CN113914863A"
    r = real_idx.search("智能掘机 开采")          # one character dropped
    assert ids(r)[0] == "CN113914863A"
    assert "智能掘进机" in r.hits[0].matched_terms


QUERY_ALPHABET = hst.characters(codec="utf-8", categories=("L", "N", "P", "S", "Z", "M"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=hst.one_of(hst.text(QUERY_ALPHABET, max_size=40),
                    hst.text(hst.sampled_from(list("锂电池正极掘进机衣物处理装置一种 ,pvcCN0123")), max_size=12)),
       limit=hst.integers(0, 7), offset=hst.integers(0, 12))
def test_random_queries(real_idx, q, limit, offset):
    r = real_idx.search(q, limit=limit, offset=offset)
    assert isinstance(r, SearchResult)
    scores = [h.score for h in r.hits]
    assert scores == sorted(scores, reverse=True)
    assert len(r.hits) <= limit
    assert r.total >= (offset + len(r.hits) if r.hits else 0)
    if limit:
        big = real_idx.search(q, limit=offset + limit, offset=0)
        assert ids(big)[offset:offset + limit] == ids(r)
        assert big.total == r.total


# ---------------------------------------------------------------- sparse (postings-only) scoring
@pytest.fixture(scope="module")
def lex_idx() -> SearchIndex:
    """1,200 real patents, no LSA space, so queries take the sparse path by default."""
    from bot.search import Params
    docs = corpus_docs(1200)
    ix = SearchIndex.build(docs, Params(semantic=False))
    ix._test_docs = docs
    return ix


def _random_queries(docs, n, seed):
    import random
    import re
    rng = random.Random(seed)
    pubs = [d.pub_no for d in docs if d.pub_no]
    out = ["一种 方法", "装置 系统 方法", "的", "电池", "掘机", "CN113914863A", "锂电池的正极材料", "pvc 3d",
           f"{pubs[-1]} {pubs[0]}", f"{pubs[-5]} 电池 {pubs[3]}", f"{pubs[-2]}{pubs[1]}"]     # numbers out of order
    for _ in range(n):
        terms = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            d = docs[rng.randrange(len(docs))]
            runs = re.findall(r"[\u4e00-\u9fff]{2,}", (d.title or "") + (d.abstract or "")[:200])
            if not runs:
                continue
            run = rng.choice(runs)
            k = rng.randint(2, min(6, len(run)))
            i = rng.randrange(len(run) - k + 1)
            t = run[i:i + k]
            if len(t) >= 3 and rng.random() < 0.3:          # drop a character
                j = rng.randrange(len(t))
                t = t[:j] + t[j + 1:]
            terms.append(t)
        if rng.random() < 0.1:
            terms.append(docs[rng.randrange(len(docs))].id)
        out.append(" ".join(terms))
    return out


def _same_both_ways(ix, q, **kw):
    ix._exhaustive = False
    try:
        a = ix.search(q, **kw)
    finally:
        ix._exhaustive = True
    try:
        b = ix.search(q, **kw)
    finally:
        ix._exhaustive = False
    assert a == b, (q, kw, ids(a), ids(b), a.total, b.total)


def test_sparse_scoring_equals_exhaustive(lex_idx, monkeypatch):
    """Scoring only the docs in the query's postings gives exactly (hits, scores, matched terms,
    total) what scoring every document gives, on random queries over the real corpus."""
    import bot.search.scoring as scoring
    docs = lex_idx._test_docs
    qs = _random_queries(docs, 150, seed=11)
    allowed = {d.id for d in docs[::5]}
    for q in qs:
        _same_both_ways(lex_idx, q)
    for q in qs[:60]:
        _same_both_ways(lex_idx, q, limit=5, offset=7)
        _same_both_ways(lex_idx, q, allowed_ids=allowed)
        _same_both_ways(lex_idx, q, allowed_ids=lex_idx.id_filter(allowed))
    monkeypatch.setattr(scoring, "_POSMAP_MIN_CAND", 0)       # the large-candidate-set code path
    for q in qs[:80]:
        _same_both_ways(lex_idx, q)


def test_sparse_scoring_with_delta_segment(lex_idx):
    import random
    from bot.search import Params
    docs = lex_idx._test_docs[:400]
    ix = SearchIndex.build(docs, Params(semantic=False))
    rng = random.Random(5)
    for i in range(40):                                   # new docs, replacements, removals
        d = docs[rng.randrange(len(docs))]
        ix.upsert(SearchDoc(d.id if i % 2 else f"new-{i}", (d.title or "") + "改进型", d.abstract, "",
                            d.pub_no if i % 2 else None))
        if i % 5 == 0:
            ix.remove(docs[rng.randrange(len(docs))].id)
    assert ix._delta
    for q in _random_queries(docs, 60, seed=12) + ["改进型", "改进型 电池"]:
        _same_both_ways(ix, q)


def test_typo_variant_fanout_limit(idx):
    from bot.search import Params
    p = Params(typo_big_postings=0, typo_big_min_weight=0.99)   # every variant counts as "huge"
    ix = SearchIndex.build(DOCS, p)
    # "掘机" has no verbatim match: its variant 掘进机 weighs df/(df+0+0.5) < 0.99 and is dropped
    assert [a for a, _ in ix._analyse_term("掘机").alts] == ["掘机"]
    assert "掘进机" in [a for a, _ in idx._analyse_term("掘机").alts]      # default: kept


def test_shared_pub_no_survives_removals():
    docs = [SearchDoc("a", "甲", "一种甲", "", "CN100000001A"), SearchDoc("b", "乙", "一种乙", "", "CN100000001A"),
            SearchDoc("c", "丙", "一种丙", "", "CN100000001A"), SearchDoc("d", "丁", "一种丁", "", "CN100000002A")]
    ix = SearchIndex.build(docs)
    assert ids(ix.search("CN100000001A"))[0] == "a"
    ix.remove("a")
    assert ids(ix.search("CN100000001A"))[0] == "b"
    ix.upsert(SearchDoc("b", "乙二", "一种乙二", "", "CN100000009A"))   # b moves to another number
    assert ids(ix.search("CN100000001A"))[0] == "c"
    assert ids(ix.search("CN100000009"))[0] == "b"
    ix.upsert(SearchDoc("e", "戊", "一种戊", "", "CN100000001A"))
    ix.remove("c")
    assert ids(ix.search("CN100000001A"))[0] == "e"
    ix.compact()
    assert ids(ix.search("CN100000001A"))[0] == "e"
    ix.remove("e")
    assert ix.search("CN100000001A").total == 0 or ids(ix.search("CN100000001A"))[0] != "e"
