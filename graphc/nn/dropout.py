"""Dropout (``gc.nn.dropout``) on the graph's own random numbers (``gc.random``)."""
from __future__ import annotations

import numbers

from ..api import lift, where
from ..errors import UsageError
from ..ir import user_location
from .. import random


def dropout(x, rate, seed=None, training=True):
    """Zero each element of ``x`` with probability ``rate`` and scale the others by
    ``1 / (1 - rate)`` (torch's inverted dropout), with a fresh mask every call of the
    compiled function; ``training=False`` (or ``rate=0``) returns ``x``.

    >>> import graphc as gc
    >>> y = gc.nn.dropout(gc.constant([1.0] * 8), 0.5, seed=3)
    >>> sorted(set(gc.compile(y)().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """
    (x,) = lift([x])
    if not isinstance(rate, numbers.Real) or not 0 <= float(rate) < 1:
        raise UsageError(f"dropout: rate must be a number in [0, 1), got {rate!r} "
                         f"({user_location()})")
    if not training or rate == 0:
        return x
    keep = random.bernoulli(x, 1.0 - float(rate), seed=seed)
    return where(keep, x * (1.0 / (1.0 - float(rate))), 0.0)
