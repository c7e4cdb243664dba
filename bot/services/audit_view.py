"""What /audit shows: each change with its time in Beijing time, the user by name and id, and the
before/after images as a per-field diff with values as people read them (Chinese as Chinese)."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
VALUE_CHARS = 60
ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")
FIELDS_PER_ENTRY = 10


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | None  # None: the field was not in the before-image (created)
    after: str | None  # None: not in the after-image (removed)


@dataclass(frozen=True)
class AuditLine:
    when: str  # Beijing time, "YYYY-MM-DD HH:MM"
    actor_id: int | None
    actor: str | None  # the actor's name, when known
    action: str
    entity: str  # kind:id
    entity_name: str | None  # a user entity's name, when known
    changes: list[FieldChange]
    more: int  # changed fields left out


def show_value(v: Any, yes: str, no: str) -> str:
    """A stored JSON value as text: strings as they are, lists joined, booleans as words, no escapes."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return yes if v else no
    if isinstance(v, list):
        return "、".join(show_value(x, yes, no) for x in v) or "—"
    if isinstance(v, dict):
        text = json.dumps(v, ensure_ascii=False, sort_keys=True)
    elif isinstance(v, str) and ISO_MOMENT.match(v):
        text = beijing_time(dt.datetime.fromisoformat(v))  # stored moments are UTC; people read Beijing time
    else:
        text = str(v) if v != "" else "—"
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def diff(before: dict | None, after: dict | None, yes: str, no: str) -> list[FieldChange]:
    """The fields whose value differs (every field of a creation or a removal), in a stable order."""
    b, a = before or {}, after or {}
    out = []
    for key in list(dict.fromkeys([*a, *b])):
        if key in a and key in b and a[key] == b[key]:
            continue
        out.append(FieldChange(str(key), show_value(b[key], yes, no) if key in b else None,
                               show_value(a[key], yes, no) if key in a else None))
    return out


def beijing_time(at: dt.datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def describe(entries: list[Any], names: dict[int, tuple[str, str | None]], yes: str, no: str) -> list[AuditLine]:
    lines = []
    for e in entries:
        changes = diff(e.before, e.after, yes, no)
        entity_name = None
        if e.entity_kind == "user" and e.entity_id.isdigit():
            entity_name = _name(names.get(int(e.entity_id)))
        lines.append(AuditLine(beijing_time(e.created_at), e.actor_id, _name(names.get(e.actor_id)), e.action,
                               f"{e.entity_kind}:{e.entity_id}", entity_name, changes[:FIELDS_PER_ENTRY],
                               max(0, len(changes) - FIELDS_PER_ENTRY)))
    return lines


def _name(found: tuple[str, str | None] | None) -> str | None:
    if found is None:
        return None
    first, username = found
    return f"{first} @{username}" if username else first


def user_ids_in(entries: list[Any]) -> set[int]:
    ids = {e.actor_id for e in entries if e.actor_id is not None}
    ids |= {int(e.entity_id) for e in entries if e.entity_kind == "user" and e.entity_id.isdigit()}
    return ids
