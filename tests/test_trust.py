"""Attacks on trust boundaries, each made as the attacker would make it: forged buttons through the
emulator, stale subscriptions in the database, a failing transport, files left by the CLI."""
from __future__ import annotations

from sqlalchemy import select

from bot.models import Transaction
from tests.harness import user_with_role as make_role
from tests.test_assessment import link, make_inventor
from tests.test_enterprise import record_licence_deal, register_enterprise


async def _filing_status(bot) -> str | None:
    async with bot.services.storage.session() as s:
        return (await s.scalars(select(Transaction))).one().product_filing_status


async def _industrialised_deal(bot):
    """The patent's office records a deal with 福州矿机有限公司 and marks it industrialised; the
    office, the enterprise user and the filing reminder (with its filing-status buttons)."""
    inventor = await make_inventor(bot)
    await link(inventor)
    tto = await make_role(bot, 9101, "技转办", "tto 福州大学")
    ent = await register_enterprise(bot, uid=9102, company="福州矿机有限公司")
    card = await record_licence_deal(tto, "福州矿机有限公司")
    await tto.press(next(x for x in card.labels if x.startswith("🏭")))
    reminder = await ent.wait_for("专利密集型产品备案认定试点平台", timeout=10)
    return tto, ent, reminder


async def test_filing_status_only_by_the_deals_office_or_enterprise(bot):
    tto, ent, reminder = await _industrialised_deal(bot)
    datas = [b["callback_data"] for b in reminder.raw_buttons[0]]
    assert all(d.startswith("tf:") for d in datas)
    before = await _filing_status(bot)
    other_office = await make_role(bot, 9103, "厦大技转", "tto 厦门大学")
    other_ent = await register_enterprise(bot, uid=9104, company="无关企业有限公司")
    for attacker in (other_office, other_ent):
        anchor = (await attacker.send("/me")).last
        for data in datas:
            r = await attacker.press(callback_data=data, message_id=anchor.message_id, stale=True)
            assert r.answer is not None
            assert not any("已记录备案进展" in m.text for m in r)
    assert await _filing_status(bot) == before
    # the deal's enterprise and the patent's own office may
    saved = await ent.press("已提交备案", message_id=reminder.message_id)
    assert "已提交备案" in saved.text
    assert await _filing_status(bot) == "filed"
    anchor = (await tto.send("/me")).last
    await tto.press(callback_data=datas[2], message_id=anchor.message_id, stale=True)
    assert await _filing_status(bot) == "certified"


async def test_deadline_reminders_only_for_officers_and_admins(bot):
    from bot.storage.subscriptions import DEADLINES
    from bot.telegram.callbacks import SubscriptionsPage
    from tests.test_events import sh

    officer = await make_role(bot, 9201, "市局", "officer 市场监管局")
    outsider = await register_enterprise(bot, uid=9202, company="好奇企业有限公司")
    (view,) = await outsider.send("/subscriptions")
    assert "任务节点提醒" not in " ".join(view.labels) and "已报名活动的提醒" in " ".join(view.labels)
    r = await outsider.press(callback_data=SubscriptionsPage("m", "dl").pack(), message_id=view.message_id,
                             stale=True)
    assert r.answer is not None
    subs = await bot.services.storage.subscriptions_of(outsider.user_id)
    assert not [x for x in subs if x.topic_kind == DEADLINES and x.active]
    # a subscription row from before the rule (old data) must not make the outsider a recipient
    assert await bot.services.storage.toggle_subscription(outsider.user_id, DEADLINES, "")
    bot.clock.set(sh(2024, 7, 1, 9, 0, 1))
    await officer.wait_for("任务节点提醒", timeout=10)  # the reminder job did run
    assert await bot.services.outbox.drain(timeout=10)
    await outsider.refresh()
    assert not [m for m in outsider.bot_messages() if "任务节点" in m.text]
    assert not [m for m in await bot.services.storage.outbox_messages(chat_id=outsider.user_id)
                if m.idempotency_key.startswith("deadline:")]


