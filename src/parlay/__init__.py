"""Parlay: a self-hosted LLM API server."""

__version__ = "0.1.0"
