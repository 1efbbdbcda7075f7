"""Scans and orderings along an axis: ``cumsum``, ``cumprod``, ``logcumsumexp``,
``cummax``, ``cummin``, ``argsort``, ``sort`` and ``top_k``, with NumPy's (and for ``top_k``, JAX's and torch's)
spelling and semantics, on the line primitives of ``graphc.ops.lines``.

``axis=None`` flattens first, as NumPy does. ``sort`` and ``top_k`` read their values with
``take_along_axis`` at the indices ``argsort`` found, so gradients flow to the values
through ``gather`` (a ``scatter_add`` back); the indices themselves have no gradient.
With run-time (``None``) sizes they select each value from its line instead (a fused row
reduction, O(n) per value; see ``_take_along_line``).

>>> import graphc as gc
>>> x = gc.constant([[3., 1., 2.], [0., 5., 4.]])
>>> gc.evaluate(gc.cumsum(x, axis=1))
array([[3., 4., 6.],
       [0., 5., 9.]], dtype=float32)
>>> values, indices = gc.top_k(x, 2)
>>> gc.evaluate(values), gc.evaluate(indices)
(array([[3., 2.],
       [5., 4.]], dtype=float32), array([[0, 2],
       [1, 2]]))
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location
from ..ops.lines import argsort_node, extreme_node, scan_node
from .advanced import take_along_axis
from .arrange import moveaxis
from .data import check_dtype, constant, lift
from .elementwise import cast, equal, where
from .indexing import expand_dims
from .structure import broadcast_to, reshape, sum


def _line_axis(x: Tensor, axis, what: str) -> tuple[Tensor, int]:
    """(``x``, the axis as a non-negative int); ``axis=None``: ``x`` flattened, axis 0."""
    if axis is None:
        return (x if x.ndim == 1 else reshape(x, (-1,))), 0
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool) \
            or not -x.ndim <= int(axis) < x.ndim:
        raise ShapeError(f"{what}: axis {axis!r} is out of range for shape "
                         f"{format_shape(x.dims)} ({user_location()})")
    return x, int(axis) % x.ndim


def _accumulation_input(x, axis, dtype, what: str) -> tuple[Tensor, int]:
    """NumPy's accumulator dtype: ``dtype`` if given; bools and integers narrower than
    int64 accumulate in int64 (the platform integer); floats in their own dtype."""
    (x,) = lift([x])
    if x.ndim == 0:
        x = reshape(x, (1,))
    x, axis = _line_axis(x, axis, what)
    if dtype is not None:
        target = check_dtype(dtype, what)
    elif x.dtype.kind in "biu":
        target = np.dtype("int64")
    else:
        target = x.dtype
    return cast(x, target), axis


def cumsum(x, axis=None, dtype=None) -> Tensor:
    """Running sum along ``axis`` (``np.cumsum``; ``axis=None``: of the flattened tensor).
    Integers and bools add up in int64 unless ``dtype`` says otherwise.

    >>> import graphc as gc
    >>> gc.evaluate(gc.cumsum(gc.constant([[1, 2], [3, 4]])))
    array([ 1,  3,  6, 10])
    """
    x, axis = _accumulation_input(x, axis, dtype, "cumsum")
    return scan_node("cumsum", x, axis)


def cumprod(x, axis=None, dtype=None) -> Tensor:
    """Running product along ``axis`` (``np.cumprod``). Its gradient is exact with zeros
    in the input (O(n) per line; see ``graphc.ops.lines``).

    >>> import graphc as gc
    >>> x = gc.parameter("x", [2., 0., 3.])
    >>> gc.evaluate(gc.grad(gc.cumprod(x).sum(), x))
    array([1., 8., 0.], dtype=float32)
    """
    x, axis = _accumulation_input(x, axis, dtype, "cumprod")
    return scan_node("cumprod", x, axis)


def logcumsumexp(x, axis=None) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``axis``, computed stably (``np.logaddexp.accumulate``;
    JAX's and torch's ``logcumsumexp``): large inputs neither overflow nor lose the
    small terms, forward or backward.

    >>> import graphc as gc
    >>> gc.evaluate(gc.logcumsumexp(gc.constant([1000., 1000.], "float64"))).tolist()
    [1000.0, 1000.6931471805599]
    """
    (x,) = lift([x])
    if x.ndim == 0:
        x = reshape(x, (1,))
    x, axis = _line_axis(x, axis, "logcumsumexp")
    return scan_node("logcumsumexp", x, axis)


def _running_extreme(x, axis, op: str) -> Tensor:
    (x,) = lift([x])
    if x.ndim == 0:
        x = reshape(x, (1,))
    x, axis = _line_axis(x, axis, op)
    if x.dtype.kind != "f":
        return extreme_node(op, x, axis)   # integers and bools: no gradient to route
    # the index of the running extreme (the latest element that set or tied it; NaN
    # sets it for good): its value is the extreme's, and gradients flow to it
    return _take_along_line(x, extreme_node(op, x, axis, index=True), axis, op)


