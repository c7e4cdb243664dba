"""Personal data (PIPL), as users meet it through the emulator: the notice at the first /start and
/privacy, /mydata (the asker's own data only, as a file through the outbox), /deleteme (names gone from
the lists others download, statistics unchanged) and the retention job that prunes old push texts and
files, saved searches and audit images when the program's clock passes RETENTION_DAYS."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json

from sqlalchemy import func, select

from bot.models import AuditLog, OutboxMessage, SavedQuery
from tests.harness import ADMIN, clock_jump, inventor_with_submitted_assessment, user_with_role
from tests.test_enterprise import open_card, register_enterprise
from tests.test_events import both_signed_up


async def _my_data(u) -> dict:
    replies = await u.send("/mydata")
    assert "数据文件" in replies[0].text
    is_file = (lambda m: m.document is not None and m.document["file_name"].endswith(".json"))
    doc = next((m for m in replies if is_file(m)), None) or await u.wait_for(is_file, timeout=15)
    raw = await u.download(doc.document["file_id"])
    return raw if isinstance(raw, dict) else json.loads(raw)


async def _erase(u) -> str:
    (asked,) = await u.send("/deleteme")
    assert "不可撤销" in asked.text
    return (await u.press("🗑 确认删除我的个人数据", message_id=asked.message_id)).last.text


async def test_the_first_start_carries_the_privacy_notice_once(bot):
    u = await bot.user(7701, "新用户")
    (first,) = await u.send("/start")
    assert "个人信息说明" in first.text and "/privacy" in first.text and "/deleteme" in first.text
    (second,) = await u.send("/start")
    assert "个人信息说明" not in second.text
    (notice,) = await u.send("/privacy")
    assert f"{bot.services.settings.retention_days} 天" in notice.text and "谁能看到" in notice.text
    # an invite link as the very first contact carries it too
    invited = await user_with_role(bot, 7702, "受邀者", "expert new_energy")
    assert "个人信息说明" in invited.bot_messages()[-1].text


async def test_mydata_holds_only_the_askers_own_data(bot):
    inventor = await inventor_with_submitted_assessment(bot)
    ent = await register_enterprise(bot, uid=7711, company="好奇企业有限公司")
    await open_card(ent)
    await ent.press("🤝 有意向")
    await ent.send("掘进机 锂电池")  # a saved search of the enterprise's own
    mine = await _my_data(inventor)
    text = json.dumps(mine, ensure_ascii=False)
    assert mine["user"]["id"] == inventor.user_id and mine["user"]["first_name"] == "张老师"
    assert {r["role"] for r in mine["roles"]} == {"inventor"}
    assert [a["patent_id"] for a in mine["self_assessments"]] and mine["self_assessments"][0]["status"] == "submitted"
    # the interest the enterprise showed reaches the inventor's file without who showed it
    assert mine["interest_received"] and "7711" not in text and "王经理" not in text and "好奇企业" not in text
    theirs = await _my_data(ent)
    other = json.dumps(theirs, ensure_ascii=False)
    assert theirs["user"]["id"] == 7711 and theirs["interest_requests"]
    assert "掘进机 锂电池" in [s["query"] for s in theirs["saved_searches"]]
    assert str(inventor.user_id) not in other and "张老师" not in other
    assert mine["saved_searches"] == [] or all(s["query"] != "掘进机 锂电池" for s in mine["saved_searches"])


async def test_deleteme_removes_the_name_from_attendee_lists_and_keeps_the_counts(bot):
    s = await both_signed_up(bot)
    organiser = s.organiser

    async def attendee_rows() -> list[list[str]]:
        await organiser.send("/myevents")
        await organiser.press("⚙️ 管理：锂电池专利对接会")
        await organiser.press("📄 报名名单 CSV")
        doc = await organiser.wait_for(lambda m: m.document is not None and m.document["file_name"].endswith(".csv")
                                       and m.message_id > seen[0], timeout=15)
        seen[0] = doc.message_id
        return list(csv.reader(io.StringIO((await organiser.download(doc.document["file_id"])).decode("utf-8-sig"))))

    seen = [0]
    before = await attendee_rows()
    assert any("陈经理" in row for row in before)
    done = await _erase(s.company)
    assert "已删除或匿名化" in done
    after = await attendee_rows()
    assert len(after) == len(before) and not any("陈经理" in cell for row in after for cell in row)
    (listing,) = await (bot.users.get(ADMIN) or await bot.user(ADMIN, "管理员")).send(f"/revoke {s.company.user_id}")
    assert "没有可撤销的身份" in listing.text


async def test_deleteme_keeps_stats_and_the_audit_says_so(bot):
    inventor = await inventor_with_submitted_assessment(bot)
    officer = await user_with_role(bot, 7721, "市局", "officer 市场监管局")
    before = (await officer.send("/stats"))[0].text
    assert "已盘点 1" in before and "福州大学" in before
    assert "已删除或匿名化" in await _erase(inventor)
    after = (await officer.send("/stats"))[0].text
    assert "已盘点 1" in after and "福州大学" in after
    # the card agrees with the figures: the assessment still speaks for the patent, without a name
    await officer.send("CN113914863A")
    card = await officer.press("1")
    assert "发明人自评" in card.text and "尚无发明人自评" not in card.text and "张老师" not in card.text
    admin = bot.users.get(ADMIN) or await bot.user(ADMIN, "管理员")
    (audit,) = await admin.send(f"/audit {inventor.user_id}")
    assert "erase_personal_data" in audit.text and "张老师" not in audit.text


async def _counts(bot) -> tuple[int, int, int]:
    async with bot.services.storage.session() as s:
        outbox = await s.scalar(select(func.count()).select_from(OutboxMessage))
        searches = await s.scalar(select(func.count()).select_from(SavedQuery))
        images = await s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.after.is_not(None)))
    return outbox, searches, images


async def test_the_retention_job_prunes_old_rows_and_keeps_recent_and_undelivered_ones(bot):
    old = await user_with_role(bot, 7731, "老用户", "expert new_energy")
    (results, *_) = await old.send("电池")
    assert "下一页 ▶" in results.labels
    await _my_data(old)  # a file pushed and delivered
    assert await bot.services.outbox.drain(timeout=20)
    split = dt.datetime.now(dt.timezone.utc)  # rows are stamped with the wall clock
    await asyncio.sleep(2)
    recent = await user_with_role(bot, 7732, "新用户", "expert new_energy")
    (fresh, *_) = await recent.send("电池")
    await _my_data(recent)
    # a push that Telegram holds back (429 for a long while): undelivered, it must survive any age
    waiting = await bot.user(7733, "等待者")
    bot.emulator.inject_fault("sendDocument", status=429, retry_after=400 * 86400, count=1, chat_id=7733)
    await waiting.send("/mydata")
    async with bot.services.storage.session() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.chat_id == 7733, OutboxMessage.kind == "document")) == 1
    outbox, searches, images = await _counts(bot)

    # the program's clock moves to RETENTION_DAYS after the split: everything before it is old
    days = bot.services.settings.retention_days
    await clock_jump(bot, split + dt.timedelta(days=days), bot.services.retention)
    pruned = bot.services.retention.last
    assert pruned.outbox >= 1 and pruned.saved_queries >= 1 and pruned.audit_images >= 1
    after = await _counts(bot)
    assert after[0] < outbox and after[1] < searches and after[2] < images
    # the old search's buttons expire; the recent one's work
    stale = await old.press("下一页 ▶", message_id=results.message_id)
    assert stale.toast and "过期" in stale.toast
    page2 = await recent.press("下一页 ▶", message_id=fresh.message_id)
    assert page2.toast is None or "过期" not in page2.toast
    async with bot.services.storage.session() as s:
        rows = (await s.execute(select(OutboxMessage.chat_id, OutboxMessage.kind, OutboxMessage.status))).all()
        assert (7733, "document", "pending") in rows  # undelivered: kept
        assert not any(chat == 7731 and kind == "document" for chat, kind, _ in rows)  # old, delivered: gone
        assert (7732, "document", "sent") in rows  # recent: kept
        old_images = await s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.entity_id == "7731", AuditLog.after.is_not(None)))
        recent_images = await s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.entity_id == "7732", AuditLog.after.is_not(None)))
    assert old_images == 0 and recent_images >= 1


async def test_mydata_deleteme_and_pruning_on_both_backends(db_url, tmp_path):
    """The personal-data queries on SQLite and PostgreSQL, on an empty database."""
    from tests.harness import running_program

    async with running_program(tmp_path, db_url) as bot:
        u = await user_with_role(bot, 7741, "李专家", "expert new_energy")
        await u.send("电池")
        data = await _my_data(u)
        assert data["user"]["first_name"] == "李专家" and [r["role"] for r in data["roles"]] == ["expert"]
        assert "已删除或匿名化" in await _erase(u)
        admin = bot.users[ADMIN]
        (listing,) = await admin.send("/revoke 7741")
        assert "没有可撤销的身份" in listing.text
        await clock_jump(bot, bot.clock() + dt.timedelta(days=bot.services.settings.retention_days + 1),
                         bot.services.retention)
        assert bot.services.retention.last.audit_images >= 1
        (audit,) = await admin.send("/audit 7741")
        assert "erase_personal_data" in audit.text and "李专家" not in audit.text
