"""The /stats chart: per institution 盘点率 and 评价率 as sorted horizontal bars with their counts, and
each county's events this year against the yearly target. Tall and narrow so it reads on a phone.

Every label is drawn with the font bundled in ``bot/fonts`` (a subset of Noto Sans CJK SC, SIL OFL),
so Chinese renders on a fresh install with no system font.
"""
from __future__ import annotations

import asyncio
import io
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

FONT_FILE = Path(__file__).resolve().parent.parent / "fonts" / "NotoSansSC-Subset.otf"
TOP_INSTITUTIONS = 12
NAME_CHARS = 14
INVENTORY_COLOUR, RATING_COLOUR = "#2f6fb0", "#e08a1e"
MET_COLOUR, SHORT_COLOUR = "#3c9a4e", "#c8553d"
# matplotlib's settings (rc_context) are process-wide: one chart is drawn at a time
_DRAWING = threading.Lock()


@lru_cache(maxsize=1)
def chart_font_family() -> str:
    """Register the bundled font with matplotlib (once) and return its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(FONT_FILE))
    return font_manager.FontProperties(fname=str(FONT_FILE)).get_name()


def _rc() -> dict[str, Any]:
    return {"font.family": chart_font_family(), "font.size": 11, "axes.unicode_minus": False}


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def chart_figure(report: Any, labels: Any) -> Any:
    """The chart as a matplotlib Figure (``chart_png`` renders it)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = [r for r in report.institutions if r.institution]  # unlinked patents have no rates to show
    rows.sort(key=lambda r: (-r.inventory_rate, -r.rating_rate, -r.patents, r.institution))
    rows = rows[:TOP_INSTITUTIONS]
    counties = list(report.counties)
    with matplotlib.rc_context(_rc()):
        inst_height = max(1.6, 0.62 * len(rows) + 1.2)
        county_height = max(1.2, 0.32 * len(counties) + 1.0)
        fig = Figure(figsize=(6.4, inst_height + county_height + 1.0), dpi=150)
        grid = fig.add_gridspec(2, 1, height_ratios=[inst_height, county_height], hspace=0.35)
        ax = fig.add_subplot(grid[0])
        _institutions(ax, rows, labels)
        ax2 = fig.add_subplot(grid[1])
        _counties(ax2, counties, labels)
        fig.suptitle(labels.stats_chart_title.format(report.now.date().isoformat()), fontsize=12)
        fig.subplots_adjust(left=0.30, right=0.97, top=1 - 0.95 / fig.get_figheight(), bottom=0.35 / fig.get_figheight())
    return fig


def _institutions(ax: Any, rows: list, labels: Any) -> None:
    ax.set_title(labels.stats_chart_institutions, fontsize=11, loc="left", pad=20)
    if not rows:
        ax.text(0.5, 0.5, labels.stats_chart_no_institutions, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    bar = 0.38
    ys = list(range(len(rows)))
    inv = [_percent(r.assessed, r.patents) for r in rows]
    rat = [_percent(r.rated, r.transferable) for r in rows]
    ax.barh([y - bar / 2 for y in ys], inv, bar, color=INVENTORY_COLOUR, label=labels.stats_chart_inventory)
    ax.barh([y + bar / 2 for y in ys], rat, bar, color=RATING_COLOUR, label=labels.stats_chart_rating)
    for y, r, a, b in zip(ys, rows, inv, rat):
        ax.text(a + 1, y - bar / 2, f"{a:.0f}% ({r.assessed}/{r.patents})", va="center", fontsize=8)
        ax.text(b + 1, y + bar / 2, f"{b:.0f}% ({r.rated}/{r.transferable})", va="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([_short(r.institution) for r in rows], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 135)  # room for the count labels right of a full bar
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower left", bbox_to_anchor=(-0.02, 1.0), ncol=2, fontsize=8, frameon=False,
              borderaxespad=0.1, handlelength=1.2, columnspacing=1.0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _counties(ax: Any, counties: list, labels: Any) -> None:
    target = max((c.target for c in counties), default=0)
    ax.set_title(labels.stats_chart_counties.format(target), fontsize=11, loc="left")
    if not counties:
        ax.text(0.5, 0.5, labels.stats_chart_no_counties, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ys = list(range(len(counties)))
    top = max([c.held for c in counties] + [target])
    ax.barh(ys, [c.held for c in counties], 0.6,
            color=[MET_COLOUR if c.held >= c.target else SHORT_COLOUR for c in counties])
    ax.axvline(target, color="#555555", linestyle="--", linewidth=1)
    for y, c in zip(ys, counties):
        ax.text(c.held + top * 0.02, y, f"{c.held}/{c.target}", va="center", fontsize=8,
                color="black" if c.held >= c.target else SHORT_COLOUR)
    ax.set_yticks(ys)
    ax.set_yticklabels([c.county for c in counties], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.25 + 0.5)
    ax.xaxis.set_major_locator(_integer_locator())
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _integer_locator() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "…"


def draw_chart(report: Any, labels: Any) -> tuple[Any, bytes]:
    """The drawn Figure and its PNG. Ticks are made while drawing, so the drawing happens under the
    same font settings as the building."""
    import matplotlib

    out = io.BytesIO()
    with _DRAWING, matplotlib.rc_context(_rc()):
        fig = chart_figure(report, labels)
        fig.savefig(out, format="png")
    return fig, out.getvalue()


def chart_png(report: Any, labels: Any) -> bytes:
    return draw_chart(report, labels)[1]


async def chart_png_off_loop(report: Any, labels: Any) -> bytes:
    """The PNG drawn in a worker thread: drawing takes a few hundred ms of CPU that would otherwise
    hold up every other chat's update on the event loop."""
    return await asyncio.to_thread(chart_png, report, labels)
