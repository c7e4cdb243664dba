"""``load`` hooks shared by several dialogs, and the moment their validators judge dates against."""
from __future__ import annotations

import datetime as dt
from contextvars import ContextVar

from bot.dialogs.ports import DialogRun, Extra

# Validators are pure functions of the typed text; "now" comes from services.clock() through the
# dialog's load hook, which the engine runs right before every validation (same asyncio task).
_NOW: ContextVar[dt.datetime | None] = ContextVar("dialog_now", default=None)


def dialog_now() -> dt.datetime:
    return _NOW.get() or dt.datetime.now(dt.timezone.utc)


async def load_clock(run: DialogRun) -> Extra:
    """For dialogs whose validators compare with now (event times, deadlines)."""
    _NOW.set(run.services.clock())
    return {}


async def load_patent(run: DialogRun) -> Extra:
    """The patent the dialog is about (``ctx["patent_id"]``)."""
    return {"patent": await run.services.storage.patent_for_display(run.ctx.get("patent_id", ""))}
