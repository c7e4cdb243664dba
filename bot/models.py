"""SQLAlchemy 2 ORM models for the domain (see docs/ARCHITECTURE.md).

Portable across SQLite (aiosqlite) and PostgreSQL (asyncpg): JSON columns use the generic JSON type,
timestamps are stored in UTC and always come back timezone-aware (see ``UTCDateTime``).
"""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.clock import utcnow

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops tzinfo on the way back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Role(str, enum.Enum):
    INVENTOR = "inventor"
    TECH_TRANSFER = "tto"  # an institution's tech-transfer office
    ENTERPRISE = "enterprise"
    EXPERT = "expert"
    OFFICER = "officer"
    AGENCY = "agency"  # service agencies (技术转移机构 etc.)
    ADMIN = "admin"


class AssessmentStatus(str, enum.Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    REVIEWED = "reviewed"


class SignupStatus(str, enum.Enum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class LinkStatus(str, enum.Enum):
    """An inventor's claim on a patent: asked, then confirmed or declined by the patent's office."""
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"


class LeadStatus(str, enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class OutboxStatus(str, enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"


class Institution(Base):
    """A university or research institute (高校/科研机构)."""

    __tablename__ = "institutions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="university")
    county: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Department(Base):
    """A government department (市场监管/知识产权, 教育, 科技, 工信, 农业农村, 卫健, 国资) at city or county level."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("kind", "county", name="uq_departments_kind_county"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16), default="city")  # city | county
    county: Mapped[str] = mapped_column(String(64), default="")  # "" = city level


class Patent(Base):
    __tablename__ = "patents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pub_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    title_derived: Mapped[bool] = mapped_column(Boolean, default=False)
    abstract: Mapped[str] = mapped_column(Text, default="")
    claims: Mapped[str] = mapped_column(Text, default="")
    applicant: Mapped[str | None] = mapped_column(String(300))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    inventors: Mapped[str | None] = mapped_column(String(500))
    ipc: Mapped[str | None] = mapped_column(String(200))
    grant_date: Mapped[dt.date | None] = mapped_column(Date)  # 授权公告日
    filing_date: Mapped[dt.date | None] = mapped_column(Date)  # 申请日
    # invention | utility_model | design (发明 / 实用新型 / 外观设计)
    patent_type: Mapped[str | None] = mapped_column(String(16))
    industry_field: Mapped[str | None] = mapped_column(String(64), index=True)
    legal_status: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(128))
    source_idx: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution | None] = relationship(lazy="raise")


class User(Base):
    """A Telegram user. ``id`` is the Telegram user id (also the private chat id)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(128), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    language_chosen: Mapped[bool] = mapped_column(Boolean, default=False)  # set by /lang; else follow Telegram
    blocked_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32))  # shared only with the user's consent
    last_digest_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # matched-patent digests
    # fingerprint of the command menu last set for this user's chat (None: Telegram shows the default);
    # compared with the current roles on every update, so any role change refreshes the menu
    menu_key: Mapped[str | None] = mapped_column(String(32))
    privacy_notice_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # shown at the first /start
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Enterprise(Base):
    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="other")
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoleGrant(Base):
    """One role of one user, scoped to an institution, department, enterprise or industry."""

    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "scope_key", name="uq_role_grants_user_role_scope"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    industry: Mapped[str | None] = mapped_column(String(64))
    # "inst:3" / "dept:2" / "ent:5" / "" — one column so the unique constraint works with NULL scopes
    scope_key: Mapped[str] = mapped_column(String(64), default="")
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id"))
    granted_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Invite(Base):
    """An admin-issued code that grants one role when opened as ``t.me/<bot>?start=<code>``."""

    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    industry: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InventorPatent(Base):
    """An inventor's claim on a patent ("my patents"). It never changes the patent's institution; the
    tech-transfer office of that institution confirms or declines it (bot/services/ownership.py)."""

    __tablename__ = "inventor_patents"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    patent_id: Mapped[str] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"), primary_key=True,
                                           index=True)
    status: Mapped[str] = mapped_column(String(16), default=LinkStatus.PENDING.value,
                                        server_default=LinkStatus.PENDING.value)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)  # the office user; None: decided by migration
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SelfAssessment(Base):
    __tablename__ = "self_assessments"
    __table_args__ = (UniqueConstraint("patent_id", "inventor_id", name="uq_self_assessments_patent_inventor"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patent_id: Mapped[str] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"), index=True)
    inventor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    industry_field: Mapped[str | None] = mapped_column(String(64))
    maturity: Mapped[int | None] = mapped_column(Integer)  # TRL 1..9
    scenarios: Mapped[list[str]] = mapped_column(JSON, default=list)
    scenario_text: Mapped[str | None] = mapped_column(Text)
    prospect: Mapped[int | None] = mapped_column(Integer)  # 1..5
    intents: Mapped[list[str]] = mapped_column(JSON, default=list)  # transfer/license/self/equity
    implemented: Mapped[bool | None] = mapped_column(Boolean)
    implemented_how: Mapped[str | None] = mapped_column(Text)
    licence_kind: Mapped[str | None] = mapped_column(String(16))  # ordinary/exclusive/sole
    payment_kind: Mapped[str | None] = mapped_column(String(16))  # upfront_royalty/instalments/lump_sum
    open_licence: Mapped[bool | None] = mapped_column(Boolean)
    price_range: Mapped[str | None] = mapped_column(String(32))
    contact_pref: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=AssessmentStatus.DRAFT.value, index=True)
    reviewer_id: Mapped[int | None] = mapped_column(BigInteger)
    reviewer_note: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EnterpriseRating(Base):
    __tablename__ = "enterprise_ratings"
    __table_args__ = (UniqueConstraint("patent_id", "rater_id", name="uq_enterprise_ratings_patent_rater"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patent_id: Mapped[str] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    is_expert: Mapped[bool] = mapped_column(Boolean, default=False)
    prospect: Mapped[int | None] = mapped_column(Integer)  # 1..5
    improvement_needs: Mapped[list[str]] = mapped_column(JSON, default=list)
    improvement_text: Mapped[str | None] = mapped_column(Text)
    cooperation_intents: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_expectation: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Lead(Base):
    """An enterprise's (or agency's) interest in a patent; contact details stay hidden until the
    inventor accepts."""

    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("patent_id", "requester_id", name="uq_leads_patent_requester"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patent_id: Mapped[str] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    inventor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending/accepted/declined
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Transaction(Base):
    __tablename__ = "transactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patent_id: Mapped[str] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # transfer/license/equity
    date: Mapped[dt.date] = mapped_column(Date)
    filed: Mapped[bool] = mapped_column(Boolean, default=False)  # 备案 done
    counterparty: Mapped[str | None] = mapped_column(String(200))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    industrialised: Mapped[bool] = mapped_column(Boolean, default=False)
    product_filing_status: Mapped[str | None] = mapped_column(String(32))
    recorded_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """A matchmaking event (对接会 / 路演推介 / 交易撮合)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    place: Mapped[str | None] = mapped_column(String(300))
    online_link: Mapped[str | None] = mapped_column(String(500))
    capacity: Mapped[int] = mapped_column(Integer, default=0)  # 0 = unlimited
    eligibility: Mapped[list[str]] = mapped_column(JSON, default=list)  # roles that may sign up; [] = anyone
    description: Mapped[str | None] = mapped_column(Text)
    county: Mapped[str] = mapped_column(String(64), default="")
    organiser_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    organiser_user_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft/published/cancelled/held
    confirmed_count: Mapped[int] = mapped_column(Integer, default=0)  # guarded by a conditional UPDATE
    industry: Mapped[str | None] = mapped_column(String(64))  # publishes to this industry's subscribers
    reminder_stage: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 1 = day-before sent, 2 = hour-before
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventSignup(Base):
    __tablename__ = "event_signups"
    __table_args__ = (UniqueConstraint("event_id", "user_id", name="uq_event_signups_event_user"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Deadline(Base):
    __tablename__ = "deadlines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(64), unique=True)  # stable key for seeded rows
    title: Mapped[str] = mapped_column(String(300))
    due_date: Mapped[dt.date] = mapped_column(Date, index=True)
    departments: Mapped[list[str]] = mapped_column(JSON, default=list)
    lead_days: Mapped[list[int]] = mapped_column(JSON, default=lambda: [30, 7, 1])
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_reminder_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # newest reminder slot handled


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "topic_kind", "topic_value", name="uq_subscriptions_user_topic"),
        Index("ix_subscriptions_topic", "topic_kind", "topic_value"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    topic_kind: Mapped[str] = mapped_column(String(32))  # department/county/industry/event_kind/deadlines/keyword
    topic_value: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """A push waiting to be sent; written in the same transaction as the change that causes it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_not_before", "status", "not_before"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    chat_type: Mapped[str] = mapped_column(String(16), default="private", server_default="private")  # private/group: different limits
    kind: Mapped[str] = mapped_column(String(16), default="message", server_default="message")  # message/document/edit
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict | None] = mapped_column(JSON)  # extra Bot API parameters for the kind
    document: Mapped[bytes | None] = mapped_column(LargeBinary)
    document_name: Mapped[str | None] = mapped_column(String(200))
    parse_mode: Mapped[str | None] = mapped_column(String(16), default="HTML")
    reply_markup: Mapped[dict | None] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    broadcast_id: Mapped[str | None] = mapped_column(String(64), index=True)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    last_error: Mapped[str | None] = mapped_column(Text)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # sender process holding the row
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DialogState(Base):
    """Where a user is in a guided dialog; saved on every step so a restart loses nothing."""

    __tablename__ = "dialog_states"
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    dialog: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    message_id: Mapped[int | None] = mapped_column(BigInteger)  # the message carrying the live keyboard
    version: Mapped[int] = mapped_column(Integer, default=0)  # bumps on every step; stale buttons carry an old one
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SavedQuery(Base):
    """A search a user ran, so paging and filter buttons keep working after a restart
    (callback data is limited to 64 bytes and cannot carry the query itself)."""

    __tablename__ = "saved_queries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    query: Mapped[str] = mapped_column(String(200), default="")
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(64))
    entity_kind: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


Index("ix_audit_log_entity", AuditLog.entity_kind, AuditLog.entity_id)


# -- technology needs (需求榜) and expert evaluations on request ------------------------------------------


class NeedStatus(str, enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class ExpertRequestStatus(str, enum.Enum):
    REQUESTED = "requested"  # waiting for one of the invited experts to accept
    ACCEPTED = "accepted"    # an expert took it; the rating is due
    DONE = "done"            # rated; the requester and the office were told
    EXPIRED = "expired"      # every pool expert of the field was asked and none accepted


class TechNeed(Base):
    """An enterprise's technology need: what problem, which field, budget, the cooperation wanted."""

    __tablename__ = "tech_needs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    problem: Mapped[str] = mapped_column(Text)
    industry: Mapped[str] = mapped_column(String(64))
    budget: Mapped[str] = mapped_column(String(32))
    cooperation: Mapped[str] = mapped_column(String(16))  # transfer/license/joint_rd/contract_rd
    deadline: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=NeedStatus.OPEN.value, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class NeedDelivery(Base):
    """A need put to one holder (an office or an inventor of a matched patent), once, and what they
    answered; "we can help" opens a lead that shares contacts only when the enterprise agrees too."""

    __tablename__ = "need_deliveries"
    __table_args__ = (UniqueConstraint("need_id", "user_id", name="uq_need_deliveries_need_user"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("tech_needs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    patent_id: Mapped[str] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    answer: Mapped[str | None] = mapped_column(String(8))  # help / pass
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lead_status: Mapped[str | None] = mapped_column(String(16))  # pending/accepted/declined once offered
    lead_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExpertRequest(Base):
    """An evaluation of a patent asked of the expert pool of its industry field."""

    __tablename__ = "expert_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patent_id: Mapped[str] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    industry: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ExpertRequestStatus.REQUESTED.value, index=True)
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    round: Mapped[int] = mapped_column(Integer, default=1)
    round_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExpertInvitation(Base):
    """One pool expert asked to take a request, in one round."""

    __tablename__ = "expert_invitations"
    __table_args__ = (UniqueConstraint("request_id", "expert_id", name="uq_expert_invitations_request_expert"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("expert_requests.id", ondelete="CASCADE"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="invited")  # invited/accepted/declined/lapsed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PatentChange(Base):
    """One change to what search sees of a patent (its text, or an assessment status the filters use),
    written in the changing transaction. Every bot process follows this log to keep its in-memory
    index current (bot/search/freshness.py)."""

    __tablename__ = "patent_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "patent" (text) | "assessment" (filter facts)
    patent_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ChatTurn(Base):
    """An update received by a webhook worker and not yet handled: with several workers behind a load
    balancer, the updates of one chat are handled in the order they arrived (bot/storage/coordination.py)."""

    __tablename__ = "chat_turns"
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FloodBucket(Base):
    """One user's flood-control token bucket, shared by every bot process (bot/handlers/flood.py)."""

    __tablename__ = "flood_buckets"
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    noticed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
