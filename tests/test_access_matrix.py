"""The access-control matrix on objects that exist: a confirmed and a pending inventor's link, a
submitted assessment, a lead, a recorded deal, an officer's deadline and an event with signups. Every
user who is not the object's own presses every button about it, with the callback data forged as an
attacker would type it; each press is answered, nothing changes, nothing leaks, no dialog starts."""
from __future__ import annotations

from sqlalchemy import func, select

from bot.models import (AuditLog, Deadline, DialogState, Event, EventSignup, InventorPatent, Lead, SelfAssessment,
                        Transaction)
from tests.harness import office_of, user_with_role as make_role
from tests.test_assessment import full_assessment, link, make_inventor
from tests.test_deadlines import add_deadline
from tests.test_enterprise import PATENT, open_card, record_licence_deal, register_enterprise
from tests.test_events import both_signed_up
from tests.test_ownership import ask_link


async def _snapshot(bot) -> dict:
    """Everything a forged button could change."""
    async with bot.services.storage.session() as s:
        return {
            "links": sorted(tuple(r) for r in await s.execute(
                select(InventorPatent.user_id, InventorPatent.patent_id, InventorPatent.status,
                       InventorPatent.decided_by))),
            "assessments": sorted(tuple(r) for r in await s.execute(
                select(SelfAssessment.id, SelfAssessment.inventor_id, SelfAssessment.status,
                       SelfAssessment.reviewer_id))),
            "leads": sorted(tuple(r) for r in await s.execute(select(Lead.id, Lead.inventor_id, Lead.status))),
            "deals": sorted(tuple(r) for r in await s.execute(
                select(Transaction.id, Transaction.filed, Transaction.industrialised,
                       Transaction.product_filing_status))),
            "deadlines": sorted(await s.scalars(select(Deadline.id))),
            "events": sorted(tuple(r) for r in await s.execute(
                select(Event.id, Event.status, Event.confirmed_count, Event.starts_at, Event.capacity))),
            "signups": sorted(tuple(r) for r in await s.execute(
                select(EventSignup.event_id, EventSignup.user_id, EventSignup.status))),
            "audit": await s.scalar(select(func.count()).select_from(AuditLog)),
            # no forged button opens, moves or ends anyone's dialog
            "dialogs": sorted(tuple(r) for r in await s.execute(
                select(DialogState.user_id, DialogState.dialog, DialogState.step, DialogState.version))),
        }


async def test_every_role_is_refused_on_objects_that_are_not_its_own(bot):
    # an event with a confirmed and a waitlisted signup (organiser: 鼓楼区 科技局 officer)
    ev = await both_signed_up(bot)
    # the patent of 福州大学: a confirmed inventor with a submitted assessment, a pending one
    office = await office_of(bot, "福州大学")
    inventor = await make_inventor(bot)
    await link(inventor)
    await full_assessment(inventor)
    await inventor.press("✅ 确认提交")
    pending = await make_inventor(bot, 3002, "赵老师")
    await ask_link(pending)
    # a lead from an enterprise, and the office's deal with it
    ent = await register_enterprise(bot)
    await open_card(ent)
    await ent.press("🤝 有意向")
    await inventor.wait_for("有对接意向", timeout=10)
    await record_licence_deal(office, "福州新能科技有限公司")
    # the organiser's own deadline
    await add_deadline(ev.organiser, "鼓楼区专利盘点", "2030-10-01")

    async with bot.services.storage.session() as s:
        aid = (await s.scalars(select(SelfAssessment.id))).one()
        lead = (await s.scalars(select(Lead.id))).one()
        deal = (await s.scalars(select(Transaction.id))).one()
        deadline = (await s.scalars(select(Deadline.id).where(Deadline.key.is_(None)))).one()

    # everyone else: no role, each role elsewhere, and the insiders of the other objects
    outsiders = {
        "nobody": await bot.user(3600, "路人"),
        "inventor@厦大": await make_inventor(bot, 3601, "李某", institution="厦门大学"),
        "tto@厦大": await make_role(bot, 3602, "厦大技转", "tto 厦门大学"),
        "enterprise(other)": await register_enterprise(bot, uid=3603, company="无关企业有限公司"),
        "expert": await make_role(bot, 3604, "专家", "expert equipment"),
        "agency": await make_role(bot, 3605, "机构", "agency 海峡技术转移中心"),
        "officer@闽侯县": await make_role(bot, 3606, "闽侯科技", "officer 科技局@闽侯县"),
    }
    insiders = {"inventor": inventor, "pending inventor": pending, "office": office, "enterprise": ent,
                "organiser": ev.organiser, "waitlisted officer": ev.colleague, "attendee": ev.company,
                "bystander": ev.bystander}
    everyone = {**outsiders, **insiders}
    eid = ev.eid
    manage = {"organiser", "waitlisted officer"}  # both officers of 科技局@鼓楼区
    # forged button → who may act on it (everyone else must be refused)
    matrix = {
        f"mp:a:{PATENT}": {"inventor"},
        f"lk:c:3002:{PATENT}": {"office"}, f"lk:d:3002:{PATENT}": {"office"},
        f"rv:a:{aid}": {"office"}, f"rv:r:{aid}": {"office"}, f"rv:t:{aid}": {"office"},
        f"ld:a:{lead}": {"inventor"}, f"ld:d:{lead}": {"inventor"},
        f"tx:{PATENT}": {"office"}, f"ti:{deal}": {"office"},
        f"tf:{deal}:filed": {"office", "enterprise"}, f"tf:{deal}:certified": {"office", "enterprise"},
        f"dl:D:{deadline}": {"organiser"}, f"dl:delyes:{deadline}": {"organiser"},
        # an event is its department's: its officers manage it together (bot/services/events.may_manage)
        f"ev:K:{eid}": manage, f"ev:offyes:{eid}": manage, f"ev:e:{eid}": manage,
        f"ev:f:{eid}:c": manage, f"ev:f:{eid}:x": manage,
        f"ev:x:{eid}": {"attendee", "waitlisted officer"},
    }
    assert await bot.services.outbox.drain(timeout=20)
    before = await _snapshot(bot)
    anchors = {name: (await u.send("/me")).last for name, u in everyone.items()}
    for data, allowed in matrix.items():
        for name, u in everyone.items():
            if name in allowed:
                continue
            r = await u.press(callback_data=data, message_id=anchors[name].message_id, stale=True)
            assert r.answer is not None, (data, name)  # answered: no endless spinner
            assert not any("dlg:" in str(m.raw_buttons) for m in r), (data, name)  # no dialog opened
            assert not any(m.document for m in r), (data, name)  # no attendee list
            shown = r.text
            assert "摘要" not in shown and "已确认" not in shown and "已通过" not in shown, (data, name, shown)
    assert await bot.services.outbox.drain(timeout=20)
    assert await _snapshot(bot) == before
    # nobody outside heard of the lead, the link request or the attendee list
    for name, u in outsiders.items():
        await u.refresh()
        heard = "\n".join(m.text for m in u.bot_messages())
        assert "有对接意向" not in heard and "专利关联申请" not in heard and "赵老师" not in heard, name
