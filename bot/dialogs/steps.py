"""The kinds of dialog step: each one reads its own buttons and typed text into the dialog state and
draws its own buttons, so a new kind is a new class here, not a branch in the engine.

Every reading is pure: it works on a private copy of the state (a ``Move``) and returns a ``Turn``.
The ops a step's buttons carry (``dlg:<version>:<op>[:<arg>]``, args are option indexes):
o = choose option (Choice), t = toggle option, d = done (Multi), e = edit a step, x = submit (Review).
Back, skip and cancel belong to every step and are the engine's.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from telegram import InlineKeyboardButton

from bot.dialogs.ports import Answers, Condition, Extra, OptionLabel, Options, Validator

if TYPE_CHECKING:
    from bot.dialogs.engine import Dialog

TEXT_LIMIT_DEFAULT = 500

Keyboard = list[list[InlineKeyboardButton]]


class Invalid(Exception):
    """A refusal (a validator's, or the engine's): rendered with ``template`` (in locales) and ``ctx``."""

    def __init__(self, template: str, **ctx: Any):
        super().__init__(template)
        self.template = template
        self.ctx = ctx


@dataclass
class Turn:
    """What one user action did to the dialog."""

    data: dict
    step: str | None  # None = dialog finished
    error: Invalid | None = None
    finished: bool = False
    cancelled: bool = False
    changed: bool = True


def state_copy(data: Any) -> dict:
    """A private, well-formed copy of a stored dialog state (whatever the row holds)."""
    d = copy.deepcopy(data) if isinstance(data, dict) else {}
    d.setdefault("answers", {})
    d.setdefault("history", [])
    d.setdefault("pending", {})
    d.setdefault("ctx", {})
    if not isinstance(d["answers"], dict):
        d["answers"] = {}
    return d


def pick(values: Sequence[str], arg: str) -> str | None:
    """The value a button's index argument names, or None for a forged or stale index."""
    try:
        i = int(arg)
    except (TypeError, ValueError):
        return None
    return values[i] if 0 <= i < len(values) else None


class Move:
    """One user action on one step, being applied to a private copy of the dialog state."""

    __slots__ = ("dialog", "step", "data", "answers", "extra")

    def __init__(self, dialog: Dialog, step: Step, data: dict, extra: Extra):
        self.dialog = dialog
        self.step = step
        self.data = state_copy(data)
        self.answers: Answers = self.data["answers"]
        self.extra = extra

    def stay(self) -> Turn:
        return Turn(self.data, self.step.name)

    def refuse(self, template: str, **ctx: Any) -> Turn:
        return Turn(self.data, self.step.name, error=Invalid(template, **ctx))

    def answer(self, value: Any) -> Turn:
        """Record the step's answer and go on to the next step that applies (or finish)."""
        self.answers[self.step.name] = value
        return self.go_on()

    def go_on(self) -> Turn:
        nxt = self.dialog.advance(self.data, self.step.name)
        if nxt is None:
            self.data["answers"] = self.dialog.clean(self.data["answers"])
            return Turn(self.data, None, finished=True)
        return Turn(self.data, nxt)


@dataclass(frozen=True)
class StepView:
    """What a step's buttons are drawn from."""

    dialog: Dialog
    answers: Answers
    pending: dict[str, list[str]]  # multi-select ticks not yet confirmed with Done, by step name
    extra: Extra
    labels: Any  # the language's labels.j2 module
    callback: Callable[..., str]  # (op, arg="") → callback data carrying the state version


@dataclass(frozen=True)
class Step:
    """A step of a dialog. A subclass says how the step reads input and which buttons it shows."""

    kind: ClassVar[str]
    question: ClassVar[bool] = True  # False for the review card: not counted, not asked again

    name: str
    _: KW_ONLY
    optional: bool = False
    when: Condition | None = None
    template: str | None = None  # defaults to dlg_<dialog>_<step>

    def applies(self, answers: Answers) -> bool:
        return self.when is None or bool(self.when(answers))

    def answer_keys(self) -> tuple[str, ...]:
        """The answers this step writes (dropped when the step stops applying)."""
        return (self.name,)

    def apply_button(self, move: Move, op: str, arg: str) -> Turn:
        return move.refuse("dialog_use_buttons")

    def apply_text(self, move: Move, text: str) -> Turn:
        return move.refuse("dialog_use_buttons")

    def keyboard(self, view: StepView) -> Keyboard:
        return []


@dataclass(frozen=True, kw_only=True)
class Text(Step):
    """Typed text, checked for length and by an optional validator."""

    kind: ClassVar[str] = "text"

    max_len: int = TEXT_LIMIT_DEFAULT
    min_len: int = 1
    validate: Validator | None = None

    def apply_text(self, move: Move, text: str) -> Turn:
        if len(text) > self.max_len:
            return move.refuse("dialog_too_long", limit=self.max_len, length=len(text))
        if len(text) < self.min_len:
            return move.refuse("dialog_too_short", limit=self.min_len)
        try:
            value = self.validate(text) if self.validate else text
        except Invalid as e:
            return Turn(move.data, self.name, error=e)
        return move.answer(value)


