"""Callback data of every button outside the guided dialogs (``dlg:``, bot/dialogs/engine.py), one typed
kind per prefix: ``Kind(...).pack()`` is what a keyboard puts on a button, ``Kind.parse(data)`` is what the
handler reads back (None for anything malformed: forged or stale data gets the polite "expired" answer,
never an exception), and ``Kind.pattern`` is the regex the handler is registered with.

On the wire a kind is its prefix and its fields in order, joined by ``:``; trailing optional fields are
left out when they hold their default. Buttons stay in users' chats across deploys, so a kind whose
prefix was renamed lists the earlier one in ``accepts``: parsed as before, never packed again.
Telegram allows 64 bytes; ``pack`` refuses more, so an oversized button fails where it is built, not
as Telegram's BUTTON_DATA_INVALID for the whole message.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Self

LIMIT = 64  # bytes, Telegram's limit on callback_data
SEPARATOR = ":"
_INT = re.compile(r"[0-9]{1,18}")
# patent ids (bot/io/importer.ID_RE), command names, language, filter and topic codes
_TOKEN = re.compile(r"[A-Za-z0-9_.\-]{1,48}")


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    read: Callable[[str], Any]  # wire text -> value, or None if malformed
    optional: bool
    default: Any


def _read_int(text: str) -> int | None:
    return int(text) if _INT.fullmatch(text) else None


def _read_token(text: str) -> str | None:
    return text if _TOKEN.fullmatch(text) else None


def _reader(hint: Any) -> Callable[[str], Any]:
    if hint is int:
        return _read_int
    if hint is str:
        return _read_token
    if typing.get_origin(hint) is Literal:
        allowed = frozenset(typing.get_args(hint))
        return lambda text: text if text in allowed else None
    raise TypeError(f"callback fields are int, str or Literal[...], not {hint!r}")


def _fields(cls: type) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            hint, = (a for a in typing.get_args(hint) if a is not type(None))
        optional = f.default is not dataclasses.MISSING
        if out and out[-1].optional and not optional:
            raise TypeError(f"{cls.__name__}.{f.name}: a required field after an optional one")
        out.append(_Field(f.name, _reader(hint), optional, f.default if optional else None))
    return tuple(out)


class Callback:
    """Base of the kinds below; each is declared with ``@kind(prefix)``."""

    PREFIX: ClassVar[str]
    ACCEPTS: ClassVar[tuple[str, ...]]
    pattern: ClassVar[str]
    _FIELDS: ClassVar[tuple[_Field, ...]]

    def pack(self) -> str:
        values = [getattr(self, f.name) for f in self._FIELDS]
        while values and self._FIELDS[len(values) - 1].optional and values[-1] == self._FIELDS[len(values) - 1].default:
            values.pop()
        parts = [self.PREFIX]
        for f, value in zip(self._FIELDS, values):
            text = str(value)
            if f.read(text) != value:
                raise ValueError(f"{type(self).__name__}.{f.name}={value!r} can't travel in callback data")
            parts.append(text)
        data = SEPARATOR.join(parts)
        if len(data.encode()) > LIMIT:
            raise ValueError(f"{data!r} is longer than Telegram's {LIMIT} bytes of callback data")
        return data

    @classmethod
    def parse(cls, data: str | None) -> Self | None:
        if not data:
            return None
        for prefix in (cls.PREFIX, *cls.ACCEPTS):
            if data == prefix:
                texts = []
            elif data.startswith(prefix + SEPARATOR):
                texts = data[len(prefix) + 1:].split(SEPARATOR)
            else:
                continue
            required = sum(not f.optional for f in cls._FIELDS)
            if not required <= len(texts) <= len(cls._FIELDS):
                return None
            values = {}
            for f, text in zip(cls._FIELDS, texts):
                value = f.read(text)
                if value is None:
                    return None
                values[f.name] = value
            return cls(**values)
        return None


KINDS: list[type[Callback]] = []


def kind(prefix: str, *, accepts: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Declares a frozen dataclass as the callback kind with this prefix (and earlier ones it still
    reads). Its fields are its own and, first, those of the button family it extends."""
    def declare(cls: type) -> type:
        cls = dataclasses.dataclass(frozen=True)(cls)
        cls.PREFIX, cls.ACCEPTS, cls._FIELDS = prefix, accepts, _fields(cls)
        prefixes = "|".join(re.escape(p) for p in (prefix, *accepts))
        if not cls._FIELDS:
            tail = r"\Z"
        elif cls._FIELDS[0].optional:
            tail = r"(?::|\Z)"
        else:
            tail = ":"
        cls.pattern = rf"^(?:{prefixes}){tail}"
        KINDS.append(cls)
        return cls
    return declare


