"""Patent queries."""
from __future__ import annotations

import hashlib
import time

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Institution, Patent
from bot.storage.base import StorageBase
from bot.storage.changes import KIND_PATENT, record_changes

PATENT_TYPES = ("invention", "utility_model", "design")  # 发明 / 实用新型 / 外观设计
DISPLAY_CACHE_SECONDS = 30.0  # an import in another process shows up in dialog prompts within this
DISPLAY_CACHE_SIZE = 4096


@dataclass(frozen=True)
class PatentRow:
    """A plain, session-free view of a patent (safe to pass to handlers and the search index)."""

    id: str
    pub_no: str | None
    title: str
    title_derived: bool
    abstract: str
    claims: str
    applicant: str | None
    inventors: str | None
    ipc: str | None
    grant_date: dt.date | None
    industry_field: str | None
    institution_id: int | None
    source: str
    content_hash: str
    filing_date: dt.date | None = None
    patent_type: str | None = None  # invention | utility_model | design
    legal_status: str | None = None

    @classmethod
    def of(cls, p: Patent) -> "PatentRow":
        return cls(p.id, p.pub_no, p.title, p.title_derived, p.abstract or "", p.claims or "", p.applicant,
                   p.inventors, p.ipc, p.grant_date, p.industry_field, p.institution_id, p.source,
                   p.content_hash, p.filing_date, p.patent_type, p.legal_status)


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


