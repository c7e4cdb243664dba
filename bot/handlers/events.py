"""Matchmaking events: /events (list, cards, signup, county targets), /myevents, the organiser's admin
card with attendee lists, and the creation dialog's start and end.
"""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler

from bot.services import events as svc
from bot.services.calendar import fmt_local, local
from bot.context import BotContext
from bot.handlers.common import button_handlers, current_user, reply, require, sender_roles, show, user_lang
from bot.handlers.dialog_chat import start_dialog
from bot.models import Event, Role
from bot.delivery.notify import fit_caption, wake
from bot.storage.events import CONFIRMED, WAITLISTED
from bot.telegram.callbacks import (CSV, REDRAW_CARD, REDRAW_MY_EVENTS, XLSX, AskCallOff, AttendeeList, CancelSignup,
                                    ConfirmCallOff, CountyTargets, EditEvent, EventButton, EventCalendarFile,
                                    EventCard, EventList, MyEvents, NewEvent, SignUp)

PAGE = 5


async def _toast(update: Update, context: BotContext, label: str, *, alert: bool = False, **kw) -> None:
    lang = await user_lang(update, context)
    try:
        await update.callback_query.answer(context.i18n.label(lang, label, **kw)[:200], show_alert=alert)
    except TelegramError:
        pass


# ------------------------------------------------------------------------------------------------
# the list
# ------------------------------------------------------------------------------------------------

async def events_command(update: Update, context: BotContext) -> None:
    await _list(update, context, 0)


async def list_button(update: Update, context: BotContext) -> None:
    pressed = EventList.parse(update.callback_query.data)
    await update.callback_query.answer()
    await _list(update, context, pressed.offset if pressed else 0)


async def _list(update: Update, context: BotContext, offset: int) -> None:
    services = context.services
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    roles = await sender_roles(update, context)
    items, total = await services.storage.upcoming_events(services.clock(), limit=PAGE, offset=offset)
    rows = []
    if items:
        rows.append([InlineKeyboardButton(str(offset + i + 1), callback_data=EventCard(e.id).pack())
                     for i, e in enumerate(items)])
    nav = []
    if offset > 0:
        nav.append(InlineKeyboardButton(L.btn_prev, callback_data=EventList(max(0, offset - PAGE)).pack()))
    if offset + PAGE < total:
        nav.append(InlineKeyboardButton(L.btn_next, callback_data=EventList(offset + PAGE).pack()))
    if nav:
        rows.append(nav)
    rows.append([InlineKeyboardButton(L.btn_my_events, callback_data=MyEvents().pack())])
    if roles.has(Role.OFFICER, Role.ADMIN, Role.AGENCY):
        scope = await svc.officer_scope(services.storage, roles)
        officer = [InlineKeyboardButton(L.btn_new_event, callback_data=NewEvent().pack())]
        if scope.city_level:
            officer.append(InlineKeyboardButton(L.btn_county_targets, callback_data=CountyTargets().pack()))
        rows.append(officer)
    await show(update, context, "events_list", InlineKeyboardMarkup(rows), total=total, offset=offset,
                items=[svc.event_view(e) for e in items])


# ------------------------------------------------------------------------------------------------
# the card (and the organiser's admin card)
# ------------------------------------------------------------------------------------------------

async def card_view(update: Update, context: BotContext, ev: Event) -> tuple[dict, InlineKeyboardMarkup]:
    st = context.services.storage
    user = await current_user(update, context)
    roles = await sender_roles(update, context)
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    mine = await st.signup_status(ev.id, user.id)
    manage = svc.may_manage(ev, user.id, roles)
    ctx = {**svc.event_view(ev), "mine": mine, "manage": manage, "dept": None, "counts": {}, "progress": None}
    if ev.organiser_department_id:
        found = await st.department_county(ev.organiser_department_id)
        ctx["dept"] = found[0] if found else None
    rows = []
    open_ = svc.is_open(ev, context.services.clock())
    if mine in (CONFIRMED, WAITLISTED):
        rows.append([InlineKeyboardButton(L.btn_cancel_signup, callback_data=CancelSignup(ev.id, REDRAW_CARD).pack())])
    elif open_:
        rows.append([InlineKeyboardButton(L.btn_signup, callback_data=SignUp(ev.id, REDRAW_CARD).pack())])
    if manage:
        ctx["counts"] = await st.signup_counts(ev.id)
        ctx["progress"] = await st.broadcast_progress(f"event:{ev.id}")
        rows.append([InlineKeyboardButton(L.btn_attendees_csv, callback_data=AttendeeList(ev.id, CSV).pack()),
                     InlineKeyboardButton(L.btn_attendees_xlsx, callback_data=AttendeeList(ev.id, XLSX).pack())])
        if open_:
            rows.append([InlineKeyboardButton(L.btn_edit_event, callback_data=EditEvent(ev.id).pack())])
            rows.append([InlineKeyboardButton(L.btn_call_off, callback_data=AskCallOff(ev.id).pack())])
    rows.append([InlineKeyboardButton(L.btn_back_to_events, callback_data=EventList(0).pack())])
    return ctx, InlineKeyboardMarkup(rows)


