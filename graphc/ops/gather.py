"""Data-dependent indexing primitives: ``gather`` and its transpose, ``scatter``.

``gather(x, idx, axis)`` is ``np.take(x, idx, axis)``: ``out[..., j, ...] =
x[..., idx[j], ...]`` with ``idx`` of any shape (its axes replace ``axis``).
``scatter(u, idx, axis, shape, combine)`` is ``shape`` filled with the identity of
``combine`` with the slices of ``u`` combined at ``idx`` along ``axis``, duplicates
included: ``add`` sums them (``np.add.at``; gather's vector-Jacobian product, and
gather is its), ``mul`` multiplies, ``min``/``max`` keep the extreme
(``np.multiply.at``, ``np.minimum.at``, ``np.maximum.at``): what ``x.at[idx]``'s
``add``, ``multiply``, ``min`` and ``max`` combine with ``x``. Both take indices already
in ``[0, size)``: the API (``graphc.api.advanced``) wraps negative indices as NumPy does
before binding them.
An index out of range is an ``IndexError`` in the reference implementation.

>>> import numpy as np
>>> _gather_impl(np.arange(6.).reshape(3, 2), np.array([2, 0, 2]), axis=0)
array([[4., 5.],
       [0., 1.],
       [4., 5.]])
>>> _scatter_impl(np.ones((3, 1)), np.array([2, 0, 2]), axis=0, shape=(3, 1), combine="add")
array([[1.],
       [0.],
       [2.]])
>>> _scatter_impl(np.array([3., 5., 4.]), np.array([2, 0, 2]), axis=0, shape=(3,), combine="min")
array([ 5., inf,  3.])
"""
from __future__ import annotations

import numpy as np

from ..bind import OpDef, bind, constant_node, declare
from ..errors import DTypeError, ShapeError
from ..ir import Tensor, format_shape


def check_index_range(idx: np.ndarray, size: int, op: str, axis: int) -> None:
    """Raise a clear ``IndexError`` naming the first index outside ``[0, size)``."""
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        bad = idx[(idx < 0) | (idx >= size)].flat[0]
        raise IndexError(f"{op}: index {bad} is out of bounds for axis {axis} of size {size}")


def _gather_impl(x, idx, axis):
    check_index_range(idx, x.shape[axis], "gather", axis)
    return np.take(x, idx, axis=axis)


# how a scatter combines the values aimed at one element, and the value of an element
# nothing is aimed at (the combination's identity)
SCATTER_COMBINES = {"add": np.add, "mul": np.multiply, "min": np.minimum, "max": np.maximum}


def scatter_identity(combine: str, dtype) -> np.generic:
    """The fill of a ``scatter`` with ``combine``: 0, 1, the largest or the smallest value
    of ``dtype`` (infinities for floats)."""
    dtype = np.dtype(dtype)
    if combine in ("add", "mul"):
        return dtype.type(combine == "mul")
    if dtype.kind == "f":
        return dtype.type(np.inf if combine == "min" else -np.inf)
    if dtype.kind == "b":
        return np.bool_(combine == "min")
    info = np.iinfo(dtype)
    return dtype.type(info.max if combine == "min" else info.min)


def _scatter_impl(u, idx, axis, shape, combine):
    check_index_range(idx, shape[axis], f"scatter ({combine})", axis)
    out = np.full(shape, scatter_identity(combine, u.dtype), dtype=u.dtype)
    # u's index axes moved to the front, one slice of out per index (ufunc.at's layout)
    moved = np.moveaxis(u.reshape(shape[:axis] + (idx.size,) + tuple(shape[axis + 1:])), axis, 0)
    SCATTER_COMBINES[combine].at(np.moveaxis(out, axis, 0), idx.reshape(-1), moved)
    return out


def _check_axis_and_index(x: Tensor, idx: Tensor, axis, op: str) -> None:
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices must be integers, got {idx.dtype}")
    if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < x.ndim:
        raise ShapeError(f"{op}: axis must be an int in [0, {x.ndim}) for "
                         f"{format_shape(x.dims)}, got {axis!r}")


def _gather_shape(inputs, attrs):
    x, idx = inputs
    axis = attrs["axis"]
    _check_axis_and_index(x, idx, axis, "gather")
    return x.dims[:axis] + idx.dims + x.dims[axis + 1:], x.dtype


