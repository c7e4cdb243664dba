"""Roles, invites and the scopes they grant (institutions, departments, enterprises)."""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.models import Department, Enterprise, Institution, Invite, Role, RoleGrant, User
from bot.storage.base import StorageBase

# letters and digits only: a deep-link payload allows [A-Za-z0-9_-] up to 64 chars
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


@dataclass(frozen=True)
class Grant:
    """A plain view of one active role of a user, with the scope's display name."""

    role: str
    institution_id: int | None = None
    department_id: int | None = None
    enterprise_id: int | None = None
    industry: str | None = None
    scope_name: str | None = None


@dataclass(frozen=True)
class InviteView:
    code: str
    role: str
    scope_name: str | None
    expires_at: dt.datetime
    max_uses: int
    uses: int


def scope_key(g: RoleGrant | Invite) -> str:
    for prefix, value in (("inst", g.institution_id), ("dept", g.department_id), ("ent", g.enterprise_id),
                          ("ind", g.industry)):
        if value is not None:
            return f"{prefix}:{value}"
    return ""


# plain columns, not entities: the same statement runs on an ORM session or a Core connection; built
# once because it runs on every update
_SELECT_GRANTS = (
    select(RoleGrant.role, RoleGrant.institution_id, RoleGrant.department_id, RoleGrant.enterprise_id,
           RoleGrant.industry, Institution.name, Department.name, Enterprise.name)
    .select_from(RoleGrant)
    .outerjoin(Institution, Institution.id == RoleGrant.institution_id)
    .outerjoin(Department, Department.id == RoleGrant.department_id)
    .outerjoin(Enterprise, Enterprise.id == RoleGrant.enterprise_id)
    .where(RoleGrant.user_id == bindparam("b_user"), RoleGrant.revoked_at.is_(None))
    .order_by(RoleGrant.id))


class RoleQueries(StorageBase):
    async def grants_of(self, user_id: int) -> list[Grant]:
        async with self.session() as s:
            return await self._grants(s, user_id)

    @staticmethod
    async def role_holders(s: AsyncSession, roles: tuple[Role, ...]) -> set[int]:
        """Users holding an active grant of any of ``roles``."""
        return set(await s.scalars(select(RoleGrant.user_id).where(
            RoleGrant.role.in_([r.value for r in roles]), RoleGrant.revoked_at.is_(None))))

    @staticmethod
    async def _grants(s: AsyncSession | AsyncConnection, user_id: int) -> list[Grant]:
        rows = await s.execute(_SELECT_GRANTS, {"b_user": user_id})
        return [Grant(role, inst_id, dept_id, ent_id, industry, inst or dept or ent or industry)
                for role, inst_id, dept_id, ent_id, industry, inst, dept, ent in rows]

    async def grant_role(self, user_id: int, role: Role, *, granted_by: int | None = None,
                         institution_id: int | None = None, department_id: int | None = None,
                         enterprise_id: int | None = None, industry: str | None = None) -> bool:
        """Grant directly (admins from ADMIN_IDS, tests, CLI). Returns False if already held."""
        async with self.session() as s:
            g = RoleGrant(user_id=user_id, role=role.value, institution_id=institution_id,
                          department_id=department_id, enterprise_id=enterprise_id, industry=industry,
                          granted_by=granted_by)
            g.scope_key = scope_key(g)
            if await self._holds(s, user_id, g.role, g.scope_key):
                return False
            if await s.get(User, user_id) is None:
                s.add(User(id=user_id))
                await s.flush()
            s.add(g)
            self.audit(s, granted_by, "grant_role", "user", str(user_id), None,
                       {"role": g.role, "scope": g.scope_key})
            return True

    async def _id_by_name(self, model: type[Institution] | type[Enterprise], name: str, create: bool) -> int | None:
        async with self.session() as s:
            found = await s.scalar(select(model.id).where(model.name == name))
            if found is None and create:
                row = model(name=name)
                s.add(row)
                await s.flush()
                found = row.id
            return found

    async def institution_by_name(self, name: str, *, create: bool = False) -> int | None:
        return await self._id_by_name(Institution, name, create)

    async def enterprise_by_name(self, name: str, *, create: bool = False) -> int | None:
        return await self._id_by_name(Enterprise, name, create)

    async def department_by(self, kind: str, county: str, *, create_name: str | None = None) -> int | None:
        async with self.session() as s:
            found = await s.scalar(select(Department.id).where(Department.kind == kind,
                                                               Department.county == county))
            if found is None and create_name:
                d = Department(name=create_name, kind=kind, county=county,
                               level="county" if county else "city")
                s.add(d)
                await s.flush()
                found = d.id
            return found

    async def create_invite(self, role: Role, *, created_by: int | None, expires_at: dt.datetime,
                            max_uses: int = 1, institution_id: int | None = None,
                            department_id: int | None = None, enterprise_id: int | None = None,
                            industry: str | None = None) -> str:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
        async with self.session() as s:
            inv = Invite(code=code, role=role.value, created_by=created_by, expires_at=expires_at,
                         max_uses=max_uses, institution_id=institution_id, department_id=department_id,
                         enterprise_id=enterprise_id, industry=industry)
            s.add(inv)
            await s.flush()
            self.audit(s, created_by, "create_invite", "invite", str(inv.id), None,
                       {"role": role.value, "scope": scope_key(inv), "max_uses": max_uses,
                        "expires_at": expires_at.isoformat()})
        return code

    @staticmethod
    async def invite_by_code(s: AsyncSession, code: str) -> Invite | None:
        return await s.scalar(select(Invite).where(Invite.code == code))

    async def holds_invited_role(self, s: AsyncSession, user_id: int, inv: Invite) -> bool:
        """The user already has the invite's role in its scope."""
        return await self._holds(s, user_id, inv.role, scope_key(inv))

    @staticmethod
    async def _holds(s: AsyncSession, user_id: int, role: str, key: str) -> bool:
        return await s.scalar(select(RoleGrant.id).where(
            RoleGrant.user_id == user_id, RoleGrant.role == role, RoleGrant.scope_key == key,
            RoleGrant.revoked_at.is_(None))) is not None

    @staticmethod
    async def use_invite(s: AsyncSession, invite_id: int) -> bool:
        """Count one use. The guarded UPDATE is the concurrency control: two users racing for the
        last use cannot both get True."""
        res = await s.execute(update(Invite).where(Invite.id == invite_id, Invite.uses < Invite.max_uses,
                                                   Invite.revoked.is_(False))
                              .values(uses=Invite.uses + 1))
        return res.rowcount == 1

    def grant_invited_role(self, s: AsyncSession, inv: Invite, user_id: int) -> None:
        key = scope_key(inv)
        s.add(RoleGrant(user_id=user_id, role=inv.role, institution_id=inv.institution_id,
                        department_id=inv.department_id, enterprise_id=inv.enterprise_id,
                        industry=inv.industry, scope_key=key, invite_id=inv.id, granted_by=inv.created_by))
        self.audit(s, user_id, "redeem_invite", "user", str(user_id), None,
                   {"role": inv.role, "scope": key, "invite": inv.id})
