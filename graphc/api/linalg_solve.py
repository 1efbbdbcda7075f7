"""``gc.linalg``'s solves, factorizations and determinants, and matrix helpers (trace,
diagonal, kron...): the ``numpy.linalg``/SciPy front end of the primitives in
``graphc.ops.linalg``, with NumPy's batching and broadcasting (see ``graphc.api.linalg``).

>>> import graphc as gc
>>> gc.evaluate(gc.linalg.inv(gc.constant([[2., 0.], [0., 4.]], "float64")))
array([[0.5 , 0.  ],
       [0.  , 0.25]])
"""
from __future__ import annotations

import numbers

import numpy as np

from ..bind import bind
from ..errors import ShapeError, UsageError
from ..ir import Tensor, broadcast_dims, format_shape, user_location
from ..ops.linalg import diag_embed, diagonal_node, mT
from .data import constant, lift
from .elementwise import cast, exp, log
from .structure import broadcast_to, matmul, reshape, sum


def _float(a) -> Tensor:
    a = lift([a])[0]
    return a if a.dtype.kind == "f" else cast(a, "float64")


def _matrices(*args) -> list[Tensor]:
    """The arguments as float tensors of one dtype (Python data takes the tensors')."""
    ts = lift(list(args))
    dtype = np.result_type(*[t.dtype for t in ts])
    dtype = dtype if dtype.kind == "f" else np.dtype("float64")
    return [t if t.dtype == dtype else cast(t, dtype.name) for t in ts]


def _with_batch(t: Tensor, batch: tuple) -> Tensor:
    dims = batch + t.dims[-2:]
    return t if t.dims == dims else broadcast_to(t, dims)


def _rhs(a: Tensor, b: Tensor, what: str) -> tuple[Tensor, Tensor]:
    """(a, b with one broadcast batch shape): NumPy 2's rule, ``b`` is a vector only when
    it is 1-D (then it is broadcast as a stack of vectors)."""
    if a.ndim < 2:
        raise ShapeError(f"linalg.{what}: a must be a matrix, got {format_shape(a.dims)} "
                         f"({user_location()})")
    vector = b.ndim == 1
    bb = b.dims[:-1] if vector else b.dims[:-2]
    batch = broadcast_dims([a.dims[:-2], bb])
    if batch is None:
        raise ShapeError(f"linalg.{what}: batch axes of a {format_shape(a.dims)} and b "
                         f"{format_shape(b.dims)} do not broadcast ({user_location()})")
    a = _with_batch(a, batch)
    if vector:
        return a, (b if b.dims == batch + b.dims else broadcast_to(b, batch + b.dims))
    return a, _with_batch(b, batch)


def cholesky(a, upper: bool = False) -> Tensor:
    """The Cholesky factor of each positive-definite matrix: lower ``L`` with
    ``a = L @ L.T`` (``upper=True``: ``L.T``). Reads the lower triangle; the gradient is
    that of a symmetric ``a``. A matrix that is not positive definite raises
    ``gc.linalg.LinAlgError`` when the graph runs.

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.cholesky(gc.constant([[4., 2.], [2., 5.]], "float64")))
    array([[2., 0.],
           [1., 2.]])
    """
    L = bind("cholesky", _float(a))
    return mT(L) if upper else L


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False) -> Tensor:
    """``x`` with ``op(T) @ x = b``, ``T`` the lower (``lower=True``) or upper triangle of
    ``a`` (diagonal taken as ones with ``unit_diagonal``), ``op`` the transpose when
    ``trans`` is 1/"T"/2/"C" (SciPy's ``scipy.linalg.solve_triangular``).

    >>> import graphc as gc
    >>> L = gc.constant([[2., 0.], [1., 2.]], "float64")
    >>> gc.evaluate(gc.linalg.solve_triangular(L, [2., 3.], lower=True))
    array([1., 1.])
    """
    a, b = _matrices(a, b)
    codes = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}
    if trans not in codes:
        raise UsageError(f"linalg.solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', "
                         f"got {trans!r} ({user_location()})")
    a, b = _rhs(a, b, "solve_triangular")
    return bind("solve_triangular", a, b, lower=bool(lower), trans=codes[trans],
                unit_diagonal=bool(unit_diagonal))


