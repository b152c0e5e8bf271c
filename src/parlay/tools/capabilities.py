"""What a tool call would do, in the terms `require_approval_for` names.

An admin lists categories on a tool; a call that falls in one waits for its user's
approval. `system_calls` is read from a code snippet's syntax tree (imports of modules that
reach the operating system, and the builtins that get around imports); a snippet that does
not parse is treated as falling in it, since nothing can be said about it.
"""

from __future__ import annotations

import ast
from typing import Any

APPROVAL_CATEGORIES: dict[str, str] = {
    "system_calls": "code that uses the operating system: imports os, subprocess, socket, "
                    "ctypes, shutil, signal, multiprocessing... or calls open, exec, eval, "
                    "__import__",
    "network": "any call that reaches the network (web_search, web_scraper, external MCP "
               "tools)",
    "all": "every call of the tool",
}

SYSTEM_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "socket", "ssl", "ctypes", "cffi", "shutil", "signal",
    "multiprocessing", "threading", "_thread", "concurrent", "asyncio", "pty", "tty", "fcntl",
    "termios", "resource", "mmap", "select", "selectors", "importlib", "imp", "sys", "io",
    "pathlib", "glob", "tempfile", "platform", "sysconfig", "gc", "inspect", "code", "pickle",
    "marshal", "http", "urllib", "ftplib", "smtplib", "telnetlib", "socketserver", "webbrowser",
    "builtins", "runpy", "zipimport", "pkgutil",
})
SYSTEM_BUILTINS = frozenset({"open", "exec", "eval", "compile", "__import__", "__builtins__",
                             "breakpoint", "globals", "vars", "__loader__", "__spec__"})


def categories_of(kind: str, arguments: dict[str, Any]) -> set[str]:
    """The approval categories a call of a tool of `kind` (code|web|mcp) falls in."""
    found = {"all"}
    if kind in ("web", "mcp"):
        found.add("network")
    if kind == "code" and uses_system(str(arguments.get("code", ""))):
        found.add("system_calls")
    return found


def uses_system(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(alias.name.split(".")[0] in SYSTEM_MODULES for alias in node.names):
                return True
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] in SYSTEM_MODULES:
                return True
        elif isinstance(node, ast.Name) and node.id in SYSTEM_BUILTINS:
            return True
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            return True  # __subclasses__, __globals__, __builtins__...: the escape hatches
    return False
