"""The one storage layer: every query of the bot lives here (SQLAlchemy 2 async, bound parameters only).

``Storage`` owns the engine and hands out sessions; methods are grouped by aggregate. Callers never
build SQL themselves.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.config import PROJECT_ROOT
from bot.models import AuditLog, Institution, Patent, RoleGrant, User, utcnow

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


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

    @classmethod
    def of(cls, p: Patent) -> "PatentRow":
        return cls(p.id, p.pub_no, p.title, p.title_derived, p.abstract or "", p.claims or "", p.applicant,
                   p.inventors, p.ipc, p.grant_date, p.industry_field, p.institution_id, p.source,
                   p.content_hash)


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the search CLI read while the bot writes; FKs are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Storage:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    # -- lifecycle -------------------------------------------------------------------------------
    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        from alembic import command
        from alembic.config import Config

        def upgrade(sync_conn: Any) -> None:
            cfg = Config(str(ALEMBIC_INI))
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits on success, rolls back on error."""
        async with self.sessions() as s:
            async with s.begin():
                yield s

    # -- users and roles -------------------------------------------------------------------------
    async def touch_user(self, user_id: int, first_name: str, username: str | None,
                         telegram_language: str | None, default_language: str) -> User:
        """Create or refresh a user from a Telegram update; returns a detached User."""
        lang = language_from_telegram(telegram_language, default_language)
        async with self.session() as s:
            user = await s.get(User, user_id)
            if user is None:
                user = User(id=user_id, first_name=first_name[:128], username=username, language=lang)
                s.add(user)
            else:
                user.first_name = first_name[:128]
                user.username = username
                user.last_seen_at = utcnow()
                user.blocked_bot = False
                if not user.language_chosen:
                    user.language = lang
            await s.flush()
            return user

    async def get_user(self, user_id: int) -> User | None:
        async with self.session() as s:
            return await s.get(User, user_id)

    async def set_language(self, user_id: int, language: str) -> None:
        async with self.session() as s:
            user = await s.get(User, user_id)
            if user is not None:
                before = user.language
                user.language = language
                user.language_chosen = True
                self.audit(s, user_id, "set_language", "user", str(user_id), {"language": before},
                           {"language": language})

    async def roles_of(self, user_id: int) -> list[RoleGrant]:
        async with self.session() as s:
            rows = await s.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id,
                                                           RoleGrant.revoked_at.is_(None)))
            return list(rows)

    # -- patents ---------------------------------------------------------------------------------
    async def count_patents(self) -> int:
        async with self.session() as s:
            return int(await s.scalar(select(func.count()).select_from(Patent)) or 0)

    async def get_patent(self, patent_id: str) -> PatentRow | None:
        async with self.session() as s:
            p = await s.get(Patent, patent_id)
            return PatentRow.of(p) if p else None

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
        """Changes whenever a patent is added, removed or edited (for search-index cache validity)."""
        async with self.session() as s:
            n, newest = (await s.execute(select(func.count(), func.max(Patent.updated_at)))).one()
        return f"{n}:{newest.isoformat() if newest else ''}"

    async def upsert_patents(self, records: Iterable[dict[str, Any]]) -> tuple[UpsertCounts, list[str]]:
        """Insert new patents and update changed ones (compared by content_hash).

        Returns the counts and the ids that were added or changed (the search index upserts them).
        """
        counts = UpsertCounts()
        changed: list[str] = []
        recs = list(records)
        async with self.session() as s:
            existing = {}
            for i in range(0, len(recs), 500):
                chunk = [r["id"] for r in recs[i:i + 500]]
                for p in await s.scalars(select(Patent).where(Patent.id.in_(chunk))):
                    existing[p.id] = p
            for r in recs:
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

    # -- audit -----------------------------------------------------------------------------------
    @staticmethod
    def audit(s: AsyncSession, actor_id: int | None, action: str, entity_kind: str, entity_id: str,
              before: dict | None, after: dict | None) -> None:
        """Record a change inside the caller's transaction (so the log and the change commit together)."""
        s.add(AuditLog(actor_id=actor_id, action=action, entity_kind=entity_kind, entity_id=entity_id,
                       before=before, after=after))

    async def audit_entries(self, entity_kind: str | None = None, entity_id: str | None = None,
                            limit: int = 50) -> list[AuditLog]:
        async with self.session() as s:
            q = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
            if entity_kind:
                q = q.where(AuditLog.entity_kind == entity_kind)
            if entity_id:
                q = q.where(AuditLog.entity_id == entity_id)
            return list(await s.scalars(q))


def language_from_telegram(code: str | None, default: str) -> str:
    """Telegram's IETF tag (zh-hans, zh-CN, en, en-US, …) → one of our locales."""
    if not code:
        return default
    code = code.lower()
    if code.startswith("zh"):
        return "zh"
    if code.startswith("en"):
        return "en"
    return default


async def open_storage(url: str) -> Storage:
    storage = Storage(url)
    for attempt in range(5):  # a database that is still starting up is not a reason to die
        try:
            await storage.migrate()
            return storage
        except OSError:
            if attempt == 4:
                raise
            await asyncio.sleep(1 + attempt)
    return storage
