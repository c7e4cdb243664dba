"""What simulated users do (type, upload, tap buttons, use inline mode, block the bot) and what
they see (a chat's transcript, waiting for it to change)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import mimetypes
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any

from .. import tg_html
from .answers import ControlError, TgError
from .files import document_json, image_size, photo_json
from .state import Chat, StoredMessage
from .validation import prepare_text, validate_markup


def _button_labels(rec: StoredMessage) -> list[str]:
    kb = (rec.msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b.get("text", "") for row in kb for b in row]


class UserSimulation:
    # ------------------------------------------------------------------ blocking

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

    # ------------------------------------------------------------------ typing and uploading

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

    def _user_chat(self, user: dict[str, Any], chat_id: Any) -> Chat:
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
        if as_photo and image_size(data) is None:
            raise ControlError(400, "not an image")
        f = self.store_file(data, filename, mime_type, kind)
        fields: dict[str, Any] = ({"photo": photo_json(f)} if as_photo
                                  else {"document": document_json(f)})
        if caption:
            fields["caption"] = caption
            ents = tg_html.detect_entities(caption)
            if ents:
                fields["caption_entities"] = ents
        rec = self._new_message(chat, from_bot=False, sender=user, fields=fields)
        uid = self._emit("message", rec.msg)
        return {"update_id": uid, "message_id": rec.msg["message_id"], "chat_id": chat.id,
                "seq": rec.seq, "file_id": f.file_id}

    # ------------------------------------------------------------------ buttons

    def _find_button(self, chat: Chat, label: str | None, callback_data: str | None,
                     message_id: int | None) -> tuple[StoredMessage, dict[str, Any]]:
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

        def buttons(rec: StoredMessage) -> Iterable[dict[str, Any]]:
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
            visible.extend(_button_labels(rec))
        what = f"callback_data={callback_data!r}" if callback_data is not None else repr(label)
        raise ControlError(404, f"no button {what} in chat {chat.id}; visible buttons: "
                                f"{visible}", buttons=visible)

    def _new_query_id(self) -> str:
        """A callback or inline query id: random and large, like Telegram's."""
        return str(int.from_bytes(secrets.token_bytes(7), "big") * 1000
                   + next(self._id_counter) % 1000)

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
            qid = self._new_query_id()
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

    # ------------------------------------------------------------------ inline mode

    def inline_query(self, user_id: int, query: str, offset: str = "",
                     chat_type: str | None = None) -> dict[str, Any]:
        """The user types ``@bot query``. Returns {update_id, inline_query_id}."""
        user = self._ensure_user(user_id)
        qid = self._new_query_id()
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
            chat = Chat(cid, "private" if cid > 0 else "group", first_name=f"chat {cid}",
                        title=f"chat {cid}", bot_member=False)
            chat.members = {user["id"]}
            self.chats[cid] = chat
        fields: dict[str, Any] = {"via_bot": self.bot_user}
        imc = result.get("input_message_content") or {}
        rtype = result.get("type")
        if "message_text" in imc:
            try:
                text, ents = prepare_text(imc["message_text"], imc.get("parse_mode"),
                                          imc.get("entities"))
            except TgError as exc:
                raise ControlError(400, exc.description) from None
            fields["text"] = text
            if ents:
                fields["entities"] = ents
        elif rtype == "photo" and (result.get("photo_file_id") in self.files):
            fields["photo"] = photo_json(self.files[result["photo_file_id"]])
        elif rtype == "document" and (result.get("document_file_id") in self.files):
            fields["document"] = document_json(self.files[result["document_file_id"]])
        else:
            fields["text"] = str(result.get("title") or result.get("id"))
        if result.get("caption") and ("photo" in fields or "document" in fields):
            fields["caption"] = result["caption"]
        markup = None
        if result.get("reply_markup"):
            markup = validate_markup(result["reply_markup"], None, inline_only=True)
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

    # ------------------------------------------------------------------ what the user sees

    def _transcript_entry(self, rec: StoredMessage) -> dict[str, Any]:
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
