"""Who may call a patent theirs: the base library names its institution; an inventor's link is a
request the institution's tech-transfer office decides. Each attack is made as the attacker would:
through the link dialog, with forged and replayed buttons, from another institution."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import select

from bot.models import InventorPatent, LinkStatus, SelfAssessment
from tests.harness import office_of, own_patent, user_with_role as make_role
from tests.test_assessment import full_assessment, link, make_inventor
from tests.test_enterprise import PATENT, open_card, register_enterprise


async def ask_link(u, query="掘进机", label=PATENT):
    """The inventor picks the patent in the link dialog; the bot's answer."""
    await u.send("/mypatents")
    await u.press("➕ 关联一件专利")
    replies = await u.send(query)
    assert label in " ".join(replies.last.labels)
    return await u.press(label)


async def links(bot) -> dict[int, str]:
    async with bot.services.storage.session() as s:
        return {row.user_id: row.status for row in await s.scalars(
            select(InventorPatent).where(InventorPatent.patent_id == PATENT))}


async def institution_of(bot) -> int | None:
    return (await bot.services.storage.get_patent(PATENT)).institution_id


def texts(u) -> str:
    return "\n".join(m.text for m in u.bot_messages())


async def test_another_schools_inventor_cannot_claim_the_patent(bot):
    fzu = await own_patent(bot, PATENT, "福州大学")
    office = await office_of(bot, "福州大学")
    intruder = await make_inventor(bot, 3301, "李某", institution="厦门大学")
    refused = await ask_link(intruder)
    assert "不是您所在的单位" in refused.text and "不能关联" in refused.text
    assert await institution_of(bot) == fzu and await links(bot) == {}
    (mine,) = await intruder.send("/mypatents")
    assert "共 0 件" in mine.text
    # the public card still names the real institution
    ent = await register_enterprise(bot)
    card = await open_card(ent)
    assert "福州大学" in card.text and "厦门大学" not in card.text
    # the real inventor links, the office confirms, assesses; the office still reviews it
    inventor = await make_inventor(bot)
    await link(inventor)
    await full_assessment(inventor)
    await inventor.press("✅ 确认提交")
    (queue,) = await office.send("/review")
    assert "待审核的自评" in queue.text and "张老师" in queue.text and "ID 3001" in queue.text
    # an enterprise's 🤝 request reaches the confirmed inventor and the office, never the intruder
    await open_card(ent)
    sent = await ent.press("🤝 有意向")
    assert "已向发明人转达" in sent.text
    await inventor.wait_for("有对接意向", timeout=10)
    await office.wait_for("已请已确认的发明人答复", timeout=10)
    assert await bot.services.outbox.drain(timeout=20)
    await intruder.refresh()
    assert "有对接意向" not in texts(intruder) and "收到企业评价" not in texts(intruder)
    assert await institution_of(bot) == fzu


async def test_a_patent_without_an_institution_cannot_be_linked(bot):
    u = await make_inventor(bot)
    refused = await ask_link(u)
    assert "没有登记专利权人单位" in refused.text
    assert await links(bot) == {} and await institution_of(bot) is None


