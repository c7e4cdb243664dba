"""One small engine for every guided dialog.

A dialog is data: a ``Dialog`` with an ordered tuple of ``Step``s (prompt template, kind of keyboard,
options, validator, condition). The engine walks them, and after every answer it writes the dialog
state (``DialogState`` row: step, answers, history, version) *and* the domain row (through the
dialog's ``persist`` hook) in one transaction, so a kill -9 loses nothing. Every inline button carries
the state version; a button from an older version is stale (double tap, old message, or a message
from before a restart) and gets a polite answer instead of acting twice.

Callback data: ``dlg:<version>:<op>[:<arg>]`` (always < 64 bytes; args are option indexes).
ops: o=choose option, t=toggle option, d=done (multi), b=back, s=skip, e=edit step, x=submit, c=cancel.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.storage.dialogs import DialogSnapshot, StaleDialog

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "dlg"
TEXT_LIMIT_DEFAULT = 500


class Invalid(Exception):
    """A validator's refusal: rendered with ``template`` (in locales) and ``ctx``."""

    def __init__(self, template: str, **ctx: Any):
        super().__init__(template)
        self.template = template
        self.ctx = ctx


Answers = dict[str, Any]


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # choice | multi | text | review
    options: tuple[str, ...] | Callable[[dict], Sequence[str]] = ()
    option_set: str | None = None  # key in labels.j2 `opt` (defaults to the step name)
    optional: bool = False
    min_selected: int = 1  # multi: how many options (or typed text) are needed for Done
    text_field: str | None = None  # multi/choice: typed text is stored under this answer key
    label: Callable[[str, dict], str] | None = None  # option label from the loaded context (dynamic options)
    max_len: int = TEXT_LIMIT_DEFAULT
    min_len: int = 1
    validate: Callable[[str], Any] | None = None  # text: parse or raise Invalid
    when: Callable[[Answers], bool] | None = None  # the step applies only if this holds
    columns: int = 2
    template: str | None = None  # defaults to dlg_<dialog>_<step>

    def applies(self, answers: Answers) -> bool:
        return self.when is None or bool(self.when(answers))

    def option_values(self, ctx: dict) -> list[str]:
        return list(self.options(ctx) if callable(self.options) else self.options)


@dataclass(frozen=True)
class Dialog:
    name: str
    steps: tuple[Step, ...]
    # context for templates and dynamic options (patent, search hits…), from the dialog's ctx + answers
    load: Callable[[Any, dict, Answers], Awaitable[dict]] | None = None
    # write answers to the domain tables inside the state transaction; the last argument is True on
    # the final (submitting) transition, so submission and state removal commit together
    persist: Callable[[AsyncSession, Any, int, dict, Answers, bool], Awaitable[None]] | None = None
    # called on submit (review step) or after the last step; returns (template, ctx) to show
    finish: Callable[[Any, Update, Any, dict, Answers], Awaitable[tuple[str, dict]]] | None = None
    cancel_template: str = "dialog_cancelled"
    # what to say on cancel when it depends on the stored state: (services, user id, ctx) → template ctx
    # for ``cancel_template`` (e.g. whether the answers stayed a draft or nothing changed)
    cancelled: Callable[[Any, int, dict], Awaitable[dict]] | None = None
    roles: tuple = ()  # Role values allowed to run it; checked on every step, not only at the start

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def index(self, name: str) -> int:
        return [s.name for s in self.steps].index(name)

    def clean(self, answers: Answers) -> Answers:
        """Drop answers of steps that no longer apply (e.g. licence terms after 'license' was unticked)."""
        out = dict(answers)
        for s in self.steps:
            if not s.applies(out):
                out.pop(s.name, None)
                if s.text_field:
                    out.pop(s.text_field, None)
        return out


@dataclass
class Turn:
    """What one user action did to the dialog."""

    data: dict
    step: str | None  # None = dialog finished
    error: Invalid | None = None
    finished: bool = False
    cancelled: bool = False
    changed: bool = True


