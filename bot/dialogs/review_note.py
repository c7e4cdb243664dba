"""The tech-transfer office returns an assessment with a note for the inventor. The note is the
dialog's result: the review handler that started the dialog records the decision with it."""
from __future__ import annotations

from bot.dialogs.engine import Dialog
from bot.dialogs.hooks import load_patent
from bot.dialogs.steps import Text
from bot.models import Role

REVIEW_NOTE = Dialog("rnote", (Text("note", max_len=500, min_len=2),), load=load_patent, roles=(Role.TECH_TRANSFER,))
