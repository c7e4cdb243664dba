"""Telegram message formatting: parse / validate / re-render.

This module mirrors (closely, not byte-for-byte) how the Telegram server turns
``parse_mode=HTML`` / ``MarkdownV2`` / ``Markdown`` text into a plain text plus a
list of ``MessageEntity`` dicts, including Telegram's error texts. The HTML
parser is modelled on TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp):

* only ``<`` starts a tag; a lone ``&`` or ``>`` is literal text;
* supported tags: b/strong, i/em, u/ins, s/strike/del, span class="tg-spoiler",
  tg-spoiler, a href, code (class="language-x"), pre, blockquote (expandable),
  tg-emoji emoji-id; everything else -> ``Unsupported start tag "x" at byte offset N``;
* entities ``&lt; &gt; &amp; &quot;`` and numeric ``&#NN; &#xHH;`` (the ``;`` is
  optional); unknown named entities are kept literally;
* offsets / lengths are in UTF-16 code units, as in the Bot API.

``entities_to_html`` renders (text, entities) back into *safe* HTML that only
uses a small whitelist of tags, for the playground page.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "EntityParseError",
    "HtmlParseError",
    "detect_entities",
    "entities_to_html",
    "normalize_entities",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_text",
    "sanitize_html",
    "strip_formatted",
    "utf16_len",
]


class EntityParseError(ValueError):
    """Raised for invalid markup. ``str(exc)`` is the part after
    ``Bad Request: can't parse entities: `` in Telegram's error text."""


HtmlParseError = EntityParseError  # backwards friendly alias


# ---------------------------------------------------------------------------
# UTF-16 helpers
# ---------------------------------------------------------------------------


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units (how Telegram counts)."""
    n = len(s)
    if s.isascii():
        return n
    return n + sum(1 for ch in s if ord(ch) > 0xFFFF)


def _u16_index_map(text: str) -> list[int] | None:
    """Map python index -> utf16 offset (len(text)+1 entries) or None when identical."""
    if text.isascii() or all(ord(c) <= 0xFFFF for c in text):
        return None
    out = [0] * (len(text) + 1)
    acc = 0
    for i, ch in enumerate(text):
        out[i] = acc
        acc += 2 if ord(ch) > 0xFFFF else 1
    out[len(text)] = acc
    return out


class _U16:
    """Bidirectional python-index <-> UTF-16 offset conversion for one text."""

    def __init__(self, text: str):
        self.text = text
        self.map = _u16_index_map(text)
        self.total = self.map[-1] if self.map else len(text)
        self._rev: dict[int, int] | None = None

    def to_u16(self, i: int) -> int:
        return self.map[i] if self.map else i

    def to_py(self, off: int) -> int:
        """UTF-16 offset -> python index (offsets inside a surrogate pair round up)."""
        if self.map is None:
            return max(0, min(off, len(self.text)))
        if self._rev is None:
            self._rev = {v: k for k, v in enumerate(self.map)}
        off = max(0, min(off, self.total))
        while off not in self._rev:
            off += 1
        return self._rev[off]


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

_SUPPORTED_TAGS = {
    "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
    "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
}

_SIMPLE_TAG_TYPES = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler",
}

_SPACES = " \t\n\r\f\v"
_PLAIN_RUN = re.compile(r"[^<&]+")


def _decode_entity(text: str, pos: int) -> tuple[int, int]:
    """TDLib's decode_html_entity. Returns (codepoint, new_pos) or (0, pos)."""
    n = len(text)
    end = pos + 1
    res = 0
    if end < n and text[end] == "#":
        end += 1
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                res = res * 16 + int(text[end], 16)
                end += 1
                if res >= 0x10FFFF:
                    return 0, pos
        else:
            while end < n and "0" <= text[end] <= "9":
                res = res * 10 + ord(text[end]) - 48
                end += 1
                if res >= 0x10FFFF:
                    return 0, pos
        if res == 0 or res >= 0x10FFFF or 0xD800 <= res <= 0xDFFF:
            return 0, pos
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[pos + 1:end]
        res = {"lt": 60, "gt": 62, "amp": 38, "quot": 34}.get(name, 0)
        if not res:
            return 0, pos
    if end < n and text[end] == ";":
        end += 1
    return res, end