class PatentQueries(StorageBase):
    # -- patents ---------------------------------------------------------------------------------
    async def count_patents(self) -> int:
        async with self.session() as s:
            return int(await s.scalar(select(func.count()).select_from(Patent)) or 0)

    async def get_patent(self, patent_id: str) -> PatentRow | None:
        async with self.session() as s:
            p = await s.get(Patent, patent_id)
            return PatentRow.of(p) if p else None

    async def patent_for_display(self, patent_id: str) -> PatentRow | None:
        """``get_patent`` through a small in-process cache of at most ``DISPLAY_CACHE_SECONDS``: a dialog
        shows the same patent's title on every step, and that read was a transaction per step.
        Only for display — anything that decides or writes reads the database."""
        now = time.monotonic()
        cache = self.display_cache
        hit = cache.get(patent_id)
        if hit is not None and now - hit[0] < DISPLAY_CACHE_SECONDS:
            return hit[1]
        row = await self.get_patent(patent_id)
        if len(cache) >= DISPLAY_CACHE_SIZE:
            cache.clear()
        cache[patent_id] = (now, row)
        return row

    async def get_patents(self, ids: Sequence[str]) -> dict[str, PatentRow]:
        if not ids:
            return {}
        async with self.session() as s:
            rows = await s.scalars(select(Patent).where(Patent.id.in_(list(ids))))
            return {p.id: PatentRow.of(p) for p in rows}

    async def all_patents(self, batch: int = 2000) -> AsyncIterator[PatentRow]:
        """Every patent, streamed in id order (for building the search index)."""
        last = ""
        while True:
            async with self.session() as s:
                rows = list(await s.scalars(select(Patent).where(Patent.id > last)
                                            .order_by(Patent.id).limit(batch)))
            for p in rows:
                yield PatentRow.of(p)
            if len(rows) < batch:
                return
            last = rows[-1].id

    async def patent_fingerprint(self) -> str:
        """Changes whenever a patent's searchable content is added, removed or edited (search-index cache
        validity). Built from ids and content hashes only, so linking a patent to an institution or
        other bookkeeping doesn't invalidate the index."""
        digest = hashlib.sha256()
        n = 0
        async with self.session() as s:
            result = await s.stream(select(Patent.id, Patent.content_hash).order_by(Patent.id)
                                    .execution_options(yield_per=5000))
            async for pid, h in result:
                digest.update(f"{pid}\x1f{h}\x1e".encode())
                n += 1
        return f"{n}:{digest.hexdigest()[:32]}"

    async def upsert_patents(self, records: Iterable[dict[str, Any]]) -> tuple[UpsertCounts, list[str]]:
        """Insert new patents and update changed ones (compared by content_hash).

        Returns the counts and the ids that were added or changed (the search index upserts them).
        """
        async with self.session() as s:
            counts, changed = await self.upsert_patents_in(s, list(records))
        self.display_cache.clear()
        return counts, changed

    @staticmethod
    async def upsert_patents_in(s: AsyncSession, recs: list[dict[str, Any]]) -> tuple[UpsertCounts, list[str]]:
        """``upsert_patents`` in the caller's transaction, with the change log every process's index
        follows written in it too. The caller clears ``display_cache`` once it has committed."""
        counts = UpsertCounts()
        changed: list[str] = []
        existing = {}
        for i in range(0, len(recs), 500):
            chunk = [r["id"] for r in recs[i:i + 500]]
            for p in await s.scalars(select(Patent).where(Patent.id.in_(chunk))):
                existing[p.id] = p
        for n, r in enumerate(recs):
            p = existing.get(r["id"])
            if p is None:
                p = Patent(**r)
                s.add(p)
                existing[p.id] = p
                counts.added += 1
                changed.append(p.id)
            elif p.content_hash != r["content_hash"]:
                for k, v in r.items():
                    setattr(p, k, v)
                counts.updated += 1
                changed.append(p.id)
            else:
                counts.unchanged += 1
            if n % 1000 == 999:
                await s.flush()
        await s.flush()
        await record_changes(s, KIND_PATENT, changed)  # every process's index follows this log
        return counts, changed

    async def pub_no_owners(self, pub_nos: Sequence[str]) -> dict[str, str]:
        """pub_no -> patent id for the given publication numbers that already exist."""
        out: dict[str, str] = {}
        async with self.session() as s:
            for i in range(0, len(pub_nos), 500):
                rows = await s.execute(select(Patent.pub_no, Patent.id)
                                       .where(Patent.pub_no.in_(list(pub_nos[i:i + 500]))))
                out.update({a: b for a, b in rows})
        return out

    async def institution_ids(self, names: Iterable[str]) -> dict[str, int]:
        """name -> id, creating institutions that don't exist yet."""
        names = sorted({n for n in names if n})
        async with self.session() as s:
            rows = await s.execute(select(Institution.name, Institution.id).where(Institution.name.in_(names)))
            out = {a: b for a, b in rows}
            for n in names:
                if n not in out:
                    inst = Institution(name=n)
                    s.add(inst)
                    await s.flush()
                    out[n] = inst.id
        return out

    async def import_patents(self, records: Sequence[dict[str, Any]]) -> tuple[UpsertCounts, list[str]]:
        """Insert new patents and update changed ones (by content_hash) in ONE transaction, creating
        the institutions they name (with their county, and filling a missing county). Each record is
        the Patent columns plus ``institution`` (a name) and ``county``. Returns the counts and the
        added or changed ids (the search index refreshes them)."""
        counties: dict[str, str | None] = {}
        for r in records:
            if r.get("institution"):
                counties[r["institution"]] = counties.get(r["institution"]) or r.get("county")
        async with self.session() as s:
            institutions: dict[str, Institution] = {}
            names = sorted(counties)
            for i in range(0, len(names), 500):
                for inst in await s.scalars(select(Institution).where(Institution.name.in_(names[i:i + 500]))):
                    institutions[inst.name] = inst
            for name, county in counties.items():
                inst = institutions.get(name)
                if inst is None:
                    inst = institutions[name] = Institution(name=name, county=county)
                    s.add(inst)
                elif county and not inst.county:
                    inst.county = county
            await s.flush()
            counts, changed = await self.upsert_patents_in(s, [
                {**{k: v for k, v in r.items() if k not in ("institution", "county")},
                 "institution_id": institutions[r["institution"]].id if r.get("institution") else None}
                for r in records])
        self.display_cache.clear()
        return counts, changed
