"""Who may export what: the same scope as /stats for officers, a tech-transfer office's own
institutions, everything for admins. Rating rows name their rater only for admins and for the office
of the rated patent's institution (which is told of each rating as it comes in)."""
from __future__ import annotations

from typing import Any

from bot.models import Role
from bot.services.roles import RoleSet
from bot.services.stats import scope_of
from bot.storage.exports import ExportScope


async def export_scope(storage: Any, roles: RoleSet) -> ExportScope | None:
    """None = not allowed to export."""
    if roles.is_admin:
        return ExportScope.everything()
    offices = frozenset(roles.institutions(Role.TECH_TRANSFER))
    stats = await scope_of(storage, roles) if roles.has(Role.OFFICER) else None
    if stats is None and not offices:
        return None
    if stats is not None and stats.everything:
        return ExportScope(None, offices)
    county_institutions: set[int] = set()
    for county in (stats.counties if stats else ()):
        county_institutions |= await storage.institutions_in_county(county)
    return ExportScope(frozenset(county_institutions | offices), offices)
