"""The callback-data codecs (bot/telegram/callbacks.py): round trips, malformed data, patterns that match
only their own kind, the buttons already in users' chats, and Telegram's 64-byte limit."""
from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.handlers.search import FILTER_VALUES
from bot.telegram import callbacks as cb
from bot.telegram.menus import COMMANDS
from bot.vocabulary import INDUSTRIES

BIG = 2**31 - 1  # the largest id of an INTEGER primary key (PostgreSQL)
LONGEST_PATENT_ID = "P" * 48  # bot/io/importer.ID_RE
LONGEST_COMMAND = max((c.name for c in COMMANDS), key=len)
LONGEST_INDUSTRY = max(INDUSTRIES, key=len)
LONGEST_FILTER = max(FILTER_VALUES, key=len)

# one button of every kind, every field filled with the largest value it takes
SAMPLES: dict[type[cb.Callback], cb.Callback] = {c.__class__: c for c in (
    cb.MenuCommand(LONGEST_COMMAND), cb.ChooseLanguage("zh"),
    cb.EventList(BIG), cb.EventCard(BIG), cb.SignUp(BIG, cb.REDRAW_CARD), cb.CancelSignup(BIG, cb.REDRAW_MY_EVENTS),
    cb.MyEvents(), cb.NewEvent(), cb.CountyTargets(), cb.AttendeeList(BIG, cb.XLSX), cb.EventCalendarFile(BIG),
    cb.EditEvent(BIG), cb.AskCallOff(BIG), cb.ConfirmCallOff(BIG),
    cb.DeadlineList(), cb.NewDeadline(), cb.AskDeleteDeadline(BIG), cb.ConfirmDeleteDeadline(BIG),
    cb.StatsXlsx(),
    cb.MyPatents(), cb.LinkPatent(), cb.AssessPatent(LONGEST_PATENT_ID),
    cb.ReviewPage(BIG), cb.ApproveAssessment(BIG), cb.ReturnAssessment(BIG), cb.AssessmentFullText(BIG),
    # a link request: an inventor id of 10 digits beside the longest patent id fills the 64 bytes exactly
    cb.DecideLink(cb.DECLINE, BIG, LONGEST_PATENT_ID),
    cb.SearchPage(BIG, BIG), cb.SearchFilters(BIG, LONGEST_FILTER), cb.SetFilter(BIG, LONGEST_FILTER, 99),
    cb.ClearFilters(BIG),
    cb.RunCorrection(BIG),
    # a result page's card button: the longest id with a back link to result page 999 of saved search
    # 99,999,999 is the most that fits (a patent id from the shipped corpus is 12 characters)
    cb.PatentCard(LONGEST_PATENT_ID, 10**8 - 1, 999),
    cb.Browse(LONGEST_INDUSTRY, 9, 5, BIG),
    cb.Rate(LONGEST_PATENT_ID), cb.Interest(LONGEST_PATENT_ID), cb.DecideLead(cb.DECLINE, BIG, cb.FROM_LEADS),
    cb.RecordTransaction(LONGEST_PATENT_ID), cb.MarkIndustrialised(BIG), cb.FilingStatus(BIG, "certified"),
    cb.SubscriptionsPage("m", f"d{BIG}"), cb.Unsubscribe(BIG),
    cb.AskRevokeGrant(BIG), cb.ConfirmRevokeGrant(BIG), cb.ConfirmRevokeInvite(BIG), cb.ConfirmDeleteMe(),
    cb.NewNeed(), cb.EditNeed(BIG), cb.CloseNeed(BIG), cb.AnswerNeed(BIG, cb.HELP), cb.DecideNeedLead(cb.DECLINE, BIG, cb.FROM_LEADS),
    cb.RequestEvaluation(LONGEST_PATENT_ID), cb.AcceptEvaluation(BIG), cb.DeclineEvaluation(BIG),
)}

