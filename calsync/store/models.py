"""The database tables, as SQLAlchemy 2 declarative classes.

The schema itself is created by the Alembic migrations next to this module
(``migrations/versions``); these classes describe the same tables for queries,
and a test checks that the two never drift apart. Every table is here, so the
migrations' ``env.py`` sees the whole schema by importing this one module; the
queries live in one module per thing kept (``calendars``, ``events``, ``pairs``,
``health``, ``outbox``, ``report_sends``).

Every instant is a timezone-aware UTC ``datetime`` in Python. ``UTCDateTime``
makes SQLite (which has no time zones) and PostgreSQL (``timestamptz``) behave
the same: values go in as UTC, come out as aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint and index names on every backend, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware instant stored in UTC; naive datetimes are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store naive datetime {value.isoformat()}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite keeps text; a fixed UTC format keeps string comparison = time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class PersonRow(Base):
    """A person from the config; kept when they leave it, for history."""

    __tablename__ = "people"

    email: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, default="")
    timezone: Mapped[str] = mapped_column(String, default="UTC")
    working_hours: Mapped[str] = mapped_column(String)
    provider: Mapped[str] = mapped_column(String)
    calendar: Mapped[str | None] = mapped_column(String)


class PairRow(Base):
    """A manager/report pair; ``active`` is False once it left the config."""

    __tablename__ = "pairs"
    __table_args__ = (UniqueConstraint("manager", "report"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manager: Mapped[str] = mapped_column(ForeignKey("people.email"))
    report: Mapped[str] = mapped_column(ForeignKey("people.email"))
    cadence: Mapped[str] = mapped_column(String)  # as written in the config: "weekly", ...
    duration_minutes: Mapped[int] = mapped_column(Integer)
    min_duration_minutes: Mapped[int] = mapped_column(Integer)
    rebook: Mapped[str] = mapped_column(String)
    title: Mapped[str | None] = mapped_column(String)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CalendarRow(Base):
    """One synced calendar and its sync state (cursor, last success, last error)."""

    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("provider", "calendar"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String)
    calendar: Mapped[str] = mapped_column(String)
    # No foreign key: a calendar may be synced before or after its owner is configured.
    owner: Mapped[str] = mapped_column(String, index=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]


class EventRow(Base):
    """One neutral ``calsync.model.Event`` of one calendar, keyed by ``Event.key``."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("calendar_id", "key"),
        Index("ix_events_calendar_id_start", "calendar_id", "start"),
        Index("ix_events_uid", "uid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String)
    uid: Mapped[str] = mapped_column(String)
    original_start: Mapped[datetime | None]
    start: Mapped[datetime]
    end: Mapped[datetime]
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String)
    organizer: Mapped[str | None] = mapped_column(String)
    attendees: Mapped[list[Any]]  # [{"email": ..., "response": ...}]
    recurrence: Mapped[list[Any]]  # RRULE/RDATE/EXDATE lines
    all_day: Mapped[bool] = mapped_column(Boolean)
    timezone: Mapped[str | None] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text)
    transparent: Mapped[bool] = mapped_column(Boolean)
    remote_id: Mapped[str | None] = mapped_column(String)
    etag: Mapped[str | None] = mapped_column(String)
    tags: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime]


class OccurrenceRow(Base):
    """The last evaluation of one expected 1:1 of a pair (replaced on every evaluation)."""

    __tablename__ = "occurrences"

    pair_id: Mapped[int] = mapped_column(
        ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True
    )
    original_start: Mapped[datetime] = mapped_column(primary_key=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String)
    by: Mapped[str | None] = mapped_column(String)
    in_window: Mapped[bool | None] = mapped_column(Boolean)
    uid: Mapped[str | None] = mapped_column(String)
    title: Mapped[str] = mapped_column(Text)
    evaluated_at: Mapped[datetime]


class FindingRow(Base):
    """One stretch of time during which a finding of one kind held for a pair.

    At most one row per (pair, kind) is open (``resolved_at`` is NULL); a kind
    that comes back after being resolved starts a new row, so history shows
    each episode.
    """

    __tablename__ = "findings"
    __table_args__ = (
        Index(
            "uq_findings_open",
            "pair_id",
            "kind",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String)
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[Any]]  # ISO 8601 UTC instants
    severity: Mapped[str] = mapped_column(String)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


OUTBOX_STATES = ("pending", "done", "failed")


