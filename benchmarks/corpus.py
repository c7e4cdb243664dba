"""Load the shipped corpus as SearchDocs (same ids as the lead's importer)."""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.search import SearchDoc  # noqa: E402

CORPUS = ROOT / "data" / "patents.jsonl.gz"


def load_rows(path: Path = CORPUS) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def doc_id(r: dict) -> str:
    return r.get("pub_no") or f"{r['source'].split('/')[-1]}-{int(r['idx'])}"


def load_docs(path: Path = CORPUS, derived_titles: bool = True) -> list[SearchDoc]:
    """derived_titles=True mimics production (the importer derives a display title from the
    abstract when the title is missing, and the bot indexes it as the title)."""
    derive = None
    if derived_titles:
        try:
            from bot.io.importer import derive_title as derive
        except Exception:  # pragma: no cover - importer not available
            derive = None
    docs = []
    for r in load_rows(path):
        title = r.get("title") or ""
        abstract = r.get("abstract") or ""
        claims = r.get("claims") or ""
        if not title and derive is not None:
            title = derive(abstract, claims)
        docs.append(SearchDoc(id=doc_id(r), title=title, abstract=abstract, claims=claims,
                              pub_no=r.get("pub_no") or None))
    return docs