async def show_card(update: Update, context: BotContext, ev: Event) -> None:
    ctx, kb = await card_view(update, context, ev)
    await show(update, context, "events_card", kb, **ctx)


async def _event_or_toast(update: Update, context: BotContext, pressed: EventButton | None) -> Event | None:
    ev = await context.services.storage.get_event(pressed.event_id) if pressed is not None else None
    if ev is None:
        await _toast(update, context, "toast_expired")
    return ev


async def card_button(update: Update, context: BotContext) -> None:
    ev = await _event_or_toast(update, context, EventCard.parse(update.callback_query.data))
    if ev is None:
        return
    await update.callback_query.answer()
    await show_card(update, context, ev)


async def after_publish(update: Update, context: BotContext, event_id: int, recipients: int) -> tuple[str, dict]:
    """The dialog's end: a live progress message for the broadcast, then the admin card."""
    services = context.services
    wake(services, scheduler=True)  # the notices are committed; the event's reminders are to be computed
    if recipients and services.outbox is not None:
        lang = await user_lang(update, context)
        msg = await reply(update, context, "events_broadcast_started", total=recipients)
        if msg is not None:
            await services.outbox.track_broadcast(f"event:{event_id}", msg.chat_id, msg.message_id, lang)
    ev = await services.storage.get_event(event_id)
    ctx, kb = await card_view(update, context, ev)
    return "events_card", {**ctx, "keyboard": kb, "published": recipients}


# ------------------------------------------------------------------------------------------------
# signing up and cancelling
# ------------------------------------------------------------------------------------------------

async def signup_button(update: Update, context: BotContext) -> None:
    pressed = SignUp.parse(update.callback_query.data)
    ev = await _event_or_toast(update, context, pressed)
    if ev is None:
        return
    user = await current_user(update, context)
    outcome = await svc.sign_up(context.services, ev.id, user.id, await sender_roles(update, context))
    if outcome.result is svc.SignupResult.NOT_ELIGIBLE:
        await _toast(update, context, "toast_not_eligible", alert=True)
        return
    if outcome.result is svc.SignupResult.CONFIRMED:
        await _toast(update, context, "toast_confirmed")
    elif outcome.result is svc.SignupResult.WAITLISTED:
        await _toast(update, context, "toast_waitlisted", position=outcome.position or 1)
    elif outcome.result is svc.SignupResult.ALREADY_SIGNED_UP:
        await _toast(update, context, "toast_already")
    else:
        await _toast(update, context, "toast_closed")
    if pressed.redraw == REDRAW_CARD and outcome.event is not None:
        await show_card(update, context, outcome.event)


async def cancel_button(update: Update, context: BotContext) -> None:
    pressed = CancelSignup.parse(update.callback_query.data)
    if pressed is None:
        await _toast(update, context, "toast_expired")
        return
    user = await current_user(update, context)
    outcome = await svc.cancel(context.services, pressed.event_id, user.id)
    await _toast(update, context, "toast_not_signed" if outcome.previous is None else "toast_cancelled")
    if pressed.redraw == REDRAW_CARD and outcome.event is not None:
        await show_card(update, context, outcome.event)
    elif pressed.redraw == REDRAW_MY_EVENTS:
        await _my(update, context)


# ------------------------------------------------------------------------------------------------
# the organiser calls an event off (asked once more, then everyone signed up is told)
# ------------------------------------------------------------------------------------------------