# -- the main menu and /lang ------------------------------------------------------------------------

@kind("menu")
class MenuCommand(Callback):
    command: str


@kind("lang")
class ChooseLanguage(Callback):
    code: str


# -- events (bot/handlers/events.py, and the pushes of bot/services/events.py) ---------------------

REDRAW_CARD, REDRAW_MY_EVENTS = "c", "m"  # the view a signup button redraws; none from a push
CSV, XLSX = "c", "x"


@dataclasses.dataclass(frozen=True)
class EventButton(Callback):
    """A button about one event."""
    event_id: int


@kind("ev:l")
class EventList(Callback):
    offset: int


@kind("ev:c")
class EventCard(EventButton):
    """The event's card (for its organiser, with the admin buttons)."""


@kind("ev:s")
class SignUp(EventButton):
    redraw: Literal["c"] | None = None


@kind("ev:x")
class CancelSignup(EventButton):
    redraw: Literal["c", "m"] | None = None


@kind("ev:m")
class MyEvents(Callback):
    """/myevents: my signups and the events I organise."""


@kind("ev:n")
class NewEvent(Callback):
    """Starts the dialog that publishes an event."""


@kind("ev:t")
class CountyTargets(Callback):
    """The counties' progress towards the yearly number of events (city level only)."""


@kind("ev:f")
class AttendeeList(EventButton):
    format: Literal["c", "x"]


@kind("ev:i")
class EventCalendarFile(EventButton):
    """My confirmed signup's .ics again."""


@kind("ev:e")
class EditEvent(EventButton):
    """Starts the dialog that changes an open event."""


@kind("ev:off", accepts=("ev:k",))
class AskCallOff(EventButton):
    """Asks the organiser once more before an event is called off."""


@kind("ev:offyes", accepts=("ev:K",))
class ConfirmCallOff(EventButton):
    """Calls the event off and tells everyone signed up."""


# -- deadlines ---------------------------------------------------------------------------------------

@kind("dl:l")
class DeadlineList(Callback):
    """/deadlines again."""


@kind("dl:n")
class NewDeadline(Callback):
    """Starts the dialog that adds a deadline."""


@dataclasses.dataclass(frozen=True)
class DeadlineButton(Callback):
    deadline_id: int


@kind("dl:del", accepts=("dl:d",))
class AskDeleteDeadline(DeadlineButton):
    """Asks once more before a deadline goes (its reminders reach whole departments)."""


@kind("dl:delyes", accepts=("dl:D",))
class ConfirmDeleteDeadline(DeadlineButton):
    """Deletes the deadline."""


# -- /stats ------------------------------------------------------------------------------------------

@kind("st:x")
class StatsXlsx(Callback):
    """/stats as a spreadsheet."""


# -- inventors and their tech-transfer office ----------------------------------------------------------

@kind("mp:list")
class MyPatents(Callback):
    """/mypatents."""


@kind("mp:link", accepts=("mp:l",))
class LinkPatent(Callback):
    """Starts the dialog that links a patent to the inventor."""


@dataclasses.dataclass(frozen=True)
class PatentButton(Callback):
    """A button about one patent (here, on its card and in the library)."""
    patent_id: str


@kind("mp:a")
class AssessPatent(PatentButton):
    """Starts or resumes the self-assessment of one of my patents."""


@kind("rv:p")
class ReviewPage(Callback):
    offset: int


@dataclasses.dataclass(frozen=True)
class AssessmentButton(Callback):
    assessment_id: int


@kind("rv:a")
class ApproveAssessment(AssessmentButton):
    """The office approves a submitted self-assessment."""


@kind("rv:r")
class ReturnAssessment(AssessmentButton):
    """The office returns a self-assessment with a note (a dialog asks for it)."""


@kind("rv:t")
class AssessmentFullText(AssessmentButton):
    """The office reads the abstract of a submitted assessment's patent in full."""


CONFIRM = "c"  # DECLINE ("d") is shared with the lead buttons below


@kind("lk")
class DecideLink(Callback):
    """The patent's office confirms or declines an inventor's link to it (in /review and in the push).
    A 10-digit inventor id beside the longest patent id (48) fills the 64 bytes exactly."""
    decision: Literal["c", "d"]
    inventor_id: int
    patent_id: str


# -- search and the library (the query itself is a SavedQuery row, so buttons survive restarts) --------