def solve(a, b) -> Tensor:
    """``x`` with ``a @ x = b`` (``numpy.linalg.solve``: LU with partial pivoting; ``b``
    a vector when 1-D, else a stack of matrices; batch axes broadcast). A singular
    matrix raises ``gc.linalg.LinAlgError`` when the graph runs.

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.solve(gc.constant([[2., 1.], [1., 3.]], "float64"), [3., 5.]))
    array([0.8, 1.4])
    """
    a, b = _matrices(a, b)
    return bind("solve", *_rhs(a, b, "solve"))


def cho_solve(c_and_lower, b) -> Tensor:
    """``x`` with ``a @ x = b`` given ``(c, lower)``, ``c`` the Cholesky factor of ``a``
    (SciPy's ``cho_solve``): two triangular solves.

    >>> import graphc as gc
    >>> L = gc.linalg.cholesky(gc.constant([[4., 2.], [2., 5.]], "float64"))
    >>> gc.evaluate(gc.linalg.cho_solve((L, True), [2., 1.]))
    array([0.5, 0. ])
    """
    c, lower = c_and_lower
    if lower:
        return solve_triangular(c, solve_triangular(c, b, lower=True), trans=1, lower=True)
    return solve_triangular(c, solve_triangular(c, b, trans=1, lower=False), lower=False)


def _eye(n: int, like: Tensor) -> Tensor:
    return constant(np.eye(n, dtype=like.dtype))


