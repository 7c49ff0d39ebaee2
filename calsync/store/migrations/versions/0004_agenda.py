"""The 1:1 pages: page ids, topics, notes, action items and one-time sign-in links.

Revision ID: 0004
Revises: 0003

Everything is keyed to (pair, occurrence regular start), never a provider's
event id. Sign-in tokens are kept as SHA-256 digests only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _pair(table: str) -> list[sa.Column | sa.ForeignKeyConstraint]:
    return [
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=f"fk_{table}_pair_id_pairs", ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "pair_pages",
        *_pair("pair_pages"),
        sa.Column("page_id", sa.String(), nullable=False),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("pair_id", name="pk_pair_pages"),
        sa.UniqueConstraint("page_id", name="uq_pair_pages_page_id"),
    )
    op.create_table(
        "topics",
        sa.Column("id", sa.Integer(), nullable=False),
        *_pair("topics"),
        _instant("occurrence"),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        _instant("discussed_in", nullable=True),
        sa.Column("discussed_by", sa.String(), nullable=True),
        _instant("discussed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_topics"),
    )
    op.create_index("ix_topics_pair_id_discussed_in", "topics", ["pair_id", "discussed_in"])
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        *_pair("notes"),
        _instant("occurrence"),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
        sa.UniqueConstraint(
            "pair_id", "occurrence", "owner", name="uq_notes_pair_id_occurrence_owner"
        ),
    )
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), nullable=False),
        *_pair("action_items"),
        _instant("occurrence"),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("due", sa.String(), nullable=True),
        sa.Column("author", sa.String(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        _instant("done_at", nullable=True),
        sa.Column("done_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_action_items"),
    )
    op.create_index("ix_action_items_pair_id_done_at", "action_items", ["pair_id", "done_at"])
    op.create_table(
        "signin_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        _instant("created_at"),
        _instant("expires_at"),
        _instant("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signin_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_signin_tokens_token_hash"),
    )
    op.create_index(
        "ix_signin_tokens_email_created_at", "signin_tokens", ["email", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("signin_tokens")
    op.drop_table("action_items")
    op.drop_table("notes")
    op.drop_table("topics")
    op.drop_table("pair_pages")
