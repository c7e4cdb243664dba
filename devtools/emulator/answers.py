"""What the emulator answers over HTTP: JSON bodies, Bot API errors and control API errors."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

QUERY_TOO_OLD = ("Bad Request: query is too old and response timeout expired or "
                 "query ID is invalid")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message")


class TgError(Exception):
    """An error answered to the bot as ``{"ok": false, ...}``."""

    def __init__(self, status: int, description: str,
                 parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error_code": self.status,
                               "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def bad_request(desc: str) -> TgError:
    """Telegram's 400 answer; ``desc`` is what follows "Bad Request: "."""
    return TgError(400, "Bad Request: " + desc)


class ControlError(Exception):
    """Error of the ``/_emu`` control API (status + JSON body)."""

    def __init__(self, status: int, error: str, **extra: Any):
        super().__init__(error)
        self.status = status
        self.body = {"ok": False, "error": error, **extra}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(obj), status=status, content_type="application/json")