async def _managed_event_or_toast(update: Update, context: BotContext, pressed: EventButton | None,
                                  closed_toast: str = "toast_already_called_off") -> Event | None:
    ev = await _event_or_toast(update, context, pressed)
    if ev is None:
        return None
    user = await current_user(update, context)
    if not svc.may_manage(ev, user.id, await sender_roles(update, context)):  # forged or forwarded buttons
        await _toast(update, context, "toast_not_manager", alert=True)
        return None
    if not svc.is_open(ev, context.services.clock()):
        await _toast(update, context, closed_toast)
        await show_card(update, context, ev)
        return None
    return ev


async def call_off_button(update: Update, context: BotContext) -> None:
    ev = await _managed_event_or_toast(update, context, AskCallOff.parse(update.callback_query.data))
    if ev is None:
        return
    await update.callback_query.answer()
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    counts = await context.services.storage.signup_counts(ev.id)
    kb = InlineKeyboardMarkup([[InlineKeyboardButton(L.btn_call_off_confirm,
                                                     callback_data=ConfirmCallOff(ev.id).pack())],
                               [InlineKeyboardButton(L.btn_keep_event, callback_data=EventCard(ev.id).pack())]])
    await show(update, context, "events_call_off_confirm", kb, **svc.event_view(ev),
                affected=counts.get("confirmed", 0) + counts.get("waitlisted", 0))


async def call_off_confirm(update: Update, context: BotContext) -> None:
    ev = await _managed_event_or_toast(update, context, ConfirmCallOff.parse(update.callback_query.data))
    if ev is None:
        return
    user = await current_user(update, context)
    done, ev, told = await svc.call_off(context.services, ev.id, user.id)
    await _toast(update, context, "toast_called_off" if done else "toast_already_called_off", n=told)
    if ev is not None:
        await show_card(update, context, ev)


# ------------------------------------------------------------------------------------------------
# the organiser changes an event (a dialog: bot/dialogs/event_edit.py)
# ------------------------------------------------------------------------------------------------

async def edit_button(update: Update, context: BotContext) -> None:
    ev = await _managed_event_or_toast(update, context, EditEvent.parse(update.callback_query.data),
                                       "toast_event_closed")
    if ev is None:
        return
    await update.callback_query.answer()
    await start_dialog(update, context, "event_edit", {"event_id": ev.id})


async def after_edit(update: Update, context: BotContext, event_id: int, field: str, edited: dict
                     ) -> tuple[str, dict]:
    """The edit dialog's end: the admin card, headed by what changed and who is being told."""
    wake(context.services, scheduler=True)  # the attendees' notices are committed; a moved start re-arms reminders
    ev = await context.services.storage.get_event(event_id)
    ctx, kb = await card_view(update, context, ev)
    return "events_card", {**ctx, "keyboard": kb, "edited": {**edited, "field": field}}


# ------------------------------------------------------------------------------------------------
# my events
# ------------------------------------------------------------------------------------------------

async def myevents_command(update: Update, context: BotContext) -> None:
    await _my(update, context)


async def my_button(update: Update, context: BotContext) -> None:
    await update.callback_query.answer()
    await _my(update, context)


async def _my(update: Update, context: BotContext) -> None:
    services = context.services
    user = await current_user(update, context)
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    now = services.clock()
    mine = await services.storage.my_signups(user.id, now)
    organised = await services.storage.organised_by(user.id, now)
    positions = await services.storage.waitlist_positions(user.id, [e.id for e, st_ in mine if st_ == WAITLISTED])
    rows = []
    for i, (e, st_) in enumerate(mine):
        row = [InlineKeyboardButton(L.btn_cancel_n(n=i + 1), callback_data=CancelSignup(e.id, REDRAW_MY_EVENTS).pack()),
               InlineKeyboardButton(L.btn_details_n(n=i + 1), callback_data=EventCard(e.id).pack())]
        if st_ == CONFIRMED:  # the calendar file again: the confirmation push may be gone
            row.append(InlineKeyboardButton(L.btn_ics_n(n=i + 1), callback_data=EventCalendarFile(e.id).pack()))
        rows.append(row)
    rows += [[InlineKeyboardButton(L.btn_manage(title=e.title)[:64], callback_data=EventCard(e.id).pack())]
             for e in organised]
    rows.append([InlineKeyboardButton(L.btn_back_to_events, callback_data=EventList(0).pack())])
    await show(update, context, "events_my", InlineKeyboardMarkup(rows),
                items=[{**svc.event_view(e), "status": st_, "position": positions.get(e.id)} for e, st_ in mine],
                organised=[svc.event_view(e) for e in organised])


