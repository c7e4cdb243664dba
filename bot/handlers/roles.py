"""Invites (admins), redeeming them through /start deep links, and /me."""
from __future__ import annotations

import datetime as dt

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import current_user, reply, require
from bot.menus import set_chat_menu
from bot.models import Role
from bot.roles import INVITE_PREFIX, roles_of
from bot.storage import RedeemResult

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


async def create_invite(services, created_by: int | None, role: Role, scope: str, uses: int, days: int) -> str:
    """Resolve the scope (creating the institution/enterprise/department if new) and store an invite."""
    st = services.storage
    kw: dict = {}
    if role in (Role.INVENTOR, Role.TECH_TRANSFER):
        kw["institution_id"] = await st.institution_by_name(scope, create=True)
    elif role in (Role.ENTERPRISE, Role.AGENCY):
        kw["enterprise_id"] = await st.enterprise_by_name(scope, create=True)
    elif role == Role.EXPERT:
        kw["industry"] = scope
    elif role == Role.OFFICER:
        # "科技局" (city level) or "科技局@鼓楼区" (county level)
        name, _, county = scope.partition("@")
        kw["department_id"] = await st.department_by(name.strip(), county.strip(), create_name=scope)
    expires = services.clock() + dt.timedelta(days=days)
    return await st.create_invite(role, created_by=created_by, expires_at=expires, max_uses=uses, **kw)


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={INVITE_PREFIX}{code}"


async def invite_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ADMIN):
        return
    try:
        role, scope, uses, days = parse_invite_args(context.args or [])
    except InviteArgsError as e:
        await reply(update, context, e.template, **e.ctx)
        return
    code = await create_invite(context.services, update.effective_user.id, role, scope, uses, days)
    await reply(update, context, "invite_created", role=role.value, scope=scope, uses=uses, days=days,
                link=invite_link(context.bot.username, code))


async def redeem(update: Update, context: BotContext, code: str) -> None:
    user = await current_user(update, context)
    result, grant = await context.services.storage.redeem_invite(code, user.id, context.services.clock())
    if result == RedeemResult.INVALID:
        await reply(update, context, "start_bad_link")
        return
    roles = await roles_of(context.services.storage, context.services.settings.admin_ids, user.id)
    scope = next((g.scope_name for g in roles.grants if g.role == grant.role), None)
    await set_chat_menu(context.bot, context.services, update.effective_chat.id, user.language, roles)
    await reply(update, context, "invite_ok" if result == RedeemResult.OK else "invite_already",
                role=grant.role, scope=scope)


async def me_command(update: Update, context: BotContext) -> None:
    user = await current_user(update, context)
    roles = await roles_of(context.services.storage, context.services.settings.admin_ids, user.id)
    await reply(update, context, "me", user=user, grants=roles.grants, env_admin=roles.env_admin)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("invite", invite_command))
    app.add_handler(CommandHandler("me", me_command))