@dataclass
class DialogEngine:
    dialogs: dict[str, Dialog] = field(default_factory=dict)

    def register(self, dialog: Dialog) -> None:
        self.dialogs[dialog.name] = dialog

    # ---------------------------------------------------------------- pure state transitions
    def first_step(self, dialog: Dialog, answers: Answers, after: int = -1, *, unanswered_only: bool = False
                   ) -> str | None:
        for s in dialog.steps[after + 1:]:
            if not s.applies(answers):
                continue
            # when returning to the review card, already answered and optional (skippable) steps
            # are not asked again
            if unanswered_only and s.kind != "review" and (s.name in answers or s.optional):
                continue
            return s.name
        return None

    def advance(self, dialog: Dialog, data: dict, current: str) -> str | None:
        answers = data["answers"]
        data.setdefault("history", []).append(current)
        review = data.get("review", False)
        nxt = self.first_step(dialog, answers, dialog.index(current), unanswered_only=review)
        if review and nxt is None:
            nxt = next((s.name for s in dialog.steps if s.kind == "review"), None)
        return nxt

    def apply_callback(self, dialog: Dialog, data: dict, step: Step, op: str, arg: str, ctx: dict) -> Turn:
        data = _copy(data)
        answers = data["answers"]
        options = step.option_values(ctx)
        if op == "c":
            return Turn(data, step.name, cancelled=True)
        if op == "b":
            history = data.get("history", [])
            while history:
                prev = history.pop()
                if prev in {s.name for s in dialog.steps} and dialog.step(prev).applies(answers):
                    data["pending"] = {}
                    return Turn(data, prev)
            return Turn(data, step.name, changed=False)
        if op == "s":
            if not step.optional:
                return Turn(data, step.name, error=Invalid("dialog_not_optional"))
            answers[step.name] = None
            return self._next(dialog, data, step)
        if step.kind == "choice" and op == "o":
            value = _pick(options, arg)
            if value is None:
                return Turn(data, step.name, error=Invalid("dialog_use_buttons"))
            answers[step.name] = value
            return self._next(dialog, data, step)
        if step.kind == "multi" and op == "t":
            value = _pick(options, arg)
            if value is None:
                return Turn(data, step.name, error=Invalid("dialog_use_buttons"))
            chosen = list(data.setdefault("pending", {}).get(step.name, answers.get(step.name) or []))
            chosen = [v for v in chosen if v != value] if value in chosen else chosen + [value]
            data["pending"][step.name] = [v for v in options if v in chosen]  # keep option order
            return Turn(data, step.name)
        if step.kind == "multi" and op == "d":
            chosen = data.get("pending", {}).get(step.name, answers.get(step.name) or [])
            typed = answers.get(step.text_field) if step.text_field else None
            if len(chosen) < step.min_selected and not typed:
                return Turn(data, step.name, error=Invalid("dialog_pick_one"))
            answers[step.name] = list(chosen)
            data.get("pending", {}).pop(step.name, None)
            return self._next(dialog, data, step)
        if step.kind == "review" and op == "e":
            target = _pick([s.name for s in dialog.steps], arg)
            if target is None or target == step.name or not dialog.step(target).applies(answers):
                return Turn(data, step.name, error=Invalid("dialog_use_buttons"))
            data["review"] = True
            data.setdefault("history", []).append(step.name)
            return Turn(data, target)
        if step.kind == "review" and op == "x":
            missing = [s.name for s in dialog.steps
                       if s.kind != "review" and s.applies(answers) and not s.optional and s.name not in answers]
            if missing:
                data["review"] = True
                return Turn(data, missing[0], error=Invalid("dialog_missing"))
            data["answers"] = dialog.clean(answers)
            return Turn(data, None, finished=True)
        return Turn(data, step.name, error=Invalid("dialog_use_buttons"))

    def apply_text(self, dialog: Dialog, data: dict, step: Step, text: str, ctx: dict) -> Turn:
        data = _copy(data)
        answers = data["answers"]
        text = text.strip()
        if step.kind == "text":
            if len(text) > step.max_len:
                return Turn(data, step.name, error=Invalid("dialog_too_long", limit=step.max_len, length=len(text)))
            if len(text) < step.min_len:
                return Turn(data, step.name, error=Invalid("dialog_too_short", limit=step.min_len))
            try:
                value = step.validate(text) if step.validate else text
            except Invalid as e:
                return Turn(data, step.name, error=e)
            answers[step.name] = value
            return self._next(dialog, data, step)
        if step.kind == "choice" and text in step.option_values(ctx):
            # a phone user may type the option ("7") instead of tapping it
            answers[step.name] = text
            return self._next(dialog, data, step)
        if step.kind in ("multi", "choice") and step.text_field:
            if len(text) > step.max_len:
                return Turn(data, step.name, error=Invalid("dialog_too_long", limit=step.max_len, length=len(text)))
            if not text:
                return Turn(data, step.name, error=Invalid("dialog_too_short", limit=1))
            answers[step.text_field] = text
            return Turn(data, step.name)
        return Turn(data, step.name, error=Invalid("dialog_use_buttons"))

    def _next(self, dialog: Dialog, data: dict, step: Step) -> Turn:
        nxt = self.advance(dialog, data, step.name)
        if nxt is None:
            data["answers"] = dialog.clean(data["answers"])
            return Turn(data, None, finished=True)
        return Turn(data, nxt)

    # ---------------------------------------------------------------- Telegram side
    async def start(self, update: Update, context: Any, name: str, ctx: dict, answers: Answers | None = None,
                    *, at: str | None = None) -> None:
        dialog = self.dialogs[name]
        answers = dict(answers or {})
        first = at or self.first_step(dialog, answers, unanswered_only=bool(answers)) \
            or next((s.name for s in dialog.steps if s.kind == "review"), dialog.steps[0].name)
        data = {"answers": answers, "history": [], "pending": {}, "ctx": ctx,
                "review": first == next((s.name for s in dialog.steps if s.kind == "review"), None)}
        chat_id, user_id = update.effective_chat.id, update.effective_user.id
        snap = await context.services.storage.start_dialog(user_id, chat_id, name, first, data)
        await self._show(update, context, dialog, snap, new_message=True)

    async def on_callback(self, update: Update, context: Any) -> None:
        query = update.callback_query
        lang = await _lang(update, context)
        parts = (query.data or "").split(":")
        snap = await _take_dialog(update, context)
        try:
            version = int(parts[1])
            op = parts[2]
            arg = parts[3] if len(parts) > 3 else ""
        except (IndexError, ValueError):
            version, op, arg = -1, "", ""
        if snap is None or snap.dialog not in self.dialogs:
            await _answer(query, context.i18n.render(lang, "expired_button"))
            await _drop_keyboard(query)
            return
        if version != snap.version:
            if query.message is not None and query.message.message_id == snap.message_id:
                # same message, already acted on. Re-render it too: if the earlier edit failed (5xx,
                # timeout) the message still shows old buttons and this puts the current step back;
                # after a successful edit Telegram answers "not modified" and nothing changes.
                await _answer(query, context.i18n.render(lang, "dialog_double_tap"))
                await self._show(update, context, self.dialogs[snap.dialog], snap, new_message=False)
            else:
                await _answer(query, context.i18n.render(lang, "expired_button"))
                await _drop_keyboard(query)
                await self._show(update, context, self.dialogs[snap.dialog], snap, new_message=True)
            return
        dialog = self.dialogs[snap.dialog]
        if not await _allowed(update, context, dialog):
            return
        step = dialog.step(snap.step)
        extra = await self._extra(context, dialog, snap.data)
        turn = self.apply_callback(dialog, snap.data, step, op, arg, extra)
        await _answer(query, context.i18n.render(lang, turn.error.template, **turn.error.ctx)
                      if turn.error and turn.step == step.name else None)
        await self._commit(update, context, dialog, snap, turn, edit=True, extra=extra)

    async def on_text(self, update: Update, context: Any) -> bool:
        """Feed typed text to the active dialog; False if there is none (the text is a search then)."""
        snap = await _take_dialog(update, context)
        if snap is None or snap.dialog not in self.dialogs:
            return False
        dialog = self.dialogs[snap.dialog]
        if not await _allowed(update, context, dialog):
            return True
        step = dialog.step(snap.step)
        extra = await self._extra(context, dialog, snap.data)
        turn = self.apply_text(dialog, snap.data, step, update.effective_message.text or "", extra)
        await self._commit(update, context, dialog, snap, turn, edit=False, extra=extra)
        return True

    async def cancel(self, update: Update, context: Any) -> tuple[str, dict] | None:
        """/cancel: end the active dialog (answers already saved stay saved). Returns what to say."""
        storage = context.services.storage
        snap = await storage.get_dialog(update.effective_user.id, update.effective_chat.id)
        if snap is None:
            return None
        await storage.end_dialog(snap.user_id, snap.chat_id)
        dialog = self.dialogs.get(snap.dialog)
        if snap.message_id:
            try:
                await context.bot.edit_message_reply_markup(snap.chat_id, snap.message_id, reply_markup=None)
            except TelegramError:
                pass
        if dialog is None:
            return "dialog_cancelled", {}
        return dialog.cancel_template, await self._cancelled_ctx(context, dialog, snap)

    async def _cancelled_ctx(self, context: Any, dialog: Dialog, snap: DialogSnapshot) -> dict:
        if dialog.cancelled is None:
            return {}
        return await dialog.cancelled(context.services, snap.user_id, (snap.data or {}).get("ctx") or {})

    async def _commit(self, update: Update, context: Any, dialog: Dialog, snap: DialogSnapshot, turn: Turn,
                      *, edit: bool, extra: dict | None = None) -> None:
        storage = context.services.storage
        if turn.cancelled:
            await storage.end_dialog(snap.user_id, snap.chat_id)
            await _drop_keyboard(update.callback_query)
            await _send(update, context, dialog.cancel_template, await self._cancelled_ctx(context, dialog, snap))
            return
        if turn.finished:
            try:
                await storage.save_dialog(snap, None, turn.data,
                                          persist=self._persist_cb(context, dialog, snap, turn.data, True))
            except StaleDialog:
                return
            await _drop_keyboard(update.callback_query)
            template, ctx = ("dialog_done", {})
            if dialog.finish is not None:
                template, ctx = await dialog.finish(context.services, update, context, turn.data["ctx"],
                                                    turn.data["answers"])
            await _send(update, context, template, ctx)
            return
        if turn.error is not None and not edit:
            await _send(update, context, turn.error.template, turn.error.ctx)
        if not turn.changed:
            return
        # a multi-select tick or a navigation changes only the dialog state: no domain write needed
        answers_changed = turn.data.get("answers") != snap.data.get("answers")
        try:
            new = await storage.save_dialog(snap, turn.step, turn.data,
                                            persist=self._persist_cb(context, dialog, snap, turn.data)
                                            if answers_changed else None)
        except StaleDialog:
            return
        # the loaded context depends on the answers (e.g. search hits for a typed query): reuse it only
        # when the answers did not change
        same = extra is not None and new.data.get("answers") == snap.data.get("answers")
        await self._show(update, context, dialog, new, new_message=not edit, extra=extra if same else None)

    def _persist_cb(self, context: Any, dialog: Dialog, snap: DialogSnapshot, data: dict, finished: bool = False):
        if dialog.persist is None:
            return None

        async def persist(session: AsyncSession) -> None:
            await dialog.persist(session, context.services, snap.user_id, data["ctx"], data["answers"], finished)

        return persist

    async def _extra(self, context: Any, dialog: Dialog, data: dict) -> dict:
        if dialog.load is None:
            return {}
        return await dialog.load(context.services, data.get("ctx", {}), data.get("answers", {}))

    async def _show(self, update: Update, context: Any, dialog: Dialog, snap: DialogSnapshot, *,
                    new_message: bool, extra: dict | None = None) -> None:
        """Render the current step; edit the dialog's message when the user tapped on it."""
        lang = await _lang(update, context)
        step = dialog.step(snap.step)
        if extra is None:
            extra = await self._extra(context, dialog, snap.data)
        text, markup = self.render(context.i18n, lang, dialog, step, snap, extra)
        bot = context.bot
        query = update.callback_query
        message_id = None
        if not new_message and query is not None and query.message is not None:
            try:
                await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup,
                                              link_preview_options={"is_disabled": True})
                message_id = query.message.message_id
            except BadRequest as e:
                if "not modified" in str(e).lower():
                    message_id = query.message.message_id
                else:
                    log.info("could not edit dialog message, sending a new one: %s", e)
        if message_id is None:
            if snap.message_id and (query is None or query.message is None
                                    or query.message.message_id != snap.message_id):
                try:  # the older step message must not keep live-looking buttons
                    await bot.edit_message_reply_markup(snap.chat_id, snap.message_id, reply_markup=None)
                except TelegramError:
                    pass
            msg = await bot.send_message(snap.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup,
                                         link_preview_options={"is_disabled": True})
            message_id = msg.message_id
        if message_id != snap.message_id:
            await context.services.storage.set_dialog_message(snap.user_id, snap.chat_id, snap.version, message_id)

    def render(self, i18n: Any, lang: str, dialog: Dialog, step: Step, snap: DialogSnapshot, extra: dict
               ) -> tuple[str, InlineKeyboardMarkup]:
        data = snap.data
        answers = data.get("answers", {})
        labels = i18n.label_module(lang)
        opt = labels.opt
        option_set = step.option_set or step.name
        options = step.option_values(extra)
        selected = data.get("pending", {}).get(step.name, answers.get(step.name) or [])
        applicable = [s for s in dialog.steps if s.kind != "review" and s.applies(answers)]
        number = next((i + 1 for i, s in enumerate(applicable) if s.name == step.name), len(applicable))
        ctx = {**extra, "body": step.template or f"dlg_{dialog.name}_{step.name}", "answers": answers,
               "step": step, "selected": selected, "opt": opt, "number": number, "total": len(applicable),
               "dialog": dialog}
        text = i18n.render(lang, "dialog_step", **ctx)
        v = snap.version
        rows: list[list[InlineKeyboardButton]] = []

        def cb(op: str, arg: Any = "") -> str:
            return f"{CALLBACK_PREFIX}:{v}:{op}" + (f":{arg}" if arg != "" else "")

        if step.kind in ("choice", "multi"):
            row: list[InlineKeyboardButton] = []
            for i, value in enumerate(options):
                label = step.label(value, extra) if step.label else opt.get(option_set, {}).get(value, value)
                if step.kind == "multi":
                    label = ("✅ " if value in selected else "▫️ ") + label
                    data_ = cb("t", i)
                else:
                    label = ("✅ " if answers.get(step.name) == value else "") + label
                    data_ = cb("o", i)
                row.append(InlineKeyboardButton(label[:64], callback_data=data_))
                if len(row) == step.columns:
                    rows.append(row)
                    row = []
            if row:
                rows.append(row)
            if step.kind == "multi":
                rows.append([InlineKeyboardButton(labels.btn_done, callback_data=cb("d"))])
        if step.kind == "review":
            row = []
            for i, s in enumerate(dialog.steps):
                if s.kind == "review" or not s.applies(answers):
                    continue
                row.append(InlineKeyboardButton(f"✏️ {labels.field[s.name]}"[:64], callback_data=cb("e", i)))
                if len(row) == 2:
                    rows.append(row)
                    row = []
            if row:
                rows.append(row)
            rows.append([InlineKeyboardButton(labels.btn_submit, callback_data=cb("x"))])
        nav = []
        if data.get("history"):
            nav.append(InlineKeyboardButton(labels.btn_back, callback_data=cb("b")))
        if step.optional:
            nav.append(InlineKeyboardButton(labels.btn_skip, callback_data=cb("s")))
        nav.append(InlineKeyboardButton(labels.btn_cancel, callback_data=cb("c")))
        rows.append(nav)
        return text, InlineKeyboardMarkup(rows)


