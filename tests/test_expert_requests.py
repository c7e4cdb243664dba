"""Expert evaluation on request end to end, on SQLite and PostgreSQL: asked from the patent card, sent to
three pool experts of the patent's field, accepted by one and rated with the rating dialog, the result
fed back to the requester and the patent's office; a round nobody accepts passes to the next experts
when the program's clock moves past EXPERT_REQUEST_HOURS, and the request expires when the pool is used
up; a late expert is reminded. Plus the attacks: uninvited experts, other roles, replayed taps."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.models import ExpertRequest
from devtools.client import wait_until
from tests.harness import ADMIN, clock_jump, invite_code, user_with_role as make_role
from tests.test_assessment import link
from tests.test_enterprise import EXPERT_RATING, register_enterprise
from tests.test_needs import BATTERY, library_program

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
INVITATION = "专家评估邀请"


@pytest.fixture
async def bot(db_url, tmp_path):
    async with await library_program(db_url, tmp_path) as h:
        h.clock.set(NOW)
        yield h


async def battery_card(u):
    await u.send("磷酸铁锂 正极")
    return (await u.press("1")).last


async def pool(bot, n=4):
    """The battery patent's office, ``n`` new-energy experts (ids in invitation order), one expert of
    another field, and an enterprise."""
    s = SimpleNamespace()
    s.office = await make_role(bot, 5101, "林主任", "tto 福州大学")
    s.experts = [await make_role(bot, 6001 + i, f"专家{i + 1}", "expert new_energy") for i in range(n)]
    s.outsider = await make_role(bot, 6100, "装备专家", "expert equipment")
    s.ent = await register_enterprise(bot)
    return s


async def requested(bot, n=4):
    s = await pool(bot, n)
    card = await battery_card(s.ent)
    assert "🧑‍🔬 请专家评估" in card.labels
    s.sent = await s.ent.press("🧑‍🔬 请专家评估", message_id=card.message_id)
    assert await bot.services.outbox.drain(timeout=20)
    s.invitations = [await e.wait_for(INVITATION, timeout=10) for e in s.experts[:3]]
    return s


def got(u, text: str) -> list:
    return [m for m in u.bot_messages() if text in m.text]


async def test_a_request_reaches_three_experts_of_the_patents_field(bot):
    s = await requested(bot)
    assert "已请 3 位入库专家" in s.sent.text
    inv = s.invitations[0]
    assert "一种低成本磷酸铁锂正极材料的制备方法" in inv.text and inv.labels == ["✅ 接受评估", "🙅 暂不参加"]
    for u in (s.experts[3], s.outsider):
        await u.refresh()
        assert not got(u, INVITATION)
    again = await s.ent.press("🧑‍🔬 请专家评估", message_id=(await battery_card(s.ent)).message_id)
    assert "正在进行中" in again.text


async def test_an_accepted_request_is_rated_and_fed_back_to_the_requester_and_the_office(bot):
    s = await requested(bot)
    step = await s.experts[0].press("✅ 接受评估", message_id=s.invitations[0].message_id)
    assert "产业化前景" in step.last.text  # the existing rating dialog
    told = await s.ent.wait_for("已接受评估", timeout=10)
    assert "新能源与储能领域的入库专家" in told.text and "专家1" not in told.text
    late = await s.experts[1].press("✅ 接受评估", message_id=s.invitations[1].message_id)
    assert "其他专家接受" in late.text
    reply = None
    for tap in EXPERT_RATING:
        reply = await s.experts[0].press(tap)
    assert "已保存" in reply.text
    for who in (s.ent, s.office):
        result = await who.wait_for("专家评估完成", timeout=10)
        assert "5 ⭐" in result.text and ("专家1" in result.text) == (who is s.office)
    officer = await make_role(bot, 5201, "陈科长", "officer 科技局")
    text = " ".join(m.text for m in await officer.send("/stats"))
    assert "专家评估请求 1" in text and "已完成 1" in text


async def test_a_round_nobody_accepts_passes_on_and_then_expires(bot):
    s = await requested(bot)
    job = bot.services.expert_requests
    await clock_jump(bot, NOW + dt.timedelta(hours=49), job)
    assert await bot.services.outbox.drain(timeout=20)
    fourth = await s.experts[3].wait_for(INVITATION, timeout=10)
    lapsed = await s.experts[0].press("✅ 接受评估", message_id=s.invitations[0].message_id)
    assert "其他专家接受或已结束" in lapsed.text  # the first round's invitation lapsed
    await clock_jump(bot, NOW + dt.timedelta(hours=98), job)
    expired = await s.ent.wait_for("已过期", timeout=10)
    assert "一种低成本磷酸铁锂正极材料的制备方法" in expired.text
    r = await s.experts[3].press("✅ 接受评估", message_id=fourth.message_id)
    assert "其他专家接受或已结束" in r.text
    for e in s.experts:
        assert len(got(e, INVITATION)) <= 1  # nobody invited twice


async def test_declines_pass_the_request_on_at_once(bot):
    s = await requested(bot)
    for e, inv in zip(s.experts[:3], s.invitations):
        await e.press("🙅 暂不参加", message_id=inv.message_id)
    await s.experts[3].wait_for(INVITATION, timeout=10)


async def test_a_late_expert_is_reminded_once_then_the_request_passes_on(bot):
    s = await requested(bot)
    await s.experts[0].press("✅ 接受评估", message_id=s.invitations[0].message_id)
    job = bot.services.expert_requests
    await clock_jump(bot, NOW + dt.timedelta(hours=49), job)
    reminder = await s.experts[0].wait_for("⏰ 提醒", timeout=10)
    assert "转给其他专家" in reminder.text
    await clock_jump(bot, NOW + dt.timedelta(hours=60), job)  # within the period after the reminder
    assert await bot.services.outbox.drain(timeout=20)
    await s.experts[3].refresh()
    assert not got(s.experts[3], INVITATION)
    await clock_jump(bot, NOW + dt.timedelta(hours=98), job)
    await s.experts[0].wait_for("已转给其他专家", timeout=10)
    await s.ent.wait_for("请求已转给同领域的其他专家", timeout=10)
    invitation = await s.experts[3].wait_for(INVITATION, timeout=10)
    stale = await s.experts[0].press(callback_data=s.invitations[0].raw_buttons[0][0]["callback_data"],
                                     message_id=s.invitations[0].message_id, stale=True)
    assert "已由其他专家接受或已结束" in stale.text  # the released expert cannot take it back
    await s.experts[3].press("✅ 接受评估", message_id=invitation.message_id)
    async with bot.services.storage.session() as db:
        assert (await db.scalars(select(ExpertRequest))).one().expert_id == s.experts[3].user_id
    await clock_jump(bot, NOW + dt.timedelta(hours=99), job)
    assert await bot.services.outbox.drain(timeout=20)
    for e in (s.experts[0], s.experts[3]):
        await e.refresh()
    assert len(got(s.experts[0], "⏰ 提醒")) == 1 and len(got(s.experts[0], "已转给其他专家")) == 1
    assert not got(s.experts[3], "⏰ 提醒")  # the new expert's own period has just begun



async def test_a_round_in_progress_survives_a_restart(bot):
    s = await requested(bot)
    await bot.restart()
    job = bot.services.expert_requests
    assert await wait_until(lambda: job.runs > 0, timeout=10)  # its start-up pass, before the clock moves
    await clock_jump(bot, NOW + dt.timedelta(hours=49), bot.services.expert_requests)
    await s.experts[3].wait_for(INVITATION, timeout=10)
    assert await bot.services.outbox.drain(timeout=20)
    for e in s.experts[:3]:
        await e.refresh()
        assert len(got(e, INVITATION)) == 1  # the restart sent nobody anything twice



async def test_nobody_is_asked_to_evaluate_their_own_patent(bot):
    own = await make_role(bot, 6000, "张老师", "expert new_energy")  # first in the pool's order
    admin = bot.users[ADMIN]
    await own.send(f"/start {await invite_code(admin, 'inventor 福州大学')}")
    await link(own, query=BATTERY, label=BATTERY)
    s = await requested(bot)
    assert "已请 3 位入库专家" in s.sent.text
    await own.refresh()
    assert not got(own, INVITATION)


# --- attacks ----------------------------------------------------------------------------------------------

async def test_only_invited_experts_accept(bot):
    s = await requested(bot)
    data = s.invitations[0].raw_buttons[0][0]["callback_data"]
    for stranger in (s.outsider, s.experts[3]):
        r = await stranger.press(callback_data=data, message_id=stranger.last_bot_message().message_id, stale=True)
        assert "过期" in (r.toast or "")
    r = await s.ent.press(callback_data=data, message_id=s.ent.last_bot_message().message_id, stale=True)
    assert "🔒" in (r.toast or "")
    await s.ent.refresh()
    assert not got(s.ent, "已接受评估")
    step = await s.experts[0].press("✅ 接受评估", message_id=s.invitations[0].message_id)
    assert "产业化前景" in step.last.text  # the request was still open to the invited
    replay = await s.experts[0].press(callback_data=data, message_id=s.invitations[0].message_id, stale=True)
    assert "其他专家接受或已结束" in replay.text


async def test_who_may_ask_for_an_evaluation(bot):
    s = await pool(bot, n=1)
    other_office = await make_role(bot, 5102, "陈主任", "tto 闽江学院")
    card = await battery_card(other_office)
    assert "🧑‍🔬 请专家评估" not in card.labels  # another institution's patent
    assert "🧑‍🔬 请专家评估" in (await battery_card(s.office)).labels
    forged = await other_office.press(callback_data=f"ex:r:{BATTERY}", message_id=card.message_id, stale=True)
    assert "🔒" in (forged.toast or "")
    r = await s.experts[0].press(callback_data=f"ex:r:{BATTERY}",
                                 message_id=s.experts[0].last_bot_message().message_id, stale=True)
    assert "🔒" in (r.toast or "")
    assert await bot.services.outbox.drain(timeout=20)
    await s.experts[0].refresh()
    assert not got(s.experts[0], INVITATION)


async def test_forged_request_ids_no_key_can_hold_are_refused_politely(bot):
    expert = await make_role(bot, 6001, "专家1", "expert new_energy")
    anchor = expert.last_bot_message().message_id
    for data in ("ex:a:99999999999", "ex:d:99999999999", "ex:r:NO-SUCH-PATENT"):
        r = await expert.press(callback_data=data, message_id=anchor, stale=True)
        assert "过期" in (r.toast or ""), data
