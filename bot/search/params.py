"""Tuning parameters of the search engine (values tuned on the dev split, benchmarks/tune.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Params:
    """Ranking and analysis knobs; stored in the index cache, so a loaded index ranks as built."""
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
    pinyin: bool = True          # typos by sound / order and pinyin input (bot/search/pinyin.py)
    py_typed_heteronyms: bool = True  # a typed character's rare readings count too (体: ti, ben)
    py_rare_df: int = 2          # a CJK term found in at most this many docs gets sound/order variants
    py_max_variants: int = 3
    py_tries: int = 8            # candidates counted in the postings, best bigram bound first
    py_beam: int = 32            # beam width when decoding a whole term's pinyin
    py_swap_trust: float = 0.95  # weight factors of the variants (exact term: 1.0)
    py_near_trust: float = 0.85
    py_spell_trust: float = 0.8
    py_input_trust: float = 0.95 # an ASCII term read as pinyin
    py_nonword_factor: float = 0.8  # a two-character variant that is no word of the vocabulary
    correct_min_weight: float = 0.8  # a variant this strong is offered as "did you mean"
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
