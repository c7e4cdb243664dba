"""The tech-transfer office returns an assessment with a note for the inventor."""
from __future__ import annotations

from typing import Any

from bot.dialogs.engine import Dialog, Step, load_patent
from bot.models import Role


async def _finish(services: Any, update: Any, context: Any, ctx: dict, answers: dict) -> tuple[str, dict]:
    from bot.handlers.review import apply_review

    return await apply_review(update, context, ctx["assessment_id"], approve=False, note=answers["note"])


REVIEW_NOTE = Dialog("rnote", (Step("note", "text", max_len=500, min_len=2),), load=load_patent, finish=_finish,
                     roles=(Role.TECH_TRANSFER,))
