"""``gc.linalg``'s spectral decompositions and what is built on them: ``eigh``,
``eigvalsh``, ``qr``, ``svd`` (from ``eigh`` of ``[[0, a], [a.T, 0]]``), ``svdvals``,
``pinv``, ``lstsq`` (by QR) and the spectral and nuclear norms.

>>> import graphc as gc
>>> gc.evaluate(gc.linalg.svdvals(gc.constant([[3., 0.], [0., -4.]], "float64")))
array([4., 3.])
"""
from __future__ import annotations

import numbers

import numpy as np

from ..bind import bind
from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location
from ..ops.linalg import mT
from .composites import square
from .data import constant
from .elementwise import cast, greater, where
from .linalg_solve import _check_matrix, _float, _matrices, solve_triangular
from .statistics import norm as _norm
from .structure import broadcast_to, matmul, max, reshape, sum


def eigvalsh(a, UPLO: str = "L") -> Tensor:
    """Eigenvalues of each symmetric matrix, ascending (``numpy.linalg.eigvalsh``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.eigvalsh(gc.constant([[2., 1.], [1., 2.]], "float64")))
    array([1., 3.])
    """
    return bind("eigvalsh", _uplo(_float(a), UPLO))


def _uplo(a: Tensor, uplo: str) -> Tensor:
    if uplo not in ("L", "U"):
        raise UsageError(f"linalg.eigh: UPLO must be 'L' or 'U', got {uplo!r} "
                         f"({user_location()})")
    return a if uplo == "L" else mT(a)


def eigh(a, UPLO: str = "L") -> tuple[Tensor, Tensor]:
    """``(w, V)``: eigenvalues ascending and eigenvectors (columns) of each symmetric
    matrix (``numpy.linalg.eigh``), each eigenvector's entry of largest magnitude made
    positive. Gradients: ``w``'s always; ``V``'s where eigenvalues are distinct. Where
    two eigenvalues are exactly equal, that pair's term of ``V``'s gradient is dropped
    (it would divide by zero): the gradient is right for functions that do not depend
    on the basis chosen within the degenerate eigenspace (``V @ diag(f(w)) @ V.T``).

    >>> import graphc as gc
    >>> w, V = gc.linalg.eigh(gc.constant([[2., 1.], [1., 2.]], "float64"))
    >>> gc.evaluate(w), gc.evaluate(V @ V.T).round(12)
    (array([1., 3.]), array([[1., 0.],
           [0., 1.]]))
    """
    a = _uplo(_float(a), UPLO)
    return bind("eigvalsh", a), bind("eigh_vectors", a)


def qr(a, mode: str = "reduced"):
    """The QR decomposition of each matrix (``numpy.linalg.qr``, modes ``reduced`` and
    ``r``; Householder reflections, LAPACK's signs). Gradients for rows >= columns.

    >>> import graphc as gc
    >>> q, r = gc.linalg.qr(gc.constant([[3., 1.], [4., 2.]], "float64"))
    >>> gc.evaluate(q @ r).round(12)
    array([[3., 1.],
           [4., 2.]])
    """
    a = _float(a)
    if mode not in ("reduced", "r"):
        raise UsageError(f"linalg.qr: mode {mode!r} is not supported (use 'reduced' or 'r') "
                         f"({user_location()})")
    r = bind("qr_r", a)
    return r if mode == "r" else (bind("qr_q", a), r)


def _augmented(a: Tensor) -> tuple[Tensor, Tensor]:
    """(eigenvalues descending, eigenvectors) of ``[[0, a], [a.T, 0]]``."""
    m, n = a.dims[-2:]
    zm = broadcast_to(constant(np.zeros((m, m), a.dtype)), a.dims[:-2] + (m, m))
    zn = broadcast_to(constant(np.zeros((n, n), a.dtype)), a.dims[:-2] + (n, n))
    from .indexing import concatenate
    top = concatenate([zm, a], axis=-1)
    bottom = concatenate([mT(a), zn], axis=-1)
    aug = concatenate([top, bottom], axis=-2)
    return bind("eigvalsh", aug), bind("eigh_vectors", aug)


def svdvals(a) -> Tensor:
    """Singular values of each matrix, descending (``numpy.linalg.svdvals``): the
    ``min(m, n)`` largest eigenvalues of ``[[0, a], [a.T, 0]]``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.svdvals(gc.constant([[3., 0.], [0., -4.]], "float64")))
    array([4., 3.])
    """
    a = _float(a)
    _check_matrix(a, "svdvals")
    w, _ = _augmented(a)
    k = min(a.dims[-2:])
    return w[..., : -k - 1: -1]


def svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False):
    """``(U, S, Vh)`` with ``a = U @ diag(S) @ Vh`` (``numpy.linalg.svd``; ``S`` descending),
    from the eigenvectors ``[u; v] / sqrt(2)`` of ``[[0, a], [a.T, 0]]``. ``full_matrices``
    needs square matrices (else pass ``full_matrices=False``). The usual caveats: singular
    vectors are defined up to sign (fixed by the eigenvector convention of ``eigh``), are
    not unique for repeated or zero singular values, and their gradient is defined only
    where singular values are distinct and nonzero.

    >>> import graphc as gc
    >>> A = gc.constant([[1., 2.], [3., 4.], [5., 6.]], "float64")
    >>> U, S, Vh = gc.linalg.svd(A, full_matrices=False)
    >>> gc.evaluate((U * S) @ Vh).round(12)
    array([[1., 2.],
           [3., 4.],
           [5., 6.]])
    """
    a = _float(a)
    _check_matrix(a, "svd")
    m, n = a.dims[-2:]
    k = min(m, n)
    if not compute_uv:
        return svdvals(a)
    if full_matrices and m != n:
        raise UsageError(f"linalg.svd: full_matrices=True needs square matrices, got "
                         f"{format_shape(a.dims)}; pass full_matrices=False "
                         f"({user_location()})")
    w, V = _augmented(a)
    top = V[..., : -k - 1: -1]                 # eigenvectors of the k largest, descending
    scale = constant(np.sqrt(2.0), a.dtype)
    U = top[..., :m, :] * scale
    Vh = mT(top[..., m:, :] * scale)
    return U, w[..., : -k - 1: -1], Vh


def pinv(a, rcond=None) -> Tensor:
    """The pseudo-inverse of each matrix from its SVD (``numpy.linalg.pinv``): singular
    values at most ``rcond * max(S)`` are treated as zero (default ``1e-15``).

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.pinv(gc.constant([[2., 0.], [0., 0.], [0., 1.]], "float64")))
    array([[0.5, 0. , 0. ],
           [0. , 0. , 1. ]])
    """
    a = _float(a)
    U, S, Vh = svd(a, full_matrices=False)
    cut = max(S, -1, keepdims=True) * (1e-15 if rcond is None else float(rcond))
    keep = greater(S, cut)
    safe = where(keep, S, constant(1.0, a.dtype))
    s_inv = where(keep, 1.0 / safe, constant(0.0, a.dtype))
    return matmul(mT(Vh) * reshape(s_inv, s_inv.dims[:-1] + (1, s_inv.dims[-1])), mT(U))


def lstsq(a, b, rcond=None):
    """Least squares (``numpy.linalg.lstsq``) for matrices of full column rank, by QR:
    ``x = R^-1 Q^T b``. Returns ``(x, residuals, rank, s)`` as NumPy: residuals the squared
    norm of ``b - a x`` per column when rows > columns (else empty), ``rank`` the count
    of singular values above ``rcond * max(s)`` (default ``eps * max(m, n)``).

    >>> import graphc as gc
    >>> A = gc.constant([[1., 0.], [1., 1.], [1., 2.]], "float64")
    >>> x, res, rank, s = gc.linalg.lstsq(A, [1., 2., 2.])
    >>> gc.evaluate(x), int(gc.evaluate(rank))
    (array([1.16666667, 0.5       ]), 2)
    """
    a, b = _matrices(a, b)
    if a.ndim != 2:
        raise ShapeError(f"linalg.lstsq: a must be 2-D, got {format_shape(a.dims)} "
                         f"({user_location()})")
    m, n = a.dims
    if isinstance(m, str) or m < n:
        raise ShapeError(f"linalg.lstsq: needs rows >= columns (full column rank), got "
                         f"{format_shape(a.dims)} ({user_location()})")
    Q, R = qr(a)
    x = solve_triangular(R, matmul(mT(Q), b), lower=False)
    r = b - matmul(a, x)
    residuals = sum(square(r), 0) if m > n else constant(np.zeros(0, a.dtype))
    if m > n and b.ndim == 1:
        residuals = reshape(residuals, (1,))     # NumPy's shape for a vector b
    s = svdvals(a)
    tol = np.finfo(a.dtype).eps * max_mn(a) if rcond is None else float(rcond)
    rank = sum(cast(greater(s, max(s) * tol), "int64"))
    return x, residuals, rank, s


def max_mn(a: Tensor) -> int:
    return int(np.max(a.dims[-2:]))


def norm(x, ord=None, axis=None, keepdims: bool = False) -> Tensor:
    """``numpy.linalg.norm``: ``gc.norm``'s vector and matrix norms, plus the spectral
    (``ord=2``, ``-2``) and nuclear (``"nuc"``) norms of matrices from ``svdvals``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.linalg.norm(gc.constant([[3., 0.], [0., -4.]], "float64"), 2))
    array(4.)
    """
    x = _float(x)
    matrix = (axis is None and x.ndim == 2) or (axis is not None and not isinstance(
        axis, numbers.Integral) and len(tuple(axis)) == 2)
    if not (matrix and (ord in (2, -2, "nuc"))):
        return _norm(x, ord, axis, keepdims)
    axes = (0, 1) if axis is None else tuple(int(a) % x.ndim for a in axis)
    rest = [k for k in range(x.ndim) if k not in axes]
    from .structure import transpose
    s = svdvals(transpose(x, rest + list(axes)))
    out = sum(s, -1) if ord == "nuc" else (max(s, -1) if ord == 2 else -max(-s, -1))
    if keepdims:
        dims = list(out.dims)
        for a in sorted(axes):
            dims.insert(a, 1)
        out = reshape(out, tuple(dims))
    return out