def inv(a) -> Tensor:
    """The inverse of each matrix, as ``solve(a, I)``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.inv(gc.constant([[2., 0.], [0., 4.]], "float64")))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    a = _float(a)
    if a.ndim < 2:
        raise ShapeError(f"linalg.inv: needs matrices, got {format_shape(a.dims)} "
                         f"({user_location()})")
    return solve(a, broadcast_to(_eye(a.dims[-1], a), a.dims))


def slogdet(a) -> tuple[Tensor, Tensor]:
    """``(sign, log|det a|)`` of each matrix (``numpy.linalg.slogdet``); the gradient of
    the log is ``inv(a).T``, by a solve.

    >>> import graphc as gc
    >>> s, l = gc.linalg.slogdet(gc.constant([[0., 2.], [3., 0.]], "float64"))
    >>> gc.evaluate(s), gc.evaluate(l)
    (array(-1.), array(1.79175947))
    """
    a = _float(a)
    return bind("det_sign", a), bind("logabsdet", a)


def logabsdet(a) -> Tensor:
    """``log |det a|`` of each matrix (``slogdet(a)[1]``)."""
    return bind("logabsdet", _float(a))


def det(a) -> Tensor:
    """The determinant of each matrix: ``sign * exp(log|det|)`` (``numpy.linalg.det``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.det(gc.constant([[1., 2.], [3., 4.]], "float64")))
    array(-2.)
    """
    s, la = slogdet(a)
    return s * exp(la)


def logdet(a) -> Tensor:
    """``log det a`` of each positive-definite matrix, via its Cholesky factor:
    ``2 * sum(log(diag(L)))`` (stable; the gradient is ``inv(a)``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.logdet(gc.constant([[2., 0.], [0., 8.]], "float64")))
    array(2.77258872)
    """
    L = cholesky(a)
    return sum(log(diagonal_node(L)), -1) * 2


def _check_matrix(a: Tensor, what: str) -> None:
    if a.ndim < 2 or any(isinstance(d, str) for d in a.dims[-2:]):
        raise ShapeError(f"linalg.{what}: needs matrices of known size, got "
                         f"{format_shape(a.dims)} ({user_location()})")


def matrix_power(a, n: int) -> Tensor:
    """``a`` multiplied by itself ``n`` times, by repeated squaring (``n < 0``: of
    ``inv(a)``; ``n == 0``: the identity), as ``numpy.linalg.matrix_power``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.matrix_power(gc.constant([[1., 1.], [0., 1.]], "float64"), 5))
    array([[1., 5.],
           [0., 1.]])
    """
    a = _float(a)
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise UsageError(f"linalg.matrix_power: n must be an int, got {n!r} "
                         f"({user_location()})")
    _check_matrix(a, "matrix_power")
    if n == 0:
        return broadcast_to(_eye(a.dims[-1], a), a.dims)
    if n < 0:
        a, n = inv(a), -n
    result, square_ = None, a
    while n:
        if n & 1:
            result = square_ if result is None else matmul(result, square_)
        n >>= 1
        if n:
            square_ = matmul(square_, square_)
    return result


def diagonal(a, offset: int = 0) -> Tensor:
    """The diagonal of each matrix over the last two axes (``numpy.linalg.diagonal``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.diagonal(gc.constant([[1., 2.], [3., 4.]])))
    array([1., 4.], dtype=float32)
    """
    a = lift([a])[0]
    _check_matrix(a, "diagonal")
    if offset > 0:
        a = a[..., :, offset:]
    elif offset < 0:
        a = a[..., -offset:, :]
    m, n = a.dims[-2:]
    k = min(m, n)
    a = a[..., :k, :k]
    if k == 0:
        return reshape(a, a.dims[:-2] + (0,))
    return diagonal_node(a)


def diag(v, k: int = 0) -> Tensor:
    """``numpy.diag``: a 1-D ``v`` as a diagonal matrix (on diagonal ``k``), a 2-D one's
    ``k``-th diagonal.

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.diag(gc.constant([1., 2.])))
    array([[1., 0.],
           [0., 2.]], dtype=float32)
    """
    v = lift([v])[0]
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1 or isinstance(v.dims[0], str):
        raise ShapeError(f"linalg.diag: needs a 1-D (known size) or 2-D tensor, got "
                         f"{format_shape(v.dims)} ({user_location()})")
    out = diag_embed(v)
    if k:
        from .indexing import pad
        out = pad(out, ((0, k), (k, 0)) if k > 0 else ((-k, 0), (0, -k)))
    return out


def trace(a, offset: int = 0) -> Tensor:
    """The sum of each matrix's diagonal (``numpy.linalg.trace``: the last two axes).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.trace(gc.constant([[1., 2.], [3., 4.]])))
    array(5., dtype=float32)
    """
    return sum(diagonal(a, offset), -1)


def outer(a, b) -> Tensor:
    """The outer product of two vectors (``numpy.linalg.outer``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.outer(gc.constant([1., 2.]), gc.constant([3., 4., 5.])))
    array([[ 3.,  4.,  5.],
           [ 6.,  8., 10.]], dtype=float32)
    """
    a, b = lift([a, b])
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"linalg.outer: needs vectors, got {format_shape(a.dims)} and "
                         f"{format_shape(b.dims)} ({user_location()})")
    return reshape(a, a.dims + (1,)) * reshape(b, (1,) + b.dims)


def kron(a, b) -> Tensor:
    """The Kronecker product (``numpy.kron``) of two tensors of equal rank with known
    sizes: ``out[i*p + k, j*q + l] = a[i, j] * b[k, l]`` (any rank).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.kron(gc.constant([[1., 2.]]), gc.constant([[1.], [10.]])))
    array([[ 1.,  2.],
           [10., 20.]], dtype=float32)
    """
    a, b = lift([a, b])
    if a.ndim != b.ndim or any(isinstance(d, str) for d in a.dims + b.dims):
        raise ShapeError(f"linalg.kron: needs tensors of equal rank and known sizes, got "
                         f"{format_shape(a.dims)} and {format_shape(b.dims)} "
                         f"({user_location()})")
    r = a.ndim
    # a at even axes, b at odd: (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...)
    ea = reshape(a, tuple(x for d in a.dims for x in (d, 1)))
    eb = reshape(b, tuple(x for d in b.dims for x in (1, d)))
    return reshape(ea * eb, tuple(a.dims[k] * b.dims[k] for k in range(r)))
