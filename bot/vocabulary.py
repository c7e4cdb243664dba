"""The domain's closed vocabularies: the codes stored for industry fields, scenarios, intents,
licence and payment kinds, price ranges and contact preferences (their words for people live in
``locales/<lang>/labels.j2``), and the keyword rule that suggests a patent's industry field.
A leaf module: dialogs, handlers, search and the demo data all read it."""
from __future__ import annotations

import json
from functools import lru_cache

from bot.config import PROJECT_ROOT

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
