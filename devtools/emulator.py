"""A local, in-memory emulator of the Telegram Bot API (HTTP, aiohttp).

Use it in tests (in the same event loop as the bot)::

    emu = BotAPIEmulator()
    await emu.start()
    app = (ApplicationBuilder().token(emu.token)
           .base_url(emu.base_url).base_file_url(emu.base_file_url).build())

or standalone as a *playground* with a web chat page::

    python -m devtools.emulator --port 8080
    # then point a bot at base_url http://127.0.0.1:8080/bot with token 123456:TEST-TOKEN

Bot API calls arrive at ``/bot<token>/<method>`` exactly like at api.telegram.org
(GET/POST, query string, url-encoded, multipart or JSON bodies). The control API used by
tests, :class:`devtools.client.SimUser` and the playground page lives under ``/_emu/``.
Everything the control API can do is also available as plain methods on the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import math
import mimetypes
import os
import re
import secrets
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from aiohttp import ClientSession, ClientTimeout, web

from . import tg_html

log = logging.getLogger("devtools.emulator")

STATIC_DIR = Path(__file__).with_name("static")

MAX_TEXT_LEN = 4096
MAX_CAPTION_LEN = 1024
MAX_INLINE_BUTTONS = 100
MAX_INLINE_RESULTS = 50
MAX_FILE_DOWNLOAD = 20 * 1024 * 1024
MAX_UPLOAD = 50 * 1024 * 1024

#: methods subject to flood control (rate limits)
RATE_LIMITED_METHODS = frozenset(
    {"sendmessage", "senddocument", "sendphoto", "copymessage", "forwardmessage"})
#: methods that fail for blocked / deactivated users
BLOCKABLE_METHODS = RATE_LIMITED_METHODS | {"sendchataction"}

DEFAULT_ALLOWED_UPDATES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "inline_query",
    "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
    "poll", "poll_answer", "my_chat_member", "chat_join_request", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages",
    "message_reaction", "message_reaction_count", "chat_member", "chat_boost",
    "removed_chat_boost", "purchased_paid_media",
})
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

QUERY_TOO_OLD = ("Bad Request: query is too old and response timeout expired or "
                 "query ID is invalid")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message")

_CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note"})

_INLINE_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay")

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


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


def _bad(desc: str) -> TgError:
    return TgError(400, "Bad Request: " + desc)


class ControlError(Exception):
    """Error of the ``/_emu`` control API (status + JSON body)."""

    def __init__(self, status: int, error: str, **extra: Any):
        super().__init__(error)
        self.status = status
        self.body = {"ok": False, "error": error, **extra}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(obj), status=status, content_type="application/json")


@dataclass
class RateLimits:
    """Flood-control settings (token buckets). ``None`` on the emulator = no limits."""

    per_chat_per_sec: float = 1.0
    per_chat_burst: int = 3
    global_per_sec: float = 30.0
    global_burst: int = 30
    group_per_min: int = 20


class _Bucket:
    __slots__ = ("capacity", "rate", "tokens", "ts")

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate = rate
        self.capacity = max(1.0, float(capacity))
        self.tokens = self.capacity
        self.ts = now

    def wait_time(self, now: float) -> float:
        if now > self.ts:
            self.tokens = min(self.capacity, self.tokens + (now - self.ts) * self.rate)
            self.ts = now
        if self.tokens >= 1.0:
            return 0.0
        if self.rate <= 0:
            return 3600.0
        return (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


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


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    kind: str  # "document" | "photo"
    file_path: str
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        return len(self.data)


class _Rec:
    """One message as stored in a chat."""

    __slots__ = ("deleted", "edited", "from_bot", "html", "inline_message_id", "msg", "seq")

    def __init__(self, msg: dict[str, Any], from_bot: bool):
        self.msg = msg
        self.from_bot = from_bot
        self.seq = 0
        self.edited = False
        self.deleted = False
        self.html = ""
        self.inline_message_id: str | None = None


class _Chat:
    __slots__ = (
        "action",
        "answers",
        "bot_member",
        "by_id",
        "event",
        "first_name",
        "force_reply",
        "id",
        "last_name",
        "last_seq",
        "members",
        "messages",
        "next_id",
        "reply_keyboard",
        "title",
        "type",
        "username",
    )

    def __init__(self, chat_id: int, type_: str, *, title: str | None = None,
                 username: str | None = None, first_name: str | None = None,
                 last_name: str | None = None, bot_member: bool = True):
        self.id = chat_id
        self.type = type_
        self.title = title
        self.username = username
        self.first_name = first_name
        self.last_name = last_name
        self.members: set[int] = set()
        self.messages: list[_Rec] = []
        self.by_id: dict[int, _Rec] = {}
        self.next_id = 1
        self.last_seq = 0
        self.event = asyncio.Event()
        self.answers: list[dict[str, Any]] = []
        self.reply_keyboard: dict[str, Any] | None = None
        self.force_reply: dict[str, Any] | None = None
        self.action: dict[str, Any] | None = None
        self.bot_member = bot_member

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.first_name or ""
            if self.last_name:
                out["last_name"] = self.last_name
        else:
            out["title"] = self.title or ""
        if self.username:
            out["username"] = self.username
        return out


class _Params:
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
        return _dumps(v)

    def int(self, name: str, default: int | None = None) -> int | None:
        v = self.values.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            raise _bad(f"invalid {name} specified")
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
                raise _bad(f"invalid {name} specified") from None
            return int(f)

    def float(self, name: str, default: float | None = None) -> float | None:
        v = self.values.get(name)
        if v is None or v == "":
            return default
        try:
            return float(v)
        except (TypeError, ValueError):
            raise _bad(f"invalid {name} specified") from None

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
                raise _bad(error or f"can't parse {name} JSON object") from None
        return v


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of PNG / GIF / JPEG / WEBP data, or None if not an image."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                b = data[21:25]
                w = 1 + (((b[1] & 0x3F) << 8) | b[0])
                h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
                return w, h
            return 1, 1
        if data[:2] == b"\xff\xd8":
            i = 2
            n = len(data)
            while i + 9 < n:
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                seg_len = struct.unpack(">H", data[i + 2:i + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                i += 2 + seg_len
            return None
    except (struct.error, IndexError):
        return None
    return None


# ---------------------------------------------------------------------------
# the emulator
# ---------------------------------------------------------------------------


class BotAPIEmulator:
    """In-memory Telegram Bot API server + control API + optional playground page."""

    def __init__(self, *, token: str = "123456:TEST-TOKEN",
                 bot_username: str = "patent_pilot_bot",
                 bot_first_name: str = "专利盘活",
                 rate_limits: RateLimits | None = None,
                 serve_playground: bool = False,
                 playground_users: list[dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 inline_answer_timeout: float = 10.0,
                 callback_answer_timeout: float | None = None):
        if ":" not in token or not token.split(":", 1)[0].isdigit():
            raise ValueError("token must look like '<digits>:<secret>'")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.serve_playground = serve_playground
        #: differs for every emulator object: the playground page notices a restart by it (message ids,
        #: chats and seq counters all start again) and drops what it shows instead of asking for them
        self.instance = secrets.token_hex(8)
        self.clock = clock
        #: seconds after which answerInlineQuery fails with "query is too old"
        self.inline_answer_timeout = inline_answer_timeout
        #: optional limit for answerCallbackQuery (None = unlimited)
        self.callback_answer_timeout = callback_answer_timeout

        self._rate_limits: RateLimits | None = None
        self._global_bucket: _Bucket | None = None
        self._chat_buckets: dict[int, _Bucket] = {}
        self._group_buckets: dict[int, _Bucket] = {}
        self.set_rate_limits(rate_limits)

        self.users: dict[int, dict[str, Any]] = {}
        self._labels: dict[int, str] = {}
        self._blocked: dict[int, str] = {}  # user id -> error description
        self.chats: dict[int, _Chat] = {}

        self._seq = 0
        self._update_counter = itertools.count(1)
        self._updates: collections.deque[dict[str, Any]] = collections.deque()
        self._update_types: dict[int, str] = {}
        self._delivered: set[int] = set()
        self._update_event = asyncio.Event()
        self._delivery_event = asyncio.Event()
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES - _OPT_IN_UPDATES
        self._poll_generation = 0

        self._webhook: dict[str, Any] | None = None
        self._webhook_task: asyncio.Task | None = None
        self._webhook_last_error: tuple[int, str] | None = None
        self._http: ClientSession | None = None

        self.files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._file_counter = itertools.count(1)

        self._callbacks: dict[str, dict[str, Any]] = {}
        self._inline_queries: dict[str, dict[str, Any]] = {}
        self._inline_messages: dict[str, tuple[int, int]] = {}
        self._id_counter = itertools.count(1)

        self._commands: dict[tuple[tuple[Any, ...], str], list[dict[str, str]]] = {}
        self._descriptions: dict[str, str] = {}
        self._short_descriptions: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}

        self._faults: list[Fault] = []
        self._calls: list[dict[str, Any]] = []
        self.throttled_count = 0
        self.error_count = 0

        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None
        self._host = "127.0.0.1"
        self._closing = False

        self._methods: dict[str, tuple[str, Callable[[_Params], Awaitable[Any]]]] = {}
        for attr in dir(self):
            if attr.startswith("_m_"):
                name = attr[3:]
                self._methods[name.lower()] = (name, getattr(self, attr))

        for u in playground_users or []:
            self.add_user(int(u["id"]), u.get("first_name") or str(u["id"]),
                          username=u.get("username"),
                          language_code=u.get("language_code", "zh-hans"),
                          last_name=u.get("last_name"), label=u.get("label"))

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024,
                              middlewares=[self._error_middleware])
        r = app.router
        r.add_route("*", "/bot{token}/{method}", self._handle_api)
        r.add_get("/file/bot{token}/{path:.+}", self._handle_file_download)
        r.add_get("/_emu/bot", self._c_bot)
        r.add_get("/_emu/users", self._c_users_get)
        r.add_post("/_emu/users", self._c_users_post)
        r.add_post("/_emu/groups", self._c_groups_post)
        r.add_post("/_emu/send", self._c_send)
        r.add_post("/_emu/press", self._c_press)
        r.add_post("/_emu/inline", self._c_inline)
        r.add_get("/_emu/inline/{qid}", self._c_inline_get)
        r.add_post("/_emu/choose_inline", self._c_choose_inline)
        r.add_post("/_emu/upload", self._c_upload)
        r.add_get("/_emu/chats/{chat_id}/messages", self._c_transcript)
        r.add_get("/_emu/files/{file_id}", self._c_file)
        r.add_get("/_emu/updates/{update_id}", self._c_update)
        r.add_get("/_emu/calls", self._c_calls)
        r.add_post("/_emu/reset_stats", self._c_reset_stats)
        r.add_post("/_emu/block", self._c_block)
        r.add_get("/_emu/faults", self._c_faults_get)
        r.add_post("/_emu/faults", self._c_faults_post)
        r.add_delete("/_emu/faults", self._c_faults_delete)
        r.add_post("/_emu/rate_limits", self._c_rate_limits)
        r.add_get("/_emu/commands", self._c_commands)
        r.add_get("/_emu/state", self._c_state)
        r.add_get("/", self._handle_index)
        r.add_get("/static/{name}", self._handle_static)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        server = self._site._server
        self._port = server.sockets[0].getsockname()[1] if server else port
        self._host = host
        self._http = ClientSession(timeout=ClientTimeout(total=10))
        if self._webhook:
            self._start_webhook_task()

    async def stop(self) -> None:
        self._closing = True
        self._wake_everything()
        if self._webhook_task:
            self._webhook_task.cancel()
            with contextlib.suppress(BaseException):
                await self._webhook_task
            self._webhook_task = None
        if self._http:
            await self._http.close()
            self._http = None
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def url(self) -> str:
        host = self._host if self._host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/bot"

    @property
    def base_file_url(self) -> str:
        return self.url + "/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name,
                "username": self.bot_username}

    # ------------------------------------------------------------------ change tracking

    def _touch(self, chat: _Chat, rec: _Rec | None = None) -> int:
        self._seq += 1
        if rec is not None:
            rec.seq = self._seq
        chat.last_seq = self._seq
        ev = chat.event
        chat.event = asyncio.Event()
        ev.set()
        return self._seq

    def _notify_updates(self) -> None:
        ev = self._update_event
        self._update_event = asyncio.Event()
        ev.set()

    def _mark_delivered(self, ids: Iterable[int]) -> None:
        self._delivered.update(ids)
        ev = self._delivery_event
        self._delivery_event = asyncio.Event()
        ev.set()

    def _wake_everything(self) -> None:
        self._notify_updates()
        ev = self._delivery_event
        self._delivery_event = asyncio.Event()
        ev.set()
        for chat in self.chats.values():
            ev = chat.event
            chat.event = asyncio.Event()
            ev.set()
        for q in self._inline_queries.values():
            q["event"].set()

    @property
    def seq(self) -> int:
        """Global change counter (grows on every message create / edit / delete / answer)."""
        return self._seq

    # ------------------------------------------------------------------ users & chats

    def add_user(self, user_id: int, first_name: str, *, username: str | None = None,
                 language_code: str | None = "zh-hans", last_name: str | None = None,
                 label: str | None = None) -> dict[str, Any]:
        """Create (or update) a user and their private chat with the bot (chat id == user id)."""
        user_id = int(user_id)
        if user_id <= 0:
            raise ValueError("user ids must be positive")
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        if label:
            self._labels[user_id] = label
        chat = self.chats.get(user_id)
        if chat is None:
            chat = _Chat(user_id, "private", first_name=first_name, last_name=last_name,
                         username=username)
            chat.members = {user_id}
            self.chats[user_id] = chat
        else:
            chat.first_name, chat.last_name, chat.username = first_name, last_name, username
        return dict(user)

    def _ensure_user(self, user_id: Any) -> dict[str, Any]:
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            raise ControlError(400, "user_id must be an integer") from None
        if uid not in self.users:
            self.add_user(uid, f"User{uid}")
        return self.users[uid]

    def add_group(self, chat_id: int, title: str, member_ids: Iterable[int] = (), *,
                  type: str = "group", username: str | None = None) -> dict[str, Any]:
        """Create a group (negative id) with the bot and the given users as members."""
        chat_id = int(chat_id)
        if chat_id >= 0:
            raise ValueError("group chat ids must be negative")
        chat = self.chats.get(chat_id) or _Chat(chat_id, type, title=title, username=username)
        chat.title = title
        chat.type = type
        chat.members.update(int(m) for m in member_ids)
        self.chats[chat_id] = chat
        return chat.json()

    def user_label(self, user_id: int) -> str:
        u = self.users[user_id]
        return self._labels.get(user_id) or u["first_name"]

    def list_users(self) -> list[dict[str, Any]]:
        return [{**u, "label": self.user_label(uid), "chat_id": uid,
                 "blocked": uid in self._blocked}
                for uid, u in self.users.items()]

    def block_user(self, user_id: int, blocked: bool = True) -> None:
        """The user blocks (or unblocks) the bot: sends get 403 and a my_chat_member update."""
        self._set_block(int(user_id), "Forbidden: bot was blocked by the user" if blocked else None)

    def deactivate_user(self, user_id: int, deactivated: bool = True) -> None:
        """The user deletes their account: sends get ``403 Forbidden: user is deactivated``."""
        uid = int(user_id)
        if deactivated:
            self._blocked[uid] = "Forbidden: user is deactivated"
        else:
            self._blocked.pop(uid, None)

    def _set_block(self, uid: int, desc: str | None) -> None:
        self._ensure_user(uid)
        was = uid in self._blocked
        if desc:
            self._blocked[uid] = desc
        else:
            self._blocked.pop(uid, None)
        now_blocked = desc is not None
        if was != now_blocked:
            old, new = ("member", "kicked") if now_blocked else ("kicked", "member")
            bot_member = lambda st: ({"status": st, "user": self.bot_user, "until_date": 0}
                                     if st == "kicked" else {"status": st, "user": self.bot_user})
            self._emit("my_chat_member", {
                "chat": self.chats[uid].json(), "from": self.users[uid],
                "date": int(time.time()), "old_chat_member": bot_member(old),
                "new_chat_member": bot_member(new)})

    def _get_chat_param(self, p: _Params, name: str = "chat_id") -> _Chat:
        v = p.raw(name)
        if v is None or v == "":
            raise _bad(f"{name} is empty")
        if isinstance(v, str) and v.strip().startswith("@"):
            uname = v.strip()[1:].lower()
            for c in self.chats.values():
                if c.username and c.username.lower() == uname and c.type != "private":
                    return c
            raise _bad("chat not found")
        try:
            cid = p.int(name)
        except TgError:
            raise _bad("chat not found") from None
        chat = self.chats.get(cid)  # type: ignore[arg-type]
        if chat is None:
            raise _bad("chat not found")
        return chat

    # ------------------------------------------------------------------ updates

    def _emit(self, kind: str, payload: dict[str, Any]) -> int:
        uid = next(self._update_counter)
        self._update_types[uid] = kind
        if kind not in self._allowed_updates:
            return uid  # Telegram never creates updates of types the bot did not ask for
        self._updates.append({"update_id": uid, kind: payload})
        self._notify_updates()
        return uid

    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    def update_delivered(self, update_id: int) -> bool:
        return int(update_id) in self._delivered

    async def wait_delivered(self, update_id: int, timeout: float = 5.0) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while update_id not in self._delivered and not self._closing:
            ev = self._delivery_event
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ev.wait(), remaining)
        return update_id in self._delivered

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        elif offset < 0:
            keep = -offset
            while len(self._updates) > keep:
                self._updates.popleft()

    # ------------------------------------------------------------------ messages

    def _new_message(self, chat: _Chat, *, from_bot: bool, sender: dict[str, Any] | None = None,
                     fields: dict[str, Any]) -> _Rec:
        mid = chat.next_id
        chat.next_id += 1
        msg: dict[str, Any] = {"message_id": mid,
                               "from": self.bot_user if from_bot else sender,
                               "chat": chat.json(), "date": int(time.time())}
        msg.update(fields)
        rec = _Rec(msg, from_bot)
        if from_bot:
            chat.action = None  # a message from the bot ends its "typing…" status
        self._render(rec)
        chat.messages.append(rec)
        chat.by_id[mid] = rec
        self._touch(chat, rec)
        return rec

    @staticmethod
    def _render(rec: _Rec) -> None:
        m = rec.msg
        if "text" in m:
            rec.html = tg_html.entities_to_html(m["text"], m.get("entities"))
        elif "caption" in m:
            rec.html = tg_html.entities_to_html(m["caption"], m.get("caption_entities"))
        else:
            rec.html = ""

    def _prepare_text(self, text: str | None, parse_mode: str | None,
                      entities: Any, *, caption: bool = False) -> tuple[str, list[dict[str, Any]]]:
        if text is None or text == "":
            if caption:
                return "", []
            raise _bad("message text is empty")
        if entities is not None and not isinstance(entities, list):
            raise _bad("can't parse entities JSON object")
        try:
            plain, ents = tg_html.parse_text(text, parse_mode, entities)
        except tg_html.EntityParseError as exc:
            raise _bad(f"can't parse entities: {exc}") from None
        plain, ents = tg_html.strip_formatted(plain, ents)
        if not plain and not caption:
            raise _bad("message text is empty")
        limit = MAX_CAPTION_LEN if caption else MAX_TEXT_LEN
        if tg_html.utf16_len(plain) > limit:
            raise _bad("message caption is too long" if caption else "message is too long")
        ents = tg_html.detect_entities(plain, ents)
        return plain, ents

    def _validate_markup(self, markup: Any, chat: _Chat | None,
                         *, inline_only: bool = False) -> dict[str, Any] | None:
        """Validate reply_markup. Returns the inline keyboard to store on the message."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup should be '
                           "an Array of Arrays")
            total = sum(len(r) for r in rows)
            if total > MAX_INLINE_BUTTONS:
                raise _bad("reply markup is too long")
            clean_rows = []
            for row in rows:
                clean = []
                for b in row:
                    clean.append(self._validate_inline_button(b))
                if clean:
                    clean_rows.append(clean)
            return {"inline_keyboard": clean_rows} if clean_rows else None
        if inline_only:
            raise _bad("can't parse inline keyboard markup JSON object")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "keyboard" of the ReplyKeyboardMarkup should be an Array '
                           "of Arrays")
            labels = []
            for row in rows:
                out_row = []
                for b in row:
                    text = b if isinstance(b, str) else (b.get("text") if isinstance(b, dict)
                                                         else None)
                    if not isinstance(text, str) or not text:
                        raise _bad("can't parse keyboard button: Field \"text\" must be of "
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
        raise _bad("can't parse reply keyboard markup JSON object")

    @staticmethod
    def _validate_inline_button(b: Any) -> dict[str, Any]:
        if not isinstance(b, dict):
            raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an "
                       "Object")
        text = b.get("text")
        if not isinstance(text, str):
            raise _bad('can\'t parse inline keyboard button: Field "text" must be of type '
                       "String")
        if not text.strip():
            raise _bad("BUTTON_TEXT_INVALID")
        actions = [k for k in _INLINE_BUTTON_ACTIONS if b.get(k) is not None]
        if not actions:
            raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the "
                       "inline keyboard")
        if "callback_data" in actions:
            data = b["callback_data"]
            if not isinstance(data, str) or not data or len(data.encode("utf-8")) > 64:
                raise _bad("BUTTON_DATA_INVALID")
        if "url" in actions:
            url = b["url"]
            if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url.strip(),
                                                        re.IGNORECASE):
                raise _bad("BUTTON_URL_INVALID")
        out = {"text": text}
        for k in actions:
            out[k] = b[k]
        return out

    def _reply_fields(self, p: _Params, chat: _Chat) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        rp = p.json("reply_parameters")
        reply_id = p.int("reply_to_message_id")
        allow = p.bool("allow_sending_without_reply")
        if isinstance(rp, dict):
            try:
                reply_id = int(rp.get("message_id")) if rp.get("message_id") is not None else None
            except (TypeError, ValueError):
                raise _bad("can't parse reply parameters JSON object") from None
            allow = bool(rp.get("allow_sending_without_reply", allow))
            if rp.get("chat_id") not in (None, chat.id):
                other = self.chats.get(int(rp["chat_id"])) if str(rp["chat_id"]).lstrip(
                    "-").isdigit() else None
                if other is None:
                    raise _bad("chat not found")
                target = other.by_id.get(reply_id) if reply_id else None
                if target is None or target.deleted:
                    if not allow:
                        raise _bad("message to be replied not found")
                else:
                    fields["external_reply"] = {"origin": self._origin(target),
                                                "chat": other.json(),
                                                "message_id": reply_id}
                return fields
        if reply_id:
            target = chat.by_id.get(reply_id)
            if target is None or target.deleted:
                if not allow:
                    raise _bad("message to be replied not found")
            else:
                fields["reply_to_message"] = {k: v for k, v in target.msg.items()
                                              if k != "reply_to_message"}
        return fields

    def _origin(self, rec: _Rec) -> dict[str, Any]:
        return {"type": "user", "sender_user": rec.msg.get("from") or self.bot_user,
                "date": rec.msg.get("date", int(time.time()))}

    def _check_send(self, method: str, chat: _Chat) -> None:
        """Blocked / deactivated users and flood control for sending methods."""
        if method in BLOCKABLE_METHODS and chat.type == "private":
            desc = self._blocked.get(chat.id)
            if desc:
                raise TgError(403, desc)
        if chat.type != "private" and not chat.bot_member and method in BLOCKABLE_METHODS:
            raise TgError(403, "Forbidden: bot is not a member of the group chat")
        if method in RATE_LIMITED_METHODS and self._rate_limits is not None:
            self._check_rate(chat.id)

    # ------------------------------------------------------------------ rate limits

    def set_rate_limits(self, limits: RateLimits | None) -> None:
        """Turn flood control on (a :class:`RateLimits`) or off (``None``)."""
        self._rate_limits = limits
        self._chat_buckets.clear()
        self._group_buckets.clear()
        if limits is not None:
            self._global_bucket = _Bucket(limits.global_per_sec, limits.global_burst,
                                          self.clock())
        else:
            self._global_bucket = None

    @property
    def rate_limits(self) -> RateLimits | None:
        return self._rate_limits

    def _check_rate(self, chat_id: int) -> None:
        lim = self._rate_limits
        assert lim is not None and self._global_bucket is not None
        now = self.clock()
        buckets = [self._global_bucket]
        b = self._chat_buckets.get(chat_id)
        if b is None:
            b = self._chat_buckets[chat_id] = _Bucket(lim.per_chat_per_sec,
                                                      lim.per_chat_burst, now)
        buckets.append(b)
        if chat_id < 0:
            g = self._group_buckets.get(chat_id)
            if g is None:
                g = self._group_buckets[chat_id] = _Bucket(lim.group_per_min / 60.0,
                                                           lim.group_per_min, now)
            buckets.append(g)
        wait = max(bk.wait_time(now) for bk in buckets)
        if wait > 0:
            self.throttled_count += 1
            n = max(1, math.ceil(wait - 1e-9))
            raise TgError(429, f"Too Many Requests: retry after {n}", {"retry_after": n})
        for bk in buckets:
            bk.take()

    # ------------------------------------------------------------------ faults

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

    # ------------------------------------------------------------------ call log / stats

    def calls(self, method: str | None = None, chat_id: int | None = None,
              since: float | None = None) -> list[dict[str, Any]]:
        """The log of Bot API calls: dicts with method, chat_id, ts (wall), t (clock), status."""
        m = method.lower() if method else None
        out = []
        for c in self._calls:
            if m and c["method"].lower() != m:
                continue
            if chat_id is not None and c["chat_id"] != chat_id:
                continue
            if since is not None and c["ts"] < since:
                continue
            out.append(c)
        return out

    def reset_stats(self) -> None:
        self._calls.clear()
        self.throttled_count = 0
        self.error_count = 0

    @property
    def stats(self) -> dict[str, Any]:
        by_status: dict[int, int] = collections.Counter(c["status"] for c in self._calls)
        return {"calls": len(self._calls), "throttled": self.throttled_count,
                "errors": self.error_count, "by_status": dict(by_status)}

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _error_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as exc:
            return _json_response(exc.body, exc.status)
        except web.HTTPException as exc:
            if request.path.startswith("/bot"):
                return _json_response({"ok": False, "error_code": exc.status,
                                       "description": exc.reason}, exc.status)
            raise
        except asyncio.CancelledError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            if request.path.startswith("/_emu/"):
                # control API called with wrongly typed fields
                log.debug("emulator: bad control request %s: %r", request.path, exc)
                return _json_response({"ok": False, "error": f"bad request: {exc}"}, 400)
            log.exception("emulator: error handling %s %s", request.method, request.path)
            return _json_response({"ok": False, "error_code": 500,
                                   "description": f"Internal Server Error: {exc!r}"}, 500)
        except Exception as exc:  # never let a bad request kill the server
            log.exception("emulator: error handling %s %s", request.method, request.path)
            return _json_response({"ok": False, "error_code": 500,
                                   "description": f"Internal Server Error: {exc!r}"}, 500)

    async def _read_params(self, request: web.Request) -> _Params:
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
                        raise _bad(f"can't parse JSON: {exc}") from None
                    if not isinstance(body, dict):
                        raise _bad("JSON body must be an object")
                    values.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                try:
                    form = await request.post()
                except Exception as exc:  # noqa: BLE001 - malformed multipart etc.
                    raise _bad(f"can't parse request body: {exc}") from None
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
        return _Params(values, files)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method_in = request.match_info["method"]
        if token != self.token:
            return _json_response({"ok": False, "error_code": 401,
                                   "description": "Unauthorized"}, 401)
        entry = self._methods.get(method_in.lower())
        name = entry[0] if entry else method_in
        rec: dict[str, Any] = {"method": name, "chat_id": None, "ts": time.time(),
                               "t": self.clock(), "status": 0}
        self._calls.append(rec)
        if entry is None:
            rec["status"] = 404
            return _json_response({"ok": False, "error_code": 404,
                                   "description": "Not Found"}, 404)
        try:
            params = await self._read_params(request)
            cid = params.raw("chat_id")
            if cid is not None:
                try:
                    rec["chat_id"] = int(cid)
                except (TypeError, ValueError):
                    rec["chat_id"] = cid
            fault = self._take_fault(method_in.lower(), cid)
            if fault is not None:
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
                if fault.status == 0:
                    rec["status"] = 0
                    if request.transport is not None:
                        request.transport.abort()
                    raise asyncio.CancelledError()
                params_out = {"retry_after": fault.retry_after} if fault.retry_after else None
                raise TgError(fault.status, fault.description, params_out)
            result = await entry[1](params)
        except TgError as exc:
            rec["status"] = exc.status
            self.error_count += 1
            return _json_response(exc.payload(), exc.status)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # wrongly typed fields deep inside JSON parameters: Telegram answers 400 here
            log.warning("emulator: %s with bad parameters -> 400 (%r)", name, exc, exc_info=True)
            rec["status"] = 400
            self.error_count += 1
            return _json_response(_bad(f"can't parse parameters: {exc}").payload(), 400)
        rec["status"] = 200
        return _json_response({"ok": True, "result": result})

    # ================================================================ Bot API methods

    async def _m_getMe(self, p: _Params) -> dict[str, Any]:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": True, "can_connect_to_business": False,
                "has_main_web_app": False}

    async def _m_logOut(self, p: _Params) -> bool:
        return True

    async def _m_close(self, p: _Params) -> bool:
        return True

    async def _m_getUpdates(self, p: _Params) -> list[dict[str, Any]]:
        if self._webhook:
            raise TgError(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")
        offset = p.int("offset", 0) or 0
        limit = p.int("limit", 100) or 100
        limit = max(1, min(100, limit))
        timeout = max(0.0, p.float("timeout", 0.0) or 0.0)
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            self._set_allowed(allowed)
        self._confirm(offset)
        self._poll_generation += 1
        my_gen = self._poll_generation
        self._notify_updates()  # terminates an older long poll (see below)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if my_gen != self._poll_generation:
                raise TgError(409, "Conflict: terminated by other getUpdates request; make sure "
                                   "that only one bot instance is running")
            if self._updates or self._closing:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            ev = self._update_event
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ev.wait(), remaining)
        batch = list(itertools.islice(self._updates, limit))
        self._mark_delivered(u["update_id"] for u in batch)
        return batch

    def _set_allowed(self, allowed: list[Any]) -> None:
        if allowed:
            self._allowed_updates = frozenset(str(a) for a in allowed)
        else:
            self._allowed_updates = DEFAULT_ALLOWED_UPDATES - _OPT_IN_UPDATES

    async def _m_setWebhook(self, p: _Params) -> bool:
        url = (p.str("url") or "").strip()
        if not url:
            await self._drop_webhook(p.bool("drop_pending_updates"))
            return True
        if not re.match(r"^https?://", url, re.IGNORECASE):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.str("secret_token")
        if secret is not None and not re.match(r"^[A-Za-z0-9_-]{1,256}$", secret):
            raise _bad("bad webhook: secret token contains unallowed characters")
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            self._set_allowed(allowed)
        if p.bool("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": url, "secret_token": secret,
                         "max_connections": p.int("max_connections", 40),
                         "ip_address": p.str("ip_address"),
                         "has_custom_certificate": "certificate" in p.files}
        self._webhook_last_error = None
        self._start_webhook_task()
        return True

    async def _m_deleteWebhook(self, p: _Params) -> bool:
        await self._drop_webhook(p.bool("drop_pending_updates"))
        return True

    async def _drop_webhook(self, drop_pending: bool) -> None:
        self._webhook = None
        if self._webhook_task:
            self._webhook_task.cancel()
            self._webhook_task = None
        if drop_pending:
            self._updates.clear()

    async def _m_getWebhookInfo(self, p: _Params) -> dict[str, Any]:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self._webhook:
            info.update(url=self._webhook["url"],
                        has_custom_certificate=self._webhook["has_custom_certificate"],
                        max_connections=self._webhook["max_connections"],
                        allowed_updates=sorted(self._allowed_updates))
            if self._webhook.get("ip_address"):
                info["ip_address"] = self._webhook["ip_address"]
            if self._webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    def _start_webhook_task(self) -> None:
        if self._webhook_task:
            self._webhook_task.cancel()
        if self._http is None:
            return  # started later by start()
        self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())

    async def _webhook_loop(self) -> None:
        backoff = 0.05
        while self._webhook and not self._closing:
            if not self._updates:
                ev = self._update_event
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ev.wait(), 1.0)
                continue
            upd = self._updates[0]
            hook = self._webhook
            headers = {"Content-Type": "application/json"}
            if hook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
            err: str | None = None
            try:
                assert self._http is not None
                async with self._http.post(hook["url"], data=_dumps(upd).encode(),
                                           headers=headers) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        if self._updates and self._updates[0] is upd:
                            self._updates.popleft()
                        self._mark_delivered([upd["update_id"]])
                        backoff = 0.05
                        continue
                    err = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any delivery failure is retried
                err = f"Connection error: {exc.__class__.__name__}: {exc}"
            self._webhook_last_error = (int(time.time()), err)
            log.info("emulator webhook delivery failed (%s); retrying in %.2fs", err, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    # ---- sending

    async def _m_sendMessage(self, p: _Params) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        self._check_send("sendmessage", chat)
        text, entities = self._prepare_text(p.str("text"), p.str("parse_mode"),
                                            p.json("entities", error="can't parse entities "
                                                                      "JSON object"))
        markup = self._validate_markup(p.json("reply_markup"), chat)
        fields: dict[str, Any] = self._reply_fields(p, chat)
        fields["text"] = text
        if entities:
            fields["entities"] = entities
        lpo = p.json("link_preview_options")
        if isinstance(lpo, dict) and lpo:
            fields["link_preview_options"] = lpo
        elif p.bool("disable_web_page_preview"):
            fields["link_preview_options"] = {"is_disabled": True}
        if p.bool("protect_content"):
            fields["has_protected_content"] = True
        if markup:
            fields["reply_markup"] = markup
        rec = self._new_message(chat, from_bot=True, fields=fields)
        return rec.msg

    def _resolve_input_file(self, p: _Params, name: str) -> tuple[_File | None, dict | None, str | None]:
        """Returns (existing_file, upload_part, url)."""
        if name in p.files:
            return None, p.files[name], None
        v = p.str(name)
        if not v:
            raise _bad(f"there is no {name} in the request")
        v = v.strip()
        if v.startswith("attach://"):
            part = p.files.get(v[len("attach://"):])
            if part is None:
                raise _bad(f"wrong remote file identifier specified: can't find {v}")
            return None, part, None
        if v in self.files:
            return self.files[v], None, None
        if re.match(r"^https?://", v, re.IGNORECASE):
            return None, None, v
        raise _bad("wrong file identifier/HTTP URL specified")

    async def _fetch_url(self, url: str) -> tuple[bytes, str | None, str | None]:
        if self._http is None:
            raise _bad("failed to get HTTP URL content")
        try:
            async with self._http.get(url, timeout=ClientTimeout(total=5)) as resp:
                if resp.status != 200:
                    raise _bad("failed to get HTTP URL content")
                data = await resp.read()
                name = url.rsplit("/", 1)[-1].split("?")[0] or None
                return data, name, resp.content_type
        except TgError:
            raise
        except Exception:  # noqa: BLE001
            raise _bad("failed to get HTTP URL content") from None

    def store_file(self, data: bytes, file_name: str | None, mime_type: str | None,
                   kind: str = "document") -> _File:
        """Register bytes as a Telegram file and return its record (file_id etc.)."""
        n = next(self._file_counter)
        prefix = "AgACAgUAAxkBAAI" if kind == "photo" else "BQACAgUAAxkBAAI"
        file_id = prefix + base64.urlsafe_b64encode(
            n.to_bytes(4, "big") + secrets.token_bytes(20)).decode().rstrip("=")
        unique = "AQAD" + base64.urlsafe_b64encode(
            hashlib.sha1(data + n.to_bytes(4, "big")).digest()[:9]).decode().rstrip("=")
        ext = ""
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1][:10]
        elif mime_type:
            ext = mimetypes.guess_extension(mime_type) or ""
        if kind == "photo":
            ext = ext or ".jpg"
        folder = "photos" if kind == "photo" else "documents"
        path = f"{folder}/file_{n}{re.sub(r'[^A-Za-z0-9.]', '', ext)}"
        f = _File(file_id, unique, data, file_name, mime_type, kind, path)
        if kind == "photo":
            f.width, f.height = _image_size(data) or (0, 0)
        self.files[file_id] = f
        self._files_by_path[path] = f
        return f

    async def _input_file(self, p: _Params, name: str, kind: str) -> _File:
        existing, part, url = self._resolve_input_file(p, name)
        if existing is not None:
            if kind == "photo" and existing.kind != "photo":
                raise _bad("wrong file identifier/HTTP URL specified")
            if kind == "document" and existing.kind == "photo":
                raise _bad("can't use file of type Photo as Document")
            return existing
        if part is not None:
            data, fname, ctype = part["data"], part["filename"], part["content_type"]
        else:
            assert url is not None
            data, fname, ctype = await self._fetch_url(url)
        if not data:
            raise _bad("file must be non-empty")
        if kind == "photo":
            if _image_size(data) is None:
                raise _bad("IMAGE_PROCESS_FAILED")
            if len(data) > 10 * 1024 * 1024:
                raise _bad("PHOTO_INVALID_DIMENSIONS")
        if ctype in (None, "", "application/octet-stream") and fname:
            ctype = mimetypes.guess_type(fname)[0] or ctype
        return self.store_file(data, fname, ctype or "application/octet-stream", kind)

    @staticmethod
    def _document_json(f: _File) -> dict[str, Any]:
        d: dict[str, Any] = {"file_id": f.file_id, "file_unique_id": f.file_unique_id,
                             "file_size": f.size}
        if f.file_name:
            d["file_name"] = f.file_name
        if f.mime_type:
            d["mime_type"] = f.mime_type
        return d

    @staticmethod
    def _photo_json(f: _File) -> list[dict[str, Any]]:
        return [{"file_id": f.file_id, "file_unique_id": f.file_unique_id,
                 "file_size": f.size, "width": f.width, "height": f.height}]

    async def _send_media(self, p: _Params, method: str, kind: str) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        self._check_send(method, chat)
        caption, cap_ents = self._prepare_text(
            p.str("caption"), p.str("parse_mode"),
            p.json("caption_entities", error="can't parse entities JSON object"), caption=True)
        markup = self._validate_markup(p.json("reply_markup"), chat)
        fields = self._reply_fields(p, chat)
        f = await self._input_file(p, kind, kind)
        if kind == "photo":
            fields["photo"] = self._photo_json(f)
        else:
            fields["document"] = self._document_json(f)
        if caption:
            fields["caption"] = caption
            if cap_ents:
                fields["caption_entities"] = cap_ents
        if p.bool("protect_content"):
            fields["has_protected_content"] = True
        if markup:
            fields["reply_markup"] = markup
        return self._new_message(chat, from_bot=True, fields=fields).msg

    async def _m_sendDocument(self, p: _Params) -> dict[str, Any]:
        return await self._send_media(p, "senddocument", "document")

    async def _m_sendPhoto(self, p: _Params) -> dict[str, Any]:
        return await self._send_media(p, "sendphoto", "photo")

    async def _m_getFile(self, p: _Params) -> dict[str, Any]:
        fid = p.str("file_id")
        if not fid:
            raise _bad("file_id is empty")
        f = self.files.get(fid.strip())
        if f is None:
            raise _bad("wrong file_id or the file is temporarily unavailable")
        if f.size > MAX_FILE_DOWNLOAD:
            raise _bad("file is too big")
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id,
                "file_size": f.size, "file_path": f.file_path}

    async def _m_sendChatAction(self, p: _Params) -> bool:
        chat = self._get_chat_param(p)
        self._check_send("sendchataction", chat)
        action = p.str("action")
        if not action or action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        chat.action = {"action": action, "until": time.time() + 5}
        self._touch(chat)
        return True

    async def _m_copyMessage(self, p: _Params) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        src_chat = self._get_chat_param(p, "from_chat_id")
        src = src_chat.by_id.get(p.int("message_id") or 0)
        if src is None or src.deleted:
            raise _bad("message to copy not found")
        self._check_send("copymessage", chat)
        fields = {k: v for k, v in src.msg.items()
                  if k in ("text", "entities", "caption", "caption_entities", "document",
                           "photo", "link_preview_options")}
        if p.has("caption") and ("caption" in src.msg or "document" in src.msg
                                 or "photo" in src.msg):
            cap, ents = self._prepare_text(p.str("caption"), p.str("parse_mode"),
                                           p.json("caption_entities"), caption=True)
            fields.pop("caption_entities", None)
            fields["caption"] = cap
            if ents:
                fields["caption_entities"] = ents
        markup = self._validate_markup(p.json("reply_markup"), chat)
        fields.update(self._reply_fields(p, chat))
        if markup:
            fields["reply_markup"] = markup
        rec = self._new_message(chat, from_bot=True, fields=fields)
        return {"message_id": rec.msg["message_id"]}

    async def _m_forwardMessage(self, p: _Params) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        src_chat = self._get_chat_param(p, "from_chat_id")
        src = src_chat.by_id.get(p.int("message_id") or 0)
        if src is None or src.deleted:
            raise _bad("message to forward not found")
        self._check_send("forwardmessage", chat)
        fields = {k: v for k, v in src.msg.items()
                  if k in ("text", "entities", "caption", "caption_entities", "document",
                           "photo")}
        fields["forward_origin"] = self._origin(src)
        return self._new_message(chat, from_bot=True, fields=fields).msg

    # ---- editing

    def _target_message(self, p: _Params) -> tuple[_Chat, _Rec, bool]:
        """Resolve chat_id+message_id or inline_message_id. Returns (chat, rec, is_inline)."""
        imid = p.str("inline_message_id")
        if imid:
            loc = self._inline_messages.get(imid)
            if loc is None:
                raise _bad("MESSAGE_ID_INVALID")
            chat = self.chats[loc[0]]
            rec = chat.by_id.get(loc[1])
            if rec is None or rec.deleted:
                raise _bad("MESSAGE_ID_INVALID")
            return chat, rec, True
        chat = self._get_chat_param(p)
        mid = p.int("message_id")
        if not mid:
            raise _bad("message identifier is not specified")
        rec = chat.by_id.get(mid)
        if rec is None or rec.deleted:
            raise _bad("message to edit not found")
        if not rec.from_bot:
            raise _bad("message can't be edited")
        return chat, rec, False

    def _apply_edit(self, chat: _Chat, rec: _Rec, changes: dict[str, Any],
                    markup: dict[str, Any] | None, inline: bool) -> Any:
        m = rec.msg
        new = dict(m)
        for k, v in changes.items():
            if v is None:
                new.pop(k, None)
            else:
                new[k] = v
        if markup:
            new["reply_markup"] = markup
        else:
            new.pop("reply_markup", None)
        keys = ("text", "entities", "caption", "caption_entities", "reply_markup")
        if all(new.get(k) == m.get(k) for k in keys):
            raise _bad(NOT_MODIFIED[len("Bad Request: "):])
        new["edit_date"] = int(time.time())
        rec.msg = new
        rec.edited = True
        self._render(rec)
        self._touch(chat, rec)
        return True if inline else new

    async def _m_editMessageText(self, p: _Params) -> Any:
        chat, rec, inline = self._target_message(p)
        if "text" not in rec.msg:
            raise _bad("there is no text in the message to edit")
        text, entities = self._prepare_text(p.str("text"), p.str("parse_mode"),
                                            p.json("entities", error="can't parse entities "
                                                                      "JSON object"))
        markup = self._validate_markup(p.json("reply_markup"), None, inline_only=True)
        changes: dict[str, Any] = {"text": text, "entities": entities or None}
        lpo = p.json("link_preview_options")
        if isinstance(lpo, dict) and lpo:
            changes["link_preview_options"] = lpo
        return self._apply_edit(chat, rec, changes, markup, inline)

    async def _m_editMessageCaption(self, p: _Params) -> Any:
        chat, rec, inline = self._target_message(p)
        if not any(k in rec.msg for k in ("document", "photo", "caption")):
            raise _bad("there is no caption in the message to edit")
        caption, ents = self._prepare_text(p.str("caption"), p.str("parse_mode"),
                                           p.json("caption_entities"), caption=True)
        markup = self._validate_markup(p.json("reply_markup"), None, inline_only=True)
        return self._apply_edit(chat, rec, {"caption": caption or None,
                                            "caption_entities": ents or None}, markup, inline)

    async def _m_editMessageReplyMarkup(self, p: _Params) -> Any:
        chat, rec, inline = self._target_message(p)
        markup = self._validate_markup(p.json("reply_markup"), None, inline_only=True)
        return self._apply_edit(chat, rec, {}, markup, inline)

    async def _m_deleteMessage(self, p: _Params) -> bool:
        chat = self._get_chat_param(p)
        rec = chat.by_id.get(p.int("message_id") or 0)
        if rec is None or rec.deleted:
            raise _bad("message to delete not found")
        if chat.type != "private" and not rec.from_bot and not chat.bot_member:
            raise _bad("message can't be deleted")
        rec.deleted = True
        self._touch(chat, rec)
        return True

    async def _m_deleteMessages(self, p: _Params) -> bool:
        chat = self._get_chat_param(p)
        ids = p.json("message_ids", [])
        if not isinstance(ids, list) or not ids:
            raise _bad("message_ids is empty")
        if not all(isinstance(x, int) or (isinstance(x, str) and x.lstrip("-").isdigit())
                   for x in ids):
            raise _bad("can't parse message_ids JSON array")
        for mid in ids:
            rec = chat.by_id.get(int(mid))
            if rec is not None and not rec.deleted:
                rec.deleted = True
                self._touch(chat, rec)
        return True

    # ---- callbacks & inline

    async def _m_answerCallbackQuery(self, p: _Params) -> bool:
        qid = p.str("callback_query_id") or ""
        q = self._callbacks.get(qid)
        if q is None or q["answered"]:
            raise _bad(QUERY_TOO_OLD[len("Bad Request: "):])
        if (self.callback_answer_timeout is not None
                and self.clock() - q["created"] > self.callback_answer_timeout):
            raise _bad(QUERY_TOO_OLD[len("Bad Request: "):])
        text = p.str("text")
        if text and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        q["answered"] = True
        chat = self.chats.get(q["chat_id"])
        answer = {"callback_query_id": qid, "message_id": q["message_id"],
                  "text": text, "show_alert": p.bool("show_alert"), "url": p.str("url"),
                  "ts": time.time(), "seq": 0}
        q["answer"] = answer
        if chat is not None:
            chat.answers.append(answer)
            answer["seq"] = self._touch(chat)
        return True

    def _check_inline_results(self, results: Any) -> list[dict[str, Any]]:
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad("RESULTS_TOO_MUCH")
        seen = set()
        for r in results:
            if not isinstance(r, dict) or not r.get("type"):
                raise _bad("can't parse InlineQueryResult: Field \"type\" must be of type "
                           "String")
            rid = str(r.get("id") or "")
            if not rid or len(rid.encode()) > 64:
                raise _bad("RESULT_ID_INVALID")
            if rid in seen:
                raise _bad("RESULT_ID_DUPLICATE")
            seen.add(rid)
            if r["type"] == "article":
                if not r.get("title"):
                    raise _bad("can't parse InlineQueryResult: Field \"title\" must be of type "
                               "String")
                if not isinstance(r.get("input_message_content"), dict):
                    raise _bad("can't parse InlineQueryResult: Field \"input_message_content\" "
                               "must be of type Object")
            imc = r.get("input_message_content")
            if isinstance(imc, dict) and "message_text" in imc:
                self._prepare_text(imc.get("message_text"), imc.get("parse_mode"),
                                   imc.get("entities"))
            if r.get("reply_markup") is not None:
                self._validate_markup(r["reply_markup"], None, inline_only=True)
        return results

    async def _m_answerInlineQuery(self, p: _Params) -> bool:
        qid = p.str("inline_query_id") or ""
        q = self._inline_queries.get(qid)
        if (q is None or q["answered"]
                or self.clock() - q["created"] > self.inline_answer_timeout):
            raise _bad(QUERY_TOO_OLD[len("Bad Request: "):])
        results = self._check_inline_results(p.json("results", error="can't parse inline "
                                                                      "query results JSON object"))
        q["answered"] = True
        q["answer"] = {"results": results, "cache_time": p.int("cache_time", 300),
                       "is_personal": p.bool("is_personal"),
                       "next_offset": p.str("next_offset") or "",
                       "button": p.json("button")}
        q["event"].set()
        return True

    # ---- commands, descriptions, chat info

    @staticmethod
    def _scope_key(scope: Any) -> tuple[Any, ...]:
        if scope is None:
            return ("default",)
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad("can't parse BotCommandScope JSON object")
        t = scope["type"]
        if t in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            return (t,)
        if t in ("chat", "chat_administrators"):
            return (t, int(scope.get("chat_id") or 0))
        if t == "chat_member":
            return (t, int(scope.get("chat_id") or 0), int(scope.get("user_id") or 0))
        raise _bad("wrong scope type specified")

    async def _m_setMyCommands(self, p: _Params) -> bool:
        cmds = p.json("commands", error="can't parse commands JSON object")
        if not isinstance(cmds, list):
            raise _bad("can't parse commands JSON object")
        if len(cmds) > 100:
            raise _bad("too many commands specified")
        clean = []
        for c in cmds:
            if not isinstance(c, dict):
                raise _bad("can't parse BotCommand JSON object")
            name = str(c.get("command", "")).lstrip("/")
            desc = str(c.get("description", ""))
            if not _COMMAND_RE.match(name.lower()):
                raise _bad("BOT_COMMAND_INVALID")
            if not (1 <= len(desc) <= 256):
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name.lower(), "description": desc})
        key = (self._scope_key(p.json("scope")), p.str("language_code") or "")
        if clean:
            self._commands[key] = clean
        else:
            self._commands.pop(key, None)
        return True

    async def _m_getMyCommands(self, p: _Params) -> list[dict[str, str]]:
        key = (self._scope_key(p.json("scope")), p.str("language_code") or "")
        return list(self._commands.get(key, []))

    async def _m_deleteMyCommands(self, p: _Params) -> bool:
        key = (self._scope_key(p.json("scope")), p.str("language_code") or "")
        self._commands.pop(key, None)
        return True

    def commands_for(self, user_id: int | None = None, chat_id: int | None = None,
                     language_code: str | None = None) -> list[dict[str, str]]:
        """Commands a client would show to ``user_id`` in ``chat_id`` (Telegram's scope order)."""
        if user_id is not None and language_code is None:
            language_code = (self.users.get(int(user_id)) or {}).get("language_code")
        chat_id = chat_id if chat_id is not None else user_id
        private = chat_id is None or chat_id > 0
        scopes: list[tuple[Any, ...]] = []
        if chat_id is not None and user_id is not None and not private:
            scopes.append(("chat_member", chat_id, user_id))
        if chat_id is not None:
            scopes.append(("chat", chat_id))
        scopes.append(("all_private_chats",) if private else ("all_group_chats",))
        scopes.append(("default",))
        langs = [language_code or "", ""]
        if language_code and "-" in language_code:
            langs.insert(1, language_code.split("-")[0])
        for s in scopes:
            for lang in langs:
                if (s, lang) in self._commands:
                    return list(self._commands[(s, lang)])
        return []

    async def _m_setMyDescription(self, p: _Params) -> bool:
        self._descriptions[p.str("language_code") or ""] = p.str("description") or ""
        return True

    async def _m_getMyDescription(self, p: _Params) -> dict[str, str]:
        lang = p.str("language_code") or ""
        return {"description": self._descriptions.get(lang, self._descriptions.get("", ""))}

    async def _m_setMyShortDescription(self, p: _Params) -> bool:
        self._short_descriptions[p.str("language_code") or ""] = p.str("short_description") or ""
        return True

    async def _m_getMyShortDescription(self, p: _Params) -> dict[str, str]:
        lang = p.str("language_code") or ""
        return {"short_description": self._short_descriptions.get(
            lang, self._short_descriptions.get("", ""))}

    async def _m_setMyName(self, p: _Params) -> bool:
        self._names[p.str("language_code") or ""] = p.str("name") or ""
        return True

    async def _m_getMyName(self, p: _Params) -> dict[str, str]:
        lang = p.str("language_code") or ""
        return {"name": self._names.get(lang, self._names.get("", self.bot_first_name))}

    async def _m_setChatMenuButton(self, p: _Params) -> bool:
        mb = p.json("menu_button", {"type": "default"})
        if not isinstance(mb, dict) or "type" not in mb:
            raise _bad("can't parse menu button JSON object")
        self._menu_buttons[p.int("chat_id")] = mb
        return True

    async def _m_getChatMenuButton(self, p: _Params) -> dict[str, Any]:
        cid = p.int("chat_id")
        return self._menu_buttons.get(cid) or self._menu_buttons.get(None) or {"type": "commands"}

    async def _m_getChat(self, p: _Params) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        info = chat.json()
        info.update(accent_color_id=0, max_reaction_count=11,
                    accepted_gift_types={"unlimited_gifts": False, "limited_gifts": False,
                                         "unique_gifts": False, "premium_subscription": False,
                                         "gifts_from_channels": False})
        if chat.type == "private" and chat.id in self.users:
            pass
        return info

    async def _m_getChatMember(self, p: _Params) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        uid = p.int("user_id")
        if uid is None:
            raise _bad("user_id is empty")
        if uid == self.bot_id:
            return {"status": "member", "user": self.bot_user}
        user = self.users.get(uid)
        if user is None:
            raise _bad("user not found")
        if chat.type == "private":
            if uid != chat.id:
                raise _bad("user not found")
            return {"status": "member", "user": user}
        return {"status": "member" if uid in chat.members else "left", "user": user}

    async def _m_getChatMemberCount(self, p: _Params) -> int:
        chat = self._get_chat_param(p)
        return len(chat.members) + 1

    async def _m_pinChatMessage(self, p: _Params) -> bool:
        self._get_chat_param(p)
        return True

    async def _m_unpinChatMessage(self, p: _Params) -> bool:
        self._get_chat_param(p)
        return True

    async def _m_setMessageReaction(self, p: _Params) -> bool:
        self._get_chat_param(p)
        return True

    # ================================================================ simulated users

    def user_send(self, user_id: int, text: str, chat_id: int | None = None, *,
                  reply_to_message_id: int | None = None) -> dict[str, Any]:
        """The user types ``text``. Returns {update_id, message_id, chat_id, seq}."""
        user = self._ensure_user(user_id)
        if not isinstance(text, str) or not text.strip():
            raise ControlError(400, "text must be a non-empty string")
        chat = self._user_chat(user, chat_id)
        fields: dict[str, Any] = {"text": text}
        ents = tg_html.detect_entities(text)
        if ents:
            fields["entities"] = ents
        if reply_to_message_id:
            target = chat.by_id.get(int(reply_to_message_id))
            if target is not None:
                fields["reply_to_message"] = dict(target.msg)
        rec = self._new_message(chat, from_bot=False, sender=user, fields=fields)
        uid = self._emit("message", rec.msg)
        return {"update_id": uid, "message_id": rec.msg["message_id"], "chat_id": chat.id,
                "seq": rec.seq}

    def _user_chat(self, user: dict[str, Any], chat_id: Any) -> _Chat:
        if chat_id in (None, "", user["id"]):
            return self.chats[user["id"]]
        try:
            cid = int(chat_id)
        except (TypeError, ValueError):
            raise ControlError(400, "chat_id must be an integer") from None
        chat = self.chats.get(cid)
        if chat is None:
            raise ControlError(404, f"chat {cid} not found")
        if chat.type != "private" and user["id"] not in chat.members:
            raise ControlError(403, f"user {user['id']} is not a member of chat {cid}")
        return chat

    def upload(self, user_id: int, filename: str, data: bytes, *, mime_type: str | None = None,
               caption: str | None = None, chat_id: int | None = None,
               as_photo: bool = False) -> dict[str, Any]:
        """The user sends a file (a document, or a photo with ``as_photo``)."""
        user = self._ensure_user(user_id)
        if not data:
            raise ControlError(400, "file is empty")
        chat = self._user_chat(user, chat_id)
        mime_type = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        kind = "photo" if as_photo else "document"
        if as_photo and _image_size(data) is None:
            raise ControlError(400, "not an image")
        f = self.store_file(data, filename, mime_type, kind)
        fields: dict[str, Any] = ({"photo": self._photo_json(f)} if as_photo
                                  else {"document": self._document_json(f)})
        if caption:
            fields["caption"] = caption
            ents = tg_html.detect_entities(caption)
            if ents:
                fields["caption_entities"] = ents
        rec = self._new_message(chat, from_bot=False, sender=user, fields=fields)
        uid = self._emit("message", rec.msg)
        return {"update_id": uid, "message_id": rec.msg["message_id"], "chat_id": chat.id,
                "seq": rec.seq, "file_id": f.file_id}

    @staticmethod
    def _button_labels(rec: _Rec) -> list[str]:
        kb = (rec.msg.get("reply_markup") or {}).get("inline_keyboard") or []
        return [b.get("text", "") for row in kb for b in row]

    def _find_button(self, chat: _Chat, label: str | None, callback_data: str | None,
                     message_id: int | None) -> tuple[_Rec, dict[str, Any]]:
        if message_id is not None:
            rec = chat.by_id.get(int(message_id))
            if rec is None or rec.deleted:
                raise ControlError(404, f"message {message_id} not found in chat {chat.id}",
                                   buttons=[])
            candidates = [rec]
        else:
            candidates = [r for r in reversed(chat.messages)
                          if not r.deleted and (r.msg.get("reply_markup") or {}).get(
                              "inline_keyboard")]

        def buttons(rec: _Rec) -> Iterable[dict[str, Any]]:
            for row in (rec.msg.get("reply_markup") or {}).get("inline_keyboard") or []:
                yield from row

        if callback_data is not None:
            for rec in candidates:
                for b in buttons(rec):
                    if b.get("callback_data") == callback_data:
                        return rec, b
        elif label is not None:
            norm = " ".join(label.split())
            for rec in candidates:
                for b in buttons(rec):
                    if b.get("text") == label or " ".join(b.get("text", "").split()) == norm:
                        return rec, b
            for rec in candidates:
                hits = [b for b in buttons(rec) if norm and norm in b.get("text", "")]
                if len(hits) == 1:
                    return rec, hits[0]
                if len(hits) > 1:
                    raise ControlError(409, f"button label {label!r} is ambiguous in message "
                                            f"{rec.msg['message_id']}",
                                       buttons=[b.get("text") for b in hits])
        else:
            raise ControlError(400, "give label or callback_data")
        visible = []
        for rec in candidates[:3]:
            visible.extend(self._button_labels(rec))
        what = f"callback_data={callback_data!r}" if callback_data is not None else repr(label)
        raise ControlError(404, f"no button {what} in chat {chat.id}; visible buttons: "
                                f"{visible}", buttons=visible)

    def press(self, user_id: int, label: str | None = None, *, callback_data: str | None = None,
              message_id: int | None = None, chat_id: int | None = None,
              stale: bool = False) -> dict[str, Any]:
        """The user taps an inline button (by label or callback_data).

        Returns {"kind": "callback", update_id, callback_query_id, message_id, chat_id, seq}
        or, for a t.me deep link to this bot, {"kind": "deeplink", ...result of user_send}
        or {"kind": "url" | "switch_inline_query" | ..., ...} for buttons without an update."""
        user = self._ensure_user(user_id)
        chat = self._user_chat(user, chat_id)
        if stale:
            # A phone that still shows an outdated keyboard (offline, or the edit never arrived)
            # sends the old callback_data for a message whose buttons have changed since.
            rec = chat.by_id.get(int(message_id)) if message_id is not None else None
            if rec is None or callback_data is None:
                raise ControlError(400, "a stale press needs message_id and callback_data")
            b = {"text": "(stale)", "callback_data": callback_data}
        else:
            rec, b = self._find_button(chat, label, callback_data, message_id)
        mid = rec.msg["message_id"]
        if b.get("callback_data") is not None:
            qid = str(int.from_bytes(secrets.token_bytes(7), "big") * 1000
                      + next(self._id_counter) % 1000)
            q: dict[str, Any] = {"id": qid, "from": user,
                                 "chat_instance": str(int(hashlib.sha1(
                                     f"{chat.id}:{self.bot_id}".encode()).hexdigest()[:15], 16)),
                                 "data": b["callback_data"]}
            if rec.inline_message_id:
                q["inline_message_id"] = rec.inline_message_id
            else:
                q["message"] = rec.msg
            self._callbacks[qid] = {"answered": False, "created": self.clock(),
                                    "chat_id": chat.id, "message_id": mid, "user_id": user["id"],
                                    "answer": None}
            uid = self._emit("callback_query", q)
            return {"kind": "callback", "update_id": uid, "callback_query_id": qid,
                    "message_id": mid, "chat_id": chat.id, "seq": self._seq}
        if b.get("url"):
            payload = self._deep_link_payload(b["url"])
            if payload is not None:
                res = self.user_send(user["id"], f"/start {payload}".rstrip(), chat.id
                                     if chat.type == "private" else user["id"])
                return {"kind": "deeplink", **res}
            return {"kind": "url", "url": b["url"], "message_id": mid, "chat_id": chat.id}
        for k in ("switch_inline_query", "switch_inline_query_current_chat",
                  "switch_inline_query_chosen_chat", "copy_text", "web_app", "login_url",
                  "callback_game", "pay"):
            if b.get(k) is not None:
                return {"kind": k, "value": b[k], "message_id": mid, "chat_id": chat.id}
        raise ControlError(400, "button has no action")

    def _deep_link_payload(self, url: str) -> str | None:
        m = re.match(r"^(?:https?://)?(?:t|telegram)\.me/([A-Za-z0-9_]+)/?\?start=([\w-]*)$",
                     url.strip(), re.IGNORECASE)
        if m and m.group(1).lower() == self.bot_username.lower():
            return m.group(2)
        m = re.match(r"^tg://resolve\?domain=([A-Za-z0-9_]+)&start=([\w-]*)$", url.strip(), re.IGNORECASE)
        if m and m.group(1).lower() == self.bot_username.lower():
            return m.group(2)
        return None

    def inline_query(self, user_id: int, query: str, offset: str = "",
                     chat_type: str | None = None) -> dict[str, Any]:
        """The user types ``@bot query``. Returns {update_id, inline_query_id}."""
        user = self._ensure_user(user_id)
        qid = str(int.from_bytes(secrets.token_bytes(7), "big") * 1000
                  + next(self._id_counter) % 1000)
        payload: dict[str, Any] = {"id": qid, "from": user, "query": query or "",
                                   "offset": offset or ""}
        if chat_type:
            payload["chat_type"] = chat_type
        self._inline_queries[qid] = {"id": qid, "user_id": user["id"], "query": query or "",
                                     "created": self.clock(), "answered": False,
                                     "answer": None, "event": asyncio.Event()}
        uid = self._emit("inline_query", payload)
        return {"update_id": uid, "inline_query_id": qid}

    def inline_answer(self, inline_query_id: str) -> dict[str, Any] | None:
        q = self._inline_queries.get(str(inline_query_id))
        if q is None:
            raise KeyError(inline_query_id)
        return q["answer"]

    async def wait_inline_answer(self, inline_query_id: str,
                                 timeout: float = 5.0) -> dict[str, Any] | None:
        q = self._inline_queries.get(str(inline_query_id))
        if q is None:
            raise KeyError(inline_query_id)
        if q["answer"] is None and timeout > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(q["event"].wait(), timeout)
        return q["answer"]

    def choose_inline(self, user_id: int, inline_query_id: str, result_id: str,
                      chat_id: int | None = None) -> dict[str, Any]:
        """The user picks an inline result and it is posted into ``chat_id`` via the bot."""
        user = self._ensure_user(user_id)
        q = self._inline_queries.get(str(inline_query_id))
        if q is None or q["answer"] is None:
            raise ControlError(404, "inline query unknown or not answered yet")
        result = next((r for r in q["answer"]["results"] if str(r.get("id")) == str(result_id)),
                      None)
        if result is None:
            raise ControlError(404, f"no result with id {result_id!r}",
                               results=[r.get("id") for r in q["answer"]["results"]])
        cid = int(chat_id) if chat_id not in (None, "") else user["id"]
        chat = self.chats.get(cid)
        if chat is None:
            # a chat with someone else, which the bot is not part of
            chat = _Chat(cid, "private" if cid > 0 else "group", first_name=f"chat {cid}",
                         title=f"chat {cid}", bot_member=False)
            chat.members = {user["id"]}
            self.chats[cid] = chat
        fields: dict[str, Any] = {"via_bot": self.bot_user}
        imc = result.get("input_message_content") or {}
        rtype = result.get("type")
        if "message_text" in imc:
            try:
                text, ents = self._prepare_text(imc["message_text"], imc.get("parse_mode"),
                                                imc.get("entities"))
            except TgError as exc:
                raise ControlError(400, exc.description) from None
            fields["text"] = text
            if ents:
                fields["entities"] = ents
        elif rtype == "photo" and (result.get("photo_file_id") in self.files):
            fields["photo"] = self._photo_json(self.files[result["photo_file_id"]])
        elif rtype == "document" and (result.get("document_file_id") in self.files):
            fields["document"] = self._document_json(self.files[result["document_file_id"]])
        else:
            fields["text"] = str(result.get("title") or result.get("id"))
        if result.get("caption") and ("photo" in fields or "document" in fields):
            fields["caption"] = result["caption"]
        markup = None
        if result.get("reply_markup"):
            markup = self._validate_markup(result["reply_markup"], None, inline_only=True)
            if markup:
                fields["reply_markup"] = markup
        rec = self._new_message(chat, from_bot=False, sender=user, fields=fields)
        imid = None
        if markup:
            imid = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
            rec.inline_message_id = imid
            self._inline_messages[imid] = (chat.id, rec.msg["message_id"])
        out: dict[str, Any] = {"message_id": rec.msg["message_id"], "chat_id": chat.id,
                               "seq": rec.seq, "inline_message_id": imid}
        if chat.type == "private" and chat.id == user["id"]:
            out["message_update_id"] = self._emit("message", rec.msg)
        chosen: dict[str, Any] = {"result_id": str(result_id), "from": user,
                                  "query": q["query"]}
        if imid:
            chosen["inline_message_id"] = imid
        out["update_id"] = self._emit("chosen_inline_result", chosen)
        return out

    # ---- transcript

    def _transcript_entry(self, rec: _Rec) -> dict[str, Any]:
        m = rec.msg
        entry: dict[str, Any] = {
            "message_id": m["message_id"], "seq": rec.seq, "from_bot": rec.from_bot,
            "from": {k: v for k, v in (m.get("from") or {}).items()
                     if k in ("id", "first_name", "username", "is_bot")},
            "text": m.get("text", m.get("caption", "")),
            "html": rec.html,
            "entities": m.get("entities", m.get("caption_entities", [])),
            "buttons": (m.get("reply_markup") or {}).get("inline_keyboard") or [],
            "edited": rec.edited, "deleted": rec.deleted, "date": m.get("date"),
        }
        if "caption" in m:
            entry["caption"] = m["caption"]
        if "document" in m:
            d = m["document"]
            entry["document"] = {"file_id": d["file_id"], "file_name": d.get("file_name"),
                                 "mime_type": d.get("mime_type"), "file_size": d.get("file_size"),
                                 "url": f"/_emu/files/{d['file_id']}"}
        if "photo" in m:
            ph = m["photo"][-1]
            entry["photo"] = {**ph, "url": f"/_emu/files/{ph['file_id']}"}
        if "via_bot" in m:
            entry["via_bot"] = m["via_bot"].get("username")
        if "reply_to_message" in m:
            entry["reply_to_message_id"] = m["reply_to_message"].get("message_id")
        if "forward_origin" in m:
            entry["forwarded"] = True
        if rec.inline_message_id:
            entry["inline_message_id"] = rec.inline_message_id
        return entry

    def transcript(self, chat_id: int, after_seq: int = 0) -> dict[str, Any]:
        """The chat as the page / SimUser sees it.

        ``messages`` holds every message whose last change (create/edit/delete) has
        ``seq > after_seq`` (so ``after_seq=0`` gives the whole chat), in chat order.
        ``answers`` likewise holds answerCallbackQuery results (toasts / alerts)."""
        chat = self.chats.get(int(chat_id))
        if chat is None:
            raise ControlError(404, f"chat {chat_id} not found")
        msgs = [self._transcript_entry(r) for r in chat.messages if r.seq > after_seq]
        answers = [a for a in chat.answers if a["seq"] > after_seq]
        action = chat.action
        if action and action["until"] < time.time():
            action = None
        return {"chat_id": chat.id, "chat": chat.json(), "seq": chat.last_seq, "instance": self.instance,
                "global_seq": self._seq, "messages": msgs, "answers": answers,
                "reply_keyboard": chat.reply_keyboard, "force_reply": chat.force_reply,
                "action": action}

    async def wait_chat(self, chat_id: int, after_seq: int, timeout: float) -> bool:
        """Wait until something in the chat changes after ``after_seq``. True if it did."""
        chat = self.chats.get(int(chat_id))
        if chat is None:
            raise ControlError(404, f"chat {chat_id} not found")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while chat.last_seq <= after_seq and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            ev = chat.event
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ev.wait(), remaining)
        return chat.last_seq > after_seq

    def file_bytes(self, file_id: str) -> tuple[bytes, str | None, str | None]:
        f = self.files.get(file_id)
        if f is None:
            raise KeyError(file_id)
        return f.data, f.file_name, f.mime_type

    # ================================================================ control API (HTTP)

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            return {k: v for k, v in form.items()}
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ControlError(400, f"bad JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ControlError(400, "JSON body must be an object")
        return body

    @staticmethod
    def _need(body: dict[str, Any], *names: str) -> None:
        missing = [n for n in names if body.get(n) in (None, "")]
        if missing:
            raise ControlError(400, f"missing field(s): {', '.join(missing)}")

    @staticmethod
    def _qfloat(request: web.Request, name: str, default: float, cap: float = 60.0) -> float:
        try:
            return max(0.0, min(cap, float(request.query.get(name, default))))
        except ValueError:
            raise ControlError(400, f"{name} must be a number") from None

    async def _c_bot(self, request: web.Request) -> web.Response:
        lang = request.query.get("language_code") or ""
        return _json_response({
            **self.bot_user,
            "description": self._descriptions.get(lang, self._descriptions.get("", "")),
            "short_description": self._short_descriptions.get(
                lang, self._short_descriptions.get("", "")),
            "commands": self.commands_for(),
            "webhook": bool(self._webhook),
            "instance": self.instance})

    async def _c_users_get(self, request: web.Request) -> web.Response:
        return _json_response(self.list_users())

    async def _c_users_post(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        self._need(b, "id")
        try:
            uid = int(b["id"])
            user = self.add_user(uid, b.get("first_name") or f"User{uid}",
                                 username=b.get("username"),
                                 language_code=b.get("language_code", "zh-hans"),
                                 last_name=b.get("last_name"), label=b.get("label"))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        return _json_response({**user, "label": self.user_label(uid)})

    async def _c_groups_post(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        self._need(b, "chat_id", "title")
        try:
            chat = self.add_group(int(b["chat_id"]), b["title"], [int(x) for x in
                                                                  b.get("member_ids") or []],
                                  type=b.get("type", "group"))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        return _json_response(chat)

    async def _c_send(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        self._need(b, "user_id", "text")
        return _json_response(self.user_send(b["user_id"], b["text"], b.get("chat_id"),
                                             reply_to_message_id=b.get("reply_to_message_id")))

    async def _c_press(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        self._need(b, "user_id")
        return _json_response(self.press(b["user_id"], b.get("label"),
                                         callback_data=b.get("callback_data"),
                                         message_id=b.get("message_id"),
                                         chat_id=b.get("chat_id"),
                                         stale=bool(b.get("stale", False))))

    async def _c_inline(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        self._need(b, "user_id")
        return _json_response(self.inline_query(b["user_id"], b.get("query") or "",
                                                b.get("offset") or "", b.get("chat_type")))

    async def _c_inline_get(self, request: web.Request) -> web.Response:
        qid = request.match_info["qid"]
        wait = self._qfloat(request, "wait", 0.0)
        try:
            ans = await self.wait_inline_answer(qid, wait)
        except KeyError:
            raise ControlError(404, f"inline query {qid} not found") from None
        return _json_response({"inline_query_id": qid, "answered": ans is not None,
                               **(ans or {"results": []})})

    async def _c_choose_inline(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        self._need(b, "user_id", "inline_query_id", "result_id")
        return _json_response(self.choose_inline(b["user_id"], b["inline_query_id"],
                                                 b["result_id"], b.get("chat_id")))

    async def _c_upload(self, request: web.Request) -> web.Response:
        if request.content_type == "multipart/form-data":
            form = await request.post()
            f = form.get("file")
            if not isinstance(f, web.FileField):
                raise ControlError(400, "multipart field 'file' missing")
            data = f.file.read()
            filename = str(form.get("filename") or f.filename or "file")
            mime = form.get("mime_type") or (f.content_type if f.content_type not in (
                None, "application/octet-stream") else None)
            fields = {k: v for k, v in form.items() if not isinstance(v, web.FileField)}
        else:
            fields = await self._body(request)
            self._need(fields, "filename", "data_base64")
            try:
                data = base64.b64decode(fields["data_base64"])
            except (ValueError, TypeError):
                raise ControlError(400, "data_base64 is not valid base64") from None
            filename = fields["filename"]
            mime = fields.get("mime_type")
        self._need(fields, "user_id")
        as_photo = str(fields.get("as_photo", "")).lower() in ("1", "true", "yes")
        return _json_response(self.upload(fields["user_id"], filename, data,
                                          mime_type=str(mime) if mime else None,
                                          caption=fields.get("caption") or None,
                                          chat_id=fields.get("chat_id") or None,
                                          as_photo=as_photo))

    async def _c_transcript(self, request: web.Request) -> web.Response:
        try:
            chat_id = int(request.match_info["chat_id"])
            after = int(request.query.get("after_seq", "0") or 0)
        except ValueError:
            raise ControlError(400, "chat_id / after_seq must be integers") from None
        wait = self._qfloat(request, "wait", 0.0)
        # a page that knew another emulator instance must hear about this one at once, not after a wait
        if wait > 0 and (request.query.get("instance") or self.instance) == self.instance:
            await self.wait_chat(chat_id, after, wait)
        return _json_response(self.transcript(chat_id, after))

    async def _c_file(self, request: web.Request) -> web.Response:
        fid = request.match_info["file_id"]
        f = self.files.get(fid)
        if f is None:
            raise ControlError(404, "file not found")
        return self._file_response(f, inline=request.query.get("inline") == "1")

    @staticmethod
    def _file_response(f: _File, inline: bool = False) -> web.Response:
        from urllib.parse import quote
        name = f.file_name or f.file_path.rsplit("/", 1)[-1]
        disp = "inline" if inline or f.kind == "photo" else "attachment"
        ascii_name = re.sub(r'[^A-Za-z0-9._-]', "_", name) or "file"
        return web.Response(body=f.data, content_type=f.mime_type or "application/octet-stream",
                            headers={"Content-Disposition":
                                     f"{disp}; filename=\"{ascii_name}\"; "
                                     f"filename*=UTF-8''{quote(name)}"})

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json_response({"ok": False, "error_code": 404, "description": "Not Found"},
                                  404)
        f = self._files_by_path.get(request.match_info["path"])
        if f is None:
            return _json_response({"ok": False, "error_code": 404, "description": "Not Found"},
                                  404)
        return self._file_response(f)

    async def _c_update(self, request: web.Request) -> web.Response:
        try:
            uid = int(request.match_info["update_id"])
        except ValueError:
            raise ControlError(400, "update_id must be an integer") from None
        if uid not in self._update_types:
            raise ControlError(404, f"update {uid} not found")
        wait = self._qfloat(request, "wait", 0.0)
        if wait > 0:
            await self.wait_delivered(uid, wait)
        return _json_response({"update_id": uid, "type": self._update_types[uid],
                               "delivered": uid in self._delivered})

    async def _c_calls(self, request: web.Request) -> web.Response:
        cid = request.query.get("chat_id")
        try:
            chat_id = int(cid) if cid else None
            since = float(request.query["since"]) if request.query.get("since") else None
        except ValueError:
            raise ControlError(400, "chat_id / since must be numbers") from None
        calls = self.calls(request.query.get("method") or None, chat_id, since)
        return _json_response({"calls": calls, "count": len(calls), "stats": self.stats})

    async def _c_reset_stats(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return _json_response({"ok": True})

    async def _c_block(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        self._need(b, "user_id")
        blocked = b.get("blocked", True)
        blocked = blocked if isinstance(blocked, bool) else str(blocked).lower() in ("1", "true")
        if b.get("deactivated") is not None:
            self.deactivate_user(int(b["user_id"]), bool(b["deactivated"]))
        else:
            self.block_user(int(b["user_id"]), blocked)
        return _json_response({"ok": True})

    async def _c_faults_get(self, request: web.Request) -> web.Response:
        return _json_response([dataclasses.asdict(f) for f in self._faults])

    async def _c_faults_post(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        self._need(b, "status")
        try:
            f = self.inject_fault(b.get("method"), status=int(b["status"]),
                                  description=b.get("description") or "",
                                  count=int(b.get("count", 1)),
                                  retry_after=int(b["retry_after"]) if b.get("retry_after")
                                  is not None else None,
                                  chat_id=int(b["chat_id"]) if b.get("chat_id") is not None
                                  else None,
                                  delay=float(b.get("delay", 0)))
        except (TypeError, ValueError) as exc:
            raise ControlError(400, f"bad fault spec: {exc}") from None
        return _json_response(dataclasses.asdict(f))

    async def _c_faults_delete(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return _json_response({"ok": True})

    async def _c_rate_limits(self, request: web.Request) -> web.Response:
        b = await self._body(request)
        if not b or b.get("enabled") is False:
            self.set_rate_limits(None)
        else:
            names = {f.name for f in dataclasses.fields(RateLimits)}
            try:
                self.set_rate_limits(RateLimits(**{k: type(getattr(RateLimits, k))(v)
                                                   for k, v in b.items() if k in names}))
            except (TypeError, ValueError) as exc:
                raise ControlError(400, f"bad rate limits: {exc}") from None
        rl = self._rate_limits
        return _json_response({"enabled": rl is not None,
                               **(dataclasses.asdict(rl) if rl else {})})

    async def _c_commands(self, request: web.Request) -> web.Response:
        try:
            uid = int(request.query["user_id"]) if request.query.get("user_id") else None
            cid = int(request.query["chat_id"]) if request.query.get("chat_id") else None
        except ValueError:
            raise ControlError(400, "user_id / chat_id must be integers") from None
        return _json_response(self.commands_for(uid, cid, request.query.get("language_code")))

    async def _c_state(self, request: web.Request) -> web.Response:
        return _json_response({"instance": self.instance, "pending_updates": len(self._updates),
                               "webhook": dict(self._webhook) if self._webhook else None,
                               "seq": self._seq, "users": len(self.users),
                               "chats": len(self.chats), "files": len(self.files),
                               "rate_limits": dataclasses.asdict(self._rate_limits)
                               if self._rate_limits else None, **self.stats})

    async def _handle_index(self, request: web.Request) -> web.StreamResponse:
        if not self.serve_playground:
            return web.Response(text="Telegram Bot API emulator. Playground disabled.\n")
        return web.FileResponse(STATIC_DIR / "playground.html",
                                headers={"Cache-Control": "no-cache"})

    async def _handle_static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not self.serve_playground or not re.match(r"^[A-Za-z0-9_.-]+$", name) or \
                name.startswith("."):
            raise web.HTTPNotFound()
        path = STATIC_DIR / name
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


# ---------------------------------------------------------------------------
# standalone playground
# ---------------------------------------------------------------------------

DEFAULT_PLAYGROUND_USERS: list[dict[str, Any]] = [
    {"id": 10001, "first_name": "张老师", "username": "zhang_inventor",
     "label": "发明人 Inventor (张老师)"},
    {"id": 10002, "first_name": "王经理", "username": "wang_enterprise",
     "label": "企业 Enterprise (王经理)"},
    {"id": 10003, "first_name": "李主任", "username": "li_tto",
     "label": "技术转移办 TTO (李主任)"},
    {"id": 10004, "first_name": "管理员", "username": "admin_user",
     "label": "管理员 Admin"},
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Telegram Bot API emulator + playground page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--token", default=os.environ.get("EMU_TOKEN", "123456:TEST-TOKEN"))
    parser.add_argument("--bot-username", default="patent_pilot_bot")
    parser.add_argument("--no-playground", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def run() -> None:
        emu = BotAPIEmulator(token=args.token, bot_username=args.bot_username,
                             serve_playground=not args.no_playground,
                             playground_users=DEFAULT_PLAYGROUND_USERS)
        await emu.start(args.host, args.port)
        print(f"Bot API emulator on {emu.url}")
        print(f"  token         = {emu.token}")
        print(f"  base_url      = {emu.base_url}")
        print(f"  base_file_url = {emu.base_file_url}")
        if emu.serve_playground:
            print(f"  playground    = {emu.url}/")
        try:
            await asyncio.Event().wait()
        finally:
            await emu.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
