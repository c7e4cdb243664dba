"""The index cache on disk: one ``.npz`` (no pickle) and the fingerprints that tell a current cache
from a stale one."""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.search.documents import SearchDoc, fingerprint_doc
from bot.search.params import Params
from bot.search.semantic import Semantic

if TYPE_CHECKING:
    from bot.search.index import SearchIndex

# part of every fingerprint: a new version makes every cache stale (change it with the format or
# with anything that changes what a build stores)
ENGINE_VERSION = "2"


class StaleIndexError(ValueError):
    """The on-disk index cache does not match the expected fingerprint / engine version."""


def _combined_fingerprint(doc_fingerprints: Iterable[bytes]) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(ENGINE_VERSION.encode())
    for f in sorted(doc_fingerprints):
        h.update(f)
    return h.hexdigest()


class PersistenceMixin:
    """Save, load and fingerprint a :class:`~bot.search.index.SearchIndex` (mixed into it: the arrays
    written are the index's own, see ``SearchIndex.__init__``)."""

    @staticmethod
    def fingerprint_docs(docs: Iterable[SearchDoc]) -> str:
        """The fingerprint an index built from ``docs`` has (``load(path, fingerprint=...)``)."""
        return _combined_fingerprint(fingerprint_doc(d) for d in docs if isinstance(d, SearchDoc) and d.id)

    @property
    def fingerprint(self) -> str:
        """Of the live documents, whatever their order or the updates that led here."""
        return _combined_fingerprint(self._doc_fp[i] for i in range(len(self._ids)) if self._alive[i])

    def save(self, path) -> None:
        """Write an ``.npz`` cache (no pickle).  Delta segments are merged first."""
        if self._delta or self._n_alive != len(self._ids):
            self.compact()
        meta = {
            "engine": ENGINE_VERSION,
            "fingerprint": self.fingerprint,
            "params": {k: getattr(self.params, k) for k in self.params.__dataclass_fields__},
            "ids": self._ids,
            "pubkeys": self._doc_pubkeys,
            "terms": self._terms,
            "avglen": self._avglen.tolist(),
            "pinyin": self._pinyin_cache_meta(),
        }
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            extra = {}
            if self._sem is not None:
                extra = {"sem_colmap": self._sem.colmap, "sem_terms": self._sem.term_vecs,
                         "sem_docs": self._sem.doc_vecs.astype(np.float16)}
            np.savez(fh, meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
                     indptr=self._indptr, pdoc=self._pdoc, psat=self._psat, tri=self._tri,
                     docfp=np.frombuffer(b"".join(self._doc_fp), dtype=np.uint8), **extra)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path, fingerprint: str | None = None) -> "SearchIndex":
        """Load a cache written by :meth:`save`.  Raises StaleIndexError if the engine version or
        the expected ``fingerprint`` (``SearchIndex.fingerprint_docs(docs)``) does not match."""
        try:
            z = np.load(path, allow_pickle=False)
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise StaleIndexError(f"unreadable index cache: {e}") from e
        if meta.get("engine") != ENGINE_VERSION:
            raise StaleIndexError("index cache written by another engine version")
        if fingerprint is not None and meta.get("fingerprint") != fingerprint:
            raise StaleIndexError("index cache is stale (documents changed)")
        prm = meta["params"]
        params = Params(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in prm.items()
                           if k in Params.__dataclass_fields__})
        self = cls(params)
        self._terms = meta["terms"]
        self._vocab = {t: i for i, t in enumerate(self._terms)}
        self._ids = meta["ids"]
        self._id2num = {x: i for i, x in enumerate(self._ids)}
        self._doc_pubkeys = meta["pubkeys"]
        for i, keys in enumerate(self._doc_pubkeys):
            for k in keys:
                self._add_pubkey(k, i)
        fp = bytes(z["docfp"])
        self._doc_fp = [fp[i * 16:(i + 1) * 16] for i in range(len(self._ids))]
        self._avglen = np.asarray(meta["avglen"], dtype=np.float64)
        self._indptr = z["indptr"]
        self._pdoc = z["pdoc"]
        self._psat = z["psat"]
        self._tri = z["tri"]
        if "sem_colmap" in z.files:
            self._sem = Semantic(z["sem_colmap"], z["sem_terms"], z["sem_docs"])
        self._alive = np.ones(len(self._ids), dtype=bool)
        self._n_alive = len(self._ids)
        if self.fingerprint != meta.get("fingerprint"):
            raise StaleIndexError("index cache is corrupt (fingerprint mismatch)")
        self._char_maps()
        self._pinyin_reset(meta.get("pinyin"))
        return self

    @classmethod
    def load_or_build(cls, path, docs: Iterable[SearchDoc]) -> "SearchIndex":
        """Use the cache at ``path`` when it matches ``docs``; otherwise build and (re)write it."""
        docs = list(docs)
        fp = cls.fingerprint_docs(docs)
        try:
            if path is not None and Path(path).exists():
                return cls.load(path, fingerprint=fp)
        except StaleIndexError:
            pass
        idx = cls.build(docs)
        if path is not None:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                idx.save(path)
            except OSError:
                pass
        return idx
