"""The in-process end-to-end harness: the Bot API emulator on a loopback port, the program started by
``bot.bootstrap.start`` (the start-up of ``run_bot.py``) long-polling it, and simulated users that type
and tap through the emulator's HTTP API. Plus the scenario helpers most tests share."""
from __future__ import annotations

import datetime as dt
import logging
import shutil
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp

from bot.config import Settings

E2E_TOKEN = "123456:TEST-TOKEN"


class BotHarness:
    """Emulator + the program as ``bot.bootstrap.start`` brings it up (the same start-up as
    ``run_bot.py``), long-polling the emulator. ``restart()`` stops it and starts it again on the same
    database, with the clock where it was (as ``BOT_CLOCK_START`` would)."""

    def __init__(self, data_dir: Path, db_url: str, admin_ids: frozenset[int] = frozenset(), *,
                 flood_rate: float = 1000.0, flood_burst: int = 1000):
        self.data_dir = data_dir
        # scripted users tap far faster than people; flood control is tested on its own with the defaults
        # the stories run on clocks set years ahead of the wall clock that stamps rows: a long retention
        # (RETENTION_DAYS) keeps the pushes they inspect; the retention tests jump past whatever it is
        self.settings = Settings(data_dir=data_dir, database_url=db_url, admin_ids=admin_ids, seed_corpus=False,
                                 flood_rate=flood_rate, flood_burst=flood_burst, bot_token=E2E_TOKEN,
                                 polling_timeout=1, retention_days=3650)
        self.emulator = None
        self.running = None
        self.http: aiohttp.ClientSession | None = None
        self.users = {}

    @property
    def services(self):
        return self.running.services

    @property
    def app(self):
        return self.running.app

    @property
    def clock(self):
        return self.running.clock

    @property
    def processor(self):
        return self.running.processor

    async def start(self) -> "BotHarness":
        from devtools.emulator import BotAPIEmulator

        self.emulator = BotAPIEmulator(token=E2E_TOKEN)
        await self.emulator.start()
        self.settings = replace(self.settings, bot_api_base_url=self.emulator.base_url)
        self.http = aiohttp.ClientSession()
        await self.start_bot()
        return self

    async def start_bot(self) -> None:
        from bot.bootstrap import Mode, start

        self.running = await start(self.settings, Mode.POLLING, say=lambda line: None)

    async def stop_bot(self) -> None:
        if self.running is not None:
            await self.running.stop()

    async def restart(self) -> None:
        """Stop the program and start it again on the same database, its clock where it was."""
        if self.running.clock.shifted:
            self.settings = replace(self.settings, clock_start=self.running.clock().isoformat())
        await self.stop_bot()
        await self.start_bot()
        for u in self.users.values():
            u.settle = self._settle

    async def _settle(self, update_id: int) -> None:
        await self.processor.wait_done(update_id, timeout=15)

    async def user(self, user_id: int, first_name: str = "用户", language_code: str = "zh-hans"):
        from devtools.client import SimUser

        u = SimUser(self.emulator.url, user_id, first_name, language_code=language_code, session=self.http,
                    settle=self._settle)
        await u.register()
        self.users[user_id] = u
        return u

    async def close(self) -> None:
        await self.stop_bot()
        if self.http is not None:
            await self.http.close()
        if self.emulator is not None:
            await self.emulator.stop()


def seeded_copy(seeded_db: Path, folder: Path) -> str:
    """A private copy of the seeded database and its index cache; returns its URL."""
    shutil.copy(seeded_db / "patents.db", folder / "patents.db")
    shutil.copytree(seeded_db / "cache", folder / "cache")
    return f"sqlite+aiosqlite:///{folder / 'patents.db'}"


@asynccontextmanager
async def running_program(folder: Path, db_url: str, **kw):
    """A started BotHarness on ``db_url``. A handler exception is answered politely by on_error, so a
    test could pass over a crash; leaving the block therefore also asserts no handler failed."""
    h = BotHarness(folder, db_url, **{"admin_ids": frozenset({ADMIN}), **kw})
    errors = HandlerErrors()
    logging.getLogger("bot").addHandler(errors)
    await h.start()
    try:
        yield h
    finally:
        await h.close()
        logging.getLogger("bot").removeHandler(errors)
    assert not errors.records, "handler errors:\n" + "\n".join(errors.records)


def running_bot(seeded_db: Path, folder: Path, **kw):
    """``running_program`` on a private copy of the seeded corpus database."""
    return running_program(folder, seeded_copy(seeded_db, folder), **kw)


ADMIN = 1000  # running_bot's ADMIN_IDS


