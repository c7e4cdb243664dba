"""Guided dialogs, declared as data and run by one engine (engine.py)."""
from __future__ import annotations

from bot.dialogs.engine import Dialog, DialogEngine, Invalid, Step
from bot.dialogs.link_patent import LINK_PATENT
from bot.dialogs.review_note import REVIEW_NOTE
from bot.dialogs.self_assessment import SELF_ASSESSMENT

__all__ = ["Dialog", "DialogEngine", "Invalid", "Step", "ALL_DIALOGS", "build_engine"]

ALL_DIALOGS = (SELF_ASSESSMENT, LINK_PATENT, REVIEW_NOTE)


def build_engine() -> DialogEngine:
    engine = DialogEngine()
    for d in ALL_DIALOGS:
        engine.register(d)
    return engine
