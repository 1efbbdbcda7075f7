"""What ``gc.compile`` checks about the updates and parameters of a function before any
pass runs: the (parameter, new value) pairs, and one name per parameter.

>>> import graphc as gc
>>> w = gc.parameter("w", [1.0, 2.0, 3.0])
>>> try:
...     normalize_updates({w: gc.sum(w)})
... except gc.ShapeError as e:
...     print(str(e).split(" (use")[0])
updates: new value of parameter 'w' has shape (), the parameter has shape (3,)
"""
from __future__ import annotations

import numpy as np

from . import api as A
from .errors import CompileError, DTypeError, ShapeError
from .ir import Tensor, format_shape

_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < float


def normalize_updates(updates) -> list[tuple[Tensor, Tensor]]:
    """``updates`` (a dict or a list of pairs) as checked (parameter, new value) pairs: each
    parameter once, the value a tensor of the parameter's dtype (never a lossy cast) and
    shape (never broadcast, except a plain number, which fills the parameter)."""
    if updates is None:
        return []
    try:
        pairs = list(updates.items()) if isinstance(updates, dict) else list(updates)
    except TypeError:
        raise CompileError("updates must be a dict {parameter: new_value} or a list of "
                           f"(parameter, new_value) pairs, got {type(updates).__name__}") from None
    out, seen = [], set()
    for item in pairs:
        try:
            p, v = item
        except (TypeError, ValueError):
            raise CompileError("updates must be a dict {parameter: new_value} or a list of "
                               "(parameter, new_value) pairs") from None
        if not isinstance(p, Tensor) or p.op != "parameter":
            raise CompileError(f"updates: keys must be parameters, got {p!r}")
        if id(p) in seen:
            raise CompileError(f"updates: parameter {p.name!r} is updated twice")
        seen.add(id(p))
        fill = not isinstance(v, Tensor) and np.ndim(v) == 0  # {w: 0.5}: every element 0.5
        if not isinstance(v, Tensor):
            v = A.constant(v, p.dtype)
        if v.dtype != p.dtype:
            # a float into an integer (or a number into a bool) parameter would silently
            # truncate every step: refused, the user casts explicitly if that is meant
            if _KIND_RANK[v.dtype.kind] > _KIND_RANK[p.dtype.kind]:
                raise DTypeError(f"updates: new value of parameter {p.name!r} has dtype "
                                 f"{v.dtype}, the parameter has dtype {p.dtype} (use gc.cast "
                                 f"if truncating is meant)")
            v = A.cast(v, p.dtype)
        # a computed value is never broadcast: a scalar into a (3,) parameter is a mistake
        # far more often than a wish (a run-time size meets the parameter's when it runs)
        if fill:
            v = A.broadcast_to(v, p.dims)
        elif len(v.dims) != len(p.dims) or not all(
                a == b or isinstance(a, str) or isinstance(b, str) for a, b in zip(v.dims, p.dims)):
            raise ShapeError(f"updates: new value of parameter {p.name!r} has shape "
                             f"{format_shape(v.dims)}, the parameter has shape "
                             f"{format_shape(p.dims)} (use gc.broadcast_to(value, "
                             f"{format_shape(p.dims)}) if broadcasting is meant)")
        out.append((p, v))
    return out


def check_parameter_names(order: list[Tensor]) -> None:
    """Two different parameters of one function may not share a name: they would collide
    in saved parameter files and exports (one would silently take the other's value)."""
    seen: dict[str | None, Tensor] = {}
    for n in order:
        if n.op != "parameter":
            continue
        other = seen.setdefault(n.name, n)
        if other is not n:
            raise CompileError(f"compile: two different parameters are named {n.name!r} "
                               f"(created at {other.location} and {n.location}, shapes "
                               f"{format_shape(other.dims)} and {format_shape(n.dims)}); "
                               f"give each parameter of a function its own name")
