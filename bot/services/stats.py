"""Progress statistics for officers: a message table and XLSX (the PNG chart: ``stats_chart``).

Scope: admins and city-level officers see everything; a county officer sees the institutions and
events of the county. Week-over-week figures are computed from timestamps as of seven days ago.
"""
from __future__ import annotations

import datetime as dt
import io
import unicodedata
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook

from bot.delivery.jobs import PeriodicJob
from bot.io.cells import neutralise_row
from bot.delivery.notify import wake
from bot.models import Role
from bot.services.events import EVENTS_PER_COUNTY_TARGET
from bot.services.roles import RoleSet
from bot.storage import InstitutionStats

WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class StatsScope:
    everything: bool
    counties: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CountyEvents:
    county: str
    held: int
    target: int = EVENTS_PER_COUNTY_TARGET


@dataclass(frozen=True)
class StatsReport:
    now: dt.datetime
    scope: StatsScope
    institutions: list[InstitutionStats]
    week_ago: dict[str, InstitutionStats]
    counties: list[CountyEvents]
    # the needs board and expert evaluations on request, in the same scope (bot/storage/needs.py
    # NeedStats, and expert requests per state)
    needs: Any = None
    evaluations: dict[str, int] | None = None

    def total(self, attr: str, *, before: bool = False) -> int:
        rows = self.week_ago.values() if before else self.institutions
        return sum(getattr(r, attr) for r in rows)

    def delta(self, attr: str) -> int:
        return self.total(attr) - self.total(attr, before=True)


async def scope_of(storage: Any, roles: RoleSet) -> StatsScope | None:
    """None = not allowed to see statistics."""
    if roles.is_admin:
        return StatsScope(True)
    depts = {g.department_id for g in roles.grants if g.role == Role.OFFICER.value and g.department_id}
    if not depts:
        return None
    counties = await storage.department_counties(depts)
    if "" in counties:  # a city-level department
        return StatsScope(True)
    return StatsScope(False, frozenset(counties))


async def build_report(storage: Any, scope: StatsScope, now: dt.datetime) -> StatsReport:
    inst_ids = None
    if not scope.everything:
        inst_ids = set()
        for county in scope.counties:
            inst_ids |= await storage.institutions_in_county(county)
    current = await storage.institution_stats(now, inst_ids)
    before = {r.institution: r for r in await storage.institution_stats(now - WEEK, inst_ids)}
    held = await storage.events_held_per_county(now.year, now)
    names = (await storage.department_county_names() | set(held)) if scope.everything else set(scope.counties)
    counties = sorted((CountyEvents(c, held.get(c, 0)) for c in names), key=lambda x: (x.held >= x.target, x.county))
    return StatsReport(now, scope, current, before, counties, await storage.need_stats(inst_ids),
                       await storage.expert_request_counts(inst_ids))


def xlsx_bytes(report: StatsReport, labels: Any) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "institutions"
    head = labels.stats_columns
    ws.append(head)
    for r in report.institutions:
        prev = report.week_ago.get(r.institution)
        ws.append(neutralise_row([r.institution or labels.stats_unassigned, r.patents, r.assessed,
                                  round(r.inventory_rate, 4), r.transferable, r.rated, round(r.rating_rate, 4),
                                  r.transactions, r.assessed - (prev.assessed if prev else 0)]))
    ws2 = wb.create_sheet("counties")
    ws2.append(labels.stats_county_columns)
    for c in report.counties:
        ws2.append(neutralise_row([c.county, c.held, c.target, "✓" if c.held >= c.target else ""]))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


NAME_CELLS = 20


def _pad(text: str, cells: int = NAME_CELLS) -> str:
    """Cut and left-align to ``cells`` monospace cells, where CJK characters take two."""
    out, used = "", 0
    for c in text:
        w = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if used + w > cells:
            break
        out, used = out + c, used + w
    return out + " " * (cells - used)


def text_table(report: StatsReport, labels: Any) -> str:
    """A plain fixed-width table (terminal, and inside <pre> in Telegram)."""
    lines = ["  ".join([_pad(labels.stats_short[0].strip()), *labels.stats_short[1:]])]
    for r in report.institutions:
        prev = report.week_ago.get(r.institution)
        wow = r.assessed - (prev.assessed if prev else 0)
        lines.append(f"{_pad(r.institution or labels.stats_unassigned)}  {r.patents:>5}  {r.assessed:>5} {r.inventory_rate:>5.0%}  "
                     f"{r.transferable:>5}  {r.rated:>5} {r.rating_rate:>5.0%}  {r.transactions:>4}  {wow:>+4}")
    return "\n".join(lines)


class WeeklyReportJob(PeriodicJob):
    """Monday 09:00 Asia/Shanghai: each officer gets the week's statistics for their scope, once per
    ISO week (outbox key), opted out by an inactive ``weekly_report`` subscription."""

    name = "weekly-report"

    async def tick(self) -> int:
        from bot.services.digest import SHANGHAI
        from bot.delivery.notify import push
        from bot.services.roles import roles_of

        services = self.services
        now = services.clock()
        local = now.astimezone(SHANGHAI)
        if local.weekday() != 0 or local.hour < 9:
            return 0
        week = f"{local.isocalendar().year}-W{local.isocalendar().week:02d}"
        queued = 0
        cache: dict[StatsScope, StatsReport] = {}
        for uid in await services.storage.weekly_report_recipients():
            roles = await roles_of(services.storage, services.settings.admin_ids, uid)
            scope = await scope_of(services.storage, roles)
            if scope is None:
                continue
            if scope not in cache:
                cache[scope] = await build_report(services.storage, scope, now)
            report = cache[scope]
            async with services.storage.session() as s:
                queued += int(await push(s, services, uid, "weekly_report", key=f"weekly:{uid}:{week}",
                                         report=report, week=week))
        if queued:
            wake(services)
        return queued
