"""An inventor adds a patent to "my patents": type a keyword or pub_no, pick from the hits."""
from __future__ import annotations

from bot.dialogs.engine import Dialog
from bot.dialogs.ports import DialogResult, DialogRun, Extra, Reply
from bot.dialogs.steps import Choice, Text
from bot.models import Role

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
    storage = result.services.storage
    patent_id = result.answers["pick"]
    await storage.link_patent(result.user_id, patent_id, result.ctx.get("institution_id"))
    return Reply("link_done", {"patent": await storage.get_patent(patent_id)})


LINK_PATENT = Dialog(
    "link",
    (
        Text("query", max_len=100),
        Choice("pick", options=_hit_ids, label=_hit_label, text_field="query", max_len=100, columns=1),
    ),
    load=_load, finish=_finish, roles=(Role.INVENTOR,),
)
