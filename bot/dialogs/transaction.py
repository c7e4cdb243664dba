"""The tech-transfer office records a completed 转让 / 许可 / 作价入股 with its date and 备案 status."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialogs.engine import Dialog, Invalid, Step, load_patent
from bot.models import Role

KINDS = ("transfer", "license", "equity")


def parse_date(text: str) -> str:
    try:
        d = dt.date.fromisoformat(text.strip().replace("/", "-").replace(".", "-"))
    except ValueError:
        raise Invalid("dialog_bad_date") from None
    if d > dt.date.today() + dt.timedelta(days=1) or d.year < 1985:
        raise Invalid("dialog_date_range")
    return d.isoformat()


STEPS = (
    Step("tx_kind", "choice", options=KINDS, columns=3),
    Step("tx_date", "text", max_len=20, validate=parse_date),
    Step("tx_filed", "choice", options=("yes", "no")),
    Step("tx_party", "text", max_len=200),
    Step("review", "review", template="dlg_txn_review"),
)


async def _persist(session: AsyncSession, services: Any, user_id: int, ctx: dict, answers: dict,
                   finished: bool) -> None:
    if not finished:
        return
    st = services.storage
    party = answers["tx_party"].strip()
    enterprise_id = await st.enterprise_by_name(party)
    await st.record_transaction(session, user_id, ctx["patent_id"], kind=answers["tx_kind"],
                                date=dt.date.fromisoformat(answers["tx_date"]), filed=answers["tx_filed"] == "yes",
                                counterparty=party, enterprise_id=enterprise_id)


async def _finish(services: Any, update: Any, context: Any, ctx: dict, answers: dict) -> tuple[str, dict]:
    return "transaction_saved", {"patent": await services.storage.get_patent(ctx["patent_id"])}


TRANSACTION = Dialog("txn", STEPS, load=load_patent, persist=_persist, finish=_finish, roles=(Role.TECH_TRANSFER,))
