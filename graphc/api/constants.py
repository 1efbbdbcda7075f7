"""Array builders with NumPy's names: ``zeros``, ``ones``, ``full`` (and ``*_like``),
``eye``, ``arange``, ``linspace``, and the matrix views ``diagonal``, ``diag``, ``tril``,
``triu``.

Filled arrays are a broadcast scalar, so a run-time size (``gc.zeros(x.shape)``) costs
nothing and folds into the kernels that read it; ``eye``/``arange``/``linspace`` are
constants; ``diagonal``/``diag`` are ``gc.linalg``'s over chosen axes and ``tril``/``triu``
a ``where`` on a constant mask, so their gradients come from those primitives.

>>> import graphc as gc
>>> gc.evaluate(gc.triu(gc.constant([[1, 2], [3, 4]])))
array([[1, 2],
       [0, 4]])
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location
from .data import DEFAULT_FLOAT, check_dtype, constant, lift
from .elementwise import where
from . import linalg_solve
from .structure import broadcast_to
from .arrange import moveaxis


def full(shape, fill_value, dtype=None) -> Tensor:
    """An array of ``shape`` filled with ``fill_value`` (``np.full``); run-time sizes
    (``x.shape``) allowed.

    >>> import graphc as gc
    >>> gc.evaluate(gc.full((2, 2), 7.0))
    array([[7., 7.],
           [7., 7.]], dtype=float32)
    """
    if isinstance(fill_value, Tensor):
        value = fill_value if dtype is None else fill_value.astype(dtype)
    else:
        if dtype is None:
            dtype = DEFAULT_FLOAT if isinstance(fill_value, float) else np.asarray(fill_value).dtype
        value = constant(np.asarray(fill_value, check_dtype(dtype, "full")))
    if value.ndim:
        raise ShapeError(f"full: fill_value must be a scalar, got shape "
                         f"{format_shape(value.dims)} ({user_location()})")
    return broadcast_to(value, shape)


def zeros(shape, dtype=DEFAULT_FLOAT) -> Tensor:
    """An array of zeros (``np.zeros``; float32 by default, graphc's default float).

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 3))
    >>> gc.zeros(x.shape).shape
    (None, 3)
    """
    return full(shape, 0, dtype)


def ones(shape, dtype=DEFAULT_FLOAT) -> Tensor:
    """An array of ones (``np.ones``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.ones(3, "int32"))
    array([1, 1, 1], dtype=int32)
    """
    return full(shape, 1, dtype)


def full_like(x, fill_value, dtype=None) -> Tensor:
    """``full(x.shape, fill_value, dtype or x.dtype)``; no gradient flows to ``x``.

    >>> import graphc as gc
    >>> gc.full_like(gc.placeholder("x", (None, 2), "float64"), 3).dtype
    dtype('float64')
    """
    (x,) = lift([x])
    return full(x.dims, fill_value, x.dtype if dtype is None else dtype)


def zeros_like(x, dtype=None) -> Tensor:
    """Zeros with the shape and dtype of ``x`` (``np.zeros_like``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.zeros_like(gc.constant([1.5, 2.5])))
    array([0., 0.], dtype=float32)
    """
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None) -> Tensor:
    """Ones with the shape and dtype of ``x`` (``np.ones_like``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.ones_like(gc.constant([1, 2])))
    array([1, 1])
    """
    return full_like(x, 1, dtype)


def _static_count(n, what: str) -> int:
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
        raise UsageError(f"{what}: sizes must be non-negative Python ints, got {n!r} "
                         f"({user_location()})")
    return int(n)


def eye(N, M=None, k: int = 0, dtype=DEFAULT_FLOAT) -> Tensor:
    """Ones on the ``k``-th diagonal of an ``N x M`` matrix (``np.eye``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.eye(2, 3, k=1, dtype="int64"))
    array([[0, 1, 0],
           [0, 0, 1]])
    """
    rows = _static_count(N, "eye")
    cols = rows if M is None else _static_count(M, "eye")
    return constant(np.eye(rows, cols, int(k), dtype=check_dtype(dtype, "eye")))


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in ``[start, stop)`` (``np.arange``; static bounds).

    >>> import graphc as gc
    >>> gc.evaluate(gc.arange(1, 7, 2))
    array([1, 3, 5])
    """
    for v in (start, stop, step):
        if isinstance(v, Tensor):
            raise UsageError(f"arange: bounds must be Python numbers (a static length); got "
                             f"a tensor ({user_location()})")
    if step == 0:
        raise UsageError(f"arange: step must not be zero ({user_location()})")
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and values.dtype == np.float64:
        dtype = DEFAULT_FLOAT
    return constant(values if dtype is None else values.astype(check_dtype(dtype, "arange")))


def linspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` (``np.linspace``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linspace(0, 1, 5))
    array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    """
    values = np.linspace(start, stop, _static_count(num, "linspace"), endpoint=endpoint)
    return constant(values.astype(check_dtype(DEFAULT_FLOAT if dtype is None else dtype,
                                              "linspace")))


def _matrix_dims(x: Tensor, axes: tuple, what: str) -> tuple:
    sizes = tuple(x.dims[a] for a in axes)
    if any(isinstance(d, str) for d in sizes):
        raise ShapeError(f"{what}: the matrix axes of {format_shape(x.dims)} must have static "
                         f"sizes ({user_location()})")
    return sizes


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The ``offset``-th diagonal over ``axis1``/``axis2``, appended as the last axis
    (``np.diagonal``; ``gc.linalg.diagonal`` takes the last two axes).

    >>> import graphc as gc
    >>> gc.evaluate(gc.diagonal(gc.constant([[1, 2, 3], [4, 5, 6]]), offset=1))
    array([2, 6])
    """
    (x,) = lift([x])
    if x.ndim < 2:
        raise ShapeError(f"diagonal: needs at least 2 dimensions, got {format_shape(x.dims)} "
                         f"({user_location()})")
    a1, a2 = (int(a) % x.ndim if -x.ndim <= a < x.ndim else None for a in (axis1, axis2))
    if a1 is None or a2 is None or a1 == a2:
        raise ShapeError(f"diagonal: axes {axis1}, {axis2} do not name two different axes of "
                         f"{format_shape(x.dims)} ({user_location()})")
    return linalg_solve.diagonal(moveaxis(x, (a1, a2), (-2, -1)), int(offset))


def diag(v, k: int = 0) -> Tensor:
    """A 1-D ``v`` put on the ``k``-th diagonal of a square matrix, or the ``k``-th
    diagonal of a 2-D ``v`` (``np.diag``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.diag(gc.constant([1, 2]), k=1))
    array([[0, 1, 0],
           [0, 0, 2],
           [0, 0, 0]])
    """
    return linalg_solve.diag(v, k)


def _triangle(x, k: int, what: str, keep) -> Tensor:
    (x,) = lift([x])
    if x.ndim < 2:
        raise ShapeError(f"{what}: needs at least 2 dimensions, got {format_shape(x.dims)} "
                         f"({user_location()})")
    rows, cols = _matrix_dims(x, (-2, -1), what)
    mask = constant(keep(np.ones((rows, cols), dtype=bool), int(k)))
    return where(mask, x, constant(np.zeros((), x.dtype)))


def tril(x, k: int = 0) -> Tensor:
    """The lower triangle (on and below the ``k``-th diagonal), zeros above (``np.tril``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.tril(gc.constant([[1, 2], [3, 4]])))
    array([[1, 0],
           [3, 4]])
    """
    return _triangle(x, k, "tril", np.tril)


def triu(x, k: int = 0) -> Tensor:
    """The upper triangle (on and above the ``k``-th diagonal), zeros below (``np.triu``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.triu(gc.constant([[1., 2.], [3., 4.]]), k=1))
    array([[0., 2.],
           [0., 0.]], dtype=float32)
    """
    return _triangle(x, k, "triu", np.triu)
