"""Build a deterministic, labelled dev set for the search engine from the corpus itself.

    python benchmarks/build_devset.py            # writes benchmarks/devset.json

Known-item queries (one relevant doc): pick a patent, take 1-3 content terms from its title
(or, for abstract-only patents / half of the time, from its abstract), and for ~35 % of the
queries drop ONE character from one term of length >= 3 ("掘进机" -> "掘机").

Topical queries ("IPC-like" classes, graded, several relevant docs): 558 abstracts state their
technical field ("本发明涉及洗衣机技术领域").  Topic queries are nominal words (jieba dictionary
POS n*/vn) that occur in >= 3 field statements, plus word pairs co-occurring in >= 3 of them.
Labels come from string rules, not from any ranker:
    grade 2  the doc's field statement contains every query term
    grade 1  (2-term queries) the field statement contains the rarer term, or
             the doc's (raw or derived) display title contains every query term
The field-statement clause is then REMOVED from the abstracts the engines index for the topical
part (field_stripped_docs), so most grade-2 docs must be found from their remaining content —
like the held-out set, where most relevant patents do not contain every query term.
Keyphrase topical queries (kind "keyphrase", graded 0/1): KPPatent-ZH, the public dataset our
corpus comes from, annotates every patent with the keywords a patent searcher would use, synonyms
and terms absent from the text included (丝杆, 丝杠, 螺杆, 导轨, 滑轨 ...).  A query is one such
keyword (nominal, >= 2 characters) or a pair of them; its relevant patents are those annotated
with every query term.  Only ~40 % of them contain every query term verbatim -- like the
held-out set (38 %), so this part measures what lexical matching cannot reach.  The labels are
used for evaluation only; nothing in bot/ reads them.  (benchmarks/data/kppatent_keywords.jsonl.gz,
MIT licence in benchmarks/data/KPPATENT_LICENSE.)

Pinyin-IME queries (kind "ime", one relevant doc, made with their own seed IME_SEED): known-item
queries built as above, then typed the way a pinyin input method goes wrong:
    homophone   one character of one term replaced by a frequent corpus character with the same
                toneless reading in that word (pypinyin, in context: 巷道 is hang dao) -- or, for a
                quarter of them, a near reading (z/zh, c/ch, s/sh, n/l, h/f, an/ang, en/eng, in/ing);
                the replacement is drawn weighted by corpus frequency, as an IME lists frequent
                characters first
    transposed  two adjacent different characters of one term swapped (细纱机 -> 细机纱)
    pinyin      one or every term typed as toneless pinyin, joined (juejinji) or one syllable per
                word (jue jin ji)
Each keeps the query as it was meant ("correct") so the same queries typed correctly are measured too.

The split (dev/test) is by hash of the target / topic, so tuning on "dev" never sees "test".
"""
from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import load_docs  # noqa: E402
from bot.search import text as st  # noqa: E402

OUT = Path(__file__).resolve().parent / "devset.json"
KEYWORDS = Path(__file__).resolve().parent / "data" / "kppatent_keywords.jsonl.gz"
SEED = 20240601
IME_SEED = 20261201
N_IME = {"homophone": 300, "transposed": 150, "pinyin": 150}
NEAR_RATE = 0.25
N_KNOWN = 600
N_TOPICAL = 240
N_KEYPHRASE = (500, 250)    # single-keyword and keyword-pair queries (before the dev/test split)
KP_DF = (3, 20)             # a keyword query has between 3 and 20 annotated patents
DROP_RATE = 0.3
MAX_MATCHES = 5       # a known-item query (before the drop) matches at most this many docs verbatim

STOP = set("""一种 方法 装置 系统 及其 其中 所述 包括 本发明 发明 实用新型 本实用新型 涉及 提供 公开 具有 采用
用于 以及 通过 进行 设置 一个 多个 两个 之间 能够 可以 实现 使得 使用 技术 领域 得到 有效 提高 解决 问题 特征
上述 该 由 其 和 与 及 的 在 为 是 对 将 中 后 上 下 内 外 连接 设有 一端 另一端 方式 结构 制备 应用 利用 根据
相应 部分 基于 所示 其特征 特征在于 步骤 包含 至少 一侧 表面 位置 作用 效果 同时 以上 如下 一定 较高 简单 降低
本申请 申请 本公开 目的 优点 第一 第二 第三 分别 相对 组成 生产 工艺 材料 产品 设备 具体 主要""".split())


_TAGS = None


def is_nounish(w: str) -> bool:
    """jieba dictionary POS tag is a noun / nominal verb (unknown words count as nouns)."""
    global _TAGS
    if _TAGS is None:
        import jieba.posseg as ps
        ps.dt.initialize()
        _TAGS = ps.dt.word_tag_tab
    tag = _TAGS.get(w)
    return tag is None or tag.startswith("n") or tag in ("vn", "an", "eng")


