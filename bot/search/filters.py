"""Restricting a search to a set of doc ids (``allowed_ids=``): any container works; an
:class:`IdFilter` (or a frozenset, compiled once) is a cached numpy mask for filters reused across
many queries."""
from __future__ import annotations

import itertools
from collections.abc import Container, Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.search.index import SearchIndex


class IdFilter:
    """A Container[str] of doc ids bound to one SearchIndex (see SearchIndex.id_filter)."""

    def __init__(self, index: SearchIndex, ids: Iterable[str]):
        self._index = index
        self._ids = frozenset(ids)
        self._cache_key = None
        self._cached: np.ndarray | None = None

    def __contains__(self, x: object) -> bool:
        return x in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self):
        return iter(self._ids)

    def _mask(self, n: int) -> np.ndarray:
        ix = self._index
        key = (len(ix._ids), ix._n_alive, id(ix._indptr))
        if self._cached is None or self._cache_key != key:
            m = np.zeros(len(ix._ids), dtype=bool)
            nums = np.fromiter(map(ix._id2num.get, self._ids, itertools.repeat(-1)), dtype=np.int64,
                               count=len(self._ids))
            m[nums[nums >= 0]] = True
            self._cached, self._cache_key = m, key
        return self._cached[:n]


class FilterMixin:
    """The ``allowed_ids`` side of :class:`~bot.search.index.SearchIndex` (mixed into it)."""

    _ids: list[str]              # doc number -> id
    _id2num: dict[str, int]      # id -> doc number of its live version

    def id_filter(self, ids: Iterable[str]) -> "IdFilter":
        """Pre-compile a set of doc ids (an industry / intent filter) for repeated ``allowed_ids=``
        use: membership becomes a numpy mask lookup (fast at 1M docs).  Stays valid across
        upserts/removes (ids are re-resolved lazily when the index changes)."""
        return IdFilter(self, ids)

    def _restrict_to_allowed(self, allowed_ids: Container[str], cand: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``mask`` (one flag per candidate doc number in ``cand``) with the docs outside
        ``allowed_ids`` cleared."""
        n = len(self._ids)
        if isinstance(allowed_ids, IdFilter) and allowed_ids._index is self:
            return mask & allowed_ids._mask(n)[cand]
        dense = np.zeros(n, dtype=bool)
        dense[cand[mask]] = True
        return mask & self._allowed_mask(allowed_ids, dense)[cand]

    def _allowed_mask(self, allowed_ids: Container[str], mask: np.ndarray) -> np.ndarray:
        """Per-doc flags of ``allowed_ids`` (any container of ids), right at least for the docs set
        in ``mask``: a container much bigger than those is tested against them, not resolved."""
        n = len(mask)
        if type(allowed_ids) is frozenset:
            # immutable: cache its compiled mask (keeps a reference, so id() stays unique)
            cache = self.__dict__.setdefault("_fs_cache", {})
            f = cache.get(id(allowed_ids))
            if f is None or f[0] is not allowed_ids:
                if len(cache) >= 16:
                    cache.pop(next(iter(cache)))
                f = (allowed_ids, IdFilter(self, allowed_ids))
                cache[id(allowed_ids)] = f
            return f[1]._mask(n)
        size = None
        try:
            size = len(allowed_ids)  # type: ignore[arg-type]
        except TypeError:
            pass
        cand = np.nonzero(mask)[0]
        out = np.zeros(n, dtype=bool)
        if size is not None and hasattr(allowed_ids, "__iter__") and size < 4 * len(cand):
            nums = np.fromiter(map(self._id2num.get, allowed_ids, itertools.repeat(-1)), dtype=np.int64,
                               count=size)  # type: ignore[arg-type]
            nums = nums[(nums >= 0) & (nums < n)]
            out[nums] = True
        else:
            ids = self._ids
            keep = [num for num in cand.tolist() if ids[num] in allowed_ids]
            out[np.asarray(keep, dtype=np.int64)] = True
        return out
