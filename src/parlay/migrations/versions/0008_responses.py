"""responses: stored Responses API responses (input and output items as JSON arrays)

Revision ID: 0008_responses
Revises: 0004_conversations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parlay.db.base import JSONType, UTCDateTime

revision = "0008_responses"
down_revision = "0004_conversations"
branch_labels = None
depends_on = None

IN_PROGRESS = sa.text("status = 'in_progress'")


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("previous_response_id", sa.String(40), nullable=True),
        sa.Column("conversation_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("input_items", JSONType, nullable=False),
        sa.Column("output", JSONType, nullable=False),
        sa.Column("usage", JSONType, nullable=True),
        sa.Column("error", JSONType, nullable=True),
        sa.Column("incomplete_details", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_responses"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_responses_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name="fk_responses_conversation_id_conversations",
                                ondelete="SET NULL"),
    )
    op.create_index("ix_responses_user_created", "responses", ["user_id", "created_at"])
    op.create_index("ix_responses_in_progress", "responses", ["updated_at"],
                    postgresql_where=IN_PROGRESS, sqlite_where=IN_PROGRESS)


def downgrade() -> None:
    op.drop_table("responses")