# what buttons sent before the look-alike codes were renamed carry, and what they mean now
EARLIER_CODES = {"ev:k:7": cb.AskCallOff(7), "ev:K:7": cb.ConfirmCallOff(7), "dl:d:3": cb.AskDeleteDeadline(3),
                 "dl:D:3": cb.ConfirmDeleteDeadline(3), "mp:l": cb.LinkPatent()}


def test_every_kind_has_a_sample():
    assert set(SAMPLES) == set(cb.KINDS)
    assert len({k.PREFIX for k in cb.KINDS} | {p for k in cb.KINDS for p in k.ACCEPTS}) == \
        len(cb.KINDS) + sum(len(k.ACCEPTS) for k in cb.KINDS)  # no prefix is used twice


@pytest.mark.parametrize("sample", SAMPLES.values(), ids=lambda s: type(s).__name__)
def test_round_trip_within_64_bytes(sample):
    data = sample.pack()
    assert len(data.encode()) <= 64, data
    assert type(sample).parse(data) == sample


def test_optional_fields_left_out_when_default():
    assert cb.SignUp(5).pack() == "ev:s:5" and cb.SignUp.parse("ev:s:5") == cb.SignUp(5)
    assert cb.SignUp(5, cb.REDRAW_CARD).pack() == "ev:s:5:c"
    assert cb.Browse().pack() == "bw" and cb.Browse.parse("bw") == cb.Browse()
    assert cb.Browse("digital", 0).pack() == "bw:digital:0"
    assert cb.PatentCard("CN113914863A").pack() == "pc:CN113914863A"
    assert cb.PatentCard.parse("pc:CN113914863A:4:2") == cb.PatentCard("CN113914863A", 4, 2)


def test_wire_format_of_buttons_already_sent_is_kept():
    """Buttons in users' chats outlive a deploy: the codes not renamed read as they always did."""
    assert cb.EventCard(12).pack() == "ev:c:12"
    assert cb.CancelSignup(12).pack() == "ev:x:12" and cb.CancelSignup(12, "m").pack() == "ev:x:12:m"
    assert cb.AttendeeList(12, cb.CSV).pack() == "ev:f:12:c"
    assert cb.DecideLead(cb.ACCEPT, 9, cb.FROM_LEADS).pack() == "ld:a:9:l"
    assert cb.FilingStatus(3, "filed").pack() == "tf:3:filed"
    assert cb.SearchPage(41, 2).pack() == "sr:41:2" and cb.SetFilter(41, "maturity", 3).pack() == "ss:41:maturity:3"
    assert cb.SubscriptionsPage("m", "k1").pack() == "sb:m:k1" and cb.Unsubscribe(8).pack() == "un:8"
    assert cb.MenuCommand("events").pack() == "menu:events" and cb.ChooseLanguage("en").pack() == "lang:en"
    assert cb.MyPatents().pack() == "mp:list" and cb.StatsXlsx().pack() == "st:x"


@pytest.mark.parametrize("data,meaning", EARLIER_CODES.items())
def test_renamed_look_alike_codes_still_read(data, meaning):
    assert type(meaning).parse(data) == meaning
    assert re.match(type(meaning).pattern, data)
    assert meaning.pack() != data  # never packed again: the new code reads differently


def test_look_alike_codes_are_gone():
    asks, confirms = cb.AskCallOff(1).pack(), cb.ConfirmCallOff(1).pack()
    assert asks.lower() != confirms.lower()
    assert cb.AskDeleteDeadline(1).pack().lower() != cb.ConfirmDeleteDeadline(1).pack().lower()
    assert cb.LinkPatent().pack() != "mp:l"


