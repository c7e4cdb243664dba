"""/subscriptions: topics with toggle buttons (the message is edited in place), and the one-tap
"unsubscribe from this topic" button every push carries.

A toggle button names a topic by its code on the page (bot/telegram/callbacks.SubscriptionsPage); codes
are looked up in the page's items for this user, so a forged code toggles nothing.
"""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler

from bot.context import BotContext
from bot.services.events import COUNTIES, EVENT_KINDS
from bot.handlers.common import button_handlers, current_user, sender_roles, show, user_lang
from bot.handlers.events import _toast
from bot.models import Role
from bot.telegram.callbacks import SubscriptionsPage, Unsubscribe
from bot.services.subscriptions import UnsubscribeResult, may_hold, topic_name, unsubscribe
from bot.storage.subscriptions import COUNTY, DEADLINES, DEPARTMENT, EVENT_KIND, EVENT_REMINDERS, INDUSTRY
from bot.vocabulary import INDUSTRIES

async def _items(update: Update, context: BotContext, page: str) -> list[tuple[str, str, str]]:
    """(code, topic kind, topic value) of one page for this user."""
    st = context.services.storage
    user = await current_user(update, context)
    if page == "c":
        return [(f"c{i}", COUNTY, c) for i, c in enumerate(("",) + COUNTIES)]
    if page == "i":
        return [(f"i{i}", INDUSTRY, v) for i, v in enumerate(INDUSTRIES)]
    roles = await sender_roles(update, context)
    items = [("dl", DEADLINES, "")] if may_hold(roles, DEADLINES) else []
    items += [("er", EVENT_REMINDERS, "")]
    items += [(f"k{i}", EVENT_KIND, k) for i, k in enumerate(EVENT_KINDS)]
    depts = {g.department_id for g in roles.grants if g.role == Role.OFFICER.value and g.department_id}
    held = await st.subscriptions_of(user.id)
    depts |= {int(s.topic_value) for s in held if s.topic_kind == DEPARTMENT and s.topic_value.isdigit()}
    for d in sorted(depts):
        items.append((f"d{d}", DEPARTMENT, str(d)))
        found = await st.department_county(d)
        if found and found[1] and found[1] not in COUNTIES:  # a county the counties page doesn't list
            items.append((f"o{d}", COUNTY, found[1]))
    return items


async def _render(update: Update, context: BotContext, page: str) -> None:
    st = context.services.storage
    user = await current_user(update, context)
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    items = await _items(update, context, page)
    active = {(s.topic_kind, s.topic_value) for s in await st.subscriptions_of(user.id) if s.active}
    dept_names = await st.department_names(int(v) for _, k, v in items if k == DEPARTMENT)
    shown = [{"name": topic_name(L, k, v, dept_names), "kind": k, "on": (k, v) in active} for _, k, v in items]
    rows, row = [], []
    for (code, kind, value), item in zip(items, shown):
        label = ("✅ " if item["on"] else "▫️ ") + (L.topic_kind[kind] + "：" if kind == DEPARTMENT else "") + item["name"]
        row.append(InlineKeyboardButton(label[:64], callback_data=SubscriptionsPage(page, code).pack()))
        if len(row) == (1 if page == "m" else 2):
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    if page == "m":
        rows.append([InlineKeyboardButton(L.btn_subs_counties, callback_data=SubscriptionsPage("c").pack()),
                     InlineKeyboardButton(L.btn_subs_industries, callback_data=SubscriptionsPage("i").pack())])
    else:
        rows.append([InlineKeyboardButton(L.btn_up, callback_data=SubscriptionsPage("m").pack())])
    all_active = [topic_name(L, k, v, await st.department_names([int(v)] if k == DEPARTMENT and v.isdigit() else []))
                  for k, v in sorted(active)]
    await show(update, context, "subs_view", InlineKeyboardMarkup(rows), page=page, items=shown,
                active=all_active)


async def subscriptions_command(update: Update, context: BotContext) -> None:
    user = await current_user(update, context)
    await context.services.storage.ensure_officer_defaults(user.id)  # defaults on first look (officers)
    await _render(update, context, "m")


async def subs_button(update: Update, context: BotContext) -> None:
    pressed = SubscriptionsPage.parse(update.callback_query.data)
    if pressed is None:
        await _toast(update, context, "toast_expired")
        return
    page = pressed.page
    if pressed.code is not None:
        found = next(((k, v) for code, k, v in await _items(update, context, page) if code == pressed.code), None)
        if found is None:
            await _toast(update, context, "toast_expired")
            return
        user = await current_user(update, context)
        on = await context.services.storage.toggle_subscription(user.id, *found)
        await _toast(update, context, "toast_subscribed" if on else "toast_unsubscribed_plain")
    else:
        await update.callback_query.answer()
    await _render(update, context, page)


async def unsubscribe_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    pressed = Unsubscribe.parse(query.data)
    if pressed is None:
        await _toast(update, context, "toast_expired")
        return
    user = await current_user(update, context)
    st = context.services.storage
    result, topic = await unsubscribe(st, pressed.subscription_id, user.id)
    if result is UnsubscribeResult.UNKNOWN:
        await _toast(update, context, "toast_expired")
        return
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    names = await st.department_names([int(topic[1])] if topic[0] == DEPARTMENT and topic[1].isdigit() else [])
    name = topic_name(L, topic[0], topic[1], names)
    done = result is UnsubscribeResult.UNSUBSCRIBED
    await _toast(update, context, "toast_unsubscribed" if done else "toast_already_off", alert=True, topic=name)
    markup = query.message.reply_markup if query.message is not None else None
    if done and markup is not None:  # the button has done its job
        rows = [[b for b in r if b.callback_data != query.data] for r in markup.inline_keyboard]
        try:
            await query.edit_message_reply_markup(InlineKeyboardMarkup([r for r in rows if r]))
        except TelegramError:
            pass


def register(app: Application) -> None:
    app.add_handler(CommandHandler("subscriptions", subscriptions_command))
    app.add_handlers(button_handlers({SubscriptionsPage: subs_button, Unsubscribe: unsubscribe_button}))
