"""Schema and storage layer on both databases."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, select

from bot.models import AuditLog, Base, Patent


async def test_migrations_create_the_whole_model(storage):
    async with storage.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    # running the migrations again is a no-op
    await storage.migrate()


async def test_migrations_match_the_models(storage):
    """Alembic autogenerate finds nothing to do: models and migrations agree on this backend."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(sync_conn):
        return compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)

    async with storage.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_user_language_and_timestamps_roundtrip(storage):
    u = await storage.touch_user(42, "张三", "zhang", "zh-hans", "zh")
    assert u.language == "zh"
    u = await storage.touch_user(42, "张三", "zhang", "en-US", "zh")
    assert u.language == "en"  # follows Telegram until the user picks one
    await storage.set_language(42, "zh")
    u = await storage.touch_user(42, "张三", "zhang", "en-US", "zh")
    assert u.language == "zh" and u.language_chosen
    got = await storage.get_user(42)
    assert got.created_at.tzinfo is not None
    assert abs(got.last_seen_at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    async with storage.session() as s:
        entries = list(await s.scalars(select(AuditLog).where(AuditLog.entity_id == "42")))
    assert [e.action for e in entries] == ["set_language"]
    assert entries[0].before == {"language": "en"} and entries[0].after == {"language": "zh"}


async def test_chinese_text_and_bound_parameters(storage):
    hostile = "锂电池'); DROP TABLE patents; --"
    rec = dict(id="X-1", pub_no=None, title=hostile, title_derived=False, abstract="正极材料 " * 3,
               claims="", applicant=None, inventors=None, ipc=None, grant_date=None, industry_field=None,
               legal_status=None, source="t", source_idx=1, content_hash="h1", institution_id=None)
    counts, changed = await storage.upsert_patents([rec])
    assert (counts.added, changed) == (1, ["X-1"])
    p = await storage.get_patent("X-1")
    assert p.title == hostile
    assert await storage.count_patents() == 1
    async with storage.session() as s:
        assert (await s.scalar(select(Patent.title).where(Patent.title.like("%DROP%")))) == hostile


async def test_patent_stream_and_fingerprint(storage):
    base = dict(pub_no=None, title_derived=True, claims="", applicant=None, inventors=None, ipc=None,
                grant_date=None, industry_field=None, legal_status=None, source="t", institution_id=None)
    recs = [dict(base, id=f"d-{i:04d}", title=f"t{i}", abstract=f"a{i}", source_idx=i, content_hash=str(i))
            for i in range(25)]
    await storage.upsert_patents(recs)
    fp1 = await storage.patent_fingerprint()
    ids = [p.id async for p in storage.all_patents(batch=7)]
    assert ids == sorted(r["id"] for r in recs)
    changed = dict(recs[3], abstract="new", content_hash="new")
    counts, ids = await storage.upsert_patents([changed, recs[4]])
    assert (counts.added, counts.updated, counts.unchanged, ids) == (0, 1, 1, ["d-0003"])
    assert await storage.patent_fingerprint() != fp1


async def test_deadline_scopes_migrate_to_one_representation(storage):
    """0006: the seeded deadlines' department kinds ("科技") and officers' department ids ("12") both
    become scope tokens, and back on downgrade."""
    from alembic import command
    from alembic.config import Config

    from bot.models import Deadline
    from bot.storage.base import ALEMBIC_INI

    def alembic(fn, rev):
        def run(sync_conn):
            cfg = Config(str(ALEMBIC_INI))
            cfg.attributes["connection"] = sync_conn
            fn(cfg, rev)
        return run

    async with storage.engine.begin() as conn:
        await conn.run_sync(alembic(command.downgrade, "0005"))
    async with storage.session() as s:
        s.add(Deadline(title="区局自定", due_date=dt.date(2030, 1, 1), departments=["12", "福州市科学技术局"]))
    async with storage.engine.begin() as conn:
        await conn.run_sync(alembic(command.upgrade, "head"))
    async with storage.session() as s:
        got = {d.key or d.title: d.departments for d in await s.scalars(select(Deadline))}
    assert got["plan2024_registration"] == ["kind:market", "kind:science", "kind:industry", "kind:state_assets"]
    assert got["plan2024_inventory"][:2] == ["kind:market", "kind:education"]
    assert got["区局自定"] == ["dept:12", "kind:science"]
    async with storage.engine.begin() as conn:
        await conn.run_sync(alembic(command.downgrade, "0005"))
    async with storage.session() as s:
        got = {d.key or d.title: d.departments for d in await s.scalars(select(Deadline))}
    assert got["plan2024_registration"] == ["市场监管", "科技", "工信", "国资"] and got["区局自定"] == ["12", "科技"]
    await storage.migrate()


async def test_the_change_log_is_trimmed_but_its_newest_entry_and_ids_stay(storage):
    from bot.models import PatentChange
    from bot.storage.changes import KIND_PATENT, record_changes

    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    async with storage.session() as s:
        await record_changes(s, KIND_PATENT, ["CN1", "CN2", "CN3"])
    async with storage.session() as s:
        for c in await s.scalars(select(PatentChange)):
            c.created_at = old  # all three written days ago
    newest = await storage.last_change_id()
    assert await storage.prune_change_log(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)) == 2
    assert [i for i, *_ in await storage.changes_after(0)] == [newest]  # the newest stays, however old
    async with storage.session() as s:
        await record_changes(s, KIND_PATENT, ["CN4"])
    assert await storage.last_change_id() > newest  # ids keep growing: no follower misses one
    assert await storage.prune_change_log(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)) == 1