async def clock_jump(bot, moment: dt.datetime, job) -> None:
    """Move the program's clock to ``moment`` and wait until ``job`` (a periodic job of the running
    program) has made the pass the jump causes."""
    from devtools.client import wait_until

    runs = job.runs
    bot.clock.set(moment)
    assert await wait_until(lambda: job.runs > runs, timeout=10), f"{job.name} made no pass after the clock jump"


async def invite_code(admin, args: str) -> str:
    """An admin types ``/invite ROLE SCOPE``; the code of the deep link in the answer."""
    import re

    (msg,) = await admin.send(f"/invite {args}")
    m = re.search(r"start=(i_\w+)", msg.text)
    assert m, msg.text
    return m.group(1)


async def user_with_role(bot, uid: int, name: str, invite_args: str, lang: str = "zh-hans"):
    """A new user who opens an invite link from the admin (``invite_args`` as for /invite)."""
    admin = bot.users.get(ADMIN) or await bot.user(ADMIN, "管理员")
    code = await invite_code(admin, invite_args)
    u = await bot.user(uid, name, language_code=lang)
    await u.send(f"/start {code}")
    return u


class HandlerErrors(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record) + ("\n" + logging.Formatter().formatException(record.exc_info)
                                                   if record.exc_info else ""))


# the tech-transfer office users that confirm inventors' links in set-ups (see ``office_of``)
SETUP_OFFICES = {"福州大学": 3990, "厦门大学": 3991, "闽江学院": 3992}


async def own_patent(bot, patent_id: str, institution: str = "福州大学") -> int:
    """The base library names ``institution`` as the patent's holder (专利权人), as an import carrying
    that column does (the shipped corpus has none); returns the institution's id."""
    from sqlalchemy import update

    from bot.models import Patent

    st = bot.services.storage
    inst = await st.institution_by_name(institution, create=True)
    async with st.session() as s:
        await s.execute(update(Patent).where(Patent.id == patent_id).values(institution_id=inst))
    st.display_cache.clear()
    return inst


async def confirmed_link(storage, user_id: int, patent_id: str, institution_id: int) -> None:
    """Storage-level set-up: the patent is ``institution_id``'s in the base library (when it names none)
    and that institution's office confirmed ``user_id``'s link to it."""
    from sqlalchemy import update

    from bot.models import LinkStatus, Patent, utcnow

    async with storage.session() as s:
        await s.execute(update(Patent).where(Patent.id == patent_id, Patent.institution_id.is_(None))
                        .values(institution_id=institution_id))
        await storage.request_link(s, user_id, patent_id)
        await storage.decide_link(s, user_id, patent_id, None, LinkStatus.CONFIRMED, utcnow())
    storage.display_cache.clear()


async def office_of(bot, institution: str = "福州大学"):
    """The institution's tech-transfer office user of the set-ups, invited the first time it is needed."""
    uid = SETUP_OFFICES[institution]
    return bot.users.get(uid) or await user_with_role(bot, uid, "技转办", f"tto {institution}")


async def office_confirms(office, patent_text: str, inventor) -> None:
    """``office`` taps "confirm" on the link request about ``patent_text`` (a pub_no or title) pushed to it,
    and the inventor hears that the patent is confirmed as theirs."""
    def request(m) -> bool:
        return (("关联申请" in m.text or "link request" in m.text) and patent_text in m.text
                and f"ID {inventor.user_id}" in m.text and bool(m.labels))

    ask = await office.wait_for(request, timeout=10)
    done = await office.press(ask.labels[0], message_id=ask.message_id)
    assert "已确认" in done.text or "confirmed" in done.text, done.text
    await inventor.wait_for(lambda m: "/mypatents" in m.text and ("已确认" in m.text or "confirmed" in m.text),
                            timeout=10)


async def inventor_with_submitted_assessment(bot):
    """An inventor (tests/test_assessment.py's make_inventor) whose link to the mining patent 福州大学's
    office confirmed, and who submitted its self-assessment through the dialog."""
    from tests.test_assessment import full_assessment, link, make_inventor

    inventor = await make_inventor(bot)
    await link(inventor)
    await full_assessment(inventor)
    await inventor.press("✅ 确认提交")
    return inventor


async def sign_up_in_turn(bot, people, label: str = "✍️ 报名") -> list:
    """Each of ``people``, one after the other, opens /events, the first event and taps sign-up
    (``label``); the outbox is drained afterwards. The replies to the sign-up taps, in order."""
    replies = []
    for u in people:
        (lst,) = await u.send("/events")
        await u.press("1", message_id=lst.message_id)
        replies.append(await u.press(label))
    assert await bot.services.outbox.drain(timeout=20)
    return replies
