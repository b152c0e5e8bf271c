"""MCP tools: built-in definitions, content filters (and, later, their execution)."""
