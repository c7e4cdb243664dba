"""/audit as an admin reads it: Chinese as Chinese, users by name and id, Beijing time labelled, and
each change as a per-field diff; and only admins get it (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import re

from bot.services.audit_view import BEIJING
from tests.harness import ADMIN, running_program, user_with_role
from tests.test_events import NOW, create_event, edit, event_id


async def test_audit_shows_chinese_names_beijing_time_and_a_field_diff(db_url, tmp_path):
    async with running_program(tmp_path, db_url) as bot:
        bot.clock.set(NOW)  # the events' dates below are ahead of it
        officer = await user_with_role(bot, 6201, "刘处长", "officer 工信局")
        done = await create_event(officer, title="锂电池专利对接会", place="福州大学科技园", capacity="5")
        await edit(officer, "地点 / 链接", done.last.message_id, "福州软件园")
        await officer.press("✅ 确认提交")
        eid = await event_id(bot, "锂电池专利对接会")
        admin = bot.users[ADMIN]
        before = dt.datetime.now(BEIJING)
        (msg,) = await admin.send(f"/audit event:{eid}")
        after = dt.datetime.now(BEIJING)
        text = msg.text
        assert "北京时间" in text
        assert "锂电池专利对接会" in text and "\\u" not in text  # stored Chinese is shown as Chinese
        assert "刘处长（ID 6201）" in text  # the user by name and id
        # the edit as a per-field diff: only the field that changed, before → after
        assert "place：福州大学科技园 → 福州软件园" in text
        assert "capacity：5 →" not in text
        assert "starts_at：2030-09-20 14:30" in text  # a stored UTC moment, read in Beijing time
        # the entry's time is Beijing time (UTC+8), not UTC
        stamps = re.findall(r"<b>(\d{4}-\d{2}-\d{2} \d{2}:\d{2})</b>", msg.html)
        assert stamps and set(stamps) <= {t.strftime("%Y-%m-%d %H:%M") for t in (before, after)}
        # a user by id: named in the heading, their own actions listed
        (msg,) = await admin.send("/audit 6201")
        assert "用户 刘处长" in msg.text and "redeem_invite" in msg.text and "create_event" in msg.text


async def test_audit_is_for_admins_only_and_escapes_what_it_echoes(db_url, tmp_path):
    async with running_program(tmp_path, db_url) as bot:
        bot.clock.set(NOW)
        officer = await user_with_role(bot, 6202, "王科长", "officer 科技局")
        await create_event(officer, title="秘密对接会", capacity="3")
        eid = await event_id(bot, "秘密对接会")
        (msg,) = await officer.send(f"/audit event:{eid}")
        assert "🔒" in msg.text and "秘密对接会" not in msg.text
        (msg,) = await officer.send("/audit 6202")
        assert "🔒" in msg.text and "王科长（ID" not in msg.text
        admin = bot.users[ADMIN]
        (msg,) = await admin.send("/audit <b>x</b>")
        assert "没有记录" in msg.text and "<b>x</b>" in msg.text and "<b>x</b>" not in msg.html
