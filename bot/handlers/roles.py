"""Invites (admins), redeeming them through /start deep links, and /me."""
from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import current_user, reply, require, sender_roles
from bot.handlers.dialog_chat import start_dialog
from bot.telegram.menus import refresh_chat_menu
from bot.models import Role
from bot.search.names import canonical_officer_scope, resolver_of_counties
from bot.services.roles import roles_of
from bot.services import invites
from bot.services.invites import InviteArgsError, RedeemResult, create_invite, invite_link, parse_invite_args

async def invite_command(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ADMIN):
        return
    try:
        role, scope, uses, days = parse_invite_args(context.args or [])
    except InviteArgsError as e:
        await reply(update, context, e.template, **e.ctx)
        return
    scope = typed_scope(context, role, scope)
    code = await create_invite(context.services.storage, context.services.clock(), update.effective_user.id, role,
                               scope, uses, days)
    await reply(update, context, "invite_created", role=role.value, scope=scope, uses=uses, days=days,
                link=invite_link(context.bot.username, code))


def typed_scope(context: BotContext, role: Role, scope: str) -> str:
    """An expert's field and an officer's county as typed (新能源, 长乐) -> the names they are kept by."""
    from bot.handlers.enterprise import industry_resolver
    from bot.services.events import COUNTIES

    if role == Role.EXPERT:
        return industry_resolver(context).resolve(scope) or scope
    if role == Role.OFFICER:
        return canonical_officer_scope(scope, resolver_of_counties(COUNTIES))
    return scope


async def redeem(update: Update, context: BotContext, code: str) -> None:
    user = await current_user(update, context)
    result, grant = await invites.redeem(context.services.storage, code, user.id, context.services.clock())
    if result is RedeemResult.INVALID:
        await reply(update, context, "start_bad_link")
        return
    roles = await roles_of(context.services.storage, context.services.settings.admin_ids, user.id)
    context._grants = roles.grants  # the rest of this update checks roles against the new grant too
    scope = next((g.scope_name for g in roles.grants if g.role == grant.role), None)
    await reply(update, context, "invite_ok" if result is RedeemResult.GRANTED else "invite_already",
                role=grant.role, scope=scope)
    # right away, not only at the end of the update: the dialog that may follow can end it early
    await refresh_chat_menu(context, user, roles)
    if result is RedeemResult.GRANTED and grant.role == Role.ENTERPRISE.value and grant.enterprise_id:
        # registration continues with the company profile (type, industries of interest)
        await start_dialog(update, context, "eprofile", {"enterprise_id": grant.enterprise_id})


async def me_command(update: Update, context: BotContext) -> None:
    user = await current_user(update, context)
    roles = await sender_roles(update, context)
    await reply(update, context, "me", user=user, grants=roles.grants, env_admin=roles.env_admin)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("invite", invite_command))
    app.add_handler(CommandHandler("me", me_command))
