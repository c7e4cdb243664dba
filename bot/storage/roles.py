"""Roles, invites and the scopes they grant (institutions, departments, enterprises)."""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.models import Department, Enterprise, Institution, Invite, Role, RoleGrant, User, utcnow
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


@dataclass(frozen=True)
class GrantRow:
    """One active grant of a user, with its row id (what /revoke's buttons name)."""

    id: int
    user_id: int
    role: str
    scope_name: str | None


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
            if not await self._reactivate(s, user_id, g.role, g.scope_key, granted_by=granted_by, invite_id=None):
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

    async def grant_invited_role(self, s: AsyncSession, inv: Invite, user_id: int) -> None:
        key = scope_key(inv)
        if not await self._reactivate(s, user_id, inv.role, key, granted_by=inv.created_by, invite_id=inv.id):
            s.add(RoleGrant(user_id=user_id, role=inv.role, institution_id=inv.institution_id,
                            department_id=inv.department_id, enterprise_id=inv.enterprise_id,
                            industry=inv.industry, scope_key=key, invite_id=inv.id, granted_by=inv.created_by))
        self.audit(s, user_id, "redeem_invite", "user", str(user_id), None,
                   {"role": inv.role, "scope": key, "invite": inv.id})

    @staticmethod
    async def _reactivate(s: AsyncSession, user_id: int, role: str, key: str, *, granted_by: int | None,
                          invite_id: int | None) -> bool:
        """Grant again a role that was revoked: the same row (one per user, role and scope) becomes
        active again. False if there is no revoked row to reuse."""
        res = await s.execute(update(RoleGrant).where(
            RoleGrant.user_id == user_id, RoleGrant.role == role, RoleGrant.scope_key == key,
            RoleGrant.revoked_at.is_not(None)).values(revoked_at=None, granted_by=granted_by, invite_id=invite_id,
                                                      created_at=utcnow()))
        return res.rowcount == 1

    # -- revocation ---------------------------------------------------------------------------------
    async def active_grants(self, user_id: int) -> list[GrantRow]:
        """The user's active grants with their ids, oldest first."""
        async with self.session() as s:
            rows = await s.execute(
                select(RoleGrant.id, RoleGrant.role, Institution.name, Department.name, Enterprise.name,
                       RoleGrant.industry)
                .select_from(RoleGrant)
                .outerjoin(Institution, Institution.id == RoleGrant.institution_id)
                .outerjoin(Department, Department.id == RoleGrant.department_id)
                .outerjoin(Enterprise, Enterprise.id == RoleGrant.enterprise_id)
                .where(RoleGrant.user_id == user_id, RoleGrant.revoked_at.is_(None))
                .order_by(RoleGrant.id))
            return [GrantRow(gid, user_id, role, inst or dept or ent or industry)
                    for gid, role, inst, dept, ent, industry in rows]

    async def grant_by_id(self, grant_id: int) -> GrantRow | None:
        async with self.session() as s:
            g = await s.get(RoleGrant, grant_id)
            if g is None or g.revoked_at is not None:
                return None
        found = [r for r in await self.active_grants(g.user_id) if r.id == grant_id]
        return found[0] if found else None

    async def revoke_grant(self, grant_id: int, *, actor_id: int | None, now: dt.datetime) -> GrantRow | None:
        """Revoke one active grant (the guarded UPDATE makes a second, concurrent revoke a no-op);
        audit-logged. The revoked grant, or None if there was none active with this id."""
        row = await self.grant_by_id(grant_id)
        if row is None:
            return None
        async with self.session() as s:
            res = await s.execute(update(RoleGrant).where(RoleGrant.id == grant_id, RoleGrant.revoked_at.is_(None))
                                  .values(revoked_at=now))
            if res.rowcount != 1:
                return None
            self.audit(s, actor_id, "revoke_role", "user", str(row.user_id), {"role": row.role, "grant": grant_id,
                                                                              "scope": row.scope_name}, None)
        return row

    async def invite_view(self, code: str) -> tuple[int, InviteView, bool] | None:
        """(id, what it grants, revoked) of the invite with this code."""
        async with self.session() as s:
            inv = await self.invite_by_code(s, code)
            if inv is None:
                return None
            name = inv.industry
            for model, key in ((Institution, inv.institution_id), (Department, inv.department_id),
                               (Enterprise, inv.enterprise_id)):
                if key is not None:
                    name = await s.scalar(select(model.name).where(model.id == key))
            return inv.id, InviteView(inv.code, inv.role, name, inv.expires_at, inv.max_uses, inv.uses), inv.revoked

    async def revoke_invite(self, invite_id: int, *, actor_id: int | None) -> bool:
        """Revoke an invite: its link grants nothing from now on (roles already granted through it stay;
        revoke those one by one). False if it was revoked already or does not exist."""
        async with self.session() as s:
            res = await s.execute(update(Invite).where(Invite.id == invite_id, Invite.revoked.is_(False))
                                  .values(revoked=True))
            if res.rowcount != 1:
                return False
            self.audit(s, actor_id, "revoke_invite", "invite", str(invite_id), {"revoked": False},
                       {"revoked": True})
        return True