def _scatter_shape(inputs, attrs):
    u, idx = inputs
    axis, shape = attrs["axis"], tuple(attrs["shape"])
    if attrs.get("combine") not in SCATTER_COMBINES:
        raise ShapeError(f"scatter: combine must be one of {sorted(SCATTER_COMBINES)}, got "
                         f"{attrs.get('combine')!r}")
    if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < len(shape):
        raise ShapeError(f"scatter: axis must be an int in [0, {len(shape)}) for "
                         f"{format_shape(shape)}, got {axis!r}")
    if u.dtype.kind == "b" and attrs["combine"] != "add":
        raise DTypeError(f"scatter: bool values cannot be combined with "
                         f"{attrs['combine']!r}; cast them to int32 (or use gc.where)")
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"scatter: indices must be integers, got {idx.dtype}")
    expected = shape[:axis] + idx.dims + shape[axis + 1:]
    # a run-time dim matches any size (broadcasting may have unified two of them)
    if len(u.dims) != len(expected) or any(a != b and not (isinstance(a, str) or isinstance(
            b, str)) for a, b in zip(u.dims, expected)):
        raise ShapeError(f"scatter: updates of shape {format_shape(u.dims)} do not match "
                         f"{format_shape(expected)} (indices {format_shape(idx.dims)} into "
                         f"axis {axis} of {format_shape(shape)})")
    return shape, u.dtype


def gather_node(x: Tensor, idx: Tensor, axis: int) -> Tensor:
    return bind("gather", x, idx, axis=int(axis))


def scatter_node(u: Tensor, idx: Tensor, axis: int, shape, combine: str = "add") -> Tensor:
    return bind("scatter", u, idx, axis=int(axis), shape=tuple(shape), combine=combine)


def scatter_add_node(u: Tensor, idx: Tensor, axis: int, shape) -> Tensor:
    return scatter_node(u, idx, axis, shape, "add")


def _scatter_weights(n: Tensor) -> Tensor:
    """d out[idx[j]] / d u[j] of scatter ``n`` as a tensor of u's shape. ``mul``: the
    product of the other values aimed at the element (zero-safe: the values that are 0
    are counted, never divided by); ``min``/``max``: 1/k for each of the k values that
    attain the result, 0 for the others (the gradient is split equally between ties,
    as ``np.max``'s and JAX's scatter_min/max's are)."""
    u, idx = n.inputs
    axis, shape, dt = n.attr("axis"), n.dims, n.dtype
    one, zero = constant_node(1.0, dt), constant_node(0.0, dt)
    if n.attr("combine") == "mul":
        is_zero = bind("equal", u, zero)
        zeros_at = gather_node(scatter_node(bind("cast", is_zero, dtype=dt.name), idx, axis,
                                            shape, "add"), idx, axis)
        nonzero = bind("where", is_zero, one, u)
        product = gather_node(scatter_node(nonzero, idx, axis, shape, "mul"), idx, axis)
        return bind("where", is_zero,
                    bind("where", bind("equal", zeros_at, one), product, zero),
                    bind("where", bind("equal", zeros_at, zero),
                         bind("div", product, nonzero), zero))
    attains = bind("equal", u, gather_node(n, idx, axis))
    ties = gather_node(scatter_node(bind("cast", attains, dtype=dt.name), idx, axis, shape,
                                    "add"), idx, axis)
    return bind("where", attains, bind("div", one, bind("maximum", ties, one)), zero)


def _scatter_vjp(n: Tensor, g: Tensor) -> list:
    back = gather_node(g, n.inputs[1], n.attr("axis"))
    if n.attr("combine") == "add":
        return [back, None]
    return [bind("mul", back, _scatter_weights(n)), None]


def _scatter_jvp(n: Tensor, t: list) -> Tensor | None:
    if t[0] is None:
        return None
    tu = t[0] if n.attr("combine") == "add" else bind("mul", t[0], _scatter_weights(n))
    return scatter_node(tu, n.inputs[1], n.attr("axis"), n.dims, "add")


declare(OpDef(name="gather", arity=2, kind="gather", impl=_gather_impl, shape=_gather_shape,
              vjp=lambda n, g: [scatter_add_node(g, n.inputs[1], n.attr("axis"),
                                                 n.inputs[0].dims), None],
              jvp=lambda n, t: None if t[0] is None else
              gather_node(t[0], n.inputs[1], n.attr("axis")),
              cost=1, doc="np.take(x, idx, axis): slices of x at data-dependent indices"))
declare(OpDef(name="scatter", arity=2, kind="scatter", sizes=True,
              impl=_scatter_impl, shape=_scatter_shape, vjp=_scatter_vjp, jvp=_scatter_jvp,
              cost=2, doc="the identity of combine (0, 1, +inf, -inf) in shape, with u's "
                          "slices combined (add, mul, min, max) at idx along axis, "
                          "duplicates included (np.add.at, np.multiply.at, ...)"))
