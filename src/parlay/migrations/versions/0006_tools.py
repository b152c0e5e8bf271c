"""tools that run: external MCP servers, their tools in the registry, the tool call log,
approvals

Revision ID: 0006_tools
Revises: 0003_settings_tools
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parlay.db.base import JSONType, UTCDateTime

revision = "0006_tools"
down_revision = "0003_settings_tools"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("headers_encrypted", sa.Text(), nullable=True),
        sa.Column("header_names", JSONType, nullable=False),
        sa.Column("allowed_tools", JSONType, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_synced_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mcp_servers"),
        sa.UniqueConstraint("name", name="uq_mcp_servers_name"),
    )
    with op.batch_alter_table("mcp_tools") as batch:
        batch.add_column(sa.Column("server_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("upstream_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("input_schema", JSONType, nullable=True))
        batch.create_foreign_key("fk_mcp_tools_server_id_mcp_servers", "mcp_servers",
                                 ["server_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_mcp_tools_server_id", ["server_id"])
    op.create_table(
        "tool_calls",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("tool_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tool_calls"),
    )
    op.create_index("ix_tool_calls_created", "tool_calls", ["created_at"])
    op.create_index("ix_tool_calls_user_created", "tool_calls", ["user_id", "created_at"])
    op.create_index("ix_tool_calls_tool_id", "tool_calls", ["tool_id"])
    op.create_table(
        "tool_approvals",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("tool_id", sa.String(64), nullable=False),
        sa.Column("arguments", JSONType, nullable=False),
        sa.Column("categories", JSONType, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("call_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("result_status", sa.String(24), nullable=True),
        sa.Column("result_output", sa.Text(), nullable=True),
        sa.Column("result_error_code", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tool_approvals"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_tool_approvals_user_id_users", ondelete="CASCADE"),
    )
    op.create_index("ix_tool_approvals_user_created", "tool_approvals",
                    ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_table("tool_approvals")
    op.drop_table("tool_calls")
    with op.batch_alter_table("mcp_tools") as batch:
        batch.drop_index("ix_mcp_tools_server_id")
        batch.drop_constraint("fk_mcp_tools_server_id_mcp_servers", type_="foreignkey")
        batch.drop_column("input_schema")
        batch.drop_column("upstream_name")
        batch.drop_column("server_id")
    op.drop_table("mcp_servers")
