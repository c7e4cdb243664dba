"""Who may do what: a user's roles from RoleGrant rows plus ADMIN_IDS from the environment."""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from bot.models import Role
from bot.storage import Grant, Storage
from bot.storage.roles import GrantRow

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


class Revoked(enum.Enum):
    REVOKED = "revoked"
    NOT_ACTIVE = "not_active"  # unknown, or revoked already (a second tap, a replayed button)


async def revoke_grant(storage: Storage, grant_id: int, actor_id: int | None,
                       now: dt.datetime) -> tuple[Revoked, GrantRow | None]:
    """Take one role away. Effective at the user's next update: every handler checks the grants loaded
    with that update, the command menu follows them (bot/telegram/menus.py) and a running dialog that
    needed the role ends (bot/dialogs/engine.py)."""
    row = await storage.revoke_grant(grant_id, actor_id=actor_id, now=now)
    return (Revoked.REVOKED, row) if row is not None else (Revoked.NOT_ACTIVE, None)


async def revoke_invite(storage: Storage, invite_id: int, actor_id: int | None) -> Revoked:
    """The invite's link grants nothing from now on; roles it granted already stay until revoked."""
    return Revoked.REVOKED if await storage.revoke_invite(invite_id, actor_id=actor_id) else Revoked.NOT_ACTIVE


def invite_code_of(text: str) -> str:
    """An invite as an admin may paste it: the code, ``i_<code>`` or the whole deep link."""
    text = text.strip()
    text = text.rsplit("start=", 1)[-1]
    return text[len(INVITE_PREFIX):] if text.startswith(INVITE_PREFIX) else text
