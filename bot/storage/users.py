"""Users, languages and roles."""
from __future__ import annotations

import datetime as dt

from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import DialogState, RoleGrant, User, utcnow
from bot.storage.base import StorageBase
from bot.storage.dialogs import DialogSnapshot
from bot.storage.roles import Grant

_USERS = User.__table__
_DIALOGS = DialogState.__table__
# built once: SQLAlchemy then memoizes their cache keys, and a statement per update costs no construction
_SELECT_USER = select(_USERS).where(_USERS.c.id == bindparam("b_user"))
_INSERT_USER = insert(_USERS)
_UPDATE_USER = update(_USERS).where(_USERS.c.id == bindparam("b_user"))
_SELECT_DIALOG = select(_DIALOGS).where(_DIALOGS.c.user_id == bindparam("b_user"),
                                        _DIALOGS.c.chat_id == bindparam("b_chat"))


@dataclass(frozen=True)
class Actor:
    """The sender of an update as the handlers need them (see ``UserQueries.load_actor``)."""

    user: User
    grants: tuple[Grant, ...]
    dialog: DialogSnapshot | None


LAST_SEEN_RESOLUTION = dt.timedelta(minutes=5)


class UserQueries(StorageBase):
    # -- users and roles -------------------------------------------------------------------------
    async def touch_user(self, user_id: int, first_name: str, username: str | None,
                         telegram_language: str | None, default_language: str) -> User:
        """Create or refresh a user from a Telegram update; returns a detached User."""
        actor = await self.load_actor(user_id, None, first_name, username, telegram_language, default_language)
        return actor.user

    async def load_actor(self, user_id: int, chat_id: int | None, first_name: str, username: str | None,
                         telegram_language: str | None, default_language: str) -> Actor:
        """Everything an update needs to know about its sender, in ONE transaction: the refreshed user,
        their active role grants and their dialog state in this chat (a dialog step used to open four
        transactions for these). Core statements: this runs on every update."""
        lang = language_from_telegram(telegram_language, default_language)
        first_name = first_name[:128]
        # the three reads (and the rare user write) don't depend on each other: no transaction around them
        async with self.connection(statement_by_statement=True) as c:
            found = (await c.execute(_SELECT_USER, {"b_user": user_id})).first()
            now = utcnow()
            if found is None:
                row = {"id": user_id, "first_name": first_name, "username": username, "language": lang,
                       "language_chosen": False, "blocked_bot": False, "phone": None, "last_digest_at": None,
                       "menu_key": None, "privacy_notice_at": None, "created_at": now, "last_seen_at": now}
                await c.execute(_INSERT_USER, row)
            else:
                row = dict(found._mapping)
                # an ordinary update writes nothing: last_seen_at moves at most every few minutes (SQLite
                # write contention), a name or username only when it changed
                changes: dict = {}
                if row["first_name"] != first_name:
                    changes["first_name"] = first_name
                if row["username"] != username:
                    changes["username"] = username
                if row["last_seen_at"] is None or now - row["last_seen_at"] > LAST_SEEN_RESOLUTION:
                    changes["last_seen_at"] = now
                if row["blocked_bot"]:
                    changes["blocked_bot"] = False
                if not row["language_chosen"] and row["language"] != lang:
                    changes["language"] = lang
                if changes:
                    await c.execute(_UPDATE_USER, {"b_user": user_id, **changes})
                    row.update(changes)
            grants = await self._grants(c, user_id)
            dialog = None
            if chat_id is not None:
                found = (await c.execute(_SELECT_DIALOG, {"b_user": user_id, "b_chat": chat_id})).first()
                dialog = DialogSnapshot.of(found) if found is not None else None
        return Actor(User(**row), tuple(grants), dialog)

    async def set_blocked(self, user_id: int, blocked: bool) -> None:
        """Telegram told us the user blocked (or unblocked) the bot; a user we never met is ignored."""
        async with self.connection() as c:
            await c.execute(_UPDATE_USER, {"b_user": user_id, "blocked_bot": blocked})

    async def set_menu_key(self, user_id: int, key: str | None) -> None:
        """Remember which command menu this user's chat shows now (see bot/telegram/menus.py)."""
        async with self.connection() as c:
            await c.execute(_UPDATE_USER, {"b_user": user_id, "menu_key": key})

    async def get_user(self, user_id: int, *, session: AsyncSession | None = None) -> User | None:
        if session is not None:
            return await session.get(User, user_id)
        async with self.session() as s:
            return await s.get(User, user_id)

    async def user_names(self, user_ids: set[int]) -> dict[int, tuple[str, str | None]]:
        """id → (first name, username) of the users that exist among ``user_ids``."""
        if not user_ids:
            return {}
        async with self.session() as s:
            rows = await s.execute(select(User.id, User.first_name, User.username)
                                   .where(User.id.in_(sorted(user_ids))))
            return {uid: (name, username) for uid, name, username in rows}

    async def set_language(self, user_id: int, language: str) -> None:
        async with self.session() as s:
            user = await s.get(User, user_id)
            if user is not None:
                before = user.language
                user.language = language
                user.language_chosen = True
                self.audit(s, user_id, "set_language", "user", str(user_id), {"language": before},
                           {"language": language})

    async def roles_of(self, user_id: int) -> list[RoleGrant]:
        async with self.session() as s:
            rows = await s.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id,
                                                           RoleGrant.revoked_at.is_(None)))
            return list(rows)



def language_from_telegram(code: str | None, default: str) -> str:
    """Telegram's IETF tag (zh-hans, zh-CN, en, en-US, …) → one of our locales."""
    if not code:
        return default
    code = code.lower()
    if code.startswith("zh"):
        return "zh"
    if code.startswith("en"):
        return "en"
    return default


