"""Fault injection: make chosen Bot API calls fail (an HTTP error, a delay, a dropped connection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    method: str | None
    status: int
    description: str
    count: int = 1
    retry_after: int | None = None
    chat_id: int | None = None
    delay: float = 0.0

    def matches(self, method: str, chat_id: Any) -> bool:
        if self.count <= 0:
            return False
        if self.method is not None and self.method.lower() != method:
            return False
        if self.chat_id is not None:
            try:
                return int(chat_id) == int(self.chat_id)
            except (TypeError, ValueError):
                return False
        return True


class FaultInjection:
    def _init_faults(self) -> None:
        self._faults: list[Fault] = []

    def inject_fault(self, method: str | None, *, status: int, description: str = "",
                     count: int = 1, retry_after: int | None = None,
                     chat_id: int | None = None, delay: float = 0) -> Fault:
        """The next ``count`` Bot API calls of ``method`` (any if None) [to ``chat_id``] fail.

        ``status`` is the HTTP status (e.g. 500, 502, 429, 400, 403). ``status=0`` simulates a
        network failure: the server waits ``delay`` seconds and then drops the connection
        without answering. With ``status>0`` and ``delay>0`` the error is sent after the delay.
        """
        if not description:
            description = {0: "", 400: "Bad Request: injected fault", 403: "Forbidden: injected",
                           429: f"Too Many Requests: retry after {retry_after or 1}",
                           500: "Internal Server Error", 502: "Bad Gateway"}.get(
                               status, f"Error {status}")
        if status == 429 and retry_after is None:
            retry_after = 1
        f = Fault(method, int(status), description, int(count), retry_after,
                  int(chat_id) if chat_id is not None else None, float(delay))
        self._faults.append(f)
        return f

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, method: str, chat_id: Any) -> Fault | None:
        for f in self._faults:
            if f.matches(method, chat_id):
                f.count -= 1
                if f.count <= 0:
                    self._faults.remove(f)
                return f
        return None