def _malformed(sample: cb.Callback) -> list[str]:
    """Variants of a sample's data that no keyboard builds."""
    kind = type(sample)
    data = sample.pack()
    out = [data + ":1", data + ":", kind.PREFIX + "::", kind.PREFIX.upper() + data[len(kind.PREFIX):],
           data.replace(":", ";"), " " + data, data + " ", data + "\n"]
    texts = data.split(":")[len(kind.PREFIX.split(":")):]
    for i, f in enumerate(dataclasses.fields(sample)):
        value = getattr(sample, f.name)
        if isinstance(value, int):
            bad = ["-1", "+1", "1.5", "1e3", "٣", "１", "0x1", "1_0", "", " 1", "9" * 19]
        elif i < len(texts):
            bad = ["", "a b", "é", "x" * 49, "<b>", "../..", "数"]
        else:
            continue
        for b in bad:
            out.append(":".join([kind.PREFIX, *texts[:i], b, *texts[i + 1:]]))
    required = [f for f in dataclasses.fields(sample) if f.default is dataclasses.MISSING]
    if required:
        out.append(kind.PREFIX)
        out.append(":".join([kind.PREFIX, *texts[:len(required) - 1]]) if len(required) > 1 else kind.PREFIX + ":")
    return out


@pytest.mark.parametrize("sample", SAMPLES.values(), ids=lambda s: type(s).__name__)
def test_malformed_data_parses_to_none(sample):
    kind = type(sample)
    for data in (None, "", "x", "💥" * 10, "dlg:3:o:1", *_malformed(sample)):
        assert kind.parse(data) is None, data


def test_literal_fields_take_only_their_values():
    assert cb.SignUp.parse("ev:s:1:m") is None  # only a cancel button redraws /myevents
    assert cb.AttendeeList.parse("ev:f:1:p") is None
    assert cb.DecideLead.parse("ld:x:1") is None and cb.DecideLead.parse("ld:a:1:x") is None
    assert cb.SubscriptionsPage.parse("sb:z") is None


@pytest.mark.parametrize("kind", cb.KINDS, ids=lambda k: k.__name__)
def test_pattern_matches_only_its_own_kind(kind):
    own = [SAMPLES[kind].pack(), *(d for d, m in EARLIER_CODES.items() if type(m) is kind)]
    for data in own:
        assert re.match(kind.pattern, data), (kind.__name__, data)
    for other, sample in SAMPLES.items():
        if other is not kind:
            for data in (sample.pack(), *(d for d, m in EARLIER_CODES.items() if type(m) is other)):
                assert not re.match(kind.pattern, data), (kind.__name__, data)
                assert kind.parse(data) is None, (kind.__name__, data)
    assert not re.match(kind.pattern, "dlg:3:o:1")  # the dialog engine's own buttons
    if not dataclasses.fields(kind):
        assert not re.match(kind.pattern, own[0] + "\n")


def test_pack_refuses_what_would_not_read_back_or_not_fit():
    with pytest.raises(ValueError):
        cb.PatentCard(LONGEST_PATENT_ID, 10**9, 999).pack()  # 65 bytes
    for unfit in (cb.AssessPatent("a:b"), cb.AssessPatent(""), cb.Rate("专利"), cb.EventCard(-1),
                  cb.SignUp(1, "x"), cb.Browse(None, 3), cb.FilingStatus(1, "a b")):
        with pytest.raises(ValueError):
            unfit.pack()


@given(st.text(max_size=70))
def test_any_text_parses_without_raising(data):
    for kind in cb.KINDS:
        parsed = kind.parse(data)
        if parsed is not None:
            assert kind.parse(parsed.pack()) == parsed


async def test_every_kind_has_exactly_one_handler(bot):
    from telegram.ext import CallbackQueryHandler

    handlers = [h for group in bot.app.handlers.values() for h in group if isinstance(h, CallbackQueryHandler)]
    patterns = [h.pattern.pattern for h in handlers if h.pattern is not None]
    kinds = [p for p in patterns if not p.startswith("^dlg")]  # the dialog engine's own
    assert sorted(kinds) == sorted(k.pattern for k in cb.KINDS)
    unmatched = [h for h in bot.app.handlers[0] if isinstance(h, CallbackQueryHandler) and h.pattern is None]
    assert unmatched == [bot.app.handlers[0][-1]]  # "expired" for anything else, after every kind
