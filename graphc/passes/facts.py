"""Facts about the values a node can take, provable from its structure (rule guards).

>>> import graphc as gc
>>> x = gc.placeholder("x", (3,))
>>> positive(gc.exp(x)), positive(x), nonneg(x * x), nonzero(gc.constant(2.0))
(True, False, True, True)
"""
from __future__ import annotations

from ..ir import Tensor
from ..bind import OPS
from .rewrite import splat_value


def positive(x: Tensor, depth: int = 16) -> bool:
    """Provably > 0 (mathematically) for every input; sums, products and quotients are
    looked into ``depth`` levels deep (a bound, not a recursion hazard on deep graphs)."""
    if OPS[x.op].output_sign == "positive":
        return True
    v = splat_value(x)
    if v is not None:
        return bool(v > 0)
    if x.op in ("mul", "div", "add") and depth > 0:
        return all(positive(i, depth - 1) for i in x.inputs)
    return False


def nonneg(x: Tensor) -> bool:
    """Provably >= 0 for every input."""
    if OPS[x.op].output_sign == "nonneg" or positive(x):
        return True
    if x.op == "mul" and x.inputs[0] is x.inputs[1]:
        return True
    v = splat_value(x)
    return v is not None and bool(v >= 0)


def nonzero(x: Tensor) -> bool:
    """Provably != 0 for every input."""
    if positive(x):
        return True
    v = splat_value(x)
    return v is not None and bool(v != 0)


def negative_const(x: Tensor) -> bool:
    """A constant filled with one negative value."""
    v = splat_value(x)
    return v is not None and bool(v < 0)


def max_shift(m: Tensor) -> Tensor | None:
    """The ``max`` node that ``m`` is, seen through ``stop_gradient`` and through the
    finite form ``where(|max| < inf, max, 0)``; else None. The stable composites subtract
    such a shift (``x - max(x)``), and the rewrites leave that form whole."""
    if m.op == "where":
        m = m.inputs[1]
    if m.op == "stop_gradient":
        m = m.inputs[0]
    return m if m.op == "max" else None