@dataclass(frozen=True, kw_only=True)
class OptionStep(Step):
    """Buttons for a set of options (fixed, or from the loaded context); typed text may go to
    ``text_field`` ("other: …")."""

    options: tuple[str, ...] | Options = ()
    option_set: str | None = None  # key in labels.j2 `opt` (defaults to the step name)
    label: OptionLabel | None = None  # option label from the loaded context (dynamic options)
    text_field: str | None = None
    max_len: int = TEXT_LIMIT_DEFAULT  # of the typed text
    columns: int = 2

    def option_values(self, extra: Extra) -> list[str]:
        return list(self.options(extra) if callable(self.options) else self.options)

    def answer_keys(self) -> tuple[str, ...]:
        return (self.name, self.text_field) if self.text_field else (self.name,)

    def apply_text(self, move: Move, text: str) -> Turn:
        if not self.text_field:
            return move.refuse("dialog_use_buttons")
        if len(text) > self.max_len:
            return move.refuse("dialog_too_long", limit=self.max_len, length=len(text))
        if not text:
            return move.refuse("dialog_too_short", limit=1)
        move.answers[self.text_field] = text
        return move.stay()

    def option_rows(self, view: StepView, button: Callable[[int, str, str], InlineKeyboardButton]) -> Keyboard:
        """The options, ``columns`` to a row; ``button(index, value, label)`` makes each button."""
        opt = view.labels.opt.get(self.option_set or self.name, {})
        rows: Keyboard = []
        row: list[InlineKeyboardButton] = []
        for i, value in enumerate(self.option_values(view.extra)):
            row.append(button(i, value, self.label(value, view.extra) if self.label else opt.get(value, value)))
            if len(row) == self.columns:
                rows.append(row)
                row = []
        if row:
            rows.append(row)
        return rows


@dataclass(frozen=True, kw_only=True)
class Choice(OptionStep):
    """One option (a phone user may also type it, e.g. "7")."""

    kind: ClassVar[str] = "choice"

    def apply_button(self, move: Move, op: str, arg: str) -> Turn:
        if op != "o":
            return move.refuse("dialog_use_buttons")
        value = pick(self.option_values(move.extra), arg)
        if value is None:
            return move.refuse("dialog_use_buttons")
        return move.answer(value)

    def apply_text(self, move: Move, text: str) -> Turn:
        if text in self.option_values(move.extra):
            return move.answer(text)
        return super().apply_text(move, text)

    def keyboard(self, view: StepView) -> Keyboard:
        chosen = view.answers.get(self.name)
        return self.option_rows(view, lambda i, value, label: InlineKeyboardButton(
            (("✅ " if chosen == value else "") + label)[:64], callback_data=view.callback("o", i)))


@dataclass(frozen=True, kw_only=True)
class Multi(OptionStep):
    """Several options, ticked one by one and confirmed with Done."""

    kind: ClassVar[str] = "multi"

    min_selected: int = 1  # how many options (or typed text) Done needs

    def ticked(self, pending: dict[str, list[str]], answers: Answers) -> list[str]:
        return pending.get(self.name, answers.get(self.name) or [])

    def apply_button(self, move: Move, op: str, arg: str) -> Turn:
        if op == "t":
            options = self.option_values(move.extra)
            value = pick(options, arg)
            if value is None:
                return move.refuse("dialog_use_buttons")
            chosen = list(move.data.setdefault("pending", {}).get(self.name, move.answers.get(self.name) or []))
            chosen = [v for v in chosen if v != value] if value in chosen else chosen + [value]
            move.data["pending"][self.name] = [v for v in options if v in chosen]  # keep option order
            return move.stay()
        if op == "d":
            chosen = self.ticked(move.data.get("pending", {}), move.answers)
            typed = move.answers.get(self.text_field) if self.text_field else None
            if len(chosen) < self.min_selected and not typed:
                return move.refuse("dialog_pick_one")
            move.data.get("pending", {}).pop(self.name, None)
            return move.answer(list(chosen))
        return move.refuse("dialog_use_buttons")

    def keyboard(self, view: StepView) -> Keyboard:
        ticked = self.ticked(view.pending, view.answers)
        rows = self.option_rows(view, lambda i, value, label: InlineKeyboardButton(
            (("✅ " if value in ticked else "▫️ ") + label)[:64], callback_data=view.callback("t", i)))
        rows.append([InlineKeyboardButton(view.labels.btn_done, callback_data=view.callback("d"))])
        return rows


@dataclass(frozen=True, kw_only=True)
class Review(Step):
    """The card of all answers: edit any of them, or submit."""

    kind: ClassVar[str] = "review"
    question: ClassVar[bool] = False

    def apply_button(self, move: Move, op: str, arg: str) -> Turn:
        dialog, answers = move.dialog, move.answers
        if op == "e":
            target = pick([s.name for s in dialog.steps], arg)
            if target is None or target == self.name or not dialog.step(target).applies(answers):
                return move.refuse("dialog_use_buttons")
            move.data["review"] = True
            move.data.setdefault("history", []).append(self.name)
            return Turn(move.data, target)
        if op == "x":
            missing = [s.name for s in dialog.steps
                       if s.question and s.applies(answers) and not s.optional and s.name not in answers]
            if missing:
                move.data["review"] = True
                return Turn(move.data, missing[0], error=Invalid("dialog_missing"))
            move.data["answers"] = dialog.clean(answers)
            return Turn(move.data, None, finished=True)
        return move.refuse("dialog_use_buttons")

    def keyboard(self, view: StepView) -> Keyboard:
        rows: Keyboard = []
        row: list[InlineKeyboardButton] = []
        for i, s in enumerate(view.dialog.steps):
            if not s.question or not s.applies(view.answers):
                continue
            label = f"✏️ {view.labels.field[s.name]}"[:64]
            row.append(InlineKeyboardButton(label, callback_data=view.callback("e", i)))
            if len(row) == 2:
                rows.append(row)
                row = []
        if row:
            rows.append(row)
        rows.append([InlineKeyboardButton(view.labels.btn_submit, callback_data=view.callback("x"))])
        return rows
