"""ASGI entry point for uvicorn workers: `parlay.main:app`."""

from __future__ import annotations

import gc
import sys

from parlay.app import create_app
from parlay.config import ConfigError, load_settings
from parlay.observability import configure_logging

try:
    _settings = load_settings()
except ConfigError as exc:
    print(f"parlay: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

configure_logging(_settings.log_level)
app = create_app(_settings)
# What is imported and built by now lives as long as the worker: keep the cyclic GC from
# scanning it again in every full collection (tens of ms each under gateway load).
gc.collect()
gc.freeze()
