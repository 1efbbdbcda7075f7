"""A compiled step's updates applied all or none, whatever the threads and interrupts.

Two guards, used together by ``Function.__call__`` when a function updates parameters:

* ``holding(states)`` holds the lock of every parameter the call updates (the lock lives
  on the parameter's ``ParamState``, so two functions updating one parameter exclude each
  other), from reading the old values to writing the new ones. Locks are taken in one
  global order (by ``id``), so two calls updating overlapping sets never deadlock.
* ``deferred_interrupts()`` holds back SIGINT (Ctrl-C, ``KeyboardInterrupt``) in the main
  thread while the step runs: an interrupt that arrives during the call is raised when the
  call ends, after its updates are committed. Without it an interrupt landing in the
  commit loop left some parameters advanced and others not.

>>> import numpy as np
>>> from graphc.ir import ParamState
>>> a, b = ParamState(np.zeros(1)), ParamState(np.zeros(1))
>>> with deferred_interrupts(), holding([b, a]):
...     a.value, b.value = a.value + 1, b.value + 1
>>> float(a.value[0] + b.value[0])
2.0
"""
from __future__ import annotations

import signal
import threading

# the C module under ``signal``: ``signal.signal``/``getsignal`` wrap each handler in an
# enum lookup that raises and catches a ValueError (~40 us, twice per training step)
import _signal
from typing import Sequence

from .ir import ParamState


class holding:
    """Hold the locks of ``states`` (taken in ``id`` order, released in reverse)."""

    def __init__(self, states: Sequence[ParamState]):
        self.locks = [s.lock for s in sorted(set(states), key=id)]

    def __enter__(self) -> "holding":
        taken = 0
        try:
            for lock in self.locks:
                lock.acquire()
                taken += 1
        except BaseException:
            for lock in reversed(self.locks[:taken]):
                lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for lock in reversed(self.locks):
            lock.release()


class deferred_interrupts:
    """While active in the main thread, a SIGINT is recorded instead of handled; on exit
    the previous handler is restored and, if a SIGINT came, called (the default handler
    raises ``KeyboardInterrupt``). Elsewhere (another thread, SIGINT ignored or handled by
    C code) it does nothing: only the main thread runs Python signal handlers."""

    def __init__(self):
        self.previous = None
        self.pending = False

    def _record(self, signum, frame) -> None:
        self.pending = True

    def __enter__(self) -> "deferred_interrupts":
        if threading.current_thread() is threading.main_thread() and \
                callable(_signal.getsignal(signal.SIGINT)):
            # a SIGINT already pending runs the old handler inside this call: nothing of
            # the step has happened yet
            self.previous = _signal.signal(signal.SIGINT, self._record)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            _signal.signal(signal.SIGINT, self.previous)  # pending ones reach _record first
            if self.pending:
                self.pending = False
                self.previous(signal.SIGINT, None)
