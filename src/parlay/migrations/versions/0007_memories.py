"""memories: user facts with their embedding vectors, and per-user memory versions

Revision ID: 0007_memories
Revises: 0004_conversations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parlay.db.base import UTCDateTime

revision = "0007_memories"
down_revision = "0004_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("conversation_id", sa.String(40), nullable=True),
        sa.Column("item_id", sa.String(40), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_space", sa.String(300), nullable=True),
        sa.Column("embedding_dim", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_memories"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_memories_user_id_users",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name="fk_memories_conversation_id_conversations",
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["item_id"], ["conversation_items.id"],
                                name="fk_memories_item_id_conversation_items",
                                ondelete="SET NULL"),
    )
    op.create_index("ix_memories_user_created", "memories", ["user_id", "created_at", "id"])
    op.create_index("ix_memories_conversation_id", "memories", ["conversation_id"])
    op.create_index("ix_memories_item_id", "memories", ["item_id"])
    op.create_table(
        "memory_states",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_memory_states"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_memory_states_user_id_users", ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("memory_states")
    op.drop_index("ix_memories_item_id", table_name="memories")
    op.drop_index("ix_memories_conversation_id", table_name="memories")
    op.drop_index("ix_memories_user_created", table_name="memories")
    op.drop_table("memories")
