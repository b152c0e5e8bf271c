"""Import every model module so Base.metadata knows all tables (Alembic, tests)."""

from parlay.db.models import (  # noqa: F401
    accounts,
    audit,
    conversations,
    gateway,
    memories,
    responses,
    settings,
    tools,
)
