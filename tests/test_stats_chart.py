"""The /stats chart draws every label with the bundled CJK font (no system font needed), and the
chart an officer receives is that chart."""
from __future__ import annotations

import datetime as dt
import json
import warnings

import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager
from matplotlib.text import Text

from bot.config import PROJECT_ROOT
from bot.i18n import Translator
from bot.services.stats import CountyEvents, StatsReport, StatsScope
from bot.services.stats_chart import FONT_FILE, draw_chart
from bot.storage import InstitutionStats
from devtools.demo_data import demo_spec
from tests.harness import inventor_with_submitted_assessment
from tests.harness import user_with_role as make_role


def report_with_every_name() -> StatsReport:
    """Every institution of the demo data and every county of Fuzhou, plus an unusual name."""
    names = [i["name"] for i in demo_spec()["institutions"]] + ["福建省闽都创新实验室（筹）"]
    rows = [InstitutionStats(n, 100 + k, k * 7, k * 5, k * 2, k) for k, n in enumerate(names)]
    rows.append(InstitutionStats("", 50, 0, 0, 0, 0))  # unlinked patents: in the table, not in the chart
    counties = json.loads((PROJECT_ROOT / "data" / "counties.json").read_text(encoding="utf-8"))["counties"]
    events = [CountyEvents(c, k % 3) for k, c in enumerate(counties)]
    return StatsReport(dt.datetime(2026, 5, 4, 2, 0, tzinfo=dt.timezone.utc), StatsScope(True), rows, {}, events)


def texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_label_is_drawn_with_the_bundled_font(lang):
    labels = Translator(default="zh").label_module(lang)
    report = report_with_every_name()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        fig, png = draw_chart(report, labels)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    cmap = TTFont(FONT_FILE).getBestCmap()
    drawn = texts(fig)
    shown = "".join(t.get_text() for t in drawn)
    for name in ["福州大学", "中国科学院福建物质结构研究", "闽侯县", "永泰县", labels.stats_chart_title.format("2026-05-04")]:
        assert name in shown
    for t in drawn:
        used = font_manager.findfont(t.get_fontproperties(), fallback_to_default=False)
        assert used == str(FONT_FILE), (t.get_text(), used)
        missing = {c for c in t.get_text() if ord(c) not in cmap and not c.isspace()}
        assert not missing, (t.get_text(), missing)


def test_the_font_is_small_and_licensed():
    assert FONT_FILE.stat().st_size < 2_000_000
    licence = (FONT_FILE.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE" in licence and "Version 1.1" in licence


async def test_an_officer_receives_the_rates_chart(bot):
    await inventor_with_submitted_assessment(bot)
    officer = await make_role(bot, 6301, "市局", "officer 市场监管局")
    replies = await officer.send("/stats")
    photo = next(m for m in replies if m.photo)
    png = await officer.download(photo.photo[-1]["file_id"] if isinstance(photo.photo, list)
                                 else photo.photo["file_id"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