class _ByteOffsets:
    """Lazily computes UTF-8 byte offsets of python indices (for error texts)."""

    def __init__(self, text: str):
        self.text = text

    def __call__(self, i: int) -> int:
        return len(self.text[:i].encode("utf-8", "surrogatepass"))


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-HTML. Returns ``(plain_text, entities)``.

    Raises :class:`EntityParseError` with Telegram's message on invalid markup.
    Entities are sorted by (offset, -length) like the Bot API returns them.
    """
    boff = _ByteOffsets(text)
    n = len(text)
    out: list[str] = []
    u16 = 0  # utf16 length of the output so far
    entities: list[dict[str, Any]] = []
    # stack entries: [tag_name, argument, u16_offset, out_len_index]
    stack: list[list[Any]] = []
    i = 0
    plain_run = _PLAIN_RUN
    while i < n:
        c = text[i]
        if c == "&":
            cp, j = _decode_entity(text, i)
            if cp:
                ch = chr(cp)
                out.append(ch)
                u16 += 2 if cp > 0xFFFF else 1
                i = j
                continue
            out.append("&")
            u16 += 1
            i += 1
            continue
        if c != "<":
            m = plain_run.match(text, i)
            chunk = m.group(0)
            out.append(chunk)
            u16 += utf16_len(chunk)
            i = m.end()
            continue

        begin = i
        i += 1
        if i < n and text[i] != "/":
            # start tag
            while i < n and text[i] not in _SPACES and text[i] != ">":
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
            tag = text[begin + 1:i].lower()
            if tag not in _SUPPORTED_TAGS:
                raise EntityParseError(
                    f'Unsupported start tag "{tag}" at byte offset {boff(begin)}')
            argument = ""
            while i < n and text[i] != ">":
                while i < n and text[i] in _SPACES:
                    i += 1
                if i < n and text[i] == ">":
                    break
                attr_begin = i
                while i < n and text[i] not in _SPACES and text[i] != "=" and text[i] != ">":
                    i += 1
                attr = text[attr_begin:i]
                if not attr:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {boff(begin)}')
                while i < n and text[i] in _SPACES:
                    i += 1
                if i >= n or text[i] != "=":
                    if tag == "blockquote" and attr.lower() == "expandable" and i < n:
                        # Telegram accepts the boolean attribute <blockquote expandable>
                        argument = "1"
                        continue
                    if i >= n:
                        raise EntityParseError(
                            f'Unclosed start tag "{tag}" at byte offset {boff(begin)}')
                    raise EntityParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                        f"at byte offset {boff(begin)}")
                i += 1
                while i < n and text[i] in _SPACES:
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f'Unclosed start tag "{tag}" at byte offset {boff(begin)}')
                if text[i] not in "'\"":
                    tok_begin = i
                    while i < n and (text[i].isascii() and (text[i].isalnum() or text[i] in ".-")):
                        i += 1
                    value = text[tok_begin:i].lower()
                    if i < n and text[i] not in _SPACES and text[i] != ">":
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {boff(tok_begin)}")
                else:
                    quote = text[i]
                    i += 1
                    vbuf: list[str] = []
                    while i < n and text[i] != quote:
                        if text[i] == "&":
                            cp, j = _decode_entity(text, i)
                            if cp:
                                vbuf.append(chr(cp))
                                i = j
                                continue
                        vbuf.append(text[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(vbuf)
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
                attr_l = attr.lower()
                if tag == "a" and attr_l == "href":
                    argument = value
                elif tag == "code" and attr_l == "class" and value.startswith("language-"):
                    argument = value[9:]
                elif tag == "span" and attr_l == "class" and value.startswith("tg-"):
                    argument = value[3:]
                elif tag == "tg-emoji" and attr_l == "emoji-id":
                    argument = value
                elif tag == "blockquote" and attr_l == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {boff(begin)}')
            stack.append([tag, argument, u16, len(out)])
            i += 1  # skip '>'
        else:
            # end tag (also "<" at the very end of the text)
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {boff(begin)}")
            i += 1  # skip '/'
            name_begin = i
            while i < n and text[i] not in _SPACES and text[i] != ">":
                i += 1
            end_name = text[name_begin:i]
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n or text[i] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {boff(begin)}")
            tag, argument, start_u16, start_out = stack[-1]
            if end_name and end_name.lower() != tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {boff(begin)}, expected "</{tag}>", '
                    f'found "</{end_name}>"')
            i += 1
            length = u16 - start_u16
            if length > 0:
                _close_html_entity(entities, tag, argument, start_u16, length, out, start_out)
            stack.pop()
    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    plain = "".join(out)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return plain, entities


def _normalize_url(url: str) -> str | None:
    url = url.strip()
    if not url:
        return None
    low = url.lower()
    if low.startswith(("http://", "https://", "tg://", "ton://", "mailto:")):
        return url
    if re.match(r"^[a-z][a-z0-9+.-]*://", low):
        return None  # unsupported scheme -> Telegram silently drops the entity
    if re.match(r"^[\w.-]+\.[a-z]{2,}(?:[/:?#].*)?$", low, re.IGNORECASE):
        return "http://" + url
    return None


def _close_html_entity(entities: list[dict[str, Any]], tag: str, argument: str,
                       offset: int, length: int, out: list[str], start_out: int) -> None:
    if tag in _SIMPLE_TAG_TYPES:
        entities.append({"type": _SIMPLE_TAG_TYPES[tag], "offset": offset, "length": length})
    elif tag == "a":
        url = argument or "".join(out[start_out:])
        m = re.match(r"^tg://user\?id=(\d+)$", url.strip())
        if m:
            entities.append({"type": "text_mention", "offset": offset, "length": length,
                             "user": {"id": int(m.group(1)), "is_bot": False,
                                      "first_name": "".join(out[start_out:])}})
            return
        norm = _normalize_url(url)
        if norm is not None:
            entities.append({"type": "text_link", "offset": offset, "length": length,
                             "url": norm})
    elif tag == "tg-emoji":
        if argument:
            entities.append({"type": "custom_emoji", "offset": offset, "length": length,
                             "custom_emoji_id": argument})
    elif tag == "blockquote":
        entities.append({"type": "expandable_blockquote" if argument else "blockquote",
                         "offset": offset, "length": length})
    elif tag == "pre":
        last = entities[-1] if entities else None
        if (last and last["type"] == "code" and last["offset"] == offset
                and last["length"] == length and last.get("language")):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag == "code":
        last = entities[-1] if entities else None
        if (last and last["type"] == "pre" and last["offset"] == offset
                and last["length"] == length and argument):
            last["language"] = argument
        else:
            ent = {"type": "code", "offset": offset, "length": length}
            if argument:
                ent["language"] = argument
            entities.append(ent)


def _finalize_code_language(entities: list[dict[str, Any]]) -> None:
    # A bare <code class="language-x"> outside <pre> is just "code" in the Bot API.
    for e in entities:
        if e["type"] == "code":
            e.pop("language", None)


# ---------------------------------------------------------------------------
# MarkdownV2 (reasonably complete) and legacy Markdown (minimal)
# ---------------------------------------------------------------------------

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    boff = _ByteOffsets(text)
    n = len(text)
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, int, int]] = []  # (marker, u16 offset, byte-pos index, out_index)
    names = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough",
             "||": "Spoiler", "[": "TextUrl"}
    types = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough",
             "||": "spoiler"}
    i = 0
    line_start = True
    quote_start: int | None = None  # u16 offset where the current blockquote started

    def emit(s: str) -> None:
        nonlocal u16
        out.append(s)
        u16 += utf16_len(s)

    while i < n:
        c = text[i]
        if line_start and c == ">" and not stack:
            if quote_start is None:
                quote_start = u16
            i += 1
            line_start = False
            continue
        if line_start and quote_start is not None and c != ">":
            # previous line was the last quoted line
            _end_quote(entities, quote_start, u16, out)
            quote_start = None
        line_start = False
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            emit(text[i + 1])
            i += 2
            continue
        if c == "\n":
            emit(c)
            i += 1
            line_start = True
            continue
        if c not in _MDV2_RESERVED:
            emit(c)
            i += 1
            continue
        # code / pre
        if c == "`":
            is_pre = text.startswith("```", i)
            begin = i
            i += 3 if is_pre else 1
            language = ""
            if is_pre:
                j = i
                while j < n and text[j] not in " \n`":
                    j += 1
                if j < n and text[j] == "\n" and j > i:
                    language = text[i:j]
                    i = j + 1
                elif j < n and text[j] == "\n":
                    i = j + 1
            start_u16 = u16
            buf: list[str] = []
            closed = False
            while i < n:
                if text[i] == "\\" and i + 1 < n and text[i + 1] in "`\\":
                    buf.append(text[i + 1])
                    i += 2
                    continue
                if text[i] == "`":
                    if is_pre:
                        if text.startswith("```", i):
                            i += 3
                            closed = True
                            break
                    else:
                        i += 1
                        closed = True
                        break
                buf.append(text[i])
                i += 1
            if not closed:
                raise EntityParseError(
                    f"Can't find end of {'Pre' if is_pre else 'Code'} entity at byte offset "
                    f"{boff(begin)}")
            body = "".join(buf)
            emit(body)
            length = u16 - start_u16
            if length:
                ent = {"type": "pre" if is_pre else "code", "offset": start_u16, "length": length}
                if is_pre and language:
                    ent["language"] = language
                entities.append(ent)
            continue
        if c == "[":
            stack.append(("[", u16, i, len(out)))
            i += 1
            continue
        if c == "]":
            if stack and stack[-1][0] == "[":
                marker, start_u16, bpos, start_out = stack.pop()
                i += 1
                if i < n and text[i] == "(":
                    i += 1
                    ubuf: list[str] = []
                    while i < n and text[i] != ")":
                        if text[i] == "\\" and i + 1 < n:
                            ubuf.append(text[i + 1])
                            i += 2
                            continue
                        ubuf.append(text[i])
                        i += 1
                    if i >= n:
                        raise EntityParseError(
                            f"Can't find end of a URL at byte offset {boff(bpos)}")
                    i += 1
                    url = "".join(ubuf)
                else:
                    url = "".join(out[start_out:])
                length = u16 - start_u16
                if length:
                    m = re.match(r"^tg://user\?id=(\d+)$", url)
                    if m:
                        entities.append({"type": "text_mention", "offset": start_u16,
                                         "length": length,
                                         "user": {"id": int(m.group(1)), "is_bot": False,
                                                  "first_name": "".join(out[start_out:])}})
                    elif (m := re.match(r"^tg://emoji\?id=(\d+)$", url)):
                        entities.append({"type": "custom_emoji", "offset": start_u16,
                                         "length": length, "custom_emoji_id": m.group(1)})
                    else:
                        norm = _normalize_url(url)
                        if norm:
                            entities.append({"type": "text_link", "offset": start_u16,
                                             "length": length, "url": norm})
                continue
            raise EntityParseError(
                "Character ']' is reserved and must be escaped with the preceding '\\'")
        if c == "!" and i + 1 < n and text[i + 1] == "[":
            # custom emoji ![x](tg://emoji?id=...)
            i += 1
            continue
        marker = None
        if c == "_" and text.startswith("__", i):
            marker = "__"
        elif c == "|" and text.startswith("||", i):
            marker = "||"
        elif c in "*_~":
            marker = c
        if marker is None:
            raise EntityParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        # closing?
        idx = next((k for k in range(len(stack) - 1, -1, -1) if stack[k][0] == marker), None)
        if idx is not None:
            if idx != len(stack) - 1:
                # Telegram requires proper nesting
                inner = stack[-1]
                raise EntityParseError(
                    f"Can't find end of {names[inner[0]]} entity at byte offset "
                    f"{boff(inner[2])}")
            _, start_u16, _, _ = stack.pop()
            if u16 > start_u16:
                entities.append({"type": types[marker], "offset": start_u16,
                                 "length": u16 - start_u16})
        else:
            stack.append((marker, u16, i, len(out)))
        i += len(marker)
    if stack:
        m = stack[-1]
        raise EntityParseError(
            f"Can't find end of {names[m[0]]} entity at byte offset {boff(m[2])}")
    if quote_start is not None:
        _end_quote(entities, quote_start, u16, out)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _end_quote(entities: list[dict[str, Any]], start: int, end: int, out: list[str]) -> None:
    # the trailing newline is not part of the blockquote
    if out and out[-1] == "\n" and end > start:
        end -= 1
    if end > start:
        entities.append({"type": "blockquote", "offset": start, "length": end - start})


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy ``Markdown`` mode: *bold* _italic_ `code` ```pre``` [text](url)."""
    boff = _ByteOffsets(text)
    n = len(text)
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    i = 0
    while i < n:
        c = text[i]
        if c not in "*_`[":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = i
        if c == "[":
            j = text.find("](", i + 1)
            k = text.find(")", j + 2) if j != -1 else -1
            if j == -1 or k == -1:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {boff(begin)}")
            label = text[i + 1:j]
            url = text[j + 2:k]
            start = u16
            out.append(label)
            u16 += utf16_len(label)
            norm = _normalize_url(url)
            if label and norm:
                entities.append({"type": "text_link", "offset": start, "length": u16 - start,
                                 "url": norm})
            i = k + 1
            continue
        if c == "`" and text.startswith("```", i):
            k = text.find("```", i + 3)
            if k == -1:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {boff(begin)}")
            body = text[i + 3:k]
            language = ""
            nl = body.find("\n")
            if nl > 0 and " " not in body[:nl]:
                language, body = body[:nl], body[nl + 1:]
            start = u16
            out.append(body)
            u16 += utf16_len(body)
            if body:
                ent = {"type": "pre", "offset": start, "length": u16 - start}
                if language:
                    ent["language"] = language
                entities.append(ent)
            i = k + 3
            continue
        k = text.find(c, i + 1)
        if k == -1:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {boff(begin)}")
        body = text[i + 1:k]
        start = u16
        out.append(body)
        u16 += utf16_len(body)
        if body:
            entities.append({"type": {"*": "bold", "_": "italic", "`": "code"}[c],
                             "offset": start, "length": u16 - start})
        i = k + 1
    return "".join(out), entities


