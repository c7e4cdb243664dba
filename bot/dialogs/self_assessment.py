"""The inventor's self-assessment of one patent, declared as data (see engine.py).

Fields follow the plan: industry field, technology maturity (TRL 1–9), application scenarios,
industrialisation prospect, conversion intent, implementation, licence terms, price, contact.
"""
from __future__ import annotations

from typing import Any

from bot.dialogs.engine import Dialog
from bot.dialogs.ports import Answers, DialogResult, DialogRun, DialogSave, Extra, Reply
from bot.dialogs.steps import Choice, Multi, Review, Text
from bot.models import Role
from bot.vocabulary import (CONTACT_PREFS, INDUSTRIES, INTENTS, LICENCE_KINDS, PAYMENT_KINDS, PRICE_RANGES,
                            SCENARIOS, YES_NO)


def _industries(extra: Extra) -> list[str]:
    suggested = extra.get("suggested_industry")
    # the suggestion comes first so "confirm" is one tap
    return [suggested] + [i for i in INDUSTRIES if i != suggested] if suggested in INDUSTRIES else list(INDUSTRIES)


def _licensing(a: Answers) -> bool:
    return "license" in (a.get("intents") or [])


def _paid(a: Answers) -> bool:
    return bool({"license", "transfer"} & set(a.get("intents") or []))


STEPS = (
    Choice("industry", options=_industries, columns=2),
    Choice("maturity", options=tuple(str(i) for i in range(1, 10)), columns=3),
    Multi("scenarios", options=SCENARIOS, text_field="scenario_text", max_len=200),
    Choice("prospect", options=("1", "2", "3", "4", "5"), columns=5),
    Multi("intents", options=INTENTS),
    Choice("implemented", options=YES_NO),
    Text("implemented_how", max_len=300, when=lambda a: a.get("implemented") == "yes", optional=True),
    Choice("licence_kind", options=LICENCE_KINDS, when=_licensing, columns=3),
    Choice("payment_kind", options=PAYMENT_KINDS, when=_paid, columns=1),
    Choice("open_licence", options=YES_NO, when=_licensing),
    Choice("price_range", options=PRICE_RANGES, optional=True, columns=2),
    Choice("contact_pref", options=CONTACT_PREFS, optional=True, columns=1),
    Review("review"),
)


def answers_to_columns(a: Answers) -> dict[str, Any]:
    """Dialog answers → SelfAssessment columns (unanswered fields become NULL)."""

    def as_int(v: Any) -> int | None:
        return int(v) if v not in (None, "") else None

    def as_bool(v: Any) -> bool | None:
        return None if v is None else v == "yes"

    return {
        "industry_field": a.get("industry"),
        "maturity": as_int(a.get("maturity")),
        "scenarios": list(a.get("scenarios") or []),
        "scenario_text": a.get("scenario_text"),
        "prospect": as_int(a.get("prospect")),
        "intents": list(a.get("intents") or []),
        "implemented": as_bool(a.get("implemented")),
        "implemented_how": a.get("implemented_how"),
        "licence_kind": a.get("licence_kind"),
        "payment_kind": a.get("payment_kind"),
        "open_licence": as_bool(a.get("open_licence")),
        "price_range": a.get("price_range"),
        "contact_pref": a.get("contact_pref"),
    }


def columns_to_answers(c: dict[str, Any]) -> Answers:
    """The inverse, to resume or edit an existing assessment."""
    a: Answers = {}

    def yn(v: bool | None) -> str | None:
        return None if v is None else ("yes" if v else "no")

    pairs = {"industry": c.get("industry_field"), "maturity": c.get("maturity"), "scenarios": c.get("scenarios"),
             "scenario_text": c.get("scenario_text"), "prospect": c.get("prospect"), "intents": c.get("intents"),
             "implemented": yn(c.get("implemented")), "implemented_how": c.get("implemented_how"),
             "licence_kind": c.get("licence_kind"), "payment_kind": c.get("payment_kind"),
             "open_licence": yn(c.get("open_licence")), "price_range": c.get("price_range"),
             "contact_pref": c.get("contact_pref")}
    for k, v in pairs.items():
        if v not in (None, [], ""):
            a[k] = str(v) if k in ("maturity", "prospect") else v
    return a


async def _load(run: DialogRun) -> Extra:
    patent = await run.services.storage.patent_for_display(run.ctx.get("patent_id", ""))
    return {"patent": patent, "suggested_industry": run.ctx.get("suggested_industry"),
            "reviewer_note": run.ctx.get("reviewer_note")}


async def _persist(save: DialogSave) -> bool:
    # storage writes nothing (False) unless the office confirmed the inventor's link to the patent
    return await save.services.storage.save_assessment(save.session, save.user_id, save.ctx["patent_id"],
                                                answers_to_columns(save.answers), submit=save.final,
                                                now=save.services.clock())


async def _finish(result: DialogResult) -> Reply:
    patent = await result.services.storage.get_patent(result.ctx["patent_id"])
    return Reply("assessment_submitted" if result.value else "assessment_not_yours", {"patent": patent})


async def _cancelled(run: DialogRun) -> dict:
    """Cancelling keeps what is stored: a reopened submitted (or returned, reviewed) assessment that
    was not changed keeps its status; any change made it a draft."""
    got = await run.services.storage.assessment_columns(run.user_id, run.ctx.get("patent_id", ""))
    return {"status": got[1] if got else None}


SELF_ASSESSMENT = Dialog("assess", STEPS, load=_load, persist=_persist, finish=_finish,
                         cancel_template="assessment_cancelled", cancelled=_cancelled, roles=(Role.INVENTOR,))
