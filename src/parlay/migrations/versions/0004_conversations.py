"""conversations: conversations, items, item versions, shares, share feedback

Revision ID: 0004_conversations
Revises: 0001_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parlay.db.base import JSONType, UTCDateTime

revision = "0004_conversations"
down_revision = "0001_accounts"
branch_labels = None
depends_on = None

IN_PROGRESS = sa.text("status = 'in_progress'")


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("title", sa.String(500), nullable=True),
        sa.Column("metadata", JSONType, nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("project_id", sa.String(200), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("next_position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_conversations_user_id_users", ondelete="CASCADE"),
    )
    op.create_index("ix_conversations_user_updated", "conversations",
                    ["user_id", "updated_at", "id"])
    op.create_table(
        "conversation_items",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("conversation_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_parts", JSONType, nullable=True),
        sa.Column("content_type", sa.String(50), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("usage", JSONType, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_items"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name="fk_conversation_items_conversation_id_conversations",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("conversation_id", "position",
                            name="uq_conversation_items_conversation_id"),
    )
    op.create_index("ix_conversation_items_in_progress", "conversation_items", ["updated_at"],
                    postgresql_where=IN_PROGRESS, sqlite_where=IN_PROGRESS)
    op.create_table(
        "conversation_item_versions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("item_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_parts", JSONType, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("usage", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("replaced_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_item_versions"),
        sa.ForeignKeyConstraint(["item_id"], ["conversation_items.id"],
                                name="fk_conversation_item_versions_item_id_conversation_items",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("item_id", "version", name="uq_conversation_item_versions_item_id"),
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("conversation_id", sa.String(40), nullable=True),
        sa.Column("snapshot_position", sa.Integer(), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("allow_feedback", sa.Boolean(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shares"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_shares_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name="fk_shares_conversation_id_conversations",
                                ondelete="SET NULL"),
        sa.UniqueConstraint("token", name="uq_shares_token"),
    )
    op.create_index("ix_shares_user_created", "shares", ["user_id", "created_at"])
    op.create_index("ix_shares_conversation_id", "shares", ["conversation_id"])
    op.create_table(
        "share_feedback",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("share_id", sa.String(40), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_share_feedback"),
        sa.ForeignKeyConstraint(["share_id"], ["shares.id"],
                                name="fk_share_feedback_share_id_shares", ondelete="CASCADE"),
    )
    op.create_index("ix_share_feedback_share_id", "share_feedback", ["share_id"])


def downgrade() -> None:
    op.drop_table("share_feedback")
    op.drop_table("shares")
    op.drop_table("conversation_item_versions")
    op.drop_table("conversation_items")
    op.drop_table("conversations")
