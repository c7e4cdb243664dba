"""Fresh search in every running process: ``python run_bot.py`` in subprocesses, a patent imported by
``run_bot.py import`` next to them, an assessment decided through another process. Users see it in
their search (and its filters) within seconds, without a restart. Nothing here reaches into a bot's
process: the phones talk to the emulator, the operator runs the CLI."""
from __future__ import annotations

import asyncio
import contextlib
import csv
import subprocess
import sys
import time

import pytest

from bot.config import PROJECT_ROOT
from devtools.emulator import BotAPIEmulator
from tests.harness import ADMIN, user_with_role
from tests.shipped import ShippedBot, seeded_data_dir
from tests.test_shipped import TOKEN, Phones, _polling_env

FRESH_WITHIN = 6.0  # seconds: the SQLite poll is 1 s, PostgreSQL's NOTIFY is immediate


def write_patents(path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["pub_no", "title", "abstract", "institution"])
        w.writeheader()
        w.writerows(rows)


def cli_import(env: dict[str, str], path) -> str:
    """The operator's ``python run_bot.py import FILE`` with the bot's environment."""
    bot = ShippedBot(env)  # only for its cleaned environment
    out = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py"), "import", str(path)], env=bot.env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


async def seconds_until_found(u, query: str, needle: str, timeout: float = 30) -> float:
    """How long after now the user's search for ``query`` first answers with ``needle``."""
    t0 = time.monotonic()
    while True:
        replies = await u.send(query)
        if needle in " ".join(m.text or "" for m in replies):
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, f"{needle!r} never found by {query!r}: {replies.last.text}"
        await asyncio.sleep(0.3)


NEW = {"pub_no": "CN199999999A", "title": "一种氦闪烁晶体蜂巢探测器",
       "abstract": "本发明公开了一种氦闪烁晶体蜂巢探测器，用于弱光探测。", "institution": "福州大学"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bot_env(request, seeded_db, tmp_path):
    """What ``run_bot.py`` runs on: the seeded SQLite copy, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return {"DATA_DIR": str(seeded_data_dir(seeded_db, tmp_path / "data"))}
    return {"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": request.getfixturevalue("pg_url"),
            "SEED_CORPUS": "0"}


async def test_a_cli_import_reaches_the_running_bots_search_within_seconds(bot_env, tmp_path):
    async with BotAPIEmulator(token=TOKEN) as emu, Phones(emu.url) as phones:
        env = _polling_env(emu, tmp_path, **bot_env)
        async with ShippedBot(env) as bot:
            u = await phones.user(4101, "企业用户")
            (before,) = await u.send(NEW["pub_no"])
            assert NEW["title"] not in before.text
            path = tmp_path / "new.csv"
            write_patents(path, [NEW])
            assert "1 added" in await asyncio.to_thread(cli_import, env, path)
            took = await seconds_until_found(u, NEW["pub_no"], NEW["title"])
            assert took < FRESH_WITHIN
            # an edit of the same patent: the new title is found by its words, the old one is gone
            write_patents(path, [{**NEW, "title": "一种氦闪烁晶体棱镜探测器",
                                  "abstract": "本发明公开了一种氦闪烁晶体棱镜探测器，用于弱光探测。"}])
            assert "1 updated" in await asyncio.to_thread(cli_import, env, path)
            took = await seconds_until_found(u, NEW["pub_no"], "棱镜探测器")
            assert took < FRESH_WITHIN
            (by_words,) = await u.send("氦闪烁晶体棱镜")
            assert "棱镜探测器" in by_words.text and "蜂巢" not in by_words.text
        assert "Traceback" not in bot.output


def corpus_excerpt(seeded_db, path, *title_patterns: str, per_pattern: int = 20,
                   institution: str = "福州大学") -> None:
    """Patents of the shipped corpus whose title or abstract matches, as an import file naming
    ``institution`` as their holder (as the base library does)."""
    import sqlite3

    cols = ["id", "pub_no", "title", "abstract", "claims", "source"]
    with contextlib.closing(sqlite3.connect(seeded_db / "patents.db")) as db:
        rows = [r for pat in title_patterns for r in db.execute(
            f"SELECT {', '.join(cols)} FROM patents WHERE title LIKE ? OR abstract LIKE ? ORDER BY id LIMIT ?",
            (pat, pat, per_pattern))]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow([*cols, "institution"])
        w.writerows([*r, institution] for r in rows)


# ---------------------------------------------------------------------------------------------------
# Two processes on one PostgreSQL: what one decides, the other's filters see
# ---------------------------------------------------------------------------------------------------

@pytest.mark.postgres
async def test_an_assessment_decided_through_one_process_changes_the_others_filters(pg_url, seeded_db,
                                                                                     tmp_path):
    from tests.test_assessment import full_assessment, link, make_inventor

    # each process has its own Bot API endpoint (its own emulator), so each user talks to one process
    async with BotAPIEmulator(token=TOKEN) as emu_a, BotAPIEmulator(token=TOKEN) as emu_b, \
            Phones(emu_a.url) as phones_a, Phones(emu_b.url) as phones_b:
        shared = {"DATABASE_URL": pg_url, "SEED_CORPUS": "0"}
        env_a = _polling_env(emu_a, tmp_path / "a", **shared)
        env_b = _polling_env(emu_b, tmp_path / "b", **shared)
        # a small library: the shipped corpus's tunnelling-machine patents and some batteries
        path = tmp_path / "library.csv"
        corpus_excerpt(seeded_db, path, "%掘进机%", "%锂电池%")
        await asyncio.to_thread(cli_import, env_a, path)
        async with ShippedBot(env_a) as bot_a:
            async with ShippedBot(env_b) as bot_b:
                buyer = await phones_b.user(4201, "企业用户")

                async def filtered_search() -> str:
                    await buyer.send("掘进机")
                    await buyer.press("🔎 筛选")
                    await buyer.press("转化意愿")
                    return (await buyer.press("许可")).last.text

                assert "没有找到" in await filtered_search()
                inventor = await make_inventor(phones_a)
                office = await user_with_role(phones_a, 4202, "林老师", "tto 福州大学")
                await link(inventor, office=office)
                await full_assessment(inventor)
                await inventor.press("✅ 确认提交")
                # submitted through A: B's filtered search has the patent
                t0 = time.monotonic()
                text = await filtered_search()
                assert "近水平薄矿体" in text and "共 1 件" in text, text
                assert time.monotonic() - t0 < FRESH_WITHIN + 10

                admin = phones_a.users.get(ADMIN) or await phones_a.user(ADMIN, "管理员")
                from tests.harness import invite_code

                code = await invite_code(admin, "tto 福州大学")
                tto = await phones_a.user(3301, "技转办")
                await tto.send(f"/start {code}")
                await tto.send("/review")
                await tto.press("↩️ 退回 1")
                await tto.send("请补充实施情况")
                # returned through A: gone from B's filtered results
                assert "没有找到" in await filtered_search()
            assert "Traceback" not in bot_b.output
        assert "Traceback" not in bot_a.output
