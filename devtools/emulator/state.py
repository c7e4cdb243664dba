"""The emulator's world in memory: users, chats and their messages, the queue of updates for
the bot, and the change counters that long polls (the page, SimUser, tests) wait on."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import time
from collections.abc import Iterable
from typing import Any

from .. import tg_html
from .answers import ControlError, TgError, bad_request
from .validation import Params

DEFAULT_ALLOWED_UPDATES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "inline_query",
    "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
    "poll", "poll_answer", "my_chat_member", "chat_join_request", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages",
    "message_reaction", "message_reaction_count", "chat_member", "chat_boost",
    "removed_chat_boost", "purchased_paid_media",
})
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class StoredMessage:
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

    def render(self) -> None:
        """Keep ``html`` (what the page shows) in step with the text or caption."""
        m = self.msg
        if "text" in m:
            self.html = tg_html.entities_to_html(m["text"], m.get("entities"))
        elif "caption" in m:
            self.html = tg_html.entities_to_html(m["caption"], m.get("caption_entities"))
        else:
            self.html = ""


class Chat:
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
        self.messages: list[StoredMessage] = []
        self.by_id: dict[int, StoredMessage] = {}
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


class EmulatorState:
    def _init_state(self) -> None:
        self.users: dict[int, dict[str, Any]] = {}
        self._labels: dict[int, str] = {}
        self._blocked: dict[int, str] = {}  # user id -> error description
        self.chats: dict[int, Chat] = {}

        self._seq = 0
        self._update_counter = itertools.count(1)
        self._updates: collections.deque[dict[str, Any]] = collections.deque()
        self._update_types: dict[int, str] = {}
        self._delivered: set[int] = set()
        self._update_event = asyncio.Event()
        self._delivery_event = asyncio.Event()
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES - _OPT_IN_UPDATES
        self._poll_generation = 0

        # callback and inline queries in flight, and the messages posted through inline mode
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._inline_queries: dict[str, dict[str, Any]] = {}
        self._inline_messages: dict[str, tuple[int, int]] = {}
        self._id_counter = itertools.count(1)

    # ------------------------------------------------------------------ change tracking

    def _touch(self, chat: Chat, rec: StoredMessage | None = None) -> int:
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
            chat = Chat(user_id, "private", first_name=first_name, last_name=last_name,
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
        chat = self.chats.get(chat_id) or Chat(chat_id, type, title=title, username=username)
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

    def _get_chat_param(self, p: Params, name: str = "chat_id") -> Chat:
        """The chat a Bot API parameter names, by id or by @username."""
        v = p.raw(name)
        if v is None or v == "":
            raise bad_request(f"{name} is empty")
        if isinstance(v, str) and v.strip().startswith("@"):
            uname = v.strip()[1:].lower()
            for c in self.chats.values():
                if c.username and c.username.lower() == uname and c.type != "private":
                    return c
            raise bad_request("chat not found")
        try:
            cid = p.int(name)
        except TgError:
            raise bad_request("chat not found") from None
        chat = self.chats.get(cid)  # type: ignore[arg-type]
        if chat is None:
            raise bad_request("chat not found")
        return chat

    # ------------------------------------------------------------------ messages

    def _new_message(self, chat: Chat, *, from_bot: bool, sender: dict[str, Any] | None = None,
                     fields: dict[str, Any]) -> StoredMessage:
        mid = chat.next_id
        chat.next_id += 1
        msg: dict[str, Any] = {"message_id": mid,
                               "from": self.bot_user if from_bot else sender,
                               "chat": chat.json(), "date": int(time.time())}
        msg.update(fields)
        rec = StoredMessage(msg, from_bot)
        if from_bot:
            chat.action = None  # a message from the bot ends its "typing…" status
        rec.render()
        chat.messages.append(rec)
        chat.by_id[mid] = rec
        self._touch(chat, rec)
        return rec

    # ------------------------------------------------------------------ updates for the bot

    def _emit(self, kind: str, payload: dict[str, Any]) -> int:
        uid = next(self._update_counter)
        self._update_types[uid] = kind
        if kind not in self._allowed_updates:
            return uid  # Telegram never creates updates of types the bot did not ask for
        self._updates.append({"update_id": uid, kind: payload})
        self._notify_updates()
        return uid

    def _set_allowed(self, allowed: list[Any]) -> None:
        if allowed:
            self._allowed_updates = frozenset(str(a) for a in allowed)
        else:
            self._allowed_updates = DEFAULT_ALLOWED_UPDATES - _OPT_IN_UPDATES

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
