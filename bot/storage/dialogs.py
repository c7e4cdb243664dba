"""Durable dialog state: one row per (user, chat), versioned for stale-button detection."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import DialogState
from bot.storage.base import StorageBase


class StaleDialog(Exception):
    """The state changed under us (another process or a raced update); the caller re-reads."""


_T = DialogState.__table__
_GUARD = ((_T.c.user_id == bindparam("b_user")) & (_T.c.chat_id == bindparam("b_chat"))
          & (_T.c.version == bindparam("b_version")))
# built once (a dialog step runs one of them): no per-step statement construction
_UPDATE_GUARDED = update(_T).where(_GUARD)
_DELETE_GUARDED = delete(_T).where(_GUARD)


@dataclass(frozen=True)
class DialogSnapshot:
    user_id: int
    chat_id: int
    dialog: str
    step: str
    data: dict
    version: int
    message_id: int | None

    @classmethod
    def of(cls, row: DialogState) -> "DialogSnapshot":
        return cls(row.user_id, row.chat_id, row.dialog, row.step, dict(row.data or {}), row.version,
                   row.message_id)


class DialogQueries(StorageBase):
    async def get_dialog(self, user_id: int, chat_id: int) -> DialogSnapshot | None:
        async with self.session() as s:
            row = await s.get(DialogState, (user_id, chat_id))
            return DialogSnapshot.of(row) if row else None

    async def start_dialog(self, user_id: int, chat_id: int, dialog: str, step: str, data: dict
                           ) -> DialogSnapshot:
        """Begin (or restart) a dialog; a dialog already running in this chat is replaced."""
        async with self.session() as s:
            row = await s.get(DialogState, (user_id, chat_id), with_for_update=True)
            if row is None:
                row = DialogState(user_id=user_id, chat_id=chat_id, dialog=dialog, step=step, data=data, version=1)
                s.add(row)
            else:
                row.dialog, row.step, row.data, row.message_id = dialog, step, data, None
                row.version = row.version + 1
            await s.flush()
            return DialogSnapshot.of(row)

    async def save_dialog(self, snap: DialogSnapshot, step: str | None, data: dict,
                          persist: Callable[[AsyncSession], Awaitable[None]] | None = None) -> DialogSnapshot:
        """Move to ``step`` (None = finished: the state row goes) and persist the answers, atomically.

        The UPDATE is guarded by the version the caller read: a concurrent change raises StaleDialog
        and nothing is written.
        """
        async with self.session() as s:
            conn = await s.connection()  # Core statements on the session's transaction: every step runs this
            key = {"b_user": snap.user_id, "b_chat": snap.chat_id, "b_version": snap.version}
            if step is None:
                res = await conn.execute(_DELETE_GUARDED, key)
            else:
                res = await conn.execute(_UPDATE_GUARDED, {**key, "step": step, "data": data,
                                                           "version": snap.version + 1})
            if res.rowcount != 1:
                raise StaleDialog()
            if persist is not None:
                await persist(s)
        return DialogSnapshot(snap.user_id, snap.chat_id, snap.dialog, step or "", data, snap.version + 1,
                              snap.message_id)

    async def set_dialog_message(self, user_id: int, chat_id: int, version: int, message_id: int) -> None:
        async with self.connection() as conn:  # after every step that sends a new message: Core
            await conn.execute(_UPDATE_GUARDED, {"b_user": user_id, "b_chat": chat_id, "b_version": version,
                                                 "message_id": message_id})

    async def end_dialog(self, user_id: int, chat_id: int) -> None:
        async with self.session() as s:
            await s.execute(delete(DialogState).where(DialogState.user_id == user_id,
                                                      DialogState.chat_id == chat_id))

    async def active_dialogs(self) -> list[DialogSnapshot]:
        async with self.session() as s:
            return [DialogSnapshot.of(r) for r in await s.scalars(select(DialogState))]