def parse_text(text: str, parse_mode: str | None,
               entities: list[dict[str, Any]] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Apply a Bot API parse_mode (``HTML``, ``MarkdownV2``, ``Markdown``, or none).

    Explicit ``entities`` win over parse_mode (like Telegram, which ignores parse_mode
    when entities are passed)."""
    if entities:
        return text, normalize_entities(text, entities)
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, []
    if mode == "html":
        plain, ents = parse_html(text)
        _finalize_code_language(ents)
        return plain, ents
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise EntityParseError(f"Unsupported parse_mode \"{parse_mode}\"")


_ENTITY_TYPES = {
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
    "italic", "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote",
    "code", "pre", "text_link", "text_mention", "custom_emoji",
}


def normalize_entities(text: str, entities: Iterable[Any]) -> list[dict[str, Any]]:
    """Validate bot-supplied entities: unknown types raise, out-of-range ones are clipped
    or dropped (Telegram silently fixes them)."""
    total = utf16_len(text)
    out = []
    for e in entities:
        if not isinstance(e, dict):
            raise EntityParseError("entity must be an Object")
        t = e.get("type")
        if t not in _ENTITY_TYPES:
            raise EntityParseError(f"Unsupported entity type \"{t}\"" if t else
                                   "Field \"type\" must be of type String")
        try:
            off = int(e.get("offset", 0))
            length = int(e.get("length", 0))
        except (TypeError, ValueError):
            raise EntityParseError("Field \"offset\" must be of type Number") from None
        if off < 0 or length <= 0 or off >= total:
            continue
        length = min(length, total - off)
        ne = dict(e)
        ne["offset"], ne["length"] = off, length
        if t == "text_link" and not ne.get("url"):
            continue
        out.append(ne)
    out.sort(key=lambda x: (x["offset"], -x["length"]))
    return out


def strip_formatted(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim leading/trailing whitespace like the Telegram server, fixing entity offsets."""
    lead = len(text) - len(text.lstrip())
    stripped = text.strip()
    if not entities or (lead == 0 and len(stripped) == len(text)):
        return stripped, entities
    lead16 = utf16_len(text[:lead])
    total = utf16_len(stripped)
    out = []
    for e in entities:
        start = max(e["offset"] - lead16, 0)
        end = min(e["offset"] + e["length"] - lead16, total)
        if end > start:
            ne = dict(e)
            ne["offset"], ne["length"] = start, end - start
            out.append(ne)
    return stripped, out


# ---------------------------------------------------------------------------
# Automatic entities (what the server detects in any message)
# ---------------------------------------------------------------------------

_AUTO_RE = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/]))"
    r"|(?P<url>\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)\]'])"
    r"|(?P<email>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b)"
    r"|(?P<mention>(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b)"
    r"|(?P<hashtag>(?<![\w#])#\w*[^\W\d_]\w*)"
)


