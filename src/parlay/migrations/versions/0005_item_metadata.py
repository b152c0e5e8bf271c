"""item metadata: what produced an item (memories used, tool details), and on its versions

Revision ID: 0005_item_metadata
Revises: 0004_conversations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parlay.db.base import JSONType

revision = "0005_item_metadata"
down_revision = "0004_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversation_items", sa.Column("metadata", JSONType, nullable=True))
    op.add_column("conversation_item_versions", sa.Column("metadata", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation_item_versions") as batch:
        batch.drop_column("metadata")
    with op.batch_alter_table("conversation_items") as batch:
        batch.drop_column("metadata")
