"""settings and tools: user settings, MCP tool registry, admin audit log

Revision ID: 0003_settings_tools
Revises: 0001_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parlay.db.base import JSONType, UTCDateTime

revision = "0003_settings_tools"
down_revision = "0001_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_settings",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("profile_settings", JSONType, nullable=False),
        sa.Column("memory_config", JSONType, nullable=False),
        sa.Column("advanced_settings", JSONType, nullable=False),
        sa.Column("preferences", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_settings"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_settings_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "mcp_tools",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("content_filter", JSONType, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mcp_tools"),
    )
    op.create_index("ix_mcp_tools_category", "mcp_tools", ["category"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("actor_id", sa.String(40), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("changes", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])
    op.create_index("ix_audit_log_created", "audit_log", ["created_at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id", "created_at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_mcp_tools_category", table_name="mcp_tools")
    op.drop_table("mcp_tools")
    op.drop_table("user_settings")
