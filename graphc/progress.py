"""Progress of slow work on one updating stderr line: "graphc: building C library (gcc)...".

Work that ends within ``DELAY_S`` (2 s) prints nothing. Longer work shows its current
phase, rewritten in place as phases change, and erases the line when it ends. Nothing
is ever printed when stderr is not a terminal (pipes, files, CI logs) or when
``GRAPHC_QUIET=1``. Phases nest: an inner phase replaces the line while it runs and
the outer one comes back after it.

>>> import time
>>> with phase("compiling graph"):      # quick: prints nothing
...     with phase("building C library (gcc)"):
...         time.sleep(0.01)
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

DELAY_S = 2.0


def enabled(stream: TextIO) -> bool:
    """Progress goes to ``stream`` only if it is a terminal and GRAPHC_QUIET is not set."""
    if os.environ.get("GRAPHC_QUIET", "") not in ("", "0"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


class Line:
    """The one progress line of an outermost phase: shown after DELAY_S, then updated."""

    def __init__(self, stream: TextIO, delay_s: float):
        self.stream = stream
        self.texts: list[str] = []
        self.due = False  # the delay has passed: every change is drawn at once
        self.drawn = False
        self.lock = threading.Lock()
        self.timer = threading.Timer(delay_s, self.show)
        self.timer.daemon = True
        self.timer.start()

    def show(self) -> None:
        with self.lock:
            self.due = True
            self.draw()

    def draw(self) -> None:
        """Rewrite the line with the innermost phase (called holding the lock)."""
        if self.due and self.texts:
            self.drawn = True
            self.stream.write(f"\rgraphc: {self.texts[-1]}...\x1b[K")
            self.stream.flush()

    def push(self, text: str) -> None:
        with self.lock:
            self.texts.append(text)
            self.draw()

    def pop(self) -> None:
        with self.lock:
            self.texts.pop()
            self.draw()

    def close(self) -> None:
        self.timer.cancel()
        with self.lock:
            if self.drawn:
                self.stream.write("\r\x1b[K")  # erase: the line was only about the wait
                self.stream.flush()
            self.texts.clear()


_active = threading.local()


@contextlib.contextmanager
def phase(text: str, *, delay_s: float | None = None) -> Iterator[None]:
    """Show ``text`` on stderr's progress line while the block runs (if it is slow)."""
    line: Line | None = getattr(_active, "line", None)
    outermost = line is None
    if outermost:
        stream = sys.stderr
        if not enabled(stream):
            yield
            return
        line = _active.line = Line(stream, DELAY_S if delay_s is None else delay_s)
    line.push(text)
    try:
        yield
    finally:
        line.pop()
        if outermost:
            line.close()
            _active.line = None
