"""An inventor adds a patent to "my patents": type a keyword or pub_no, pick from the hits."""
from __future__ import annotations

from typing import Any

from bot.dialogs.engine import Dialog, Step
from bot.models import Role

PICK_LIMIT = 6


async def _load(services: Any, ctx: dict, answers: dict) -> dict:
    query = (answers.get("query") or "").strip()
    if not query:
        return {"hits": [], "query": ""}
    page = await services.catalog.search(query, limit=PICK_LIMIT)
    return {"hits": page.patents, "query": query, "hit_total": page.result.total}


def _hit_ids(extra: dict) -> list[str]:
    return [p.id for p in extra.get("hits", [])]


def _hit_label(value: str, extra: dict) -> str:
    for p in extra.get("hits", []):
        if p.id == value:
            return (p.pub_no + " " if p.pub_no else "") + p.title
    return value


async def _finish(services: Any, update: Any, context: Any, ctx: dict, answers: dict) -> tuple[str, dict]:
    patent_id = answers["pick"]
    institution_id = ctx.get("institution_id")
    await services.storage.link_patent(update.effective_user.id, patent_id, institution_id)
    return "link_done", {"patent": await services.storage.get_patent(patent_id)}


LINK_PATENT = Dialog(
    "link",
    (
        Step("query", "text", max_len=100),
        Step("pick", "choice", options=_hit_ids, label=_hit_label, text_field="query", max_len=100, columns=1),
    ),
    load=_load, finish=_finish, roles=(Role.INVENTOR,),
)