async def test_forged_replayed_and_declined_link_decisions(bot):
    await own_patent(bot, PATENT, "福州大学")
    office = await office_of(bot, "福州大学")
    inventor = await make_inventor(bot)
    asked = await ask_link(inventor)
    assert "📨 已向技术转移办公室申请关联" in asked.text
    push = await office.wait_for("专利关联申请", timeout=10)
    assert "张老师" in push.text and "ID 3001" in push.text and PATENT in push.text
    confirm_data = push.raw_buttons[0][0]["callback_data"]
    assert confirm_data == f"lk:c:3001:{PATENT}"
    # another institution's office, an enterprise and the inventor themselves forge the confirmation
    other_office = await make_role(bot, 3302, "厦大技转", "tto 厦门大学")
    ent = await register_enterprise(bot)
    for attacker in (other_office, ent, inventor):
        anchor = (await attacker.send("/me")).last
        r = await attacker.press(callback_data=confirm_data, message_id=anchor.message_id, stale=True)
        assert "不属于您的单位" in r.text or r.alert or r.toast  # the office: "not yours"; others: no role
        assert "已确认" not in r.text
    assert await links(bot) == {3001: LinkStatus.PENDING.value}
    # asking twice asks nothing new; the pending patent cannot be assessed, even with a forged button
    again = await ask_link(inventor)
    assert "等待技术转移办公室确认" in again.text
    (lst,) = await inventor.send("/mypatents")
    assert "待办公室确认" in lst.text and not any(x.startswith("📝") for x in lst.labels)
    r = await inventor.press(callback_data=f"mp:a:{PATENT}", message_id=lst.message_id, stale=True)
    assert "过期" in (r.toast or "") or "权限" in (r.toast or "")
    async with bot.services.storage.session() as s:
        assert (await s.scalars(select(SelfAssessment))).all() == []
    # the real office confirms once; a replay changes nothing and tells the inventor nothing more
    done = await office.press("✅ 确认关联", message_id=push.message_id)
    assert "已确认 张老师" in done.text
    replay = await office.press(callback_data=confirm_data, message_id=push.message_id, stale=True)
    assert "已处理" in replay.text
    decline_after = await office.press(callback_data=f"lk:d:3001:{PATENT}", message_id=push.message_id, stale=True)
    assert "已处理" in decline_after.text
    assert await links(bot) == {3001: LinkStatus.CONFIRMED.value}
    assert await bot.services.outbox.drain(timeout=20)
    await inventor.refresh()
    assert texts(inventor).count("已确认《") == 1
    # a second inventor of the same school: the office declines from /review
    second = await make_inventor(bot, 3303, "陈老师")
    await ask_link(second)
    (queue,) = await office.send("/review")
    assert "待确认的专利关联申请" in queue.text and "陈老师" in queue.text and "ID 3303" in queue.text
    declined = await office.press("✖️ 拒绝关联 1", message_id=queue.message_id)
    assert "已拒绝 陈老师" in declined.text
    await second.wait_for("未确认您关联", timeout=10)
    (lst,) = await second.send("/mypatents")
    assert "办公室已拒绝" in lst.text and not any(x.startswith("📝") for x in lst.labels)
    still = await ask_link(second)
    assert "已拒绝" in still.text
    assert await links(bot) == {3001: LinkStatus.CONFIRMED.value, 3303: LinkStatus.DECLINED.value}


async def test_several_confirmed_inventors_hear_feedback_the_declined_do_not(bot):
    await own_patent(bot, PATENT, "福州大学")
    office = await office_of(bot, "福州大学")
    first = await make_inventor(bot, 3401, "林老师")
    second = await make_inventor(bot, 3402, "黄老师")
    refused = await make_inventor(bot, 3403, "假冒者")
    await link(first)
    await link(second)
    await ask_link(refused)
    push = await office.wait_for(lambda m: "假冒者" in m.text and bool(m.labels), timeout=10)
    await office.press("✖️ 拒绝关联", message_id=push.message_id)
    from tests.test_enterprise import ENTERPRISE_RATING, rate

    ent = await register_enterprise(bot)
    await rate(ent, *ENTERPRISE_RATING)
    await ent.press("✅ 确认提交")
    for who in (first, second, office):
        await who.wait_for("收到企业评价", timeout=10)
    assert await bot.services.outbox.drain(timeout=20)
    await refused.refresh()
    assert "收到企业评价" not in texts(refused)
    # both confirmed inventors assess on their own
    (lst,) = await second.send("/mypatents")
    assert any(x.startswith("📝 1.") for x in lst.labels)


async def test_review_shows_what_the_office_needs_and_the_full_text(bot):
    office = await office_of(bot, "福州大学")
    inventor = await make_inventor(bot)
    await link(inventor)
    await full_assessment(inventor)
    await inventor.press("✅ 确认提交")
    (queue,) = await office.send("/review")
    for expected in ("张老师", "ID 3001", "智能制造；矿山开采", "转让、许可", "是否已实施：未实施",
                     "普通许可", "入门费 + 提成", "愿意开放许可", "期望价格：—", "高端装备制造"):
        assert expected in queue.text, expected
    assert len(queue.text) <= 4096
    full = await office.press("📄 全文 1", message_id=queue.message_id)
    patent = await bot.services.storage.get_patent(PATENT)
    assert "摘要" in full.text and patent.abstract[:40] in full.text
    # another institution's office can't read it through a forged button
    data = next(b["callback_data"] for row in queue.raw_buttons for b in row if b["callback_data"].startswith("rv:t:"))
    other = await make_role(bot, 3502, "厦大技转", "tto 厦门大学")
    anchor = (await other.send("/me")).last
    r = await other.press(callback_data=data, message_id=anchor.message_id, stale=True)
    assert "摘要" not in r.text and "不在您的审核范围" in r.text


# --- the migration of existing links -------------------------------------------------------------------

def _alembic(fn, rev):
    from alembic.config import Config

    from bot.storage.base import ALEMBIC_INI

    def run(sync_conn):
        cfg = Config(str(ALEMBIC_INI))
        cfg.attributes["connection"] = sync_conn
        fn(cfg, rev)
    return run


