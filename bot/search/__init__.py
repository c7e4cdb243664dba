"""Patent search: the in-memory index (``index``: ``SearchIndex`` is the facade), text analysis
(``text``), the LSA neighbour expansion (``semantic``) and the catalog that keeps the index in step
with the patents table (``catalog``)."""
from bot.search.index import (IdFilter, Params, SearchDoc, SearchHit, SearchIndex, SearchResult, StaleIndexError,
                              highlight_spans)

__all__ = ["IdFilter", "Params", "SearchDoc", "SearchHit", "SearchIndex", "SearchResult", "StaleIndexError",
           "highlight_spans"]
