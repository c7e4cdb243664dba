"""Keeps the bot token out of logs and error messages: the token is the bot's whole credential, and
it travels in every Bot API URL (``/bot<token>/method``), which transport errors like to quote."""
from __future__ import annotations

import logging
import re

MASK = "<redacted>"
# the token inside a Bot API or file URL, and a Telegram token standing alone (<bot id>:<35 characters>)
_URL_TOKEN = re.compile(r"(/bot)\d+:[^/\s'\"]+")
_BARE_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
_tokens: set[str] = set()


def redact(text: str) -> str:
    for token in _tokens:
        text = text.replace(token, MASK)
    return _BARE_TOKEN.sub(MASK, _URL_TOKEN.sub(r"\1" + MASK, text))


def install_log_redaction(token: str | None) -> None:
    """Redact ``token`` (and anything shaped like one) from every log record made from now on,
    whichever logger or handler it goes to: the record factory sees them all. Idempotent."""
    if token:
        _tokens.add(token)
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacting", False):
        return

    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call is the logging module's to report
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # formatters print exc_text when it is set instead of formatting the exception again; the
            # exception object stays on the record for handlers that look at its type
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    make_record.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
