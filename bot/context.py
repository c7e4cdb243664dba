"""The services every handler can reach, and a CallbackContext that carries them. ``Services`` is what
the dialogs know as ``bot.dialogs.ports.DialogServices``; the dialogs never import this module."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.search.catalog import PatentCatalog
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.dialogs import DialogEngine, build_engine
from bot.i18n import Translator
from bot.models import User
from bot.storage import DialogSnapshot, Grant, Storage


@dataclass
class Services:
    settings: Settings
    storage: Storage
    i18n: Translator
    catalog: PatentCatalog
    dialogs: DialogEngine = field(default_factory=build_engine)
    outbox: Any = None  # bot.delivery.sender.Outbox, created when the Application starts (it needs the Bot)
    digests: Any = None  # bot.services.digest.DigestJob
    weekly: Any = None  # bot.services.stats.WeeklyReportJob
    retention: Any = None  # bot.services.privacy.RetentionJob: prunes old personal data
    scheduler: Any = None  # bot.delivery.scheduler.Scheduler: deadline and event reminders
    expert_requests: Any = None  # bot.services.expert_requests.ExpertRequestJob: rounds passed on, reminders
    clock: Clock = field(default_factory=SystemClock)  # the program's ShiftableClock; tests move it


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """One per update. The sender (user row, role grants, dialog state) is loaded once, in one DB
    transaction, and shared by every handler group that runs on the update (bot.handlers.common)."""

    def __init__(self, application: Application, chat_id: int | None = None, user_id: int | None = None):
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self._user: User | None = None
        self._grants: tuple[Grant, ...] | None = None  # as loaded with the user
        # the dialog state as loaded with the user; handed out once (``take_dialog``), because the dialog
        # engine writes it and a second reader must then see the database's version
        self._dialog: DialogSnapshot | None = None
        self._dialog_loaded = False

    @property
    def services(self) -> Services:
        return self.application.bot_data["services"]

    @property
    def i18n(self) -> Translator:
        return self.services.i18n
