"""Patent search: an in-memory index over the patents' text, kept in step with the patents table.

How it reads (see benchmarks/README.md for the numbers):

* ``index``: ``SearchIndex``, the facade -- its state, the build, upsert/remove/compaction, the
  postings, and the order of a search (pub_no hits first, then the scored docs, filtered, ranked).
* ``text``: analysis. NFKC + lowercase; CJK runs -> jieba search-mode words + character bigrams
  (+ unigrams); ASCII alnum runs -> tokens. Cached per sentence.
* ``variants``: the query's user terms (split on whitespace / punctuation) and their variants:
  typos (one character inserted, found through a corpus trigram table: "掘机" -> "掘进机"), weighted
  by how much more frequent the variant is; compounds (off by default).
* ``scoring``: BM25F (title > abstract > claims) over numpy CSR postings (int32 doc numbers,
  float16 saturated tf; idf at query time); docs rank by the number of user terms matched (AND
  first, then OR), then by BM25F. Only the docs in the union of the query's postings are scored,
  unless every doc can get a score (the LSA cosine, ``semantic``, built up to ``sem_max_docs``);
  both paths give the same scores. Pseudo-relevance feedback / RM3 are there, off by default (no
  gain on the dev split).
* ``filters``: ``allowed_ids`` and ``IdFilter``, a compiled id set for filters reused across queries.
* ``persistence``: the ``.npz`` cache and the fingerprints that tell whether it is current.
* ``documents``, ``params``, ``highlight``: what goes in and comes out, the tuning knobs, the <b>
  spans of matched terms for the UI.
* ``catalog``: ``PatentCatalog``, the index built from (or cached for) the patents table and updated
  when patents change.
"""
from bot.search.documents import SearchDoc, SearchHit, SearchResult
from bot.search.filters import IdFilter
from bot.search.highlight import highlight_spans
from bot.search.index import SearchIndex
from bot.search.params import Params
from bot.search.persistence import StaleIndexError

__all__ = ["IdFilter", "Params", "SearchDoc", "SearchHit", "SearchResult", "SearchIndex", "StaleIndexError",
           "highlight_spans"]
