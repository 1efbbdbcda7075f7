"""Statistics and shortcuts composed from primitives: ``var``, ``std``, ``norm``,
``logaddexp``, ``log_sigmoid``, ``argmax`` and ``argmin`` (NumPy's names and semantics).

Each is a composition, so gradients, printing and code generation come from the
primitives. ``argmax`` is the smallest index where ``x`` equals its max (NumPy's "first
index wins" for ties): a ``min`` over ``where(x == max, iota, n)``.

>>> import graphc as gc
>>> x = gc.constant([[1., 2., 3.], [4., 6., 8.]], "float64")
>>> gc.evaluate(gc.var(x, axis=1, ddof=1)), gc.evaluate(gc.argmax(x, axis=1))
(array([1., 4.]), array([2, 2]))
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location
from .composites import square
from .data import DEFAULT_FLOAT, constant, element_count, lift
from .elementwise import (abs, cast, equal, exp, greater, log, maximum, neg, not_equal,
                          softplus, sqrt, stop_gradient, where)
from .structure import max, mean, min, normalize_axes, reshape, sum


def _float(x) -> Tensor:
    (x,) = lift([x])
    return x if x.dtype.kind == "f" else cast(x, DEFAULT_FLOAT)


def var(x, axis=None, ddof=0, keepdims=False) -> Tensor:
    """Variance over ``axis`` (``np.var``): the mean squared deviation, divided by
    ``n - ddof`` (``ddof=1``: the unbiased estimate, torch's default).

    >>> import graphc as gc
    >>> x = gc.constant([1., 2., 3., 4.], "float64")
    >>> gc.evaluate(gc.var(x)), gc.evaluate(gc.var(x, ddof=1))
    (array(1.25), array(1.66666667))
    """
    x = _float(x)
    axes = normalize_axes(x, axis, "var")
    deviation = x - mean(x, axes, keepdims=True)
    dims = [x.dims[a] for a in axes]
    if all(isinstance(d, int) for d in dims):  # a known count: one constant, no arithmetic
        divisor = constant(float(np.prod(dims, dtype=np.int64)) - ddof, x.dtype)
    else:
        divisor = element_count(dims, x.dtype)
        divisor = divisor - ddof if ddof else divisor
    return sum(square(deviation), axes, keepdims) / divisor


def std(x, axis=None, ddof=0, keepdims=False) -> Tensor:
    """Standard deviation, ``sqrt(var(x, axis, ddof))`` (``np.std``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.std(gc.constant([[1., 3.], [2., 2.]], "float64"), axis=-1))
    array([1., 0.])
    """
    return sqrt(var(x, axis, ddof, keepdims))


def _vector_norm(x: Tensor, ord, axes: tuple, keepdims: bool) -> Tensor:
    if ord is None or ord == 2:
        return sqrt(sum(square(x), axes, keepdims))
    if ord == np.inf:
        return max(abs(x), axes, keepdims)
    if ord == -np.inf:
        return min(abs(x), axes, keepdims)
    if ord == 0:
        return sum(cast(not_equal(x, 0), x.dtype), axes, keepdims)
    if ord == 1:
        return sum(abs(x), axes, keepdims)
    if isinstance(ord, numbers.Real) and not isinstance(ord, bool):
        return sum(abs(x) ** ord, axes, keepdims) ** (1.0 / ord)
    raise UsageError(f"norm: vector norm order {ord!r} is not supported (a number, inf or "
                     f"-inf) ({user_location()})")


def _matrix_norm(x: Tensor, ord, axes: tuple, keepdims: bool) -> Tensor:
    rows, cols = axes
    if ord in (None, "fro"):
        return sqrt(sum(square(x), axes, keepdims))
    if ord in (1, -1):  # the largest (smallest) absolute column sum
        per_column = sum(abs(x), rows, keepdims=True)
        pick = max if ord == 1 else min
        out = pick(per_column, cols, keepdims=True)
    elif ord in (np.inf, -np.inf):  # the largest (smallest) absolute row sum
        per_row = sum(abs(x), cols, keepdims=True)
        pick = max if ord == np.inf else min
        out = pick(per_row, rows, keepdims=True)
    else:
        raise UsageError(f"norm: matrix norm order {ord!r} is not supported ('fro', 1, -1, "
                         f"inf, -inf; 2, -2 and 'nuc' need singular values) ({user_location()})")
    return out if keepdims else reshape(out, [d for k, d in enumerate(x.dims) if k not in axes])


def norm(x, ord=None, axis=None, keepdims=False) -> Tensor:
    """Vector or matrix norm, as ``np.linalg.norm``.

    ``axis`` an int: a vector norm (``ord`` None/2, 1, inf, -inf, 0, any number p);
    ``axis`` a pair: a matrix norm (``ord`` None/"fro", 1, -1, inf, -inf); ``axis=None``:
    the 2-norm of all elements when ``ord`` is None, else ``x`` must be 1-D or 2-D.

    >>> import graphc as gc
    >>> m = gc.constant([[3., -4.], [0., 1.]], "float64")
    >>> gc.evaluate(gc.norm(m, axis=1)), gc.evaluate(gc.norm(m, 1)), gc.evaluate(gc.norm(m, "fro"))
    (array([5., 1.]), array(5.), array(5.09901951))
    """
    x = _float(x)
    if axis is None:
        if ord is None:
            return sqrt(sum(square(x), None, keepdims))
        if x.ndim not in (1, 2):
            raise ShapeError(f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D tensor, "
                             f"got {format_shape(x.dims)} ({user_location()})")
        axis = tuple(range(x.ndim))
    raw = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    axes = tuple(int(a) % x.ndim if isinstance(a, numbers.Integral) and -x.ndim <= a < x.ndim
                 else a for a in raw)
    normalize_axes(x, raw, "norm")  # range and repeat checks, with the user's location
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ShapeError(f"norm: axis must be one axis or a pair, got {axis!r} ({user_location()})")


def logaddexp(a, b) -> Tensor:
    """``log(exp(a) + exp(b))`` without overflow (``np.logaddexp``): the max is taken out.

    >>> import graphc as gc
    >>> gc.evaluate(gc.logaddexp(gc.constant([1000., 0., -np.inf], "float64"), [1000., 1000., -np.inf]))
    array([1000.69314718, 1000.        ,          -inf])
    """
    a, b = lift([a, b])
    a, b = _float(a), _float(b)
    m = maximum(a, b)
    # a shift only (the gradient is exact without it); an infinite max shifts by 0, so
    # logaddexp(-inf, -inf) is -inf and not inf - inf
    m = stop_gradient(where(greater(abs(m), np.finfo(m.dtype).max), 0, m))
    return m + log(exp(a - m) + exp(b - m))


def log_sigmoid(x) -> Tensor:
    """``log(sigmoid(x))`` as ``-softplus(-x)``: finite for large negative ``x``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.log_sigmoid(gc.constant([-1000., 0.], "float64"))).tolist()
    [-1000.0, -0.6931471805599453]
    """
    return neg(softplus(neg(x)))


def _arg_extreme(x, axis, keepdims: bool, what: str, pick) -> Tensor:
    (x,) = lift([x])
    x = stop_gradient(x)  # an index: no gradient flows back
    if axis is None:
        flat = reshape(x, (-1,))
        out = _arg_extreme(flat, 0, False, what, pick)
        return reshape(out, (1,) * x.ndim) if keepdims else out
    (axis,) = normalize_axes(x, axis, what)
    n = x.dims[axis]
    if isinstance(n, str):
        raise ShapeError(f"{what}: axis {axis} of {format_shape(x.dims)} has a size known only "
                         f"at run time ({user_location()})")
    if n == 0:
        raise ShapeError(f"{what}: an empty axis has no {what[3:]} ({user_location()})")
    iota = constant(np.arange(n, dtype=np.int64).reshape((n,) + (1,) * (x.ndim - axis - 1)))
    hits = equal(x, pick(x, axis, keepdims=True))
    return min(where(hits, iota, n), axis, keepdims)


def argmax(x, axis=None, keepdims=False) -> Tensor:
    """Index of the largest element along ``axis`` (the first one among ties), int64, as
    ``np.argmax``; ``axis=None`` looks at the flattened tensor.

    >>> import graphc as gc
    >>> x = gc.constant([[1., 5., 5.], [7., 0., 7.]])
    >>> gc.evaluate(gc.argmax(x, axis=1)), gc.evaluate(gc.argmax(x))
    (array([1, 0]), array(3))
    """
    return _arg_extreme(x, axis, keepdims, "argmax", max)


def argmin(x, axis=None, keepdims=False) -> Tensor:
    """Index of the smallest element along ``axis`` (the first one among ties), int64, as
    ``np.argmin``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.argmin(gc.constant([[3., 1., 1.]]), axis=-1, keepdims=True))
    array([[1]])
    """
    return _arg_extreme(x, axis, keepdims, "argmin", min)
