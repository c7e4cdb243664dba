"""Invites (admins), redeeming them through /start deep links, revoking roles and invites (admins), and /me."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.handlers.common import button_handlers, current_user, reply, require, sender_roles, show, user_lang
from bot.telegram.callbacks import AskRevokeGrant, ConfirmRevokeGrant, ConfirmRevokeInvite
from bot.handlers.dialog_chat import start_dialog
from bot.handlers.privacy import first_notice
from bot.telegram.menus import refresh_chat_menu
from bot.models import Role
from bot.search.names import canonical_officer_scope, resolver_of_counties
from bot.services.roles import Revoked, invite_code_of, revoke_grant, revoke_invite, roles_of
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
                role=grant.role, scope=scope, privacy_notice=await first_notice(context, user))
    # right away, not only at the end of the update: the dialog that may follow can end it early
    await refresh_chat_menu(context, user, roles)
    if result is RedeemResult.GRANTED and grant.role == Role.ENTERPRISE.value and grant.enterprise_id:
        # registration continues with the company profile (type, industries of interest)
        await start_dialog(update, context, "eprofile", {"enterprise_id": grant.enterprise_id})


async def me_command(update: Update, context: BotContext) -> None:
    user = await current_user(update, context)
    roles = await sender_roles(update, context)
    await reply(update, context, "me", user=user, grants=roles.grants, env_admin=roles.env_admin)


async def revoke_command(update: Update, context: BotContext) -> None:
    """/revoke USER_ID: the user's roles, each with a button to take it away; /revoke CODE (or the
    invite link): a button to make that link grant nothing."""
    if not await require(update, context, Role.ADMIN):
        return
    args = context.args or []
    if len(args) != 1 or (args[0].isdigit() and len(args[0]) > 18):  # Telegram ids fit a signed 64-bit integer
        await reply(update, context, "revoke_usage")
        return
    storage = context.services.storage
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    if args[0].isdigit():
        user_id = int(args[0])
        grants = await storage.active_grants(user_id)
        buttons = [[InlineKeyboardButton(context.i18n.label(lang, "btn_revoke_grant", role=L.role_name[g.role],
                                                            scope=g.scope_name or ""),
                                         callback_data=AskRevokeGrant(g.id).pack())] for g in grants]
        await reply(update, context, "revoke_grants", user_id=user_id, grants=grants,
                    keyboard=InlineKeyboardMarkup(buttons) if buttons else None)
        return
    found = await storage.invite_view(invite_code_of(args[0]))
    if found is None:
        await reply(update, context, "revoke_no_invite")
        return
    invite_id, invite, revoked = found
    keyboard = None if revoked else InlineKeyboardMarkup([[InlineKeyboardButton(
        L.btn_revoke_invite, callback_data=ConfirmRevokeInvite(invite_id).pack())]])
    await reply(update, context, "revoke_invite_confirm", invite=invite, revoked=revoked, keyboard=keyboard)


async def ask_revoke_grant(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ADMIN):
        return
    pressed = AskRevokeGrant.parse(update.callback_query.data)
    grant = await context.services.storage.grant_by_id(pressed.grant_id) if pressed else None
    await update.callback_query.answer()
    if grant is None:
        await show(update, context, "revoke_not_active")
        return
    L = context.i18n.label_module(await user_lang(update, context))
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(L.btn_revoke_confirm,
                                                           callback_data=ConfirmRevokeGrant(grant.id).pack())]])
    await show(update, context, "revoke_grant_confirm", keyboard, grant=grant)


async def confirm_revoke_grant(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ADMIN):
        return
    pressed = ConfirmRevokeGrant.parse(update.callback_query.data)
    await update.callback_query.answer()
    if pressed is None:
        await show(update, context, "revoke_not_active")
        return
    outcome, grant = await revoke_grant(context.services.storage, pressed.grant_id, update.effective_user.id,
                                        context.services.clock())
    if outcome is Revoked.REVOKED:
        await show(update, context, "revoke_grant_done", grant=grant)
    else:
        await show(update, context, "revoke_not_active")


async def confirm_revoke_invite(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.ADMIN):
        return
    pressed = ConfirmRevokeInvite.parse(update.callback_query.data)
    await update.callback_query.answer()
    outcome = (await revoke_invite(context.services.storage, pressed.invite_id, update.effective_user.id)
               if pressed else Revoked.NOT_ACTIVE)
    await show(update, context, "revoke_invite_done" if outcome is Revoked.REVOKED else "revoke_not_active")


def register(app: Application) -> None:
    app.add_handler(CommandHandler("invite", invite_command))
    app.add_handler(CommandHandler("revoke", revoke_command))
    app.add_handlers(button_handlers({AskRevokeGrant: ask_revoke_grant, ConfirmRevokeGrant: confirm_revoke_grant,
                                      ConfirmRevokeInvite: confirm_revoke_invite}))
    app.add_handler(CommandHandler("me", me_command))
