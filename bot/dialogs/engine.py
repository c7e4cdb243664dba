"""One small engine for every guided dialog.

A dialog is data: a ``Dialog`` with an ordered tuple of steps (``bot/dialogs/steps.py``: choice,
multi-select, text, review card). The engine walks them, and after every answer it writes the dialog
state (``DialogState`` row: step, answers, history, version) *and* the domain row (through the
dialog's ``persist`` hook) in one transaction, so a kill -9 loses nothing. Every inline button carries
the state version; a button from an older version is stale (double tap, old message, or a message
from before a restart) and gets a polite answer instead of acting twice.

When a dialog ends, its result (the answers and what ``persist`` returned) goes to the receiver the
handler side registered for it (``hand_results``), or else to the dialog's own ``finish``.

Callback data: ``dlg:<version>:<op>[:<arg>]`` (always < 64 bytes; args are option indexes).
ops: b=back, s=skip, c=cancel here; the rest belong to the step kinds (steps.py).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.dialogs.ports import (Answers, Cancelled, DialogChat, DialogResult, DialogRun, DialogSave, Extra, Finish,
                               Load, Persist, Receiver, Reply)
from bot.dialogs.steps import Move, Step, StepView, Turn
from bot.storage.dialogs import DialogSnapshot, StaleDialog

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from telegram import CallbackQuery

    from bot.models import Role

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "dlg"
STALE_RETRIES = 5  # applying an answer again after a concurrent change of the dialog; each retry reads anew


@dataclass(frozen=True)
class Dialog:
    name: str
    steps: tuple[Step, ...]
    # context for templates and dynamic options (patent, search hits…), from the dialog's ctx + answers
    load: Load | None = None
    # write answers to the domain tables inside the state transaction; on the final (submitting)
    # transition submission and state removal commit together, and what it returns is the result
    persist: Persist | None = None
    # what to say when the dialog ends and no receiver took its result
    finish: Finish | None = None
    cancel_template: str = "dialog_cancelled"
    # the cancel template's context when it depends on the stored state (e.g. whether the answers
    # stayed a draft or nothing changed)
    cancelled: Cancelled | None = None
    roles: tuple[Role, ...] = ()  # allowed to run it; checked on every step, not only at the start

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def index(self, name: str) -> int:
        return [s.name for s in self.steps].index(name)

    def review_step(self) -> str | None:
        return next((s.name for s in self.steps if not s.question), None)

    def clean(self, answers: Answers) -> Answers:
        """Drop answers of steps that no longer apply (e.g. licence terms after 'license' was unticked)."""
        out = dict(answers)
        for s in self.steps:
            if not s.applies(out):
                for key in s.answer_keys():
                    out.pop(key, None)
        return out

    def first_step(self, answers: Answers, after: int = -1, *, unanswered_only: bool = False) -> str | None:
        for s in self.steps[after + 1:]:
            if not s.applies(answers):
                continue
            # when returning to the review card, already answered and optional (skippable) steps
            # are not asked again
            if unanswered_only and s.question and (s.name in answers or s.optional):
                continue
            return s.name
        return None

    def advance(self, data: dict, current: str) -> str | None:
        answers = data["answers"]
        data.setdefault("history", []).append(current)
        review = data.get("review", False)
        nxt = self.first_step(answers, self.index(current), unanswered_only=review)
        if review and nxt is None:
            nxt = self.review_step()
        return nxt


@dataclass
class DialogEngine:
    dialogs: dict[str, Dialog] = field(default_factory=dict)
    receivers: dict[str, Receiver] = field(default_factory=dict)

    def register(self, dialog: Dialog) -> None:
        self.dialogs[dialog.name] = dialog

    def hand_results(self, dialog: str, receiver: Receiver) -> None:
        """``dialog``'s results go to ``receiver`` (the handler side that starts it), which says what
        to show instead of the dialog's own ``finish``."""
        self.receivers[dialog] = receiver

    # ---------------------------------------------------------------- pure state transitions
    def apply_callback(self, dialog: Dialog, data: dict, step: Step, op: str, arg: str, extra: Extra) -> Turn:
        """A button of ``step`` pressed (``extra``: the loaded context, for options that depend on it)."""
        move = Move(dialog, step, data, extra)
        if op == "c":
            return Turn(move.data, step.name, cancelled=True)
        if op == "b":
            history = move.data.get("history", [])
            while history:
                prev = history.pop()
                if prev in {s.name for s in dialog.steps} and dialog.step(prev).applies(move.answers):
                    move.data["pending"] = {}
                    return Turn(move.data, prev)
            return Turn(move.data, step.name, changed=False)
        if op == "s":
            if not step.optional:
                return move.refuse("dialog_not_optional")
            return move.answer(None)
        return step.apply_button(move, op, arg)

    def apply_text(self, dialog: Dialog, data: dict, step: Step, text: str, extra: Extra) -> Turn:
        """Text typed at ``step``."""
        return step.apply_text(Move(dialog, step, data, extra), text.strip())

    # ---------------------------------------------------------------- Telegram side
    async def start(self, chat: DialogChat, name: str, ctx: Mapping[str, Any], answers: Answers | None = None,
                    *, at: str | None = None) -> None:
        dialog = self.dialogs[name]
        answers = dict(answers or {})
        review = dialog.review_step()
        first = at or dialog.first_step(answers, unanswered_only=bool(answers)) or review or dialog.steps[0].name
        data = {"answers": answers, "history": [], "pending": {}, "ctx": dict(ctx), "review": first == review}
        snap = await chat.services.storage.start_dialog(chat.user_id, chat.chat_id, name, first, data)
        await self._show(chat, dialog, snap, new_message=True)

    async def on_callback(self, chat: DialogChat) -> None:
        # a concurrent change of the dialog (another update of the user, handled elsewhere) makes the
        # save stale: run the tap again on the state now stored (it then meets the version check)
        for _ in range(STALE_RETRIES):
            if await self._on_callback(chat):
                return
        log.warning("dialog: tap of user %s kept meeting concurrent changes; not applied", chat.user_id)

    async def _on_callback(self, chat: DialogChat) -> bool:
        query = chat.query
        assert query is not None  # routed for dialog buttons only
        lang = await chat.lang()
        i18n = chat.services.i18n
        parts = (query.data or "").split(":")
        snap = await chat.take_dialog()
        try:
            version = int(parts[1])
            op = parts[2]
            arg = parts[3] if len(parts) > 3 else ""
        except (IndexError, ValueError):
            version, op, arg = -1, "", ""
        if snap is None or snap.dialog not in self.dialogs:
            await _answer(query, i18n.render(lang, "expired_button"))
            await _drop_keyboard(query)
            return True
        if version != snap.version:
            if query.message is not None and query.message.message_id == snap.message_id:
                # same message, already acted on. Re-render it too: if the earlier edit failed (5xx,
                # timeout) the message still shows old buttons and this puts the current step back;
                # after a successful edit Telegram answers "not modified" and nothing changes.
                await _answer(query, i18n.render(lang, "dialog_double_tap"))
                await self._show(chat, self.dialogs[snap.dialog], snap, new_message=False)
            else:
                await _answer(query, i18n.render(lang, "expired_button"))
                await _drop_keyboard(query)
                await self._show(chat, self.dialogs[snap.dialog], snap, new_message=True)
            return True
        dialog = self.dialogs[snap.dialog]
        if not await self._allowed(chat, dialog, snap):
            return True
        step = dialog.step(snap.step)
        extra = await self._extra(chat, dialog, snap)
        turn = self.apply_callback(dialog, snap.data, step, op, arg, extra)
        await _answer(query, i18n.render(lang, turn.error.template, **turn.error.ctx)
                      if turn.error and turn.step == step.name else None)
        return await self._commit(chat, dialog, snap, turn, edit=True, extra=extra)

    async def on_text(self, chat: DialogChat) -> bool:
        """Feed typed text to the active dialog; False if there is none (the text is a search then).
        An answer that meets a concurrent change of the dialog is applied again to the state now
        stored, never dropped."""
        for _ in range(STALE_RETRIES):
            snap = await chat.take_dialog()
            if snap is None or snap.dialog not in self.dialogs:
                return False
            dialog = self.dialogs[snap.dialog]
            if not await self._allowed(chat, dialog, snap):
                return True
            step = dialog.step(snap.step)
            extra = await self._extra(chat, dialog, snap)
            turn = self.apply_text(dialog, snap.data, step, chat.text, extra)
            if await self._commit(chat, dialog, snap, turn, edit=False, extra=extra):
                return True
        log.warning("dialog: answer of user %s kept meeting concurrent changes; not applied", chat.user_id)
        await chat.reply("dialog_busy", {})
        return True

    async def cancel(self, chat: DialogChat) -> Reply | None:
        """/cancel: end the active dialog (answers already saved stay saved). Returns what to say."""
        storage = chat.services.storage
        snap = await storage.get_dialog(chat.user_id, chat.chat_id)
        if snap is None:
            return None
        await storage.end_dialog(snap.user_id, snap.chat_id)
        dialog = self.dialogs.get(snap.dialog)
        if snap.message_id:
            try:
                await chat.bot.edit_message_reply_markup(snap.chat_id, snap.message_id, reply_markup=None)
            except TelegramError:
                pass
        if dialog is None:
            return Reply("dialog_cancelled", {})
        return Reply(dialog.cancel_template, await self._cancelled_ctx(chat, dialog, snap))

    @staticmethod
    def _run(chat: DialogChat, dialog: Dialog, user_id: int, data: dict) -> dict[str, Any]:
        """The fields of ``DialogRun`` for this state (as keywords, for the hook argument types)."""
        return {"dialog": dialog.name, "services": chat.services, "user_id": user_id,
                "ctx": data.get("ctx") or {}, "answers": data.get("answers") or {}}

    @staticmethod
    async def _allowed(chat: DialogChat, dialog: Dialog, snap: DialogSnapshot) -> bool:
        """The user still holds a role the dialog needs. If not (revoked or expired meanwhile), the
        dialog ends here with a message, so the user's next text is a search again, not a refused step."""
        if not dialog.roles or await chat.allowed(dialog.roles):
            return True
        await chat.services.storage.end_dialog(snap.user_id, snap.chat_id)
        await _drop_keyboard(chat.query)
        await chat.reply("dialog_role_lost", {})
        return False

    async def _cancelled_ctx(self, chat: DialogChat, dialog: Dialog, snap: DialogSnapshot) -> Mapping[str, Any]:
        if dialog.cancelled is None:
            return {}
        return await dialog.cancelled(DialogRun(**self._run(chat, dialog, snap.user_id, snap.data or {})))

    async def _commit(self, chat: DialogChat, dialog: Dialog, snap: DialogSnapshot, turn: Turn,
                      *, edit: bool, extra: Extra | None = None) -> bool:
        """Apply ``turn``; False (nothing written or said) if the dialog changed since ``snap``."""
        storage = chat.services.storage
        if turn.cancelled:
            await storage.end_dialog(snap.user_id, snap.chat_id)
            await _drop_keyboard(chat.query)
            await chat.reply(dialog.cancel_template, await self._cancelled_ctx(chat, dialog, snap))
            return True
        if turn.finished:
            run = self._run(chat, dialog, snap.user_id, turn.data)
            write = _Write(dialog.persist, run, final=True) if dialog.persist else None
            try:
                await storage.save_dialog(snap, None, turn.data, persist=write)
            except StaleDialog:
                return False
            await _drop_keyboard(chat.query)
            result = DialogResult(**run, value=write.value if write else None)
            await chat.reply(*await self._result(chat, dialog, result))
            return True
        if not turn.changed:
            if turn.error is not None and not edit:
                await chat.reply(turn.error.template, turn.error.ctx)
            return True
        # a multi-select tick or a navigation changes only the dialog state: no domain write needed
        answers_changed = turn.data.get("answers") != snap.data.get("answers")
        try:
            new = await storage.save_dialog(
                snap, turn.step, turn.data,
                persist=_Write(dialog.persist, self._run(chat, dialog, snap.user_id, turn.data), final=False)
                if answers_changed and dialog.persist else None)
        except StaleDialog:
            return False
        if turn.error is not None and not edit:
            await chat.reply(turn.error.template, turn.error.ctx)
        # the loaded context depends on the answers (e.g. search hits for a typed query): reuse it only
        # when the answers did not change
        same = extra is not None and new.data.get("answers") == snap.data.get("answers")
        await self._show(chat, dialog, new, new_message=not edit, extra=extra if same else None)
        return True

    async def _result(self, chat: DialogChat, dialog: Dialog, result: DialogResult) -> Reply:
        receiver = self.receivers.get(dialog.name)
        if receiver is not None:
            return await receiver(chat, result)
        if dialog.finish is not None:
            return await dialog.finish(result)
        return Reply("dialog_done", {})

    async def _extra(self, chat: DialogChat, dialog: Dialog, snap: DialogSnapshot) -> Extra:
        if dialog.load is None:
            return {}
        return await dialog.load(DialogRun(**self._run(chat, dialog, snap.user_id, snap.data)))

    async def _show(self, chat: DialogChat, dialog: Dialog, snap: DialogSnapshot, *,
                    new_message: bool, extra: Extra | None = None) -> None:
        """Render the current step; edit the dialog's message when the user tapped on it."""
        lang = await chat.lang()
        step = dialog.step(snap.step)
        if extra is None:
            extra = await self._extra(chat, dialog, snap)
        text, markup = self.render(chat.services.i18n, lang, dialog, step, snap, extra)
        bot = chat.bot
        query = chat.query
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
            await chat.services.storage.set_dialog_message(snap.user_id, snap.chat_id, snap.version, message_id)

    def render(self, i18n: Any, lang: str, dialog: Dialog, step: Step, snap: DialogSnapshot, extra: Extra
               ) -> tuple[str, InlineKeyboardMarkup]:
        data = snap.data
        answers = data.get("answers", {})
        pending = data.get("pending", {})
        labels = i18n.label_module(lang)
        questions = [s for s in dialog.steps if s.question and s.applies(answers)]
        number = next((i + 1 for i, s in enumerate(questions) if s.name == step.name), len(questions))
        selected = pending.get(step.name, answers.get(step.name) or [])
        ctx = {**extra, "body": step.template or f"dlg_{dialog.name}_{step.name}", "answers": answers,
               "step": step, "selected": selected, "opt": labels.opt, "number": number, "total": len(questions),
               "dialog": dialog}
        text = i18n.render(lang, "dialog_step", **ctx)
        v = snap.version

        def callback(op: str, arg: Any = "") -> str:
            return f"{CALLBACK_PREFIX}:{v}:{op}" + (f":{arg}" if arg != "" else "")

        rows = step.keyboard(StepView(dialog, answers, pending, extra, labels, callback))
        nav = []
        if data.get("history"):
            nav.append(InlineKeyboardButton(labels.btn_back, callback_data=callback("b")))
        if step.optional:
            nav.append(InlineKeyboardButton(labels.btn_skip, callback_data=callback("s")))
        nav.append(InlineKeyboardButton(labels.btn_cancel, callback_data=callback("c")))
        rows.append(nav)
        return text, InlineKeyboardMarkup(rows)


class _Write:
    """A dialog's ``persist`` bound to one transition, called by storage inside the state's
    transaction; keeps what it returned (on the final transition: the dialog's result)."""

    __slots__ = ("persist", "run", "final", "value")

    def __init__(self, persist: Persist, run: dict[str, Any], *, final: bool):
        self.persist, self.run, self.final, self.value = persist, run, final, None

    async def __call__(self, session: AsyncSession) -> None:
        self.value = await self.persist(DialogSave(**self.run, session=session, final=self.final))


async def _answer(query: CallbackQuery | None, text: str | None) -> None:
    if query is None:
        return
    try:
        await query.answer(text[:200] if text else None)
    except TelegramError:
        pass  # an old query can't be answered any more; nothing is lost


async def _drop_keyboard(query: CallbackQuery | None) -> None:
    if query is None or query.message is None:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        pass

