"""Data-dependent indexing primitives: ``gather`` and its transpose ``scatter_add``.

``gather(x, idx, axis)`` is ``np.take(x, idx, axis)``: ``out[..., j, ...] =
x[..., idx[j], ...]`` with ``idx`` of any shape (its axes replace ``axis``).
``scatter_add(u, idx, axis, shape)`` is zeros of ``shape`` with the slices of ``u`` added
at ``idx`` along ``axis`` (duplicates summed, ``np.add.at``). Each is the other's
vector-Jacobian product. Both take indices already in ``[0, size)``: the API
(``graphc.api.advanced``) wraps negative indices as NumPy does before binding them.
An index out of range is an ``IndexError`` in the reference implementation.

>>> import numpy as np
>>> _gather_impl(np.arange(6.).reshape(3, 2), np.array([2, 0, 2]), axis=0)
array([[4., 5.],
       [0., 1.],
       [4., 5.]])
>>> _scatter_add_impl(np.ones((3, 1)), np.array([2, 0, 2]), axis=0, shape=(3, 1))
array([[1.],
       [0.],
       [2.]])
"""
from __future__ import annotations

import numpy as np

from ..bind import OpDef, bind, declare
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


def _scatter_add_impl(u, idx, axis, shape):
    check_index_range(idx, shape[axis], "scatter_add", axis)
    out = np.zeros(shape, dtype=u.dtype)
    # u's index axes moved to the front, one slice of out per index (np.add.at's layout)
    moved = np.moveaxis(u.reshape(shape[:axis] + (idx.size,) + tuple(shape[axis + 1:])), axis, 0)
    np.add.at(np.moveaxis(out, axis, 0), idx.reshape(-1), moved)
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


def _scatter_add_shape(inputs, attrs):
    u, idx = inputs
    axis, shape = attrs["axis"], tuple(attrs["shape"])
    if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < len(shape):
        raise ShapeError(f"scatter_add: axis must be an int in [0, {len(shape)}) for "
                         f"{format_shape(shape)}, got {axis!r}")
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"scatter_add: indices must be integers, got {idx.dtype}")
    expected = shape[:axis] + idx.dims + shape[axis + 1:]
    # a run-time dim matches any size (broadcasting may have unified two of them)
    if len(u.dims) != len(expected) or any(a != b and not (isinstance(a, str) or isinstance(
            b, str)) for a, b in zip(u.dims, expected)):
        raise ShapeError(f"scatter_add: updates of shape {format_shape(u.dims)} do not match "
                         f"{format_shape(expected)} (indices {format_shape(idx.dims)} into "
                         f"axis {axis} of {format_shape(shape)})")
    return shape, u.dtype


def gather_node(x: Tensor, idx: Tensor, axis: int) -> Tensor:
    return bind("gather", x, idx, axis=int(axis))


def scatter_add_node(u: Tensor, idx: Tensor, axis: int, shape) -> Tensor:
    return bind("scatter_add", u, idx, axis=int(axis), shape=tuple(shape))


declare(OpDef(name="gather", arity=2, kind="gather", impl=_gather_impl, shape=_gather_shape,
              vjp=lambda n, g: [scatter_add_node(g, n.inputs[1], n.attr("axis"),
                                                 n.inputs[0].dims), None],
              jvp=lambda n, t: None if t[0] is None else
              gather_node(t[0], n.inputs[1], n.attr("axis")),
              cost=1, doc="np.take(x, idx, axis): slices of x at data-dependent indices"))
declare(OpDef(name="scatter_add", arity=2, kind="scatter", sizes=True,
              impl=_scatter_add_impl, shape=_scatter_add_shape,
              vjp=lambda n, g: [gather_node(g, n.inputs[1], n.attr("axis")), None],
              jvp=lambda n, t: None if t[0] is None else
              scatter_add_node(t[0], n.inputs[1], n.attr("axis"), n.dims),
              cost=2, doc="zeros of shape with u's slices added at idx along axis "
                          "(np.add.at: duplicates summed)"))