async def test_existing_links_migrate_by_the_institution_rule(db_url):
    """A database at 0008 with links made under the old rule: the link of an inventor of the patent's
    institution becomes confirmed, a link across institutions declined, a link to a patent without
    an institution pending (its office decides once the base library names one)."""
    from alembic import command

    from bot.models import UTCDateTime
    from bot.storage import Storage

    st = Storage(db_url)
    try:
        async with st.engine.begin() as conn:
            await conn.run_sync(_alembic(command.upgrade, "0008"))
        now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        T = lambda name, *cols: sa.table(name, *(sa.column(c, UTCDateTime() if c.endswith("_at") else None)
                                                for c in cols))
        async with st.engine.begin() as conn:
            await conn.execute(T("institutions", "id", "name", "kind", "created_at").insert(), [
                {"id": 1, "name": "福州大学", "kind": "university", "created_at": now},
                {"id": 2, "name": "厦门大学", "kind": "university", "created_at": now}])
            await conn.execute(T("users", "id", "first_name", "language", "language_chosen", "blocked_bot",
                                 "created_at", "last_seen_at").insert(), [
                {"id": uid, "first_name": f"u{uid}", "language": "zh", "language_chosen": False,
                 "blocked_bot": False, "created_at": now, "last_seen_at": now} for uid in (11, 12, 13, 14)])
            await conn.execute(T("role_grants", "user_id", "role", "institution_id", "scope_key", "created_at",
                                 "revoked_at").insert(), [
                {"user_id": 11, "role": "inventor", "institution_id": 1, "scope_key": "inst:1", "created_at": now,
                 "revoked_at": None},
                {"user_id": 12, "role": "inventor", "institution_id": 2, "scope_key": "inst:2", "created_at": now,
                 "revoked_at": None},
                {"user_id": 13, "role": "inventor", "institution_id": 1, "scope_key": "inst:1", "created_at": now,
                 "revoked_at": now},  # revoked: no longer of the institution
                {"user_id": 14, "role": "inventor", "institution_id": 1, "scope_key": "inst:1", "created_at": now,
                 "revoked_at": None}])
            await conn.execute(T("patents", "id", "title", "title_derived", "abstract", "claims", "source",
                                 "content_hash", "institution_id", "created_at", "updated_at").insert(), [
                {"id": pid, "title": pid, "title_derived": False, "abstract": "", "claims": "", "source": "t",
                 "content_hash": pid, "institution_id": inst, "created_at": now, "updated_at": now}
                for pid, inst in (("P-FZU", 1), ("P-NONE", None))])
            await conn.execute(T("inventor_patents", "user_id", "patent_id", "created_at").insert(), [
                {"user_id": uid, "patent_id": pid, "created_at": now}
                for uid, pid in ((11, "P-FZU"), (12, "P-FZU"), (13, "P-FZU"), (14, "P-NONE"))])
            # the cross-institution claimant's reviewed assessment, the only one of P-FZU
            await conn.execute(sa.table("self_assessments", *(sa.column(c) for c in (
                "patent_id", "inventor_id", "maturity", "status")), sa.column("scenarios", sa.JSON()),
                sa.column("intents", sa.JSON()), sa.column("created_at", UTCDateTime()),
                sa.column("updated_at", UTCDateTime())).insert(),
                [{"patent_id": "P-FZU", "inventor_id": 12, "maturity": 9, "status": "reviewed", "scenarios": [],
                  "intents": ["transfer"], "created_at": now, "updated_at": now}])
        await st.migrate()
        async with st.session() as s:
            got = {(r.user_id, r.patent_id): (r.status, r.decided_by, r.decided_at is not None)
                   for r in await s.scalars(select(InventorPatent))}
        assert got == {(11, "P-FZU"): ("confirmed", None, True), (12, "P-FZU"): ("declined", None, True),
                       (13, "P-FZU"): ("declined", None, True), (14, "P-NONE"): ("pending", None, False)}
        # what the confirmed inventor may do follows: only 11 hears feedback on P-FZU
        async with st.session() as s:
            assert await st.feedback_recipients(s, "P-FZU") == {11}
        # the declined claimant's assessment no longer speaks for the patent: not on its card, not in the library
        card = await st.patent_card("P-FZU")
        assert card.assessment is None and "P-FZU" not in await st.assessed_patents()
        # and back down: the columns go, the links stay
        async with st.engine.begin() as conn:
            await conn.run_sync(_alembic(command.downgrade, "0008"))
            n = await conn.scalar(sa.text("SELECT count(*) FROM inventor_patents"))
        assert n == 4
    finally:
        await st.close()
