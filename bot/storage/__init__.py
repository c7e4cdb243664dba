"""The one storage layer: every query of the bot lives in this package (SQLAlchemy 2 async, bound
parameters only). ``Storage`` combines the per-aggregate query modules; callers never build SQL."""
from __future__ import annotations

import asyncio

from bot.storage.assessments import AssessmentQueries, AssessmentView, ReviewSubject
from bot.storage.base import ALEMBIC_INI, StorageBase
from bot.storage.changes import ChangeQueries
from bot.storage.exports import ExportQueries
from bot.storage.expert_requests import ExpertRequestQueries
from bot.storage.library import AssessedPatent, LibraryQueries, PatentCardData
from bot.storage.dialogs import DialogQueries, DialogSnapshot, StaleDialog
from bot.storage.outbox import OutboxQueries
from bot.storage.ownership import LinkRequest, MyPatent, OwnershipQueries
from bot.storage.privacy import PrivacyQueries
from bot.storage.events import EventQueries
from bot.storage.needs import NeedQueries
from bot.storage.deadlines import DeadlineQueries
from bot.storage.subscriptions import SubscriptionQueries
from bot.storage.roles import Grant, RoleQueries
from bot.storage.ratings import DigestQueries, LeadView, RatingQueries, RatingSummary, TransactionView
from bot.storage.patents import PatentQueries, PatentRow, UpsertCounts
from bot.storage.stats import InstitutionStats, StatsQueries
from bot.storage.users import UserQueries, language_from_telegram

__all__ = ["ALEMBIC_INI", "AssessedPatent", "AssessmentView", "DialogSnapshot", "Grant",
           "InstitutionStats", "LeadView", "LinkRequest", "MyPatent", "PatentCardData", "PatentRow", "RatingSummary",
           "ReviewSubject", "StaleDialog", "Storage", "TransactionView", "UpsertCounts",
           "language_from_telegram", "open_storage"]


class Storage(PatentQueries, UserQueries, RoleQueries, AssessmentQueries, OwnershipQueries, LibraryQueries, RatingQueries,
              ExportQueries, DigestQueries, StatsQueries, DialogQueries, OutboxQueries,
              EventQueries, DeadlineQueries, SubscriptionQueries, PrivacyQueries, NeedQueries,
              ExpertRequestQueries, ChangeQueries, StorageBase):
    pass


async def open_storage(url: str, *, pool_size: int = 10) -> Storage:
    storage = Storage(url, pool_size=pool_size)
    for attempt in range(5):  # a database that is still starting up is not a reason to die
        try:
            await storage.migrate()
            return storage
        except OSError:
            if attempt == 4:
                raise
            await asyncio.sleep(1 + attempt)
    return storage
