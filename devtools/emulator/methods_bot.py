"""Bot API methods about the bot itself: getMe, logOut, close, its command menus (by scope and
language), descriptions, names and menu button."""

from __future__ import annotations

import re
from typing import Any

from .answers import bad_request
from .validation import Params

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


def scope_key(scope: Any) -> tuple[Any, ...]:
    """A BotCommandScope as a key of the command menus."""
    if scope is None:
        return ("default",)
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope JSON object")
    t = scope["type"]
    if t in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
        return (t,)
    if t in ("chat", "chat_administrators"):
        return (t, int(scope.get("chat_id") or 0))
    if t == "chat_member":
        return (t, int(scope.get("chat_id") or 0), int(scope.get("user_id") or 0))
    raise bad_request("wrong scope type specified")


def _menu_key(p: Params) -> tuple[tuple[Any, ...], str]:
    return (scope_key(p.json("scope")), p.str("language_code") or "")


class BotProfileMethods:
    def _init_bot_profile(self) -> None:
        self._commands: dict[tuple[tuple[Any, ...], str], list[dict[str, str]]] = {}
        self._descriptions: dict[str, str] = {}
        self._short_descriptions: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}

    async def _m_getMe(self, p: Params) -> dict[str, Any]:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": True, "can_connect_to_business": False,
                "has_main_web_app": False}

    async def _m_logOut(self, p: Params) -> bool:
        return True

    async def _m_close(self, p: Params) -> bool:
        return True

    # ---- command menus

    async def _m_setMyCommands(self, p: Params) -> bool:
        cmds = p.json("commands", error="can't parse commands JSON object")
        if not isinstance(cmds, list):
            raise bad_request("can't parse commands JSON object")
        if len(cmds) > 100:
            raise bad_request("too many commands specified")
        clean = []
        for c in cmds:
            if not isinstance(c, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name = str(c.get("command", "")).lstrip("/")
            desc = str(c.get("description", ""))
            if not _COMMAND_RE.match(name.lower()):
                raise bad_request("BOT_COMMAND_INVALID")
            if not (1 <= len(desc) <= 256):
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name.lower(), "description": desc})
        key = _menu_key(p)
        if clean:
            self._commands[key] = clean
        else:
            self._commands.pop(key, None)
        return True

    async def _m_getMyCommands(self, p: Params) -> list[dict[str, str]]:
        return list(self._commands.get(_menu_key(p), []))

    async def _m_deleteMyCommands(self, p: Params) -> bool:
        self._commands.pop(_menu_key(p), None)
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

    # ---- descriptions, names, menu button

    async def _m_setMyDescription(self, p: Params) -> bool:
        self._descriptions[p.str("language_code") or ""] = p.str("description") or ""
        return True

    async def _m_getMyDescription(self, p: Params) -> dict[str, str]:
        return {"description": self.description(p.str("language_code") or "")}

    async def _m_setMyShortDescription(self, p: Params) -> bool:
        self._short_descriptions[p.str("language_code") or ""] = p.str("short_description") or ""
        return True

    async def _m_getMyShortDescription(self, p: Params) -> dict[str, str]:
        return {"short_description": self.short_description(p.str("language_code") or "")}

    def description(self, language_code: str) -> str:
        """The bot's description in that language, else the default one."""
        return self._descriptions.get(language_code, self._descriptions.get("", ""))

    def short_description(self, language_code: str) -> str:
        """The bot's short description in that language, else the default one."""
        return self._short_descriptions.get(language_code, self._short_descriptions.get("", ""))

    async def _m_setMyName(self, p: Params) -> bool:
        self._names[p.str("language_code") or ""] = p.str("name") or ""
        return True

    async def _m_getMyName(self, p: Params) -> dict[str, str]:
        lang = p.str("language_code") or ""
        return {"name": self._names.get(lang, self._names.get("", self.bot_first_name))}

    async def _m_setChatMenuButton(self, p: Params) -> bool:
        mb = p.json("menu_button", {"type": "default"})
        if not isinstance(mb, dict) or "type" not in mb:
            raise bad_request("can't parse menu button JSON object")
        self._menu_buttons[p.int("chat_id")] = mb
        return True

    async def _m_getChatMenuButton(self, p: Params) -> dict[str, Any]:
        cid = p.int("chat_id")
        return self._menu_buttons.get(cid) or self._menu_buttons.get(None) or {"type": "commands"}