class OutboxRow(Base):
    """A calendar write to perform exactly once, identified by a deterministic key."""

    __tablename__ = "outbox"
    __table_args__ = (CheckConstraint("state IN ('pending', 'done', 'failed')", name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String, unique=True)
    pair_id: Mapped[int | None] = mapped_column(ForeignKey("pairs.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String)
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    remote_id: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # A worker's lease on a pending write (migration 0003).
    claimed_until: Mapped[datetime | None]


SEND_STATES = ("sending", "sent", "failed")


class ReportSendRow(Base):
    """One email sent once: a manager's weekly email for one ISO week ("2026-W47"), or a
    nudge before one 1:1 (``kind = "nudge"``, migration 0009); see ``report_sends``.

    ``manager`` is the recipient and ``week`` the email's key within its kind (a nudge's
    key names the pair and the occurrence, and starts with the kind, so the unique
    (manager, week) pair never mixes two kinds).
    """

    __tablename__ = "report_sends"
    __table_args__ = (
        UniqueConstraint("manager", "week"),
        CheckConstraint("state IN ('sending', 'sent', 'failed')", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manager: Mapped[str] = mapped_column(String)
    week: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String, server_default="weekly")
    state: Mapped[str] = mapped_column(String)
    message_id: Mapped[str] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# -- the 1:1 pages (migration 0004; queries in ``agenda``) ----------------------------
# Everything is keyed to the pair and the record's occurrence (its regular start,
# ``occurrences.original_start``), never to a provider's event id, so moving the
# team to another provider, a series split or a rebook orphans nothing.


class PairPageRow(Base):
    """The opaque id in a pair's page address (``/1on1/<page_id>``); it never changes."""

    __tablename__ = "pair_pages"

    pair_id: Mapped[int] = mapped_column(
        ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True
    )
    page_id: Mapped[str] = mapped_column(String, unique=True)
    created_at: Mapped[datetime]


class TopicRow(Base):
    """A topic either person raised for the pair's 1:1.

    ``occurrence`` is the 1:1 it was raised for; until ``discussed_in`` is set
    it shows on every next 1:1 (carried over, see ``calsync.policies.meeting``).
    """

    __tablename__ = "topics"
    __table_args__ = (Index("ix_topics_pair_id_discussed_in", "pair_id", "discussed_in"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    occurrence: Mapped[datetime]
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    discussed_in: Mapped[datetime | None]
    discussed_by: Mapped[str | None] = mapped_column(String)
    discussed_at: Mapped[datetime | None]


class NoteRow(Base):
    """Notes of one occurrence: shared (``owner`` is '') or private to ``owner``."""

    __tablename__ = "notes"
    __table_args__ = (UniqueConstraint("pair_id", "occurrence", "owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    occurrence: Mapped[datetime]
    owner: Mapped[str] = mapped_column(String)
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String)
    updated_by: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ActionItemRow(Base):
    """A follow-up agreed in a 1:1: who does it, by when, and whether it is done."""

    __tablename__ = "action_items"
    __table_args__ = (Index("ix_action_items_pair_id_done_at", "pair_id", "done_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    occurrence: Mapped[datetime]
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String)
    due: Mapped[str | None] = mapped_column(String)  # an ISO date, in the reader's calendar
    author: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String)


class SignInTokenRow(Base):
    """A one-time sign-in link: only its SHA-256 is kept; used once, within its expiry."""

    __tablename__ = "signin_tokens"
    __table_args__ = (Index("ix_signin_tokens_email_created_at", "email", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String, unique=True)
    email: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WriteRow(Base):
    """The audit log: every calendar write calsync made, or would have made in a dry run."""

    __tablename__ = "writes"
    __table_args__ = (UniqueConstraint("key", "dry_run", name="uq_writes_key_dry_run"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    pair_id: Mapped[int | None] = mapped_column(ForeignKey("pairs.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String)
    # As shown (a secret feed URL redacted): the outbox keeps what the write needs.
    calendar: Mapped[str] = mapped_column(String)
    remote_id: Mapped[str | None] = mapped_column(String)
    why: Mapped[str] = mapped_column(Text)
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]


# -- the directory's roster (migration 0007; queries in ``directory``) -----------------


class DirectoryPersonRow(Base):
    """A person as a ``[[directory.sources]]`` last listed them; ``left_at`` once gone."""

    __tablename__ = "directory_people"

    source: Mapped[str] = mapped_column(String, primary_key=True)
    email: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, default="")
    manager: Mapped[str | None] = mapped_column(String)
    timezone: Mapped[str | None] = mapped_column(String)
    working_hours: Mapped[str | None] = mapped_column(String)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    left_at: Mapped[datetime | None]


class DirectoryPairRow(Base):
    """One stretch of a manager/report pair the directory gave; ``ended_at`` once over.

    A pair that comes back (the report returns to the manager) is a new row:
    each stretch keeps its own dates.
    """

    __tablename__ = "directory_pairs"
    __table_args__ = (
        Index("ix_directory_pairs_source_report", "source", "report"),
        Index(
            "uq_directory_pairs_open",
            "source",
            "manager",
            "report",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String)
    manager: Mapped[str] = mapped_column(String)
    report: Mapped[str] = mapped_column(String)
    scope: Mapped[int] = mapped_column(Integer)  # index in the source's scopes
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)


# -- several workers' leases (migration 0008; queries in ``leases``) --------------------


LEASE_KINDS = ("worker", "calendar", "group")


class LeaseRow(Base):
    """Who does what when several workers share one database (see ``leases``).

    ``kind`` "worker" is a worker's heartbeat (``key`` = its id); "calendar"
    (``key`` = the person's email) and "group" (``key`` = the manager's email)
    are the shares of the work. A lease whose ``expires_at`` passed is free.
    """

    __tablename__ = "leases"
    __table_args__ = (
        CheckConstraint("kind IN ('worker', 'calendar', 'group')", name="kind"),
        Index("ix_leases_worker", "worker"),
    )

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String, primary_key=True)
    worker: Mapped[str | None] = mapped_column(String)
    expires_at: Mapped[datetime]
    renewed_at: Mapped[datetime | None]
