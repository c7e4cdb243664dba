"""The needs board (做优增量, 订单式研发): an enterprise's technology need is matched against the library
with the search engine; the holders of the best matches (their institution's tech-transfer office and
the patents' registered inventors) get it once each, with "we can help" / "not for us". "We can help"
opens a lead under the 🤝 rules: no contact changes hands until the enterprise agrees as well.

Rules live here; queries in bot/storage/needs.py; every push goes through the outbox in the
transaction of the change that causes it.
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.notify import push, wake
from bot.models import User
from bot.storage.needs import HELP, PASS, DeliveryView, NeedView
from bot.storage.patents import PatentRow
from bot.telegram.callbacks import ACCEPT, DECLINE, AnswerNeed, DecideNeedLead
from bot.telegram.callbacks import HELP as HELP_BUTTON
from bot.telegram.callbacks import PASS as PASS_BUTTON

MATCHES_SHOWN = 5  # the best patents shown to the enterprise
HOLDER_PATENTS = 3  # the holders of this many best matches get the need
BUDGETS = ("negotiable", "lt10", "10_50", "50_100", "100_500", "gt500")  # 万元
COOPERATION = ("transfer", "license", "joint_rd", "contract_rd")  # 转让 / 许可 / 联合攻关 / 委托研发


@dataclass(frozen=True)
class Matched:
    patents: list[PatentRow]
    told: int  # holders the need went to this time (never twice to the same person)


class AnswerResult(enum.Enum):
    HELPING = "helping"
    PASSED = "passed"
    NOT_YOURS = "not_yours"            # not put to this user (forged), or unknown
    ALREADY_ANSWERED = "already"       # a second tap, or the need was closed meanwhile


class ConsentResult(enum.Enum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NOT_YOURS = "not_yours"
    ALREADY_DECIDED = "already"


async def save_need(services: Any, s: AsyncSession, author_id: int, enterprise_id: int, answers: dict[str, Any],
                    need_id: int | None) -> int | None:
    """The dialog's answers as a new need, or as the owner's change to ``need_id`` (None: refused)."""
    fields = {"problem": answers["n_problem"], "industry": answers["n_field"], "budget": answers["n_budget"],
              "cooperation": answers["n_coop"], "deadline": dt.date.fromisoformat(answers["n_deadline"])}
    st = services.storage
    if need_id is None:
        return await st.create_need(s, author_id, enterprise_id, fields)
    return need_id if await st.update_need(s, need_id, enterprise_id, author_id, fields) else None


async def match_and_deliver(services: Any, need_id: int) -> Matched:
    """Search the library for the need; put it to the holders of the best matches who have not had it."""
    st = services.storage
    need = await st.need(need_id)
    if need is None:
        return Matched([], 0)
    page = await services.catalog.search(need.problem, limit=MATCHES_SHOWN)
    patents = page.patents
    told = 0
    if need.open and patents:
        async with st.session() as s:
            own = set(await st.enterprise_users(s, need.enterprise_id))
            for uid, pid, inst in await st.patent_holders(s, [p.id for p in patents[:HOLDER_PATENTS]]):
                if uid in own:
                    continue
                if await st.add_delivery(s, need.id, uid, pid, inst) is None:
                    continue  # put to this person before (an edit re-matches): once per need and person
                patent = next(p for p in patents if p.id == pid)
                told += int(await push(s, services, uid, "need_notice", key=f"need:{need.id}:to:{uid}",
                                       reply_markup=await _answer_buttons(s, services, uid, need.id),
                                       need=need, patent=patent))
        if told:
            wake(services)
    return Matched(patents, told)


async def _answer_buttons(s: AsyncSession, services: Any, user_id: int, need_id: int) -> dict:
    user = await s.get(User, user_id)
    labels = services.i18n.label_module(user.language if user else None)
    return {"inline_keyboard": [[
        {"text": labels.btn_need_help, "callback_data": AnswerNeed(need_id, HELP_BUTTON).pack()},
        {"text": labels.btn_need_pass, "callback_data": AnswerNeed(need_id, PASS_BUTTON).pack()}]]}


async def answer(services: Any, need_id: int, user_id: int, helping: bool) -> tuple[AnswerResult, DeliveryView | None]:
    """A holder's one answer. "We can help" asks the enterprise whether to exchange contacts."""
    st = services.storage
    delivery = await st.delivery_to(need_id, user_id)
    if delivery is None:
        return AnswerResult.NOT_YOURS, None
    async with st.session() as s:
        did = await st.answer_delivery(s, need_id, user_id, HELP if helping else PASS, services.clock())
        if did is None:
            return AnswerResult.ALREADY_ANSWERED, delivery
        if helping:
            delivery = await st.delivery(did, session=s)
            author = await st.get_user(delivery.need.author_id, session=s)
            labels = services.i18n.label_module(author.language if author else None)
            markup = {"inline_keyboard": [[
                {"text": labels.btn_accept, "callback_data": DecideNeedLead(ACCEPT, did).pack()},
                {"text": labels.btn_decline, "callback_data": DecideNeedLead(DECLINE, did).pack()}]]}
            await push(s, services, delivery.need.author_id, "need_offer", key=f"need:{need_id}:offer:{did}",
                       reply_markup=markup, delivery=delivery)
    wake(services)
    return (AnswerResult.HELPING if helping else AnswerResult.PASSED), delivery


async def decide_lead(services: Any, delivery_id: int, user: Any, enterprise_ids: set[int], accept: bool
                      ) -> tuple[ConsentResult, DeliveryView | None]:
    """The enterprise's side of the consent: only a user of the need's enterprise decides; when it
    agrees, each side gets the other's contact."""
    st = services.storage
    delivery = await st.delivery(delivery_id)
    if delivery is None or delivery.need.enterprise_id not in enterprise_ids or delivery.lead_status is None:
        return ConsentResult.NOT_YOURS, None
    async with st.session() as s:
        if not await st.decide_need_lead(s, delivery_id, delivery.need.enterprise_id, user.id, accept,
                                         services.clock()):
            return ConsentResult.ALREADY_DECIDED, delivery
        await push(s, services, delivery.user_id, "need_lead_accepted" if accept else "need_lead_declined",
                   key=f"need:lead:{delivery_id}:decided", delivery=delivery,
                   contact={"name": user.first_name, "username": user.username})
    wake(services)
    return (ConsentResult.ACCEPTED if accept else ConsentResult.DECLINED), delivery


async def close(services: Any, need_id: int, enterprise_ids: set[int], user_id: int) -> NeedView | None:
    """The owner closes an open need (its holders can no longer answer); None when not theirs or closed."""
    st = services.storage
    need = await st.need(need_id)
    if need is None or need.enterprise_id not in enterprise_ids:
        return None
    async with st.session() as s:
        if not await st.close_need(s, need_id, need.enterprise_id, user_id, services.clock()):
            return None
    return need