async def _transport_failure(url: str) -> Exception:
    from bot.telegram.http import AiohttpRequest

    request = AiohttpRequest(connect_timeout=2, read_timeout=2, write_timeout=2)
    await request.initialize()
    try:
        await request.do_request(url, "POST")
    except Exception as err:  # noqa: BLE001 - the failure is what is examined
        return err
    finally:
        await request.shutdown()
    raise AssertionError(f"{url} did not fail")


async def test_bot_token_redacted_from_transport_errors_and_logs(bot, caplog):
    import logging
    import socket
    import traceback

    from aiohttp import web

    from tests.harness import E2E_TOKEN

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]

    async def loop_back(request):  # a misconfigured proxy: aiohttp gives up quoting the URL
        raise web.HTTPFound(str(request.rel_url))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", loop_back)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        errors = [await _transport_failure(f"http://127.0.0.1:{closed}/bot{E2E_TOKEN}/getMe"),
                  await _transport_failure(f"http://127.0.0.1:{port}/bot{E2E_TOKEN}/getMe")]
    finally:
        await runner.cleanup()
    assert "TooManyRedirects" in str(errors[1]) and "/bot<redacted>/getMe" in str(errors[1])
    log = logging.getLogger("bot.telegram.http")
    with caplog.at_level(logging.INFO):
        for err in errors:
            text = "".join(traceback.format_exception(err))
            assert E2E_TOKEN not in text, text
            log.warning("send failed: %s", err, exc_info=err)
        # what aiohttp itself says, logged as the program would with the raw error in hand
        try:
            raise RuntimeError(f"POST http://127.0.0.1:{port}/bot{E2E_TOKEN}/getMe failed")
        except RuntimeError:
            logging.getLogger("telegram.ext.Updater").exception("unexpected failure")  # PTB's own logger
        log.info("configured token %s", E2E_TOKEN)
    assert len(caplog.records) == 4
    assert E2E_TOKEN not in caplog.text and "<redacted>" in caplog.text and "RuntimeError" in caplog.text
    assert not [r for r in caplog.records if E2E_TOKEN in r.getMessage()]


def test_cli_creates_private_database_cache_and_exports(tmp_path):
    import os
    import stat
    import subprocess

    from tests.shipped import ShippedBot

    data = tmp_path / "data"  # fresh: the program creates it

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = ShippedBot({"DATA_DIR": str(data)}, args, cwd=tmp_path)
        out = subprocess.run(cmd.args, env=cmd.env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=280)
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    old = os.umask(0o022)  # a permissive parent, as a service manager's default would be
    try:
        run("migrate")
        run("search", "锂电池")  # seeds the corpus and writes the search-index cache
        out = run("export", "--out", "exports")
    finally:
        os.umask(old)
    exports = [line.strip() for line in out.stdout.splitlines() if line.startswith("  ")]
    assert len(exports) == 2
    made = [data, data / "patents.db", data / "cache", *(data / "cache").rglob("*"), tmp_path / "exports",
            *map(os.path.abspath, exports)]
    assert (data / "cache").is_dir() and any((data / "cache").iterdir())
    leaky = {str(p): oct(stat.S_IMODE(os.stat(p).st_mode)) for p in made
             if stat.S_IMODE(os.stat(p).st_mode) & 0o077}
    assert not leaky


async def test_control_characters_in_a_name_and_text_lock_nobody_out(db_url, tmp_path):
    """A NUL in a user's name or message is cleaned where updates enter (PostgreSQL refuses NUL in
    text, so stored raw it made every later update of that user fail)."""
    from tests.harness import running_program

    async with running_program(tmp_path, db_url) as bot:
        u = await bot.user(7301, "张\x00老师")
        (welcome,) = await u.send("/start")
        assert "张 老师" in welcome.text
        (answer,) = await u.send("锂电\x00池\x07")
        assert answer.text
        (me,) = await u.send("/me")  # the next update of the same user is served as usual
        assert me.text  # (and leaving the block asserts that no handler failed)
