"""Who may do what: a user's roles from RoleGrant rows plus ADMIN_IDS from the environment."""
from __future__ import annotations

from dataclasses import dataclass

from bot.models import Role
from bot.storage import Grant, Storage

INVITE_PREFIX = "i_"


@dataclass(frozen=True)
class RoleSet:
    user_id: int
    grants: tuple[Grant, ...]
    env_admin: bool

    def has(self, *roles: Role) -> bool:
        if Role.ADMIN in roles and self.env_admin:
            return True
        wanted = {r.value for r in roles}
        return any(g.role in wanted for g in self.grants)

    @property
    def is_admin(self) -> bool:
        return self.has(Role.ADMIN)

    def institutions(self, *roles: Role) -> set[int]:
        wanted = {r.value for r in roles}
        return {g.institution_id for g in self.grants if g.role in wanted and g.institution_id is not None}

    def first(self, role: Role) -> Grant | None:
        return next((g for g in self.grants if g.role == role.value), None)


async def roles_of(storage: Storage, admin_ids: frozenset[int], user_id: int) -> RoleSet:
    return RoleSet(user_id, tuple(await storage.grants_of(user_id)), user_id in admin_ids)
