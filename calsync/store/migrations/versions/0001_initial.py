"""The initial schema: people, pairs, calendars, events, occurrences, findings, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-05-20

Plain SQLAlchemy types only (``sa.DateTime(timezone=True)`` is what
``calsync.store.models.UTCDateTime`` stores), so this file never depends on
code that may change later.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("working_hours", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("calendar", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("email", name="pk_people"),
    )
    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(), nullable=False),
        sa.Column("report", sa.String(), nullable=False),
        sa.Column("cadence", sa.String(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("min_duration_minutes", sa.Integer(), nullable=False),
        sa.Column("rebook", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["manager"], ["people.email"], name="fk_pairs_manager_people"),
        sa.ForeignKeyConstraint(["report"], ["people.email"], name="fk_pairs_report_people"),
        sa.PrimaryKeyConstraint("id", name="pk_pairs"),
        sa.UniqueConstraint("manager", "report", name="uq_pairs_manager_report"),
    )
    op.create_table(
        "calendars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("calendar", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        _instant("last_synced_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _instant("last_error_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calendars"),
        sa.UniqueConstraint("provider", "calendar", name="uq_calendars_provider_calendar"),
    )
    op.create_index("ix_calendars_owner", "calendars", ["owner"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("uid", sa.String(), nullable=False),
        _instant("original_start", nullable=True),
        _instant("start"),
        _instant("end"),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("organizer", sa.String(), nullable=True),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("recurrence", sa.JSON(), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("transparent", sa.Boolean(), nullable=False),
        sa.Column("remote_id", sa.String(), nullable=True),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        _instant("updated_at"),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name="fk_events_calendar_id_calendars",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("calendar_id", "key", name="uq_events_calendar_id_key"),
    )
    op.create_index("ix_events_calendar_id_start", "events", ["calendar_id", "start"])
    op.create_index("ix_events_uid", "events", ["uid"])
    op.create_table(
        "occurrences",
        sa.Column("pair_id", sa.Integer(), nullable=False),
        _instant("original_start"),
        _instant("start"),
        _instant("end"),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("by", sa.String(), nullable=True),
        sa.Column("in_window", sa.Boolean(), nullable=True),
        sa.Column("uid", sa.String(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        _instant("evaluated_at"),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name="fk_occurrences_pair_id_pairs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pair_id", "original_start", name="pk_occurrences"),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        _instant("first_seen"),
        _instant("last_seen"),
        _instant("resolved_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name="fk_findings_pair_id_pairs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
    )
    op.create_index(
        "uq_findings_open",
        "findings",
        ["pair_id", "kind"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("remote_id", sa.String(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name="ck_outbox_state"),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name="fk_outbox_pair_id_pairs", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )


def downgrade() -> None:
    for table in ("outbox", "findings", "occurrences", "events", "calendars", "pairs", "people"):
        op.drop_table(table)
