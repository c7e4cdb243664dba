"""First user journey, end to end: real PTB Application ⇄ HTTP ⇄ emulator, a simulated phone user."""
from __future__ import annotations

import json
import subprocess
import sys

from bot.config import PROJECT_ROOT


async def test_start_in_chinese_and_english(bot):
    zh = await bot.user(2001, "李雷", language_code="zh-hans")
    replies = await zh.send("/start")
    assert len(replies) == 1
    assert "欢迎使用" in replies[0].text and "李雷" in replies[0].text
    assert "3720" in replies[0].text  # the seeded library size

    en = await bot.user(2002, "Alice", language_code="en-US")
    replies = await en.send("/start")
    assert "welcome" in replies[0].text.lower() and "Alice" in replies[0].text

    other = await bot.user(2003, "Hans", language_code="de")
    assert "欢迎使用" in (await other.send("/start"))[0].text  # default language


async def test_help_and_command_menu(bot):
    u = await bot.user(2010, language_code="en")
    (msg,) = await u.send("/help")
    assert "/lang" in msg.text and "Search patents" in msg.text
    everyone = ["start", "browse", "events", "myevents", "subscriptions", "me", "lang", "privacy", "mydata", "deleteme",
                "help", "cancel"]
    commands = bot.emulator.commands_for(language_code="en")
    assert [c["command"] for c in commands] == everyone
    assert [c["command"] for c in bot.emulator.commands_for()] == everyone


async def test_lang_switch_is_remembered(bot):
    u = await bot.user(2020, "小明", language_code="zh-hans")
    await u.send("/lang")
    edited = await u.press("English")
    assert any("English" in m.text for m in edited)
    (msg,) = await u.send("/help")
    assert "Search patents" in msg.text
    await bot.restart()
    (msg,) = await u.send("/help")
    assert "Search patents" in msg.text  # stored in the database, not in memory


async def test_plain_text_searches_and_highlights(bot):
    u = await bot.user(2030)
    (msg,) = await u.send("掘进机")
    assert "近水平薄矿体智能掘进机机械开采方法" in msg.text
    assert "CN113914863A" in msg.text
    assert "<b>掘进机</b>" in msg.html
    (msg,) = await u.send("CN113914863A")
    assert "近水平薄矿体智能掘进机机械开采方法" in msg.text


async def test_search_escapes_user_text_and_handles_nonsense(bot):
    u = await bot.user(2040)
    (msg,) = await u.send("<b>x</b> & \" OR 1=1 --")
    assert "<b>x</b>" in msg.text  # shown literally, so it was escaped for Telegram HTML
    (msg,) = await u.send("qqqqzzzzxxxx")
    assert "没有找到" in msg.text
    (msg,) = await u.send("锂" * 150)
    assert "太长" in msg.text and "150" in msg.text


async def test_unknown_command_and_non_text(bot):
    u = await bot.user(2050)
    (msg,) = await u.send("/frobnicate now")
    assert "/frobnicate" in msg.text and "/help" in msg.text
    replies = await u.upload("photo.bin", b"\x00\x01")
    assert replies and "/help" in replies[-1].text


def _search_cli(args: list[str], stdin: str, data_dir) -> subprocess.CompletedProcess:
    env = {"DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run_bot.py"), "search", *args], input=stdin,
                          env=env, capture_output=True, text=True, timeout=300)


def test_search_cli_json_contract(seeded_db, tmp_path):
    import shutil

    shutil.copy(seeded_db / "patents.db", tmp_path / "patents.db")
    shutil.copytree(seeded_db / "cache", tmp_path / "cache")
    queries = ["掘进机", "锂电池 正极", "", "\" OR 1=1 --", "CN113914863A"]
    out = _search_cli(["--json", "--limit", "3", "-"], "\n".join(queries) + "\n", tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["query"] for line in lines] == queries
    for line in lines:
        assert len(line["results"]) <= 3
        for r in line["results"]:
            assert set(r) >= {"id", "pub_no", "title", "abstract", "score"}
        scores = [r["score"] for r in line["results"]]
        assert scores == sorted(scores, reverse=True)
    assert "CN113914863A" in [r["pub_no"] for r in lines[0]["results"]]
    assert lines[4]["results"][0]["id"] == "CN113914863A"
    assert lines[2]["results"] == []
    one = _search_cli(["--json", "--limit", "1", "智能掘进机 开采方法"], "", tmp_path)
    assert json.loads(one.stdout)["results"][0]["pub_no"] == "CN113914863A"


def test_search_cli_seeds_a_fresh_data_dir(tmp_path):
    out = _search_cli(["--json", "--limit", "2", "近水平薄矿体 掘进机"], "", tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"][0]["pub_no"] == "CN113914863A"
    assert (tmp_path / "patents.db").exists()
