"""A log handler that writes in batches: one write syscall per flush, not one per line.

The access log has one line per request; written line by line to (line-buffered) stderr it
cost about 0.2 ms of CPU per request on the 2-core reference box. Lines are flushed every
`interval` seconds by a daemon thread, at once for WARNING and above, and at exit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import TextIO


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO, *, interval: float = 0.2, max_lines: int = 512) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        self._interval = interval
        self._max_lines = max_lines
        threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True).start()
        atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line)
            if record.levelno >= logging.WARNING or len(self._lines) >= self._max_lines:
                self._write_locked()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_locked()

    def _write_locked(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stream closed at interpreter exit
            pass

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(self._interval)
            self.flush()
