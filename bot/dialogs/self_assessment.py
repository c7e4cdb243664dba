"""The inventor's self-assessment of one patent, declared as data (see engine.py).

Fields follow the plan: industry field, technology maturity (TRL 1–9), application scenarios,
industrialisation prospect, conversion intent, implementation, licence terms, price, contact.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PROJECT_ROOT
from bot.dialogs.engine import Dialog, Step
from bot.models import Role

INDUSTRIES = ("digital", "new_energy", "new_materials", "equipment", "automotive", "textile", "metallurgy",
              "petrochemical", "biomedicine", "food", "agriculture", "marine", "environment", "other")
SCENARIOS = ("manufacturing", "energy", "healthcare", "agri_food", "environment", "electronics",
             "materials", "transport", "construction", "consumer")
INTENTS = ("transfer", "license", "self", "equity")
YES_NO = ("yes", "no")
LICENCE_KINDS = ("ordinary", "exclusive", "sole")
PAYMENT_KINDS = ("upfront_royalty", "instalments", "lump_sum")
PRICE_RANGES = ("negotiable", "lt10", "10_50", "50_100", "100_500", "gt500")
CONTACT_PREFS = ("bot", "tto", "phone_after_consent")


@lru_cache(maxsize=1)
def _industry_keywords() -> dict[str, list[str]]:
    raw = json.loads((PROJECT_ROOT / "data" / "industry_keywords.json").read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if k in INDUSTRIES}


def suggest_industry(title: str, abstract: str) -> str:
    """The industry whose keywords occur most in the title (weighted ×3) and abstract."""
    best, best_score = "other", 0
    for field, words in _industry_keywords().items():
        score = sum(3 * title.count(w) + abstract.count(w) for w in words)
        if score > best_score:
            best, best_score = field, score
    return best


def _industries(ctx: dict) -> list[str]:
    suggested = ctx.get("suggested_industry")
    # the suggestion comes first so "confirm" is one tap
    return [suggested] + [i for i in INDUSTRIES if i != suggested] if suggested in INDUSTRIES else list(INDUSTRIES)


def _licensing(a: dict) -> bool:
    return "license" in (a.get("intents") or [])


def _paid(a: dict) -> bool:
    return bool({"license", "transfer"} & set(a.get("intents") or []))


STEPS = (
    Step("industry", "choice", options=_industries, columns=2),
    Step("maturity", "choice", options=tuple(str(i) for i in range(1, 10)), columns=3),
    Step("scenarios", "multi", options=SCENARIOS, text_field="scenario_text", max_len=200),
    Step("prospect", "choice", options=("1", "2", "3", "4", "5"), columns=5),
    Step("intents", "multi", options=INTENTS),
    Step("implemented", "choice", options=YES_NO),
    Step("implemented_how", "text", max_len=300, when=lambda a: a.get("implemented") == "yes", optional=True),
    Step("licence_kind", "choice", options=LICENCE_KINDS, when=_licensing, columns=3),
    Step("payment_kind", "choice", options=PAYMENT_KINDS, when=_paid, columns=1),
    Step("open_licence", "choice", options=YES_NO, when=_licensing),
    Step("price_range", "choice", options=PRICE_RANGES, optional=True, columns=2),
    Step("contact_pref", "choice", options=CONTACT_PREFS, optional=True, columns=1),
    Step("review", "review"),
)


def answers_to_columns(a: dict) -> dict[str, Any]:
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


def columns_to_answers(c: dict[str, Any]) -> dict[str, Any]:
    """The inverse, to resume or edit an existing assessment."""
    a: dict[str, Any] = {}

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


async def _load(services: Any, ctx: dict, answers: dict) -> dict:
    patent = await services.storage.patent_for_display(ctx.get("patent_id", ""))
    return {"patent": patent, "suggested_industry": ctx.get("suggested_industry"),
            "reviewer_note": ctx.get("reviewer_note")}


async def _persist(session: AsyncSession, services: Any, user_id: int, ctx: dict, answers: dict,
                   finished: bool) -> None:
    await services.storage.save_assessment(session, user_id, ctx["patent_id"], answers_to_columns(answers),
                                           submit=finished, now=services.clock())


async def _finish(services: Any, update: Any, context: Any, ctx: dict, answers: dict) -> tuple[str, dict]:
    return "assessment_submitted", {"patent": await services.storage.get_patent(ctx["patent_id"])}


async def _cancelled(services: Any, user_id: int, ctx: dict) -> dict:
    """Cancelling keeps what is stored: a reopened submitted (or returned, reviewed) assessment that
    was not changed keeps its status; any change made it a draft."""
    got = await services.storage.assessment_columns(user_id, ctx.get("patent_id", ""))
    return {"status": got[1] if got else None}


SELF_ASSESSMENT = Dialog("assess", STEPS, load=_load, persist=_persist, finish=_finish,
                         cancel_template="assessment_cancelled", cancelled=_cancelled, roles=(Role.INVENTOR,))
