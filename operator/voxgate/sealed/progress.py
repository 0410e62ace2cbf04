"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, total_bytes: int, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.total = max(total_bytes, 1)
        self.done = 0
        self.started = time.monotonic()
        self.drawn_at = 0.0

    def advance(self, done_bytes: int) -> None:
        self.done += done_bytes
        now = time.monotonic()
        if self.enabled and (now - self.drawn_at >= 0.1 or self.done >= self.total):
            self.drawn_at = now
            self._draw(now)

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        fraction = min(self.done / self.total, 1.0)
        filled = int(fraction * 30)
        rate = self.done / max(now - self.started, 1e-9) / 1e6
        bar = "#" * filled + "-" * (30 - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:6.1%} {rate:8.1f} MB/s")
        self.stream.flush()
