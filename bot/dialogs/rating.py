"""Enterprise / expert rating of a patent (industrialisation prospect, improvements needed, willingness
to cooperate with the university), declared as data.

The rating is written only on submit (partial answers live in the dialog state), together with the
feedback pushes to the patent's inventors and its institution's tech-transfer office.
"""
from __future__ import annotations

from typing import Any

from bot.delivery.notify import push, wake
from bot.dialogs.engine import Dialog
from bot.dialogs.hooks import load_patent
from bot.dialogs.ports import Answers, DialogResult, DialogSave, Reply
from bot.dialogs.steps import Choice, Multi, Review, Text
from bot.models import Role
from bot.vocabulary import PRICE_RANGES

NEEDS = ("process", "cost", "performance", "scale_up", "certification", "equipment", "none")
COOPERATION = ("transfer", "license", "joint_rd", "contract_rd", "none")

STEPS = (
    Choice("r_prospect", options=("1", "2", "3", "4", "5"), columns=5),
    Multi("needs", options=NEEDS, text_field="needs_text", max_len=300),
    Multi("coop", options=COOPERATION),
    Choice("r_price", options=PRICE_RANGES, option_set="price_range", optional=True),
    Text("comment", max_len=500, optional=True),
    Review("review", template="dlg_rate_review"),
)


def answers_to_columns(a: Answers) -> dict[str, Any]:
    return {"prospect": int(a["r_prospect"]) if a.get("r_prospect") else None,
            "improvement_needs": list(a.get("needs") or []), "improvement_text": a.get("needs_text"),
            "cooperation_intents": list(a.get("coop") or []), "price_expectation": a.get("r_price"),
            "comment": a.get("comment")}


def columns_to_answers(c: dict[str, Any]) -> Answers:
    pairs = {"r_prospect": str(c["prospect"]) if c.get("prospect") else None, "needs": c.get("improvement_needs"),
             "needs_text": c.get("improvement_text"), "coop": c.get("cooperation_intents"),
             "r_price": c.get("price_expectation"), "comment": c.get("comment")}
    return {k: v for k, v in pairs.items() if v not in (None, [], "")}


async def _persist(save: DialogSave) -> None:
    if not save.final:
        return
    services, st, ctx, user_id = save.services, save.services.storage, save.ctx, save.user_id
    patent_id = ctx["patent_id"]
    created = await st.save_rating(save.session, user_id, patent_id, answers_to_columns(save.answers),
                                   is_expert=ctx.get("is_expert", False), enterprise_id=ctx.get("enterprise_id"))
    patent = await st.get_patent(patent_id)
    stamp = services.clock().isoformat()  # one submission = one feedback round
    for recipient in await st.feedback_recipients(save.session, patent_id):
        if recipient == user_id:
            continue
        await push(save.session, services, recipient, "notify_rating",
                   key=f"rating:{patent_id}:{user_id}:{stamp}:{recipient}", patent=patent, answers=save.answers,
                   rater=ctx.get("rater_name", ""), is_expert=ctx.get("is_expert"), updated=not created)


async def _finish(result: DialogResult) -> Reply:
    wake(result.services)
    return Reply("rating_saved", {"patent": await result.services.storage.get_patent(result.ctx["patent_id"])})


RATING = Dialog("rate", STEPS, load=load_patent, persist=_persist, finish=_finish, roles=(Role.ENTERPRISE, Role.EXPERT))