def detect_entities(text: str, existing: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Find bot_command / url / email / mention / hashtag entities in ``text`` that do not
    overlap code/pre/text_link entities in ``existing``. Returns the merged sorted list."""
    existing = list(existing or [])
    if not any(ch in text for ch in "/@#.w"):
        return existing
    conv = _U16(text)
    blocked = [(e["offset"], e["offset"] + e["length"]) for e in existing
               if e["type"] in ("code", "pre", "text_link", "text_mention", "url", "email",
                                "bot_command", "mention", "hashtag")]
    found = []
    for m in _AUTO_RE.finditer(text):
        kind = m.lastgroup
        s, e = conv.to_u16(m.start()), conv.to_u16(m.end())
        if any(s < be and e > bs for bs, be in blocked):
            continue
        found.append({"type": kind, "offset": s, "length": e - s})
    if not found:
        return existing
    merged = existing + found
    merged.sort(key=lambda x: (x["offset"], -x["length"]))
    return merged


# ---------------------------------------------------------------------------
# Rendering to safe HTML
# ---------------------------------------------------------------------------

_SAFE_URL_RE = re.compile(r"^(https?://|tg://|mailto:)", re.IGNORECASE)


#: entities that always render as the same pair of tags
_FIXED_TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="tg-spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ('<blockquote class="expandable">', "</blockquote>"),
}


def _open_close(ent: dict[str, Any], text_slice: str) -> tuple[str, str]:
    t = ent["type"]
    esc = _html.escape
    fixed = _FIXED_TAGS.get(t)
    if fixed is not None:
        return fixed
    if t == "pre":
        lang = ent.get("language")
        if lang:
            return (f'<pre><code class="language-{esc(str(lang), quote=True)}">',
                    "</code></pre>")
        return "<pre>", "</pre>"
    if t in ("text_link", "url"):
        url = ent.get("url") if t == "text_link" else text_slice
        if t == "url" and not _SAFE_URL_RE.match(url or ""):
            url = "http://" + (url or "")
        if url and _SAFE_URL_RE.match(url):
            return (f'<a href="{esc(url, quote=True)}" target="_blank" rel="noopener noreferrer">',
                    "</a>")
        return "<span>", "</span>"
    if t == "email":
        return (f'<a href="mailto:{esc(text_slice, quote=True)}">', "</a>")
    if t == "bot_command":
        return (f'<span class="tg-cmd" data-cmd="{esc(text_slice, quote=True)}">', "</span>")
    if t in ("mention", "hashtag", "cashtag", "text_mention", "custom_emoji", "phone_number"):
        return f'<span class="tg-{t.replace("_", "-")}">', "</span>"
    return "<span>", "</span>"


def entities_to_html(text: str, entities: list[dict[str, Any]] | None) -> str:
    """Render plain text + entities to safe HTML (only whitelisted tags, all text escaped).

    Overlapping entities are handled by closing and re-opening tags."""
    esc = _html.escape
    if not entities:
        return esc(text, quote=False)
    conv = _U16(text)
    spans = []
    for idx, e in enumerate(entities):
        try:
            s = conv.to_py(int(e["offset"]))
            t = conv.to_py(int(e["offset"]) + int(e["length"]))
        except (KeyError, TypeError, ValueError):
            continue
        if t > s:
            spans.append((s, t, idx, e))
    spans.sort(key=lambda x: (x[0], -x[1], x[2]))
    points = sorted({0, len(text)} | {s for s, _, _, _ in spans} | {t for _, t, _, _ in spans})
    out: list[str] = []
    stack: list[tuple[int, int, int, dict[str, Any], str]] = []  # (s, t, idx, ent, close)
    si = 0
    for pi, pos in enumerate(points):
        # close entities ending at pos (with reopen of those above them)
        if any(t == pos for _, t, _, _, _ in stack):
            reopen = []
            while stack and any(t == pos for _, t, _, _, _ in stack):
                item = stack.pop()
                out.append(item[4])
                if item[1] != pos:
                    reopen.append(item)
            for item in reversed(reopen):
                o, c = _open_close(item[3], text[item[0]:item[1]])
                out.append(o)
                stack.append(item[:4] + (c,))
        while si < len(spans) and spans[si][0] == pos:
            s, t, idx, e = spans[si]
            o, c = _open_close(e, text[s:t])
            out.append(o)
            stack.append((s, t, idx, e, c))
            si += 1
        if pi + 1 < len(points):
            out.append(esc(text[pos:points[pi + 1]], quote=False))
    while stack:
        out.append(stack.pop()[4])
    return "".join(out)


def sanitize_html(markup: str) -> str:
    """Validate Telegram-HTML and return an equivalent safe re-rendering."""
    plain, ents = parse_html(markup)
    return entities_to_html(plain, ents)
