"""Unit tests for the sound/order typos and pinyin input of bot.search (small synthetic corpus): the
readings follow the index's incremental updates and its on-disk cache; exact matches rank first."""
from __future__ import annotations

from bot.search import SearchDoc, SearchIndex
from bot.search.pinyin import fuzzy_key, parse_pinyin, readings

DOCS = [
    SearchDoc("mine", "一种近水平薄矿体智能掘进机机械开采方法", "智能掘进机沿巷道掘进，开采薄矿体。"),
    SearchDoc("li", "锂电池正极材料及其制备方法", "本发明涉及一种锂电池正极材料，容量高。"),
    SearchDoc("ac", "空调室外机", "一种空调室外机的散热结构。"),
    SearchDoc("tune", "电网调控方法", "一种电网负荷调控方法。"),
    SearchDoc("fork", "叉车货叉", "一种叉车用货叉。"),
]


def test_readings_and_near_keys():
    assert "hang" in readings("巷") and "xiang" in readings("巷")
    assert "luo" not in readings("果")                      # a reading no word uses is left out
    assert fuzzy_key("zhang") == fuzzy_key("zan") and fuzzy_key("nan") == fuzzy_key("lang")
    assert fuzzy_key("fu") == fuzzy_key("hu")
    assert parse_pinyin("juejinji") == ("jue", "jin", "ji")
    assert parse_pinyin("pvc") is None and parse_pinyin("cn113") is None


def test_homophone_transposition_and_pinyin_find_the_meant_word():
    idx = SearchIndex.build(DOCS)
    for typed, meant, doc in (("掘近机", "掘进机", "mine"), ("锂点池", "锂电池", "li"), ("叉彻", "叉车", "fork"),
                              ("进掘机", "掘进机", "mine"), ("juejinji", "掘进机", "mine"),
                              ("jue jin ji", "掘进机", "mine")):
        r = idx.search(typed)
        assert r.hits and r.hits[0].id == doc, typed
        assert r.correction == meant, typed
    r = idx.search("lidianchi zhengji")
    assert r.hits[0].id == "li" and r.correction == "锂电池 正极"
    assert idx.search("掘进机").correction is None             # typed right: nothing to correct


def test_exact_match_ranks_above_its_homophone():
    docs = DOCS + [SearchDoc("odd", "调空装置", "一种调空装置。")]
    idx = SearchIndex.build(docs)
    r = idx.search("调空")
    assert r.hits[0].id == "odd"                              # the typed word exists: it comes first


def test_readings_follow_upserts_and_the_cache(tmp_path):
    idx = SearchIndex.build(DOCS)
    assert not idx.search("氢燃料").hits or idx.search("氢燃料").hits[0].id != "h2"
    idx.upsert(SearchDoc("h2", "氢燃料电池堆", "一种氢燃料电池堆的密封结构。"))
    r = idx.search("轻燃料")                                    # 氢 came with the upsert
    assert r.hits and r.hits[0].id == "h2" and r.correction == "氢燃料"
    path = tmp_path / "idx.npz"
    idx.save(path)
    loaded = SearchIndex.load(path)
    assert loaded._py_readings == idx._py_readings
    r = loaded.search("轻燃料")
    assert r.hits and r.hits[0].id == "h2" and r.correction == "氢燃料"
    assert loaded.search("juejinji").hits[0].id == "mine"
