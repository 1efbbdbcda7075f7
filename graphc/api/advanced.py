"""NumPy advanced indexing and JAX-style functional updates, built on ``gather``.

``x[idx]`` with integer index tensors (or lists/arrays) follows NumPy: index arrays (and
integers next to them) broadcast together; their result axes replace the indexed axes
where those are adjacent, else they come first. One index tensor is one ``gather``
along its axis (fused into the consumer's loads on C/CUDA); several are flattened
(``ravel_multi_index`` into a reshaped ``x``) into one ``gather``. Negative indices
wrap as in NumPy; an index still out of range is an ``IndexError`` at run time on the
numpy backend (C and CUDA clamp it into the axis: memory-safe, but not an error).
A boolean mask has a data-dependent shape and is refused: use ``gc.where``.

``x.at[idx].add(v)`` and friends (JAX's spelling) return a new tensor: the update is
the transpose of ``x[idx]`` applied to ``v`` (a ``pad`` for basic slices, a
``scatter_add`` for index tensors), so gradients flow to ``x`` and ``v``.

>>> import graphc as gc, numpy as np
>>> E = gc.constant(np.arange(8.).reshape(4, 2))
>>> tokens = gc.constant(np.array([[3, 0], [-1, 1]]))
>>> gc.evaluate(E[tokens]).shape
(2, 2, 2)
>>> gc.evaluate(E.at[[0, 0, 2]].add(1.0))[:, 0]
array([2., 2., 5., 6.])
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from ..errors import ShapeError, UsageError
from ..ir import Tensor, broadcast_dims, format_shape, user_location
from ..ops import OPS
from ..ops.gather import gather_node, scatter_add_node
from .data import constant, lift
from .elementwise import add, cast, div, greater, maximum, minimum, mul, where
from .indexing import getitem as basic_getitem
from .structure import broadcast_to, normalize_axes, reshape, transpose


def _is_array_index(k) -> bool:
    return isinstance(k, (Tensor, list, np.ndarray))


def _index_tensor(x: Tensor, k) -> Tensor:
    """An index entry as an int64 tensor (lists and arrays lifted); masks refused."""
    if not isinstance(k, Tensor):
        arr = np.asarray(k)
        if arr.dtype.kind == "b":
            k = arr
        elif arr.size == 0:
            arr = arr.astype(np.int64)
        k = constant(arr) if arr.dtype.kind != "b" else None
        if k is None:
            raise _mask_error(x)
    if k.dtype.kind == "b":
        raise _mask_error(x)
    if k.dtype.kind not in "iu":
        raise UsageError(f"indexing {format_shape(x.dims)}: index arrays must be integers, "
                         f"got {k.dtype} ({user_location()})")
    return k if k.dtype == np.int64 else cast(k, "int64")


def _mask_error(x: Tensor) -> UsageError:
    return UsageError(f"indexing {format_shape(x.dims)}: a boolean mask selects a number of "
                      f"elements known only at run time, and graphc's shapes are static; "
                      f"use gc.where(mask, x, fill) to keep the shape, or integer indices "
                      f"({user_location()})")


def wrap_negative(idx: Tensor, size, x: Tensor, axis: int) -> Tensor:
    """``idx`` with negative entries counted from the end of an axis of ``size``."""
    if isinstance(size, str):
        raise ShapeError(f"indexing {format_shape(x.dims)}: axis {axis} has a size known only "
                         f"at run time; it cannot take an index array ({user_location()})")
    return where(idx < 0, idx + size, idx)


def take(x, indices, axis=None) -> Tensor:
    """``np.take``: the slices of ``x`` at ``indices`` along ``axis`` (``None``: of the
    flattened ``x``); negative indices wrap.

    >>> import graphc as gc
    >>> gc.evaluate(gc.take(gc.constant([[1., 2.], [3., 4.]]), [1, -1], axis=1))
    array([[2., 2.],
           [4., 4.]], dtype=float32)
    """
    (x,) = lift([x])
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axes(x, axis, "take")
    idx = _index_tensor(x, indices)
    return gather_node(x, wrap_negative(idx, x.dims[axis], x, axis), axis)


def gather(x, indices, axis: int = 0) -> Tensor:
    """The ``gather`` primitive: ``np.take(x, indices, axis)`` along one axis (``indices``
    of any shape replace that axis; negative indices wrap). Same as ``take`` with an axis.

    >>> import graphc as gc
    >>> gc.gather(gc.placeholder("E", (100, 8)), gc.placeholder("t", (None, 5), "int64")).shape
    (None, 5, 8)
    """
    return take(x, indices, axis)


def scatter_add(x, indices, updates, axis: int = 0) -> Tensor:
    """``x`` with the slices of ``updates`` added at ``indices`` along ``axis``
    (``np.add.at``; duplicate indices sum; negative indices wrap): the ``scatter_add``
    primitive, which is ``gather``'s transpose (torch's ``index_add``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.scatter_add(gc.constant([0., 0., 0.]), [2, 2, -3], [1., 2., 5.]))
    array([5., 0., 3.], dtype=float32)
    """
    (x,) = lift([x])
    (axis,) = normalize_axes(x, axis, "scatter_add")
    idx = wrap_negative(_index_tensor(x, indices), x.dims[axis], x, axis)
    (u,) = lift([updates])
    u = u if u.dtype == x.dtype else cast(u, x.dtype)
    return add(x, scatter_add_node(u, idx, axis, x.dims))


def take_along_axis(x, indices, axis: int) -> Tensor:
    """``np.take_along_axis``: ``out[..., j, ...] = x[..., indices[..., j, ...], ...]``
    (``indices`` has ``x``'s rank; its other axes broadcast against ``x``'s).

    >>> import graphc as gc
    >>> x = gc.constant([[10., 30., 20.]])
    >>> gc.evaluate(gc.take_along_axis(x, [[1, 0]], axis=1))
    array([[30., 10.]], dtype=float32)
    """
    (x,) = lift([x])
    (axis,) = normalize_axes(x, axis, "take_along_axis")
    idx = _index_tensor(x, indices)
    if idx.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices {format_shape(idx.dims)} need the rank "
                         f"of {format_shape(x.dims)} ({user_location()})")
    grids = [idx if k == axis else constant(np.arange(d).reshape(
        [d if j == k else 1 for j in range(x.ndim)])) for k, d in enumerate(x.dims)]
    return getitem(x, tuple(grids))


def getitem(x, index) -> Tensor:
    """``x[index]``: NumPy's basic and advanced indexing (what ``x[...]`` calls).

    >>> import graphc as gc, numpy as np
    >>> x = gc.placeholder("x", (None, 5, 4))
    >>> x[:, [0, 2]].shape, x[:, [[1], [2]], [0, 1, 3]].shape, x[:, 0, [1, -1]].shape
    ((None, 2, 4), (None, 2, 3), (None, 2))
    """
    entries = list(index) if isinstance(index, tuple) else [index]
    if not any(_is_array_index(k) for k in entries):
        return basic_getitem(x, index)
    (x,) = lift([x])
    if any(k is None for k in entries):
        raise UsageError(f"indexing {format_shape(x.dims)}: None (newaxis) together with "
                         f"index arrays is not supported; add the axis with a reshape "
                         f"first ({user_location()})")
    if builtins.sum(e is Ellipsis for e in entries) > 1:
        raise ShapeError(f"indexing {format_shape(x.dims)}: an index can only have a single "
                         f"ellipsis ('...') ({user_location()})")
    ellipsis = [k for k, e in enumerate(entries) if e is Ellipsis]
    if len(entries) - len(ellipsis) > x.ndim:
        raise ShapeError(f"indexing {format_shape(x.dims)}: too many indices "
                         f"({len(entries)}) for {x.ndim} dimensions ({user_location()})")
    if ellipsis:
        at = ellipsis[0]
        entries[at:at + 1] = [slice(None)] * (x.ndim - len(entries) + 1)
    entries += [slice(None)] * (x.ndim - len(entries))
    # basic slices first (axes kept), then the advanced axes (integers count as 0-d arrays)
    x = basic_getitem(x, tuple(k if isinstance(k, slice) else slice(None) for k in entries))
    axes = [a for a, k in enumerate(entries) if not isinstance(k, slice)]
    idxs = [wrap_negative(_index_tensor(x, k), x.dims[a], x, a)
            for a, k in zip(axes, (entries[a] for a in axes))]
    dims = broadcast_dims([i.dims for i in idxs])
    if dims is None:
        raise ShapeError(f"indexing {format_shape(x.dims)}: index arrays of shapes "
                         f"{', '.join(format_shape(i.dims) for i in idxs)} do not broadcast "
                         f"together ({user_location()})")
    idxs = [i if i.dims == dims else broadcast_to(i, dims) for i in idxs]
    adjacent = axes == list(range(axes[0], axes[-1] + 1))
    if not adjacent:  # NumPy puts the index axes first: move the indexed axes there
        rest = [a for a in range(x.ndim) if a not in axes]
        x = transpose(x, tuple(axes + rest))
        axes = list(range(len(axes)))
    first = axes[0]
    if len(axes) == 1:
        return gather_node(x, idxs[0], first)
    sizes = [x.dims[a] for a in axes]
    flat = idxs[-1]
    stride = 1
    for i, d in zip(reversed(idxs[:-1]), reversed(sizes[1:])):
        stride *= d
        flat = add(flat, mul(i, stride))
    merged = x.dims[:first] + (math.prod(sizes),) + x.dims[axes[-1] + 1:]
    return gather_node(reshape(x, merged), flat, first)



def scatter_into(x: Tensor, index, v) -> Tensor:
    """Zeros of ``x``'s shape with ``v`` (broadcast to ``x[index]``'s shape) added where
    ``x[index]`` reads: the transpose of the indexing, applied to ``v`` (pads for basic
    slices, ``scatter_add`` for index arrays; duplicate indices sum)."""
    y = getitem(x, index)
    (v,) = lift([v])
    g = v if v.dtype == x.dtype else cast(v, x.dtype)
    g = g if g.dims == y.dims else broadcast_to(g, y.dims)
    n = y
    while n is not x:   # indexing is a chain of linear ops on input 0 from x to y
        vjp = OPS[n.op].vjp
        assert vjp is not None  # slicing, reshapes and gathers all declare theirs
        g = vjp(n, g)[0]
        n = n.inputs[0]
    return g


class IndexUpdate:
    """``x.at[index]``: functional updates of the elements ``x[index]`` selects (JAX's
    spelling); each method returns a new tensor, and gradients flow to ``x`` and the
    values.

    Duplicate indices: ``add`` sums every update (as JAX does); ``set`` writes the mean
    of the values aimed at one element for floats (JAX leaves which one wins
    unspecified; with unique indices both are the value itself); ``multiply``, ``min``
    and ``max`` assume unique indices (with duplicates the values are summed first).

    >>> import graphc as gc
    >>> x = gc.constant([1., 2., 3.])
    >>> gc.evaluate(x.at[1:].set(0.)), gc.evaluate(x.at[[0, 0]].add(5.))
    (array([1., 0., 0.], dtype=float32), array([11.,  2.,  3.], dtype=float32))
    >>> gc.evaluate(x.at[[2]].min(0.5)), gc.evaluate(x.at[-1].multiply(2.))
    (array([1. , 2. , 0.5], dtype=float32), array([1., 2., 6.], dtype=float32))
    """

    def __init__(self, x: Tensor, index):
        self.x, self.index = x, index

    def _hits(self) -> Tensor:
        """How many updates land on each element of ``x``."""
        return scatter_into(self.x, self.index, 1)

    def add(self, v) -> Tensor:
        return add(self.x, scatter_into(self.x, self.index, v))

    def set(self, v) -> Tensor:
        hits = self._hits()
        written = scatter_into(self.x, self.index, v)
        if self.x.dtype.kind == "f":
            written = div(written, maximum(hits, 1))
        return where(greater(hits, 0), written, self.x)

    def _combine(self, fn, v) -> Tensor:
        hits = self._hits()
        return where(greater(hits, 0), fn(self.x, scatter_into(self.x, self.index, v)), self.x)

    def multiply(self, v) -> Tensor:
        return self._combine(mul, v)

    def min(self, v) -> Tensor:
        return self._combine(minimum, v)

    def max(self, v) -> Tensor:
        return self._combine(maximum, v)


class AtIndexer:
    """What ``x.at`` is: ``x.at[index]`` is an ``IndexUpdate``."""

    def __init__(self, x: Tensor):
        self.x = x

    def __getitem__(self, index) -> IndexUpdate:
        return IndexUpdate(self.x, index)
