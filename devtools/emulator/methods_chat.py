"""Bot API methods about chats: getChat, its members, pins and reactions."""

from __future__ import annotations

from typing import Any

from .answers import bad_request
from .validation import Params


class ChatMethods:
    async def _m_getChat(self, p: Params) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        info = chat.json()
        info.update(accent_color_id=0, max_reaction_count=11,
                    accepted_gift_types={"unlimited_gifts": False, "limited_gifts": False,
                                         "unique_gifts": False, "premium_subscription": False,
                                         "gifts_from_channels": False})
        return info

    async def _m_getChatMember(self, p: Params) -> dict[str, Any]:
        chat = self._get_chat_param(p)
        uid = p.int("user_id")
        if uid is None:
            raise bad_request("user_id is empty")
        if uid == self.bot_id:
            return {"status": "member", "user": self.bot_user}
        user = self.users.get(uid)
        if user is None:
            raise bad_request("user not found")
        if chat.type == "private":
            if uid != chat.id:
                raise bad_request("user not found")
            return {"status": "member", "user": user}
        return {"status": "member" if uid in chat.members else "left", "user": user}

    async def _m_getChatMemberCount(self, p: Params) -> int:
        chat = self._get_chat_param(p)
        return len(chat.members) + 1

    async def _m_pinChatMessage(self, p: Params) -> bool:
        self._get_chat_param(p)
        return True

    async def _m_unpinChatMessage(self, p: Params) -> bool:
        self._get_chat_param(p)
        return True

    async def _m_setMessageReaction(self, p: Params) -> bool:
        self._get_chat_param(p)
        return True
