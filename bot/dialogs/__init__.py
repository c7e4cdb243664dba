"""Guided dialogs, declared as data (one module each) and run by one engine (engine.py) over the step
kinds of steps.py; ports.py is what they need from the rest of the program."""
from __future__ import annotations

from bot.dialogs.deadline import DEADLINE_DIALOG
from bot.dialogs.engine import Dialog, DialogEngine
from bot.dialogs.enterprise_profile import ENTERPRISE_PROFILE
from bot.dialogs.event import EVENT_DIALOG
from bot.dialogs.event_edit import EVENT_EDIT_DIALOG
from bot.dialogs.link_patent import LINK_PATENT
from bot.dialogs.need import NEED_DIALOG
from bot.dialogs.rating import RATING
from bot.dialogs.review_note import REVIEW_NOTE
from bot.dialogs.self_assessment import SELF_ASSESSMENT
from bot.dialogs.steps import Invalid, Step
from bot.dialogs.transaction import TRANSACTION

__all__ = ["Dialog", "DialogEngine", "Invalid", "Step", "ALL_DIALOGS", "build_engine"]

ALL_DIALOGS = (SELF_ASSESSMENT, LINK_PATENT, REVIEW_NOTE, RATING, ENTERPRISE_PROFILE, TRANSACTION, EVENT_DIALOG,
               EVENT_EDIT_DIALOG, DEADLINE_DIALOG, NEED_DIALOG)


def build_engine() -> DialogEngine:
    engine = DialogEngine()
    for d in ALL_DIALOGS:
        engine.register(d)
    return engine
