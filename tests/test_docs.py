"""The documentation keeps up with the code: every error code Parlay can answer with is in
docs/errors.md, and every rate-limit group in docs/rate-limits.md."""

from __future__ import annotations

import re
from pathlib import Path

from parlay.api.errors import _STATUS_CODES
from parlay.errors import ApiError
from parlay.ratelimit_spec import GROUPS

ROOT = Path(__file__).resolve().parent.parent


def _codes_in_source() -> set[str]:
    codes: set[str] = set()
    for path in (ROOT / "src" / "parlay").rglob("*.py"):
        codes.update(re.findall(r'code="([a-z_]+)"', path.read_text()))
    for cls in _subclasses(ApiError):
        codes.add(cls.code)
    codes.update(code for _type, code in _STATUS_CODES.values())
    codes.update({"internal_error", "http_error"})
    return codes


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_error_code_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs" / "errors.md").read_text(),
                                re.MULTILINE))
    missing = _codes_in_source() - documented
    assert not missing, f"document these codes in docs/errors.md: {sorted(missing)}"


def test_every_rate_limit_group_is_documented() -> None:
    text = (ROOT / "docs" / "rate-limits.md").read_text()
    assert all(f"`{group}`" in text for group in GROUPS)
