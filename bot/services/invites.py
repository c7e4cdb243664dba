"""Invites: parse an invite request, resolve its scope, store it, build its deep link, and redeem it.

Used by the /invite command (admins) and by `python run_bot.py invite`.
"""
from __future__ import annotations

import datetime as dt
import enum

from bot.models import Invite, Role
from bot.services.roles import INVITE_PREFIX
from bot.storage import Grant, Storage

INVITABLE = {r.value: r for r in Role}
SCOPED = {Role.INVENTOR, Role.TECH_TRANSFER, Role.ENTERPRISE, Role.EXPERT, Role.OFFICER, Role.AGENCY}
DEFAULT_DAYS = 14
MAX_USES_LIMIT = 1000
SCOPE_LIMIT = 100


class InviteArgsError(ValueError):
    def __init__(self, template: str, **ctx):
        super().__init__(template)
        self.template, self.ctx = template, ctx


def parse_invite_args(args: list[str]) -> tuple[Role, str, int, int]:
    """``ROLE [SCOPE …] [uses=N] [days=D]`` → (role, scope, uses, days)."""
    if not args or args[0].lower() not in INVITABLE:
        raise InviteArgsError("invite_usage")
    role = INVITABLE[args[0].lower()]
    uses, days, scope_words = 1, DEFAULT_DAYS, []
    for a in args[1:]:
        key, _, value = a.partition("=")
        if key in ("uses", "days") and value:
            try:
                n = int(value)
            except ValueError:
                raise InviteArgsError("invite_usage") from None
            if not 1 <= n <= (MAX_USES_LIMIT if key == "uses" else 365):
                raise InviteArgsError("invite_usage")
            uses, days = (n, days) if key == "uses" else (uses, n)
        else:
            scope_words.append(a)
    scope = " ".join(scope_words).strip()
    if role in SCOPED and not scope:
        raise InviteArgsError("invite_needs_scope", role=role.value)
    if len(scope) > SCOPE_LIMIT:
        raise InviteArgsError("invite_usage")
    return role, scope, uses, days


async def resolve_scope(st: Storage, role: Role, scope: str) -> dict:
    """A role's scope text → the grant's scope columns, creating the institution/enterprise/department
    if it is new."""
    if role in (Role.INVENTOR, Role.TECH_TRANSFER):
        return {"institution_id": await st.institution_by_name(scope, create=True)}
    if role in (Role.ENTERPRISE, Role.AGENCY):
        return {"enterprise_id": await st.enterprise_by_name(scope, create=True)}
    if role == Role.EXPERT:
        return {"industry": scope}
    if role == Role.OFFICER:
        # "科技局" (city level) or "科技局@鼓楼区" (county level)
        name, _, county = scope.partition("@")
        return {"department_id": await st.department_by(name.strip(), county.strip(), create_name=scope)}
    return {}


async def create_invite(st: Storage, now: dt.datetime, created_by: int | None, role: Role, scope: str, uses: int,
                        days: int) -> str:
    expires = now + dt.timedelta(days=days)
    return await st.create_invite(role, created_by=created_by, expires_at=expires, max_uses=uses,
                                  **await resolve_scope(st, role, scope))


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={INVITE_PREFIX}{code}"


class RedeemResult(enum.Enum):
    GRANTED = "granted"
    ALREADY_HELD = "already_held"  # re-opening one's own link: no use consumed, nothing duplicated
    INVALID = "invalid"            # unknown, expired, revoked or used up


def usable(inv: Invite, now: dt.datetime) -> bool:
    return not inv.revoked and inv.expires_at > now and inv.uses < inv.max_uses


async def redeem(st: Storage, code: str, user_id: int, now: dt.datetime) -> tuple[RedeemResult, Grant | None]:
    """Use one invite: grant its role once; concurrent redemptions can't exceed its uses."""
    async with st.session() as s:
        inv = await st.invite_by_code(s, code)
        if inv is None:
            return RedeemResult.INVALID, None
        grant = Grant(inv.role, inv.institution_id, inv.department_id, inv.enterprise_id, inv.industry)
        if await st.holds_invited_role(s, user_id, inv):
            return RedeemResult.ALREADY_HELD, grant
        if not usable(inv, now) or not await st.use_invite(s, inv.id):
            return RedeemResult.INVALID, None
        await st.grant_invited_role(s, inv, user_id)
    return RedeemResult.GRANTED, grant
