"""gateway: admin providers, model catalog overrides, daily usage

Revision ID: 0002_gateway
Revises: 0001_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parlay.db.base import JSONType, UTCDateTime

revision = "0002_gateway"
down_revision = "0001_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("base_url", sa.String(2000), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("timeout", sa.Float(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_providers"),
        sa.UniqueConstraint("name", name="uq_providers_name"),
    )
    op.create_table(
        "model_overrides",
        sa.Column("model_id", sa.String(300), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("capabilities", JSONType, nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name="pk_model_overrides"),
    )
    op.create_table(
        "usage_daily",
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", "model", name="pk_usage_daily"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_usage_daily_user_id_users", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_table("model_overrides")
    op.drop_table("providers")
