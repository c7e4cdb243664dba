"""Open-licence candidates (开放许可候选): patents granted five or more years ago that were never
implemented or traded and whose right has not ended, in the asker's scope. An office sees its own
institution's; officers, agencies and admins see the whole library."""
from __future__ import annotations

import datetime as dt
from typing import Any

from bot.models import Role
from bot.services.legal_status import ended_markers
from bot.services.roles import RoleSet


def candidate_scope(roles: RoleSet | None) -> set[int] | None:
    """Institution ids the asker's list is limited to; None = all."""
    if roles is None or roles.is_admin or roles.has(Role.OFFICER, Role.AGENCY):
        return None
    return roles.institutions(Role.TECH_TRANSFER)


async def open_licence_candidates(storage: Any, roles: RoleSet | None, today: dt.date) -> tuple[list, int]:
    return await storage.open_licence_candidates(today, candidate_scope(roles), ended_markers=ended_markers())
