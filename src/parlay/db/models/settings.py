"""Per-user settings: one row per user, created lazily on the first change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base, JSONType, UTCDateTime, utcnow


class UserSettings(Base):
    __tablename__ = "user_settings"

    user_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Each group is stored as a JSON object; unknown or missing keys fall back to defaults.
    profile_settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    memory_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    advanced_settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