def split_of(key: str) -> str:
    return "dev" if int(hashlib.md5(key.encode()).hexdigest(), 16) % 2 == 0 else "test"


def content_words(text: str) -> list[str]:
    norm = st.normalize(text)
    out = []
    for m in st.CJK_RUN_RE.finditer(norm):
        for w in st.tokenizer().lcut(m.group(), HMM=False):
            if len(w) >= 2 and w not in STOP and not re.search(r"[的了是在和与及其]$", w):
                out.append(w)
    return out


def candidate_terms(text: str, rng: random.Random) -> list[str]:
    """Content words, sometimes glued with the next content word when adjacent (短语 like 智能掘进机)."""
    norm = st.normalize(text)
    terms = []
    for m in st.CJK_RUN_RE.finditer(norm):
        words = st.tokenizer().lcut(m.group(), HMM=False)
        i = 0
        while i < len(words):
            w = words[i]
            if len(w) >= 2 and w not in STOP and is_nounish(w):
                if (i + 1 < len(words) and len(words[i + 1]) >= 2 and words[i + 1] not in STOP
                        and is_nounish(words[i + 1])
                        and len(w) + len(words[i + 1]) <= 6 and rng.random() < 0.5):
                    terms.append(w + words[i + 1])
                    i += 2
                    continue
                terms.append(w)
            i += 1
    return list(dict.fromkeys(terms))


FIELD_RE = re.compile(r"(?:涉及|属于|应用于|用于)([^，。；：,;]{2,24}?)(?:的)?(?:技术)?领域")


def field_statement(abstract: str) -> tuple[str, int, int] | None:
    """(field phrase, clause start, clause end) of "本发明涉及X技术领域" in an abstract."""
    a = st.normalize(abstract)
    m = FIELD_RE.search(a)
    if not m:
        return None
    start = max(a.rfind(c, 0, m.start()) for c in "，。；,;") + 1
    ends = [a.find(c, m.end()) for c in "，。；,;"]
    ends = [e for e in ends if e != -1]
    end = min(ends) + 1 if ends else len(a)
    return m.group(1), start, end


def field_stripped_docs(docs):
    """The corpus with each abstract's field-statement clause removed (topical evaluation)."""
    from bot.search import SearchDoc
    out = []
    for d in docs:
        f = field_statement(d.abstract or "")
        if f:
            a = st.normalize(d.abstract)
            d = SearchDoc(d.id, d.title, a[: f[1]] + a[f[2]:], d.claims, d.pub_no)
        out.append(d)
    return out


def drop_char(term: str, rng: random.Random) -> str:
    i = rng.randrange(len(term))
    return term[:i] + term[i + 1:]