def cummax(x, axis=None) -> Tensor:
    """Running maximum along ``axis`` (``np.maximum.accumulate``, ``jax.lax.cummax``;
    ``axis=None``: of the flattened tensor); NaN propagates. The gradient goes to the
    element holding the maximum (the latest of ties, as ``torch.cummax``). With run-time
    sizes each value is selected from its line (O(n^2) per line; known sizes: a gather).

    >>> import graphc as gc
    >>> x = gc.parameter("x", [1., 3., 2., 3.])
    >>> gc.evaluate(gc.cummax(x)), gc.evaluate(gc.grad(gc.cummax(x).sum(), x))
    (array([1., 3., 3., 3.], dtype=float32), array([1., 2., 0., 1.], dtype=float32))
    """
    return _running_extreme(x, axis, "cummax")


def cummin(x, axis=None) -> Tensor:
    """Running minimum along ``axis`` (``np.minimum.accumulate``); as ``cummax``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.cummin(gc.constant([[3, 1, 2]]), axis=1))
    array([[3, 1, 1]])
    """
    return _running_extreme(x, axis, "cummin")


def argsort(x, axis=-1, stable=True, descending=False) -> Tensor:
    """Indices (int64) that sort ``x`` along ``axis``: ``np.argsort(x, axis, stable=True)``
    (NaN sorts last), or the array API's ``descending=True`` (largest first, NaN first,
    ties still in index order). Always stable. No gradient: it is an index.

    >>> import graphc as gc
    >>> gc.evaluate(gc.argsort(gc.constant([2., float("nan"), 1., 2.])))
    array([2, 0, 3, 1])
    """
    (x,) = lift([x])
    if x.ndim == 0:
        x = reshape(x, (1,))
    x, axis = _line_axis(x, axis, "argsort")
    if x.dtype.kind == "b":
        x = cast(x, "int32")
    return argsort_node(x, axis, bool(descending))


def _take_along_line(x: Tensor, idx: Tensor, axis: int, what: str) -> Tensor:
    """``take_along_axis(x, idx, axis)`` for the indices ``argsort`` found (in range).
    With every size known: a ``gather`` (O(1) per element). With run-time sizes (which
    ``take_along_axis`` cannot flatten): each output selects its element from the whole
    line, ``sum(where(idx == j, x[j], 0) over j)``, one fused row reduction (O(n) per
    output element: O(n * k) per line for ``top_k``, O(n^2) for ``sort``); the positions
    ``j`` along a run-time axis are a running count."""
    if not any(isinstance(d, str) for d in x.dims):
        return take_along_axis(x, idx, axis)
    n, last = x.dims[axis], x.ndim - 1
    xs, ids = moveaxis(x, axis, last), moveaxis(idx, axis, last)
    if isinstance(n, str):   # positions along a run-time axis: a running count of ones
        ones = broadcast_to(constant(np.ones((), np.int64)), xs.dims)
        positions = expand_dims(scan_node("cumsum", ones, last) - 1, -2)
    else:
        positions = constant(np.arange(n, dtype=np.int64))
    hit = equal(expand_dims(ids, -1), positions)
    picked = sum(where(hit, expand_dims(xs, -2), _zero(x)), axis=-1)
    return moveaxis(picked, last, axis)


def _zero(x: Tensor) -> Tensor:
    return constant(np.zeros((), dtype=x.dtype))


def sort(x, axis=-1, stable=True, descending=False) -> Tensor:
    """``x`` sorted along ``axis`` (``np.sort``; NaN last; ``descending``: largest first).
    Gradients flow to the elements through their positions.

    >>> import graphc as gc
    >>> gc.evaluate(gc.sort(gc.constant([[3., 1., 2.]])))
    array([[1., 2., 3.]], dtype=float32)
    """
    (x,) = lift([x])
    if x.ndim == 0:
        x = reshape(x, (1,))
    x, axis = _line_axis(x, axis, "sort")
    return _take_along_line(x, argsort(x, axis, stable, descending), axis, "sort")


def top_k(x, k) -> tuple[Tensor, Tensor]:
    """The ``k`` largest elements along the last axis and their indices (int64), largest
    first, ties in index order, NaN largest: ``jax.lax.top_k`` / ``torch.topk``. ``k`` is
    a static int. Gradients flow through the values.

    >>> import graphc as gc
    >>> values, indices = gc.top_k(gc.constant([1., 3., 3., 2.]), 2)
    >>> gc.evaluate(indices)
    array([1, 2])
    """
    (x,) = lift([x])
    if x.ndim == 0:
        raise ShapeError(f"top_k: needs at least one axis, got a scalar ({user_location()})")
    n = x.dims[-1]
    if isinstance(n, str):
        raise ShapeError(f"top_k: the last axis of {format_shape(x.dims)} has a size known "
                         f"only at run time, so k cannot be checked against it; give it a "
                         f"size ({user_location()})")
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise UsageError(f"top_k: k must be an int, got {k!r} ({user_location()})")
    if not 0 <= int(k) <= n:
        raise ShapeError(f"top_k: k={k} is out of range for the last axis of "
                         f"{format_shape(x.dims)} (size {n}) ({user_location()})")
    (lifted,) = lift([x])
    keys = cast(lifted, "int32") if lifted.dtype.kind == "b" else lifted
    indices = argsort_node(keys, x.ndim - 1, descending=True, count=int(k))
    return _take_along_line(x, indices, x.ndim - 1, "top_k"), indices
