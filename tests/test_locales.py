"""Both languages carry the same messages and labels, so no English user hits a missing template
(a StrictUndefined error in the handler) after a Chinese-only change — and the reverse."""
from __future__ import annotations

import re

from bot.i18n import LOCALES_DIR

LABEL_RE = re.compile(r"{%-?\s*(?:set|macro)\s+(\w+)")


def _labels(lang: str) -> set[str]:
    return {n for p in (LOCALES_DIR / lang).glob("labels*.j2") for n in LABEL_RE.findall(p.read_text("utf-8"))}


def test_every_template_exists_in_both_languages():
    zh = {p.name for p in (LOCALES_DIR / "zh").glob("*.j2")}
    en = {p.name for p in (LOCALES_DIR / "en").glob("*.j2")}
    assert zh == en, {"only zh": sorted(zh - en), "only en": sorted(en - zh)}
    assert len(zh) > 100


def test_every_label_exists_in_both_languages():
    zh, en = _labels("zh"), _labels("en")
    assert zh == en, {"only zh": sorted(zh - en), "only en": sorted(en - zh)}
    assert {"btn_edit_event", "dept_kind", "toast_event_closed"} <= zh
