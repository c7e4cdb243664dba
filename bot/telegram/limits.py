"""Telegram's size limits on what a message carries, and fitting text into them. A leaf: storage (the
outbox's last line of defence) and delivery both use it, and it imports only the text helpers."""
from __future__ import annotations

import html
import re

from bot.i18n import fit_message, utf16_len

#: Telegram's limit for a document's caption, counted after entity parsing (the text without tags)
CAPTION_LIMIT = 1024
_TAGS = re.compile(r"<[^>]*>")


def caption_length(html_text: str) -> int:
    """What Telegram counts of a Telegram-HTML caption: the text without tags, entities decoded,
    in UTF-16 code units."""
    return utf16_len(html.unescape(_TAGS.sub("", html_text)))


def fit_caption(text: str, *, html_text: bool = True) -> str:
    """``text`` if it fits a caption, else cut: Telegram HTML at a line with open tags closed, plain
    text at the limit."""
    if not html_text:
        if utf16_len(text) <= CAPTION_LIMIT:
            return text
        return text.encode("utf-16-le")[:2 * (CAPTION_LIMIT - 1)].decode("utf-16-le", "ignore") + "…"
    if caption_length(text) <= CAPTION_LIMIT:
        return text
    return fit_message(text, CAPTION_LIMIT)  # counts the markup too: always within the limit