async def ics_button(update: Update, context: BotContext) -> None:
    """A confirmed attendee's calendar file, sent again (only for their own confirmed signup)."""
    ev = await _event_or_toast(update, context, EventCalendarFile.parse(update.callback_query.data))
    if ev is None:
        return
    access = await svc.calendar_file_access(context.services.storage, ev, (await current_user(update, context)).id)
    if access is not svc.CalendarFileAccess.GRANTED:
        await _toast(update, context, "toast_ics_waitlisted" if access is svc.CalendarFileAccess.WAITLISTED
                     else "toast_not_signed", alert=True)
        return
    await _toast(update, context, "toast_ics_sent")
    lang = await user_lang(update, context)
    data, name = svc.calendar_file(ev, context.services.clock())
    caption = fit_caption(context.i18n.render(lang, "events_ics_caption", **svc.event_view(ev)))
    await context.bot.send_document(update.effective_chat.id, InputFile(data, filename=name), caption=caption,
                                    parse_mode=ParseMode.HTML)


# ------------------------------------------------------------------------------------------------
# officers: create, targets, attendee lists
# ------------------------------------------------------------------------------------------------

async def new_event(update: Update, context: BotContext) -> None:
    # service agencies organise roadshows and deals too; they manage only their own (svc.may_manage)
    if not await require(update, context, Role.OFFICER, Role.ADMIN, Role.AGENCY):
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    roles = await sender_roles(update, context)
    scope = await svc.officer_scope(context.services.storage, roles)
    await start_dialog(update, context, "event", {"department_id": scope.department_id,
                                                  "county": scope.county})


async def targets_button(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN):
        return
    roles = await sender_roles(update, context)
    if not (await svc.officer_scope(context.services.storage, roles)).city_level:
        await _toast(update, context, "toast_city_only", alert=True)
        return
    await update.callback_query.answer()
    await _targets(update, context)


async def _targets(update: Update, context: BotContext) -> None:
    services = context.services
    now = services.clock()
    targets = await svc.county_targets(services.storage, now)
    city = targets.city
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    kb = InlineKeyboardMarkup([[InlineKeyboardButton(L.btn_back_to_events, callback_data=EventList(0).pack())]])
    await show(update, context, "events_targets", kb, year=local(now).year, rows=targets.counties,
               target=svc.EVENTS_PER_COUNTY_TARGET, met=targets.met, city_held=city.held if city else 0,
               city_planned=city.planned if city else 0)


async def export_button(update: Update, context: BotContext) -> None:
    if not await require(update, context, Role.OFFICER, Role.ADMIN, Role.AGENCY):
        return
    pressed = AttendeeList.parse(update.callback_query.data)
    ev = await _event_or_toast(update, context, pressed)
    if ev is None:
        return
    user = await current_user(update, context)
    if not svc.may_manage(ev, user.id, await sender_roles(update, context)):
        await _toast(update, context, "toast_not_organiser", alert=True)
        return
    await update.callback_query.answer()
    lang = await user_lang(update, context)
    L = context.i18n.label_module(lang)
    attendees = await context.services.storage.attendees(ev.id)
    if pressed.format == XLSX:
        data, name = svc.attendees_xlsx(L, attendees), f"event-{ev.id}-attendees.xlsx"
    else:
        data, name = svc.attendees_csv(L, attendees), f"event-{ev.id}-attendees.csv"
    caption = fit_caption(context.i18n.render(lang, "events_attendees", count=len(attendees),
                                              when=fmt_local(ev.starts_at), ev=ev))
    await context.bot.send_document(update.effective_chat.id, InputFile(data, filename=name), caption=caption,
                                    parse_mode=ParseMode.HTML)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("events", events_command))
    app.add_handler(CommandHandler("myevents", myevents_command))
    app.add_handler(CommandHandler("newevent", new_event))
    app.add_handlers(button_handlers({
        EventList: list_button, EventCard: card_button, SignUp: signup_button, CancelSignup: cancel_button,
        MyEvents: my_button, NewEvent: new_event, CountyTargets: targets_button, AttendeeList: export_button,
        EventCalendarFile: ics_button, EditEvent: edit_button, AskCallOff: call_off_button,
        ConfirmCallOff: call_off_confirm}))
