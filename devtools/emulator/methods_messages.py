"""Bot API methods on text messages: send, copy, forward, edit, delete, chat actions."""

from __future__ import annotations

import time
from typing import Any

from .answers import NOT_MODIFIED, TgError, bad_request
from .state import Chat, StoredMessage
from .validation import Params, prepare_text, validate_markup

_CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note"})

#: what a forwarded message takes from the original (a copy also keeps its link preview)
_FORWARDED_FIELDS = ("text", "entities", "caption", "caption_entities", "document", "photo")
_COPIED_FIELDS = (*_FORWARDED_FIELDS, "link_preview_options")


class MessageMethods:
    async def _m_sendMessage(self, p: Params) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        self._check_send("sendmessage", chat)
        text, entities = prepare_text(p.str("text"), p.str("parse_mode"),
                                      p.json("entities", error="can't parse entities "
                                                                "JSON object"))
        markup = validate_markup(p.json("reply_markup"), chat)
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

    def _reply_fields(self, p: Params, chat: Chat) -> dict[str, Any]:
        """The reply_to_message / external_reply of a message sent with reply parameters."""
        fields: dict[str, Any] = {}
        rp = p.json("reply_parameters")
        reply_id = p.int("reply_to_message_id")
        allow = p.bool("allow_sending_without_reply")
        if isinstance(rp, dict):
            try:
                reply_id = int(rp.get("message_id")) if rp.get("message_id") is not None else None
            except (TypeError, ValueError):
                raise bad_request("can't parse reply parameters JSON object") from None
            allow = bool(rp.get("allow_sending_without_reply", allow))
            if rp.get("chat_id") not in (None, chat.id):
                other = self.chats.get(int(rp["chat_id"])) if str(rp["chat_id"]).lstrip(
                    "-").isdigit() else None
                if other is None:
                    raise bad_request("chat not found")
                target = other.by_id.get(reply_id) if reply_id else None
                if target is None or target.deleted:
                    if not allow:
                        raise bad_request("message to be replied not found")
                else:
                    fields["external_reply"] = {"origin": self._origin(target),
                                                "chat": other.json(),
                                                "message_id": reply_id}
                return fields
        if reply_id:
            target = chat.by_id.get(reply_id)
            if target is None or target.deleted:
                if not allow:
                    raise bad_request("message to be replied not found")
            else:
                fields["reply_to_message"] = {k: v for k, v in target.msg.items()
                                              if k != "reply_to_message"}
        return fields

    def _origin(self, rec: StoredMessage) -> dict[str, Any]:
        return {"type": "user", "sender_user": rec.msg.get("from") or self.bot_user,
                "date": rec.msg.get("date", int(time.time()))}

    async def _m_sendChatAction(self, p: Params) -> bool:
        chat = self._get_chat_param(p)
        self._check_send("sendchataction", chat)
        action = p.str("action")
        if not action or action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat.action = {"action": action, "until": time.time() + 5}
        self._touch(chat)
        return True

    # ---- copying and forwarding

    def _message_to_resend(self, p: Params, method: str, what: str) -> tuple[Chat, StoredMessage]:
        """(target chat, source message) of copyMessage / forwardMessage."""
        chat = self._get_chat_param(p)
        src_chat = self._get_chat_param(p, "from_chat_id")
        src = src_chat.by_id.get(p.int("message_id") or 0)
        if src is None or src.deleted:
            raise bad_request(f"message to {what} not found")
        self._check_send(method, chat)
        return chat, src

    async def _m_copyMessage(self, p: Params) -> dict[str, Any]:
        chat, src = self._message_to_resend(p, "copymessage", "copy")
        fields = {k: v for k, v in src.msg.items() if k in _COPIED_FIELDS}
        if p.has("caption") and ("caption" in src.msg or "document" in src.msg
                                 or "photo" in src.msg):
            cap, ents = prepare_text(p.str("caption"), p.str("parse_mode"),
                                     p.json("caption_entities"), caption=True)
            fields.pop("caption_entities", None)
            fields["caption"] = cap
            if ents:
                fields["caption_entities"] = ents
        markup = validate_markup(p.json("reply_markup"), chat)
        fields.update(self._reply_fields(p, chat))
        if markup:
            fields["reply_markup"] = markup
        rec = self._new_message(chat, from_bot=True, fields=fields)
        return {"message_id": rec.msg["message_id"]}

    async def _m_forwardMessage(self, p: Params) -> dict[str, Any]:
        chat, src = self._message_to_resend(p, "forwardmessage", "forward")
        fields = {k: v for k, v in src.msg.items() if k in _FORWARDED_FIELDS}
        fields["forward_origin"] = self._origin(src)
        return self._new_message(chat, from_bot=True, fields=fields).msg

    # ---- editing

    def _target_message(self, p: Params) -> tuple[Chat, StoredMessage, bool]:
        """Resolve chat_id+message_id or inline_message_id. Returns (chat, rec, is_inline)."""
        imid = p.str("inline_message_id")
        if imid:
            loc = self._inline_messages.get(imid)
            if loc is None:
                raise bad_request("MESSAGE_ID_INVALID")
            chat = self.chats[loc[0]]
            rec = chat.by_id.get(loc[1])
            if rec is None or rec.deleted:
                raise bad_request("MESSAGE_ID_INVALID")
            return chat, rec, True
        chat = self._get_chat_param(p)
        mid = p.int("message_id")
        if not mid:
            raise bad_request("message identifier is not specified")
        rec = chat.by_id.get(mid)
        if rec is None or rec.deleted:
            raise bad_request("message to edit not found")
        if not rec.from_bot:
            raise bad_request("message can't be edited")
        return chat, rec, False

    def _apply_edit(self, chat: Chat, rec: StoredMessage, changes: dict[str, Any],
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
            raise TgError(400, NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        rec.msg = new
        rec.edited = True
        rec.render()
        self._touch(chat, rec)
        return True if inline else new

    async def _m_editMessageText(self, p: Params) -> Any:
        chat, rec, inline = self._target_message(p)
        if "text" not in rec.msg:
            raise bad_request("there is no text in the message to edit")
        text, entities = prepare_text(p.str("text"), p.str("parse_mode"),
                                      p.json("entities", error="can't parse entities "
                                                                "JSON object"))
        markup = validate_markup(p.json("reply_markup"), None, inline_only=True)
        changes: dict[str, Any] = {"text": text, "entities": entities or None}
        lpo = p.json("link_preview_options")
        if isinstance(lpo, dict) and lpo:
            changes["link_preview_options"] = lpo
        return self._apply_edit(chat, rec, changes, markup, inline)

    async def _m_editMessageCaption(self, p: Params) -> Any:
        chat, rec, inline = self._target_message(p)
        if not any(k in rec.msg for k in ("document", "photo", "caption")):
            raise bad_request("there is no caption in the message to edit")
        caption, ents = prepare_text(p.str("caption"), p.str("parse_mode"),
                                     p.json("caption_entities"), caption=True)
        markup = validate_markup(p.json("reply_markup"), None, inline_only=True)
        return self._apply_edit(chat, rec, {"caption": caption or None,
                                            "caption_entities": ents or None}, markup, inline)

    async def _m_editMessageReplyMarkup(self, p: Params) -> Any:
        chat, rec, inline = self._target_message(p)
        markup = validate_markup(p.json("reply_markup"), None, inline_only=True)
        return self._apply_edit(chat, rec, {}, markup, inline)

    # ---- deleting

    async def _m_deleteMessage(self, p: Params) -> bool:
        chat = self._get_chat_param(p)
        rec = chat.by_id.get(p.int("message_id") or 0)
        if rec is None or rec.deleted:
            raise bad_request("message to delete not found")
        if chat.type != "private" and not rec.from_bot and not chat.bot_member:
            raise bad_request("message can't be deleted")
        rec.deleted = True
        self._touch(chat, rec)
        return True

    async def _m_deleteMessages(self, p: Params) -> bool:
        chat = self._get_chat_param(p)
        ids = p.json("message_ids", [])
        if not isinstance(ids, list) or not ids:
            raise bad_request("message_ids is empty")
        if not all(isinstance(x, int) or (isinstance(x, str) and x.lstrip("-").isdigit())
                   for x in ids):
            raise bad_request("can't parse message_ids JSON array")
        for mid in ids:
            rec = chat.by_id.get(int(mid))
            if rec is not None and not rec.deleted:
                rec.deleted = True
                self._touch(chat, rec)
        return True
