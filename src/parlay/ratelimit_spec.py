"""PARLAY_RATE_LIMITS: the setting's syntax, read by config (at start-up) and by
services.ratelimit. A comma-separated list of GROUP=COUNT/PERIOD, e.g.
"auth=20/min,chat=120/min,chat_tokens=200000/min"; "off" disables every limit.
"""

from __future__ import annotations

from dataclasses import dataclass

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
           "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
GROUPS = ("auth", "public", "chat", "api", "chat_tokens", "tools")
DEFAULT_LIMITS = "auth=30/min,public=120/min,chat=120/min,api=600/min,tools=60/min"


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    window: int  # seconds


def parse_limits(spec: str) -> dict[str, Limit]:
    """"chat=120/min,auth=10/min" -> {"chat": Limit(120, 60), ...}; raises ValueError."""
    spec = spec.strip()
    if spec.lower() in ("", "off", "none"):
        return {}
    limits: dict[str, Limit] = {}
    for part in spec.split(","):
        group, _, rule = part.strip().partition("=")
        count, _, period = rule.partition("/")
        group = group.strip()
        if group not in GROUPS:
            raise ValueError(f"unknown rate-limit group {group!r} (known: {', '.join(GROUPS)})")
        window = PERIODS.get(period.strip().lower())
        if window is None or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"bad rate limit {part.strip()!r}: use GROUP=COUNT/PERIOD")
        limits[group] = Limit(int(count), window)
    return limits