def build() -> dict:
    rng = random.Random(SEED)
    docs = load_docs(derived_titles=False)
    raw_title = {d.id: d.title for d in docs}
    full_texts = {d.id: st.normalize("\n".join((d.title or "", d.abstract or "", d.claims or ""))) for d in docs}

    # ---------------------------------------------------------------- known-item
    known = []
    order = list(docs)
    rng.shuffle(order)
    for d in order:
        if len(known) >= N_KNOWN:
            break
        from_title = bool(raw_title[d.id]) and rng.random() < 0.6
        src = d.title if from_title else (d.abstract or "")
        if not from_title:
            src = src[:160]
        terms = candidate_terms(src, rng)
        if not terms:
            continue
        k = min(len(terms), rng.choice([1, 2, 2, 3, 3]))
        # users type specific terms: prefer longer ones (weight len^2), sample without replacement
        pool = list(terms)
        picked = []
        for _ in range(k):
            wts = [len(t) ** 2 for t in pool]
            t = rng.choices(pool, weights=wts)[0]
            picked.append(t)
            pool.remove(t)
        if sum(1 for tx in full_texts.values() if all(t in tx for t in picked)) > MAX_MATCHES:
            continue
        dropped = None
        if rng.random() < DROP_RATE:
            long_ = [i for i, t in enumerate(picked) if len(t) >= 3]
            if long_:
                i = rng.choice(long_)
                dropped = picked[i]
                picked[i] = drop_char(picked[i], rng)
        known.append({"query": " ".join(picked), "relevant": {d.id: 1}, "kind": "known",
                      "typo": dropped is not None, "source": "title" if from_title else "abstract",
                      "split": split_of(d.id)})

    # ---------------------------------------------------------------- topical
    # "IPC-like" classes: the field statement of an abstract ("本发明涉及洗衣机技术领域").
    # The statement's clause is REMOVED from the text the engines index for the topical part
    # (see field_stripped_docs), so labels are not a lexical echo of the indexed text.
    from bot.io.importer import derive_title
    disp_titles = {d.id: st.normalize(d.title or derive_title(d.abstract or "", d.claims or "")) for d in docs}
    fields = {}
    for d in docs:
        f = field_statement(d.abstract or "")
        if f:
            fields[d.id] = f[0]
    fdf = Counter()
    fwords = {}
    for tid, phrase in fields.items():
        ws = set(content_words(phrase))
        fwords[tid] = ws
        fdf.update(ws)
    all_df = Counter()
    for d in docs:
        all_df.update(set(content_words((d.title or "") + "\n" + (d.abstract or ""))))
    topics = sorted(w for w, c in fdf.items() if c >= 3 and w in _TAGS and is_nounish(w))
    queries = [[w] for w in topics]
    pair = Counter()
    for ws in fwords.values():
        ws = sorted(x for x in ws if x in _TAGS and is_nounish(x))
        for i in range(len(ws)):
            for j in range(i + 1, len(ws)):
                pair[(ws[i], ws[j])] += 1
    queries += [list(p) for p, c in sorted(pair.items()) if c >= 3]
    topical = []
    for q_terms in queries:
        rel = {}
        for tid, ws in fwords.items():
            if all(t in fields[tid] for t in q_terms):
                rel[tid] = 2
            elif len(q_terms) == 2 and min(q_terms, key=lambda t: all_df[t]) in fields[tid]:
                rel[tid] = 1
        for d in docs:                                 # (raw or derived) title says it: relevant too
            if d.id not in rel and all(t in disp_titles[d.id] for t in q_terms):
                rel[d.id] = 1
        if sum(1 for g in rel.values() if g == 2) < 3:
            continue
        key = " ".join(q_terms)
        topical.append({"query": key, "relevant": rel, "kind": "topical", "typo": False,
                        "source": f"field{len(q_terms)}", "split": split_of(key)})

    return {"seed": SEED, "known": known, "topical": topical, "keyphrase": keyphrase_queries(rng),
            "ime_seed": IME_SEED, "ime": ime_queries(docs, full_texts, raw_title)}


def _frequent_chars(docs, top: int = 3500) -> dict[str, dict[str, int]]:
    """Toneless reading -> {frequent corpus character: count} (a character under each reading)."""
    from bot.search.pinyin import readings
    cnt = Counter()
    for d in docs:
        cnt.update(ch for ch in st.normalize((d.title or "") + (d.abstract or "")) if st.is_cjk(ch))
    by: dict[str, dict[str, int]] = {}
    for ch, c in cnt.most_common(top):
        for r in readings(ch):
            by.setdefault(r, {})[ch] = c
    return by


