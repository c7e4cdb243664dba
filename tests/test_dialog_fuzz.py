"""Property-based: random text and callback data at every step of every dialog never raise and never
corrupt the state. Two layers: the pure transition functions (thousands of cases) and the real bot
through the emulator (random presses and text at random steps)."""
from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogs import ALL_DIALOGS, build_engine
from bot.dialogs.engine import CALLBACK_PREFIX, Dialog
from bot.dialogs.self_assessment import answers_to_columns
from bot.dialogs.steps import Choice, Multi, Text

ENGINE = build_engine()
OPS = ["o", "t", "d", "b", "s", "e", "x", "c", "", "zz"]
CTX = {"suggested_industry": "equipment", "hits": []}


def check_state(dialog: Dialog, data: dict, step: str | None) -> None:
    assert step is None or step in {s.name for s in dialog.steps}
    assert isinstance(data["answers"], dict) and isinstance(data["history"], list)
    for name, value in data["answers"].items():
        s = next((x for x in dialog.steps if x.name == name), None)
        if s is None:
            continue  # text fields (scenario_text, query)
        if isinstance(s, Choice) and value is not None and s.name != "pick":
            assert value in s.option_values(CTX), (name, value)
        if isinstance(s, Multi):
            assert isinstance(value, list) and set(value) <= set(s.option_values(CTX))
        if isinstance(s, Text) and value is not None:
            assert isinstance(value, str) and len(value) <= s.max_len
    if dialog.name == "assess":
        cols = answers_to_columns(data["answers"])  # always convertible to DB columns
        assert cols["maturity"] is None or 1 <= cols["maturity"] <= 9
        assert cols["prospect"] is None or 1 <= cols["prospect"] <= 5


action = st.one_of(
    st.tuples(st.just("cb"), st.sampled_from(OPS), st.one_of(st.integers(-3, 30).map(str), st.text(max_size=5))),
    st.tuples(st.just("text"), st.text(max_size=600), st.just("")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dialog_i=st.integers(0, len(ALL_DIALOGS) - 1), actions=st.lists(action, max_size=40))
def test_random_inputs_never_corrupt_state(dialog_i, actions):
    dialog = ALL_DIALOGS[dialog_i]
    data = {"answers": {}, "history": [], "pending": {}, "ctx": {}}
    step = dialog.steps[0].name
    for kind, a, b in actions:
        current = dialog.step(step)
        if kind == "cb":
            turn = ENGINE.apply_callback(dialog, data, current, a, b, CTX)
        else:
            turn = ENGINE.apply_text(dialog, data, current, a, CTX)
        check_state(dialog, turn.data, turn.step)
        if turn.cancelled or turn.finished:
            return
        data, step = turn.data, turn.step


async def test_random_presses_and_text_through_the_bot(bot):
    """The real Application: random stale/forged callback data and text at each assessment step."""
    from tests.test_assessment import link, make_inventor

    u = await make_inventor(bot, 3901)
    await link(u)
    await u.send("/mypatents")
    await u.press("📝 1.")
    rng = random.Random(7)
    junk = ["", "dlg", f"{CALLBACK_PREFIX}:x", f"{CALLBACK_PREFIX}:999:o:0", f"{CALLBACK_PREFIX}:1:e:-1",
            "mp:a:", "mp:a:../../etc", "rv:a:abc", "rv:r:-1", "lang:xx", "💥" * 10]
    texts = ["<b>x</b>", "' OR 1=1 --", "NEAR(", "\u202e", "99", "0", "x" * 4000, "😀" * 50]
    for _ in range(40):
        live = u.last_bot_message()
        roll = rng.random()
        if roll < 0.35 and live is not None and live.labels:
            await u.press(rng.choice(live.labels), message_id=live.message_id)
        elif roll < 0.6 and live is not None:
            await u.press(callback_data=rng.choice(junk), message_id=live.message_id, stale=True)
        else:
            await u.send(rng.choice(texts))
    snap = await bot.services.storage.get_dialog(3901, 3901)
    if snap is not None:
        dialog = bot.services.dialogs.dialogs[snap.dialog]
        check_state(dialog, snap.data, snap.step)
    # the bot is still healthy and answering
    assert "欢迎使用" in (await u.send("/start")).text
