"""What goes into the search index and what comes out: documents, hits, results, and the keys a
document is found by besides its text (publication numbers, its fingerprint)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.search import text as st

FIELDS = ("title", "abstract", "claims")   # indexed fields of SearchDoc, in BM25F weight order


@dataclass(frozen=True)
class SearchDoc:
    id: str
    title: str = ""
    abstract: str = ""
    claims: str = ""
    pub_no: str | None = None


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float
    matched_terms: tuple[str, ...]


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    total: int
    terms: tuple[str, ...]
    suggestions: tuple[str, ...]
    correction: str | None = None   # the query as it was probably meant ("did you mean")


def fingerprint_doc(d: SearchDoc) -> bytes:
    """16-byte digest of everything the index reads from a document (an upsert of an unchanged
    document is skipped on it; the cache fingerprint combines them)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (d.id, d.title or "", d.abstract or "", d.claims or "", d.pub_no or ""):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.digest()


def pubno_keys(pub_no: str | None) -> list[str]:
    """Normalised lookup keys of a publication number: full and without the kind code."""
    p = st.normalize(pub_no or "").replace(" ", "")
    if not p:
        return []
    keys = [p]
    stripped = p.rstrip("0123456789")
    if stripped and stripped[-1].isalpha() and stripped[:-1] and stripped[:-1][-1].isdigit():
        keys.append(stripped[:-1])          # cn113914863a -> cn113914863
    return keys
