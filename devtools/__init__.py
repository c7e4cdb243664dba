"""Local development server: a Telegram Bot API emulator, a simulated user client and a
browser playground page. See :mod:`devtools.emulator` and :mod:`devtools.client`.

Names are imported lazily, so importing the client does not load the emulator.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BotAPIEmulator": "emulator",
    "RateLimits": "emulator",
    "Msg": "client",
    "Reply": "client",
    "SimUser": "client",
    "SimUserError": "client",
    "SimUserTimeout": "client",
}

__all__ = ["BotAPIEmulator", "Msg", "RateLimits", "Reply", "SimUser", "SimUserError", "SimUserTimeout"]


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
