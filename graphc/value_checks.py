"""Run-time requirements on the values of integer tensors (``cross_entropy``'s labels must
lie in ``[0, classes)``; out of range, ``one_hot`` gives a row of zeros and the loss was a
silently wrong finite number).

A composite records a requirement on a tensor with ``require_range``. The reference
interpreter checks every node that has one as it computes it; a compiled ``Function``
checks its inputs (placeholders) on the host before any backend runs, the same way for
every backend. Labels computed inside the graph go through a ``check_index`` node
instead (``graphc.ops.checks``), which every backend checks where it computes them.

>>> import numpy as np, graphc as gc
>>> labels = gc.placeholder("labels", (None,), "int32")
>>> require_range(labels, 0, 3, "cross_entropy (created at here.py:1) takes labels in "
...               "[0, 3)")
>>> try:
...     check_value(labels, np.array([0, 3], np.int32))
... except gc.FeedError as e:
...     print(e)
cross_entropy (created at here.py:1) takes labels in [0, 3): input 'labels' holds 3 at index (1,)
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .errors import EvalError, FeedError
from .ir import Tensor


@dataclass(frozen=True)
class ValueRange:
    """Every element of the tensor must satisfy ``low <= v < high``; ``what`` says who needs
    it (the op, where it was created, why)."""

    low: int
    high: int
    what: str


_REQUIREMENTS: "weakref.WeakKeyDictionary[Tensor, list[ValueRange]]" = \
    weakref.WeakKeyDictionary()


def require_range(t: Tensor, low: int, high: int, what: str) -> None:
    """Record that ``t``'s values must lie in ``[low, high)`` whenever it is computed."""
    found = _REQUIREMENTS.setdefault(t, [])
    need = ValueRange(low, high, what)
    if need not in found:  # a composite built in a loop records its requirement once
        found.append(need)


def has_requirements(t: Tensor) -> bool:
    """Whether ``check_value`` has anything to check for ``t``."""
    return bool(_REQUIREMENTS.get(t))


def check_value(t: Tensor, value: np.ndarray) -> None:
    """Raise ``FeedError`` (``t`` a placeholder) or ``EvalError`` (a computed tensor) naming
    ``t``, the first bad value and its index, if ``value`` breaks a requirement of ``t``."""
    for need in _REQUIREMENTS.get(t, ()):
        bad = (value < need.low) | (value >= need.high)
        if not np.any(bad):
            continue
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        if t.op == "placeholder":
            raise FeedError(f"{need.what}: input {t.name!r} holds {value[index]} at index "
                            f"{index}")
        raise EvalError(f"{need.what}: the {t.op} created at {t.location} holds "
                        f"{value[index]} at index {index}")
