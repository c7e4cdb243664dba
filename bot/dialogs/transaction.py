"""The tech-transfer office records a completed transfer, licence or equity contribution with its date
and whether it was filed with the patent office."""
from __future__ import annotations

import datetime as dt

from bot.dialogs.engine import Dialog
from bot.dialogs.hooks import load_patent
from bot.dialogs.ports import DialogResult, DialogSave, Reply
from bot.dialogs.steps import Choice, Invalid, Review, Text
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
    Choice("tx_kind", options=KINDS, columns=3),
    Text("tx_date", max_len=20, validate=parse_date),
    Choice("tx_filed", options=("yes", "no")),
    Text("tx_party", max_len=200),
    Review("review", template="dlg_txn_review"),
)


async def _persist(save: DialogSave) -> None:
    if not save.final:
        return
    st, answers = save.services.storage, save.answers
    party = answers["tx_party"].strip()
    enterprise_id = await st.enterprise_by_name(party)
    await st.record_transaction(save.session, save.user_id, save.ctx["patent_id"], kind=answers["tx_kind"],
                                date=dt.date.fromisoformat(answers["tx_date"]), filed=answers["tx_filed"] == "yes",
                                counterparty=party, enterprise_id=enterprise_id)


async def _finish(result: DialogResult) -> Reply:
    return Reply("transaction_saved", {"patent": await result.services.storage.get_patent(result.ctx["patent_id"])})


TRANSACTION = Dialog("txn", STEPS, load=load_patent, persist=_persist, finish=_finish, roles=(Role.TECH_TRANSFER,))