@dataclasses.dataclass(frozen=True)
class SavedSearchButton(Callback):
    """A button about the results of one saved search."""
    query_id: int


@kind("sr")
class SearchPage(SavedSearchButton):
    page: int


@kind("sf")
class SearchFilters(SavedSearchButton):
    key: str | None = None  # one filter's values; none: the filter menu


@kind("ss")
class SetFilter(SavedSearchButton):
    key: str
    index: int  # into the filter's value list


@kind("sx")
class ClearFilters(SavedSearchButton):
    """The same query without filters."""


@kind("sc")
class RunCorrection(SavedSearchButton):
    """Run the corrected query ("did you mean"), itself a saved search."""


@kind("pc")
class PatentCard(PatentButton):
    query_id: int | None = None  # with page: the result page to go back to
    page: int | None = None


@kind("bw")
class Browse(Callback):
    industry: str | None = None
    maturity: int | None = None
    prospect: int | None = None
    page: int | None = None


# -- the market side of a patent card ------------------------------------------------------------------

ACCEPT, DECLINE = "a", "d"
FROM_LEADS = "l"  # decided in /leads, which is redrawn; otherwise in the push


@kind("rt")
class Rate(PatentButton):
    """Starts the rating dialog (enterprises and experts)."""


@kind("in")
class Interest(PatentButton):
    """Asks the inventor for contact (enterprises and agencies)."""


@kind("ld")
class DecideLead(Callback):
    decision: Literal["a", "d"]
    lead_id: int
    source: Literal["l"] | None = None


@kind("tx")
class RecordTransaction(PatentButton):
    """Starts the dialog that records a deal (the patent's office)."""


@dataclasses.dataclass(frozen=True)
class TransactionButton(Callback):
    transaction_id: int


@kind("ti")
class MarkIndustrialised(TransactionButton):
    """The office marks a deal industrialised; its enterprise is asked about product filing."""


@kind("tf")
class FilingStatus(TransactionButton):
    status: str


# -- subscriptions -----------------------------------------------------------------------------------

@kind("sb")
class SubscriptionsPage(Callback):
    page: Literal["m", "c", "i"]  # main, counties, industries
    code: str | None = None  # a topic of the page to toggle


@kind("un")
class Unsubscribe(Callback):
    subscription_id: int


# -- revoking roles and invites (admins) -------------------------------------------------------------

@kind("rk:g")
class AskRevokeGrant(Callback):
    """Asks once more before a role is taken away."""
    grant_id: int


@kind("rk:gy")
class ConfirmRevokeGrant(Callback):
    """Takes the role away."""
    grant_id: int


@kind("rk:iy")
class ConfirmRevokeInvite(Callback):
    """The invite's link grants nothing from now on."""
    invite_id: int


# -- personal data -----------------------------------------------------------------------------------

@kind("pv:delyes")
class ConfirmDeleteMe(Callback):
    """/deleteme confirmed: the presser's own personal data is erased."""
# -- technology needs (bot/handlers/needs.py) and expert evaluations on request (expert_requests.py) --

HELP, PASS = "h", "p"


@kind("nd:n")
class NewNeed(Callback):
    """Starts the dialog that posts a need (enterprises)."""


@dataclasses.dataclass(frozen=True)
class NeedButton(Callback):
    need_id: int


@kind("nd:e")
class EditNeed(NeedButton):
    """The need's owner changes it (the same dialog, at its review card)."""


@kind("nd:c")
class CloseNeed(NeedButton):
    """The need's owner closes it."""


@kind("nd:a")
class AnswerNeed(NeedButton):
    """A holder the need was put to: "we can help" (h) or "not for us" (p)."""
    answer: Literal["h", "p"]


@kind("nd:d")
class DecideNeedLead(Callback):
    """The enterprise agrees (a) or not (d) to exchange contacts with a holder who offered help."""
    decision: Literal["a", "d"]
    delivery_id: int
    source: Literal["l"] | None = None  # pressed in /needs, which is redrawn; otherwise in the push


@kind("ex:r")
class RequestEvaluation(PatentButton):
    """Asks the pool experts of the patent's field for an evaluation (from the patent card)."""


@dataclasses.dataclass(frozen=True)
class ExpertRequestButton(Callback):
    request_id: int


@kind("ex:a")
class AcceptEvaluation(ExpertRequestButton):
    """An invited expert takes the request and rates the patent."""


@kind("ex:d")
class DeclineEvaluation(ExpertRequestButton):
    """An invited expert passes."""
