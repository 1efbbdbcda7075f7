"""Progress of slow work on one updating stderr line: "graphc: lowering kernel 3/12... 4 s".

Work that ends within ``DELAY_S`` (2 s) prints nothing. Longer work shows its current
phase and the seconds since the work began, rewritten in place as phases change (and
every second), and erases the line when it ends. Nothing is ever printed when stderr is
not a terminal (pipes, files, CI logs) or when ``GRAPHC_QUIET=1``. Phases nest: an inner
phase replaces the line while it runs and the outer one comes back after it. ``each``
counts the items of a long loop (passes, kernels) within the current phase.

>>> import time
>>> with phase("compiling graph"):      # quick: prints nothing
...     for kernel in each(["k0", "k1"], "lowering kernel"):
...         time.sleep(0.01)
...     with phase("building C library (gcc)"):
...         time.sleep(0.01)
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

DELAY_S = 2.0
TICK_S = 1.0  # the elapsed seconds are redrawn this often once the line shows
T = TypeVar("T")


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
        self.start = time.monotonic()
        self.stop = threading.Event()
        self.ticker = threading.Thread(target=self.tick, args=(delay_s,), daemon=True,
                                       name="graphc-progress")
        self.ticker.start()

    def tick(self, delay_s: float) -> None:
        """After the delay, draw the line, then redraw it every TICK_S (the seconds move)."""
        if self.stop.wait(delay_s):
            return
        with self.lock:
            self.due = True
            self.draw()
        while not self.stop.wait(TICK_S):
            with self.lock:
                self.draw()

    def draw(self) -> None:
        """Rewrite the line with the innermost phase (called holding the lock)."""
        if self.due and self.texts and not self.stop.is_set():
            self.drawn = True
            seconds = time.monotonic() - self.start
            self.stream.write(f"\rgraphc: {self.texts[-1]}... {seconds:.0f} s\x1b[K")
            self.stream.flush()

    def push(self, text: str) -> None:
        with self.lock:
            self.texts.append(text)
            self.draw()

    def pop(self) -> None:
        with self.lock:
            self.texts.pop()
            self.draw()

    def replace(self, text: str) -> None:
        """The innermost phase goes on under a new text (the next item of ``each``)."""
        with self.lock:
            self.texts[-1] = text
            self.draw()

    def close(self) -> None:
        with self.lock:
            self.stop.set()
            if self.drawn:
                self.stream.write("\r\x1b[K")  # erase: the line was only about the wait
                self.stream.flush()
            self.texts.clear()


_active = threading.local()


@contextlib.contextmanager
def phase(text: str, *, delay_s: float | None = None) -> Iterator[None]:
    """Show ``text`` on stderr's progress line while the block runs (if it is slow)."""
    active: Line | None = getattr(_active, "line", None)
    outermost = active is None
    if active is None:
        stream = sys.stderr
        if not enabled(stream):
            yield
            return
        active = _active.line = Line(stream, DELAY_S if delay_s is None else delay_s)
    line: Line = active
    line.push(text)
    try:
        yield
    finally:
        line.pop()
        if outermost:
            line.close()
            _active.line = None


def each(items: Iterable[T], text: str) -> Iterator[T]:
    """Yield ``items``, showing ``"TEXT i/n"`` while item i runs (only inside a phase
    that shows: elsewhere this is a plain loop). ``text`` may name the item with
    ``{item}``: ``each(kernels, "lowering kernel {item}")``.

    >>> [k for k in each(["k0", "k1"], "lowering kernel")]
    ['k0', 'k1']
    """
    line: Line | None = getattr(_active, "line", None)
    if line is None:
        yield from items
        return
    items = list(items)
    line.push(text)
    try:
        for i, item in enumerate(items, 1):
            label = text.format(item=item) if "{item}" in text else text
            line.replace(f"{label} {i}/{len(items)}")
            yield item
    finally:
        line.pop()
