"""Checking what the bot sends the way Telegram does: parameters in any request encoding,
Telegram HTML / entities, text and caption lengths, keyboards and inline results."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import tg_html
from .answers import bad_request, dumps

if TYPE_CHECKING:
    from .state import Chat

MAX_TEXT_LEN = 4096
MAX_CAPTION_LEN = 1024
MAX_INLINE_BUTTONS = 100
MAX_INLINE_RESULTS = 50

_INLINE_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay")


class Params:
    """Bot API parameters from any request encoding, with lazy type coercion."""

    def __init__(self, values: dict[str, Any], files: dict[str, Any]):
        self.values = values
        self.files = files

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None or name in self.files

    def str(self, name: str, default: str | None = None) -> str | None:
        v = self.values.get(name)
        if v is None:
            return default
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        return dumps(v)

    def int(self, name: str, default: int | None = None) -> int | None:
        v = self.values.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            raise bad_request(f"invalid {name} specified")
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        try:
            return int(str(v).strip())
        except ValueError:
            try:
                f = float(str(v).strip())
            except ValueError:
                raise bad_request(f"invalid {name} specified") from None
            return int(f)

    def float(self, name: str, default: float | None = None) -> float | None:
        v = self.values.get(name)
        if v is None or v == "":
            return default
        try:
            return float(v)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def bool(self, name: str, default: bool = False) -> bool:
        v = self.values.get(name)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)):
            return bool(v)
        return str(v).strip().lower() in ("true", "1", "yes", "on")

    def json(self, name: str, default: Any = None, error: str | None = None) -> Any:
        v = self.values.get(name)
        if v is None:
            return default
        if isinstance(v, str):
            if v == "":
                return default
            try:
                return json.loads(v)
            except ValueError:
                raise bad_request(error or f"can't parse {name} JSON object") from None
        return v


async def read_params(request: web.Request) -> Params:
    """The parameters of a Bot API call: query string plus a JSON, url-encoded or multipart body."""
    values: dict[str, Any] = dict(request.query)
    files: dict[str, Any] = {}
    if request.method in ("POST", "PUT") and request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise bad_request(f"can't parse JSON: {exc}") from None
                if not isinstance(body, dict):
                    raise bad_request("JSON body must be an object")
                values.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                form = await request.post()
            except Exception as exc:  # noqa: BLE001 - malformed multipart etc.
                raise bad_request(f"can't parse request body: {exc}") from None
            for k, v in form.items():
                if isinstance(v, web.FileField):
                    files[k] = {"data": v.file.read(), "filename": v.filename,
                                "content_type": v.content_type}
                else:
                    values[k] = v
        else:
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                    if isinstance(body, dict):
                        values.update(body)
                except ValueError:
                    pass
    return Params(values, files)


def prepare_text(text: str | None, parse_mode: str | None, entities: Any, *,
                 caption: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """The plain text and entities Telegram would store for a message text or caption."""
    if text is None or text == "":
        if caption:
            return "", []
        raise bad_request("message text is empty")
    if entities is not None and not isinstance(entities, list):
        raise bad_request("can't parse entities JSON object")
    try:
        plain, ents = tg_html.parse_text(text, parse_mode, entities)
    except tg_html.EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None
    plain, ents = tg_html.strip_formatted(plain, ents)
    if not plain and not caption:
        raise bad_request("message text is empty")
    limit = MAX_CAPTION_LEN if caption else MAX_TEXT_LEN
    if tg_html.utf16_len(plain) > limit:
        raise bad_request("message caption is too long" if caption else "message is too long")
    ents = tg_html.detect_entities(plain, ents)
    return plain, ents


def validate_markup(markup: Any, chat: Chat | None,
                    *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate reply_markup. Returns the inline keyboard to store on the message.

    A reply keyboard, its removal or a force-reply is not stored on the message but on
    ``chat`` (what the user's input field shows)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = _button_rows(markup, "inline_keyboard", "InlineKeyboardMarkup")
        total = sum(len(r) for r in rows)
        if total > MAX_INLINE_BUTTONS:
            raise bad_request("reply markup is too long")
        clean_rows = []
        for row in rows:
            clean = []
            for b in row:
                clean.append(validate_inline_button(b))
            if clean:
                clean_rows.append(clean)
        return {"inline_keyboard": clean_rows} if clean_rows else None
    if inline_only:
        raise bad_request("can't parse inline keyboard markup JSON object")
    if "keyboard" in markup:
        rows = _button_rows(markup, "keyboard", "ReplyKeyboardMarkup")
        labels = []
        for row in rows:
            out_row = []
            for b in row:
                text = b if isinstance(b, str) else (b.get("text") if isinstance(b, dict)
                                                     else None)
                if not isinstance(text, str) or not text:
                    raise bad_request("can't parse keyboard button: Field \"text\" must be of "
                                      "type String")
                out_row.append(text)
            labels.append(out_row)
        if chat is not None:
            chat.reply_keyboard = {"keyboard": labels,
                                   "one_time_keyboard": bool(markup.get("one_time_keyboard")),
                                   "resize_keyboard": bool(markup.get("resize_keyboard")),
                                   "input_field_placeholder":
                                       markup.get("input_field_placeholder")}
            chat.force_reply = None
        return None
    if markup.get("remove_keyboard"):
        if chat is not None:
            chat.reply_keyboard = None
        return None
    if markup.get("force_reply"):
        if chat is not None:
            chat.force_reply = {"input_field_placeholder":
                                markup.get("input_field_placeholder")}
        return None
    raise bad_request("can't parse reply keyboard markup JSON object")


def _button_rows(markup: dict[str, Any], field: str, markup_type: str) -> list[list[Any]]:
    rows = markup[field]
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request(f'field "{field}" of the {markup_type} should be an Array of Arrays')
    return rows


def validate_inline_button(b: Any) -> dict[str, Any]:
    if not isinstance(b, dict):
        raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an "
                          "Object")
    text = b.get("text")
    if not isinstance(text, str):
        raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type '
                          "String")
    if not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [k for k in _INLINE_BUTTON_ACTIONS if b.get(k) is not None]
    if not actions:
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the "
                          "inline keyboard")
    if "callback_data" in actions:
        data = b["callback_data"]
        if not isinstance(data, str) or not data or len(data.encode("utf-8")) > 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in actions:
        url = b["url"]
        if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url.strip(),
                                                    re.IGNORECASE):
            raise bad_request("BUTTON_URL_INVALID")
    out = {"text": text}
    for k in actions:
        out[k] = b[k]
    return out


def check_inline_results(results: Any) -> list[dict[str, Any]]:
    """The results of answerInlineQuery, checked as Telegram checks them."""
    if not isinstance(results, list):
        raise bad_request("can't parse inline query results JSON object")
    if len(results) > MAX_INLINE_RESULTS:
        raise bad_request("RESULTS_TOO_MUCH")
    seen = set()
    for r in results:
        if not isinstance(r, dict) or not r.get("type"):
            raise bad_request("can't parse InlineQueryResult: Field \"type\" must be of type "
                              "String")
        rid = str(r.get("id") or "")
        if not rid or len(rid.encode()) > 64:
            raise bad_request("RESULT_ID_INVALID")
        if rid in seen:
            raise bad_request("RESULT_ID_DUPLICATE")
        seen.add(rid)
        if r["type"] == "article":
            if not r.get("title"):
                raise bad_request("can't parse InlineQueryResult: Field \"title\" must be of "
                                  "type String")
            if not isinstance(r.get("input_message_content"), dict):
                raise bad_request("can't parse InlineQueryResult: Field "
                                  "\"input_message_content\" must be of type Object")
        imc = r.get("input_message_content")
        if isinstance(imc, dict) and "message_text" in imc:
            prepare_text(imc.get("message_text"), imc.get("parse_mode"), imc.get("entities"))
        if r.get("reply_markup") is not None:
            validate_markup(r["reply_markup"], None, inline_only=True)
    return results
