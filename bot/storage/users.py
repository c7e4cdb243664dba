"""Users, languages and roles."""
from __future__ import annotations

import datetime as dt

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import DialogState, RoleGrant, User, utcnow
from bot.storage.base import StorageBase
from bot.storage.dialogs import DialogSnapshot
from bot.storage.roles import Grant


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
        async with self.session() as s:
            return await self._touch_user(s, user_id, first_name, username, telegram_language, default_language)

    async def load_actor(self, user_id: int, chat_id: int | None, first_name: str, username: str | None,
                         telegram_language: str | None, default_language: str) -> Actor:
        """Everything an update needs to know about its sender, in ONE transaction: the refreshed user,
        their active role grants and their dialog state in this chat (a dialog step used to open four
        transactions for these)."""
        async with self.session() as s:
            user = await self._touch_user(s, user_id, first_name, username, telegram_language, default_language)
            grants = await self._grants(s, user_id)
            dialog = None
            if chat_id is not None:
                row = await s.get(DialogState, (user_id, chat_id))
                dialog = DialogSnapshot.of(row) if row else None
            return Actor(user, tuple(grants), dialog)

    async def _touch_user(self, s: AsyncSession, user_id: int, first_name: str, username: str | None,
                          telegram_language: str | None, default_language: str) -> User:
        lang = language_from_telegram(telegram_language, default_language)
        user = await s.get(User, user_id)
        if user is None:
            user = User(id=user_id, first_name=first_name[:128], username=username, language=lang)
            s.add(user)
        else:
            # assignments of unchanged values emit no UPDATE; last_seen_at is refreshed at most every
            # few minutes, so an ordinary update writes nothing here (SQLite write contention)
            user.first_name = first_name[:128]
            user.username = username
            now = utcnow()
            if now - user.last_seen_at > LAST_SEEN_RESOLUTION:
                user.last_seen_at = now
            user.blocked_bot = False
            if not user.language_chosen:
                user.language = lang
        await s.flush()
        return user

    async def get_user(self, user_id: int) -> User | None:
        async with self.session() as s:
            return await s.get(User, user_id)

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


