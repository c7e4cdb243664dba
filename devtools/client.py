"""``SimUser``: a simulated phone user that talks to :class:`BotAPIEmulator` over HTTP.

Typical end-to-end test::

    async with SimUser(emu.url, 1001, "张老师", settle=harness.settle) as u:
        await u.register()
        replies = await u.send("/start")
        assert "欢迎" in replies[-1].text
        replies = await u.press("发布专利")
        print(replies.toast)

Waiting for the bot
-------------------
After an action (send / press / upload / choose_inline) SimUser must know when the bot
is done reacting. Two strategies:

* ``settle`` (exact): an ``async def settle(update_id: int) -> None`` supplied by the test
  harness that returns once the bot has finished processing that update.
* fallback (heuristic, used when ``settle`` is None): wait until the bot fetched the
  update (``GET /_emu/updates/<id>?wait=``), then wait up to ``reply_timeout`` seconds for
  the first change in the chat, then until the chat has been quiet for ``quiet`` seconds
  (0.3 s by default). A bot that pauses longer than ``quiet`` between two messages, or that
  does not react at all, makes this heuristic return early / wait ``reply_timeout``;
  use ``settle`` or :meth:`SimUser.wait_for` in such tests.

The transcript is cached locally: :meth:`transcript`, :meth:`bot_messages`,
:meth:`last_bot_message` and :meth:`buttons` read the cache (synchronously). The cache is
refreshed by every action and by :meth:`refresh` / :meth:`wait_for`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp

__all__ = ["Msg", "Reply", "SimUser", "SimUserError", "SimUserTimeout"]

Settle = Callable[[int], Awaitable[None]]


class SimUserError(RuntimeError):
    """The control API refused an action (e.g. no such button). ``.body`` has the JSON."""

    def __init__(self, message: str, status: int = 0, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


class SimUserTimeout(AssertionError):
    """Waiting for the bot timed out. The message shows the end of the transcript."""


@dataclass
class Msg:
    """One message of the chat as the user sees it."""

    message_id: int
    text: str
    html: str = ""
    buttons: list[list[str]] = field(default_factory=list)
    raw_buttons: list[list[dict[str, Any]]] = field(default_factory=list)
    document: dict[str, Any] | None = None
    photo: dict[str, Any] | None = None
    from_bot: bool = False
    edited: bool = False
    deleted: bool = False
    seq: int = 0
    date: int | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    via_bot: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_entry(cls, e: dict[str, Any]) -> Msg:
        raw_buttons = e.get("buttons") or []
        return cls(message_id=e["message_id"], text=e.get("text") or "", html=e.get("html") or "",
                   buttons=[[b.get("text", "") for b in row] for row in raw_buttons],
                   raw_buttons=raw_buttons, document=e.get("document"), photo=e.get("photo"),
                   from_bot=bool(e.get("from_bot")), edited=bool(e.get("edited")),
                   deleted=bool(e.get("deleted")), seq=e.get("seq", 0), date=e.get("date"),
                   entities=e.get("entities") or [], caption=e.get("caption"),
                   via_bot=e.get("via_bot"), raw=e)

    @property
    def labels(self) -> list[str]:
        """All button labels, flattened."""
        return [label for row in self.buttons for label in row]

    def button(self, label: str) -> dict[str, Any] | None:
        for row in self.raw_buttons:
            for b in row:
                if b.get("text") == label:
                    return b
        return None

    def describe(self, width: int = 160) -> str:
        who = "bot" if self.from_bot else "user"
        text = self.text.replace("\n", "⏎ ")
        if len(text) > width:
            text = text[:width] + "…"
        parts = [f"#{self.message_id} {who}: {text!r}"]
        if self.document:
            parts.append(f"[document {self.document.get('file_name')!r}]")
        if self.photo:
            parts.append("[photo]")
        if self.buttons:
            parts.append("buttons=" + " / ".join(" | ".join(r) for r in self.buttons))
        if self.edited:
            parts.append("(edited)")
        if self.deleted:
            parts.append("(deleted)")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.describe()


class Reply(list):
    """``list[Msg]`` of bot messages created or edited by an action, plus extras:

    * ``toast`` / ``alert`` / ``answer``: the answerCallbackQuery result for a press
    * ``update_id``: the update the action produced
    * ``url``: for a press on a plain URL button (no update is produced then)
    * ``info``: the raw control-API response
    """

    toast: str | None
    alert: bool
    answer: dict[str, Any] | None
    update_id: int | None
    url: str | None
    info: dict[str, Any]

    def __init__(self, items: Iterable[Msg] = (), **kw: Any):
        super().__init__(items)
        self.toast = kw.get("toast")
        self.alert = bool(kw.get("alert"))
        self.answer = kw.get("answer")
        self.update_id = kw.get("update_id")
        self.url = kw.get("url")
        self.info = kw.get("info") or {}

    @property
    def text(self) -> str:
        """Texts of all messages joined by newlines (handy for ``in`` assertions)."""
        return "\n".join(m.text for m in self)

    @property
    def last(self) -> Msg | None:
        return self[-1] if self else None


class SimUser:
    """A simulated Telegram user (one private chat with the bot, or ``chat_id`` for a group)."""

    def __init__(self, emulator_url: str, user_id: int, first_name: str = "测试用户", *,
                 language_code: str = "zh-hans", username: str | None = None,
                 last_name: str | None = None, session: aiohttp.ClientSession | None = None,
                 settle: Settle | None = None, chat_id: int | None = None,
                 reply_timeout: float = 5.0, quiet: float = 0.3, label: str | None = None):
        self.url = emulator_url.rstrip("/")
        self.user_id = int(user_id)
        self.first_name = first_name
        self.language_code = language_code
        self.username = username
        self.last_name = last_name
        self.label = label
        self.chat_id = int(chat_id) if chat_id is not None else self.user_id
        self.settle = settle
        self.reply_timeout = reply_timeout
        self.quiet = quiet
        self._session = session
        self._own_session = session is None
        self._messages: dict[int, Msg] = {}
        self._seq = 0
        self._answers: dict[str, dict[str, Any]] = {}
        self.last_toast: str | None = None
        self.last_answer: dict[str, Any] | None = None
        self.last_inline_query_id: str | None = None
        self.reply_keyboard: list[list[str]] | None = None

    # ------------------------------------------------------------------ plumbing

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _req(self, method: str, path: str, *, json: Any = None, data: Any = None,
                   params: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        async with self._http().request(method, self.url + path, json=json, data=data,
                                        params=params,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            body: Any
            if r.content_type == "application/json":
                body = await r.json()
            else:
                body = await r.read()
            if r.status >= 400:
                err = body.get("error") if isinstance(body, dict) else body
                raise SimUserError(f"{method} {path} -> {r.status}: {err}", r.status, body)
            return body

    # ------------------------------------------------------------------ actions

    async def register(self) -> dict[str, Any]:
        """Create the user (and their private chat) in the emulator."""
        body: dict[str, Any] = {"id": self.user_id, "first_name": self.first_name,
                                "language_code": self.language_code}
        if self.username:
            body["username"] = self.username
        if self.last_name:
            body["last_name"] = self.last_name
        if self.label:
            body["label"] = self.label
        return await self._req("POST", "/_emu/users", json=body)

    async def send(self, text: str) -> Reply:
        """Type ``text`` and wait for the bot. Returns the bot messages created/edited."""
        body: dict[str, Any] = {"user_id": self.user_id, "text": text}
        if self.chat_id != self.user_id:
            body["chat_id"] = self.chat_id
        info = await self._req("POST", "/_emu/send", json=body)
        return await self._after_action(info)

    async def press(self, label: str | None = None, *, message_id: int | None = None,
                    callback_data: str | None = None, stale: bool = False) -> Reply:
        """Tap an inline button by (exact, else unique substring) label or callback_data.

        Without ``message_id`` the newest message having such a button is used.
        ``Reply.toast`` / ``self.last_toast`` hold the answerCallbackQuery text."""
        body: dict[str, Any] = {"user_id": self.user_id, "chat_id": self.chat_id}
        if label is not None:
            body["label"] = label
        if callback_data is not None:
            body["callback_data"] = callback_data
        if message_id is not None:
            body["message_id"] = message_id
        if stale:  # an outdated phone pressing a button the message no longer has
            body["stale"] = True
        try:
            info = await self._req("POST", "/_emu/press", json=body)
        except SimUserError as exc:
            if exc.status in (404, 409):
                await self.refresh()
                raise SimUserError(f"{exc}\n{self._tail()}", exc.status, exc.body) from None
            raise
        kind = info.get("kind")
        if kind in ("callback", "deeplink"):
            return await self._after_action(info)
        return Reply(url=info.get("url"), info=info)

    async def upload(self, filename: str, data: bytes, *, caption: str | None = None,
                     mime_type: str | None = None, as_photo: bool = False) -> Reply:
        """Send a file to the bot (a ``document`` message; ``as_photo`` for a photo)."""
        form = aiohttp.FormData()
        form.add_field("user_id", str(self.user_id))
        form.add_field("chat_id", str(self.chat_id))
        if caption:
            form.add_field("caption", caption)
        if mime_type:
            form.add_field("mime_type", mime_type)
        if as_photo:
            form.add_field("as_photo", "1")
        form.add_field("file", data, filename=filename,
                       content_type=mime_type or "application/octet-stream")
        info = await self._req("POST", "/_emu/upload", data=form)
        return await self._after_action(info)

    async def inline(self, query: str, *, offset: str = "", chat_type: str | None = None,
                     wait: float = 5.0) -> list[dict[str, Any]]:
        """Type ``@bot query``; returns the bot's result dicts (``[]`` if it did not answer).

        The query id is kept in ``self.last_inline_query_id`` (for :meth:`choose_inline`)."""
        body: dict[str, Any] = {"user_id": self.user_id, "query": query, "offset": offset}
        if chat_type:
            body["chat_type"] = chat_type
        info = await self._req("POST", "/_emu/inline", json=body)
        qid = info["inline_query_id"]
        self.last_inline_query_id = qid
        ans = await self._req("GET", f"/_emu/inline/{qid}", params={"wait": str(wait)},
                              timeout=wait + 10)
        self.last_inline_answer = ans
        return list(ans.get("results") or [])

    async def choose_inline(self, query_id: str | None, result_id: str,
                            chat_id: int | None = None) -> Reply:
        """Pick an inline result; it is posted via the bot into ``chat_id`` (default: own chat)."""
        qid = query_id or self.last_inline_query_id
        body = {"user_id": self.user_id, "inline_query_id": qid, "result_id": result_id,
                "chat_id": chat_id if chat_id is not None else self.chat_id}
        info = await self._req("POST", "/_emu/choose_inline", json=body)
        return await self._after_action(info)

    async def download(self, file_id: str) -> bytes:
        return await self._req("GET", f"/_emu/files/{file_id}")

    # ------------------------------------------------------------------ waiting

    async def _after_action(self, info: dict[str, Any]) -> Reply:
        update_id = info.get("update_id")
        seq_before = int(info.get("seq") or 0)
        if self.settle is not None and update_id is not None:
            await self.settle(update_id)
            if info.get("message_update_id"):
                await self.settle(info["message_update_id"])
        elif update_id is not None:
            await self._heuristic_settle(update_id, seq_before)
        fetched = await self._fetch(min(self._seq, seq_before), wait=0)
        changed = [m for m in fetched if m.seq > seq_before]
        reply = Reply([m for m in changed if m.from_bot or m.via_bot], update_id=update_id,
                      info=info)
        qid = info.get("callback_query_id")
        if qid:
            ans = self._answers.get(qid)
            reply.answer = ans
            reply.toast = ans.get("text") if ans else None
            reply.alert = bool(ans and ans.get("show_alert"))
            self.last_answer = ans
            self.last_toast = reply.toast
        return reply

    async def _heuristic_settle(self, update_id: int, seq_before: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reply_timeout
        st = await self._req("GET", f"/_emu/updates/{update_id}",
                             params={"wait": str(self.reply_timeout)},
                             timeout=self.reply_timeout + 10)
        if not st.get("delivered"):
            await self.refresh()
            raise SimUserTimeout(
                f"the bot did not fetch update {update_id} within {self.reply_timeout}s "
                f"(is it polling / is the webhook reachable?)\n{self._tail()}")
        remaining = max(0.05, deadline - loop.time())
        t = await self._req("GET", f"/_emu/chats/{self.chat_id}/messages",
                            params={"after_seq": str(seq_before), "wait": str(remaining)},
                            timeout=remaining + 10)
        last = t["seq"]
        if last <= seq_before:
            return  # bot did not react within reply_timeout
        hard_stop = loop.time() + 60
        while loop.time() < hard_stop:
            t = await self._req("GET", f"/_emu/chats/{self.chat_id}/messages",
                                params={"after_seq": str(last), "wait": str(self.quiet)},
                                timeout=self.quiet + 10)
            if t["seq"] <= last:
                return
            last = t["seq"]

    async def _fetch(self, after_seq: int, wait: float = 0) -> list[Msg]:
        t = await self._req("GET", f"/_emu/chats/{self.chat_id}/messages",
                            params={"after_seq": str(after_seq), "wait": str(wait)},
                            timeout=wait + 10)
        changed = [Msg.from_entry(e) for e in t["messages"]]
        for m in changed:
            self._messages[m.message_id] = m
        for a in t.get("answers") or []:
            self._answers[a["callback_query_id"]] = a
        rk = t.get("reply_keyboard")
        self.reply_keyboard = rk.get("keyboard") if rk else None
        self._seq = max(self._seq, t["seq"])
        return changed

    async def refresh(self, wait: float = 0) -> list[Msg]:
        """Sync the local transcript cache; with ``wait`` long-poll for the next change."""
        return await self._fetch(self._seq, wait)

    async def wait_for(self, predicate: Callable[[Msg], bool] | str, timeout: float = 5,
                       *, new_only: bool = False) -> Msg:
        """Wait until a (non-deleted) bot message satisfies ``predicate``; return it.

        ``predicate`` may be a string: then it matches messages whose text contains it.
        With ``new_only`` only messages created/changed after the call are considered.
        Raises :class:`SimUserTimeout` showing the last messages of the chat."""
        pred: Callable[[Msg], bool]
        if isinstance(predicate, str):
            needle = predicate
            pred = lambda m: needle in m.text
            desc = f"text containing {needle!r}"
        else:
            pred = predicate
            desc = getattr(predicate, "__name__", "predicate")
        await self.refresh()
        floor = self._seq if new_only else 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for m in reversed(self.bot_messages()):
                if m.seq > floor and pred(m):
                    return m
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SimUserTimeout(f"no bot message matched {desc} within {timeout}s\n"
                                     f"{self._tail()}")
            await self.refresh(wait=min(remaining, 10))

    # ------------------------------------------------------------------ cached views

    def transcript(self) -> list[Msg]:
        """All cached messages of the chat in order (deleted ones flagged ``deleted``)."""
        return [self._messages[k] for k in sorted(self._messages)]

    def bot_messages(self) -> list[Msg]:
        """Non-deleted messages from the bot (and messages sent via the bot), in order."""
        return [m for m in self.transcript() if (m.from_bot or m.via_bot) and not m.deleted]

    def last_bot_message(self) -> Msg | None:
        msgs = self.bot_messages()
        return msgs[-1] if msgs else None

    def buttons(self, message: Msg | None = None) -> list[str]:
        """Button labels of ``message``, default: of the newest bot message with buttons."""
        if message is None:
            message = next((m for m in reversed(self.bot_messages()) if m.buttons), None)
            if message is None:
                return []
        current = self._messages.get(message.message_id, message)
        return current.labels

    def _tail(self, n: int = 6) -> str:
        msgs = self.transcript()[-n:]
        if not msgs:
            return "transcript: (empty)"
        lines = [f"last {len(msgs)} message(s) of chat {self.chat_id}:"]
        lines += ["  " + m.describe() for m in msgs]
        if self.last_toast:
            lines.append(f"  last toast: {self.last_toast!r}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SimUser({self.user_id}, {self.first_name!r}, chat_id={self.chat_id})"


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Small polling helper for tests."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(interval)
    return cond()
