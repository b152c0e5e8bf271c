"""Import every model module so Base.metadata knows all tables (Alembic, tests)."""

from parlay.db.models import accounts  # noqa: F401