def _context_readings(term: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin
    r = lazy_pinyin(term, style=Style.NORMAL, errors=lambda x: ["?"] * len(x))
    return r if len(r) == len(term) else ["?"] * len(term)


def homophone_typo(term: str, rng: random.Random, by_reading, near: bool) -> str | None:
    from bot.search.pinyin import fuzzy_key
    rs = _context_readings(term)
    spots = list(range(len(term)))
    rng.shuffle(spots)
    for i in spots:
        r = rs[i]
        if r == "?":
            continue
        if near:
            keys = [k for k in by_reading if k != r and fuzzy_key(k) == fuzzy_key(r)]
            pool = {ch: c for k in keys for ch, c in by_reading[k].items()}
        else:
            pool = dict(by_reading.get(r, {}))
        pool.pop(term[i], None)
        if not pool:
            continue
        chars = sorted(pool)
        ch = rng.choices(chars, weights=[pool[c] for c in chars])[0]
        return term[:i] + ch + term[i + 1:]
    return None


def transposed_typo(term: str, rng: random.Random) -> str | None:
    spots = [i for i in range(len(term) - 1) if term[i] != term[i + 1]]
    if not spots:
        return None
    i = rng.choice(spots)
    return term[:i] + term[i + 1] + term[i] + term[i + 2:]


def pinyin_typed(terms: list[str], rng: random.Random) -> list[str] | None:
    which = range(len(terms)) if rng.random() < 0.5 else [rng.randrange(len(terms))]
    out = list(terms)
    for k in which:
        rs = _context_readings(terms[k])
        if "?" in rs:
            return None
        out[k] = " ".join(rs) if rng.random() < 0.3 else "".join(rs)
    return out


def ime_queries(docs, full_texts, raw_title) -> list[dict]:
    """Known-item queries typed through a pinyin IME (see the module docstring)."""
    rng = random.Random(IME_SEED)
    by_reading = _frequent_chars(docs)
    order = list(docs)
    rng.shuffle(order)
    out: list[dict] = []
    want = dict(N_IME)
    for d in order:
        if not any(want.values()):
            break
        kind = rng.choice([k for k, n in want.items() if n > 0])
        from_title = bool(raw_title[d.id]) and rng.random() < 0.6
        src = d.title if from_title else (d.abstract or "")[:160]
        terms = candidate_terms(src, rng)
        if not terms:
            continue
        k = min(len(terms), rng.choice([1, 2, 2, 3]))
        pool = list(terms)
        picked = []
        for _ in range(k):
            t = rng.choices(pool, weights=[len(x) ** 2 for x in pool])[0]
            picked.append(t)
            pool.remove(t)
        if sum(1 for tx in full_texts.values() if all(t in tx for t in picked)) > MAX_MATCHES:
            continue
        typed = list(picked)
        if kind == "pinyin":
            typed = pinyin_typed(picked, rng)
            if typed is None:
                continue
            sub = "pinyin"
        else:
            i = rng.randrange(len(picked))
            near = kind == "homophone" and rng.random() < NEAR_RATE
            v = (homophone_typo(picked[i], rng, by_reading, near) if kind == "homophone"
                 else transposed_typo(picked[i], rng))
            if v is None or v == picked[i]:
                continue
            typed[i] = v
            sub = "near" if near else kind
        want[kind] -= 1
        out.append({"query": " ".join(typed), "correct": " ".join(picked), "relevant": {d.id: 1},
                    "kind": "ime", "typo_kind": kind, "sub": sub, "typo": True,
                    "source": "title" if from_title else "abstract", "split": split_of(d.id)})
    return out


def annotated_keywords() -> dict[str, list[str]]:
    """Patent id -> its KPPatent-ZH keyword annotation (same ids as the importer)."""
    from benchmarks.corpus import doc_id
    with gzip.open(KEYWORDS, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {doc_id({"source": r["source"], "idx": r["idx"], "pub_no": pub}): r["keywords"]
            for r, pub in zip(rows, _pub_nos(rows))}


def _pub_nos(rows):
    from benchmarks.corpus import load_rows
    by_key = {(r["source"], int(r["idx"])): r.get("pub_no") for r in load_rows()}
    return [by_key.get((r["source"], int(r["idx"]))) for r in rows]


def keyphrase_queries(rng: random.Random) -> list[dict]:
    is_nounish("")                                   # loads the POS table
    kws = annotated_keywords()

    def usable(w: str) -> bool:
        return (len(w) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", w) is not None
                and w not in STOP and is_nounish(w))

    sets = {i: {w for w in ws if usable(w)} for i, ws in kws.items()}
    df = Counter(w for ws in sets.values() for w in ws)
    singles = sorted(w for w, c in df.items() if KP_DF[0] <= c <= KP_DF[1])
    pair = Counter()
    for ws in sets.values():
        ws = sorted(ws)
        for i in range(len(ws)):
            for j in range(i + 1, len(ws)):
                pair[(ws[i], ws[j])] += 1
    pairs = sorted(p for p, c in pair.items() if KP_DF[0] <= c <= KP_DF[1])
    picked = rng.sample(singles, min(N_KEYPHRASE[0], len(singles)))
    picked += [list(p) for p in rng.sample(pairs, min(N_KEYPHRASE[1], len(pairs)))]
    out = []
    for q in picked:
        terms = [q] if isinstance(q, str) else q
        rel = {i: 1 for i, ws in sets.items() if all(t in ws for t in terms)}
        key = " ".join(terms)
        out.append({"query": key, "relevant": rel, "kind": "keyphrase", "typo": False,
                    "source": f"kp{len(terms)}", "split": split_of(key)})
    return out


def main() -> None:
    ds = build()
    OUT.write_text(json.dumps(ds, ensure_ascii=False, indent=0))
    k, t, kp = ds["known"], ds["topical"], ds["keyphrase"]
    print(f"keyphrase: {len(kp)} (avg {sum(len(q['relevant']) for q in kp) / max(1, len(kp)):.1f} relevant)")
    print(f"known-item: {len(k)} ({sum(q['typo'] for q in k)} with a dropped char); "
          f"topical: {len(t)} (avg {sum(len(q['relevant']) for q in t) / max(1, len(t)):.1f} relevant)")
    for s in ("dev", "test"):
        print(s, sum(q['split'] == s for q in k), sum(q['split'] == s for q in t))
    ime = ds["ime"]
    print(f"pinyin-IME: {len(ime)} " + str(Counter(q["sub"] for q in ime)))
    for q in k[:8] + t[:6] + ime[:12]:
        print(q["query"], q["source"], q["typo"], list(q["relevant"].items())[:3])


if __name__ == "__main__":
    main()
