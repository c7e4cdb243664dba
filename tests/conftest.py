"""Shared fixtures: databases (SQLite always, PostgreSQL when TEST_POSTGRES_URL is set), a seeded
corpus template, and a running bot (tests/harness.py) on a copy of it."""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.config import SHIPPED_CORPUS
from bot.storage import Storage
from tests.harness import running_bot

PG_URL = os.environ.get("TEST_POSTGRES_URL")  # e.g. postgresql+asyncpg://postgres@127.0.0.1:55432/postgres
REQUIRE_PG = os.environ.get("REQUIRE_POSTGRES") == "1"  # CI: a missing server is a failure, not a skip


def _pg_admin_dsn() -> str:
    u = make_url(PG_URL)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_url():
    """A fresh, empty UTF-8 PostgreSQL database for one test."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set")
        pytest.skip("TEST_POSTGRES_URL not set")
    name = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                         f"LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def storage(db_url):
    st = Storage(db_url)
    await st.migrate()
    yield st
    await st.close()


FIXTURES = Path(__file__).parent / "fixtures"


# ---------------------------------------------------------------------------------------------------
# End-to-end fixtures; the harness itself is tests/harness.py
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory):
    """A SQLite file with the shipped corpus and a warm search-index cache, built once per session;
    each test works on its own copy."""
    from bot.search.catalog import PatentCatalog
    from bot.io.importer import import_file

    d = tmp_path_factory.mktemp("seed")
    url = f"sqlite+aiosqlite:///{d / 'patents.db'}"

    async def build():
        st = Storage(url)
        await st.migrate()
        await import_file(st, SHIPPED_CORPUS)
        await PatentCatalog(st, cache_dir=d / "cache").load()
        await st.close()

    asyncio.run(build())
    return d


@pytest.fixture
async def bot(seeded_db, tmp_path):
    """A running bot on a copy of the seeded corpus database (SQLite)."""
    async with running_bot(seeded_db, tmp_path) as h:
        yield h