async def load_patent(services: Any, ctx: dict, answers: Answers) -> dict:
    """The usual ``Dialog.load``: the patent the dialog is about (``ctx["patent_id"]``)."""
    return {"patent": await services.storage.patent_for_display(ctx.get("patent_id", ""))}


def _copy(data: dict) -> dict:
    import copy

    d = copy.deepcopy(data) if isinstance(data, dict) else {}
    d.setdefault("answers", {})
    d.setdefault("history", [])
    d.setdefault("pending", {})
    d.setdefault("ctx", {})
    if not isinstance(d["answers"], dict):
        d["answers"] = {}
    return d


def _pick(values: Sequence[str], arg: str) -> str | None:
    try:
        i = int(arg)
    except (TypeError, ValueError):
        return None
    return values[i] if 0 <= i < len(values) else None


async def _allowed(update: Update, context: Any, dialog: Dialog) -> bool:
    if not dialog.roles:
        return True
    from bot.handlers.common import require

    return await require(update, context, *dialog.roles)


async def _take_dialog(update: Update, context: Any) -> DialogSnapshot | None:
    from bot.handlers.common import take_dialog

    return await take_dialog(update, context)


async def _lang(update: Update, context: Any) -> str:
    from bot.handlers.common import user_lang

    return await user_lang(update, context)


async def _answer(query: Any, text: str | None) -> None:
    if query is None:
        return
    try:
        await query.answer(text[:200] if text else None)
    except TelegramError:
        pass  # an old query can't be answered any more; nothing is lost


async def _drop_keyboard(query: Any) -> None:
    if query is None or query.message is None:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        pass


async def _send(update: Update, context: Any, template: str, ctx: dict) -> None:
    from bot.handlers.common import reply

    await reply(update, context, template, **ctx)
