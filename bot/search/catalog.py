"""PatentCatalog: the in-memory search index (bot/search/index.py) kept in step with the patents table.

The index is built from the database at start-up (or loaded from a cache file whose fingerprint
matches the table) and updated incrementally when patents are imported or edited.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.search import SearchDoc, SearchIndex, SearchResult
from bot.storage import PatentRow, Storage

log = logging.getLogger(__name__)


def doc_of(p: PatentRow) -> SearchDoc:
    return SearchDoc(id=p.id, title=p.title, abstract=p.abstract, claims=p.claims, pub_no=p.pub_no)


@dataclass
class CatalogPage:
    result: SearchResult
    patents: list[PatentRow]  # in hit order, only those still in the database


class PatentCatalog:
    def __init__(self, storage: Storage, cache_dir: Path | None = None) -> None:
        self.storage = storage
        self.cache_dir = cache_dir
        self.index: SearchIndex | None = None
        self._lock = asyncio.Lock()
        # the patent change log's newest entry when the index was read from the database: changes after
        # it are applied by the follower (bot/search/freshness.py); some may already be in the index
        self.change_mark = 0
        self.follower: Any = None  # bot.search.freshness.IndexFollower, when one runs in this process

    async def load(self) -> None:
        async with self._lock:
            t0 = time.perf_counter()
            self.change_mark = await self.storage.last_change_id()
            fingerprint = await self.storage.patent_fingerprint()
            self.index = await asyncio.to_thread(self._load_cache, fingerprint)
            how = "cache"
            if self.index is None:
                docs = [doc_of(p) async for p in self.storage.all_patents()]
                self.index = await asyncio.to_thread(SearchIndex.build, docs)
                await asyncio.to_thread(self._save_cache, fingerprint)
                how = "built"
            log.info("search index %s: %d patents in %.2fs", how, len(self.index), time.perf_counter() - t0)

    def _paths(self) -> tuple[Path, Path] | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / "search-index", self.cache_dir / "search-index.fingerprint.json"

    def has_cache(self) -> bool:
        paths = self._paths()
        return bool(paths and paths[1].exists())

    def _load_cache(self, fingerprint: str) -> SearchIndex | None:
        paths = self._paths()
        if not paths or not paths[1].exists():
            return None
        try:
            meta = json.loads(paths[1].read_text())
            if meta.get("fingerprint") != fingerprint:
                return None
            return SearchIndex.load(paths[0])
        except Exception:  # a corrupt or old-format cache is rebuilt, never fatal
            log.warning("search index cache unusable; rebuilding", exc_info=True)
            return None

    def _save_cache(self, fingerprint: str) -> None:
        paths = self._paths()
        if not paths or self.index is None:
            return
        try:
            paths[0].parent.mkdir(parents=True, exist_ok=True)
            self.index.save(paths[0])
            paths[1].write_text(json.dumps({"fingerprint": fingerprint}))
        except Exception:
            log.warning("could not write the search index cache", exc_info=True)

    async def refresh(self, ids: list[str], *, save: bool = True, chunk: int = 50) -> None:
        """Re-index the given patents after an import or edit (no full rebuild). ``save=False``: leave
        the cache file alone (a process following another's change; the changing process writes it).
        Searches go on between chunks: an upsert analyses the patent's text on the event loop."""
        if self.index is None or not ids:
            return
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            rows = await self.storage.get_patents(part)
            async with self._lock:
                for pid in part:
                    if pid in rows:
                        self.index.upsert(doc_of(rows[pid]))
                    else:
                        self.index.remove(pid)
            await asyncio.sleep(0)
        if save:
            async with self._lock:
                await asyncio.to_thread(self._save_cache, await self.storage.patent_fingerprint())

    async def catch_up(self) -> None:
        """Apply the change log now (not at the follower's next turn): for readers that must not miss
        a change made moments ago by another process, such as the daily digest."""
        if self.follower is not None:
            await self.follower.sync_once()

    async def search(self, query: str, *, limit: int = 5, offset: int = 0,
                     allowed_ids: set[str] | None = None) -> CatalogPage:
        if self.index is None:
            await self.load()
        assert self.index is not None
        result = self.index.search(query, limit=limit, offset=offset, allowed_ids=allowed_ids)
        rows = await self.storage.get_patents([h.id for h in result.hits])
        return CatalogPage(result, [rows[h.id] for h in result.hits if h.id in rows])
