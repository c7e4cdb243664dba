"""An inventor asks to add a patent to "my patents": type a keyword or pub_no, pick from the hits; the
patent's tech-transfer office then confirms or declines (bot/services/ownership.py)."""
from __future__ import annotations

from bot.dialogs.engine import Dialog
from bot.dialogs.ports import DialogResult, DialogRun, Extra, Reply
from bot.dialogs.steps import Choice, Text
from bot.models import Role
from bot.services.ownership import request_link
from bot.services.roles import roles_of

PICK_LIMIT = 6


async def _load(run: DialogRun) -> Extra:
    query = (run.answers.get("query") or "").strip()
    if not query:
        return {"hits": [], "query": ""}
    page = await run.services.catalog.search(query, limit=PICK_LIMIT)
    return {"hits": page.patents, "query": query, "hit_total": page.result.total}


def _hit_ids(extra: Extra) -> list[str]:
    return [p.id for p in extra.get("hits", [])]


def _hit_label(value: str, extra: Extra) -> str:
    for p in extra.get("hits", []):
        if p.id == value:
            return (p.pub_no + " " if p.pub_no else "") + p.title
    return value


async def _finish(result: DialogResult) -> Reply:
    """The pick becomes a request to the patent's office (never a claim on its own)."""
    services = result.services
    roles = await roles_of(services.storage, frozenset(), result.user_id)  # fresh: a revoked role asks nothing
    outcome = await request_link(services, result.user_id, roles, result.answers["pick"])
    return Reply(f"link_{outcome.result.value}", {"patent": outcome.patent, "offices": outcome.offices})


LINK_PATENT = Dialog(
    "link",
    (
        Text("query", max_len=100),
        Choice("pick", options=_hit_ids, label=_hit_label, text_field="query", max_len=100, columns=1),
    ),
    load=_load, finish=_finish, roles=(Role.INVENTOR,),
)
