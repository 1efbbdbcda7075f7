"""``gc.linalg``: NumPy's (and SciPy's) linear algebra, batched over leading axes, with
gradients.

The primitives (``graphc.ops.linalg``) are ``cholesky``, ``solve_triangular``, ``solve``,
``logabsdet``/``det_sign`` (slogdet), ``eigvalsh``/``eigh_vectors`` and ``qr_q``/``qr_r``;
everything else here is built from them and matmul, so printing, simplification,
gradients (of gradients too) and code generation come for free: ``inv(a)`` is
``solve(a, I)``, ``logdet`` of a positive-definite matrix is ``2 sum(log(diag(L)))``,
``svd`` is the symmetric eigenproblem of ``[[0, a], [a.T, 0]]`` (eigenvalues ``+-s``).
The matrix axes (the last two) must be known sizes; leading (batch) axes broadcast as in
NumPy and may be run-time sizes.

>>> import numpy as np, graphc as gc
>>> S = gc.constant([[4., 2.], [2., 5.]], "float64")
>>> gc.evaluate(gc.linalg.solve(S, [2., 1.]))
array([0.5, 0. ])
>>> float(gc.evaluate(gc.linalg.logdet(S))) == float(np.log(16.))
True
"""
from __future__ import annotations

import numbers

import numpy as np

from ..bind import bind
from ..errors import LinAlgError, ShapeError, UsageError
from ..ir import Tensor, broadcast_dims, format_shape, user_location
from ..ops.linalg import diag_embed, diagonal_node, mT
from .composites import square
from .data import constant, lift
from .elementwise import cast, exp, greater, log, where
from .statistics import norm as _norm
from .structure import broadcast_to, matmul, max, reshape, sum

__all__ = ["LinAlgError", "cho_solve", "cholesky", "det", "diag", "diagonal", "eigh",
           "eigvalsh", "inv", "kron", "logabsdet", "logdet", "lstsq", "matmul",
           "matrix_power", "norm", "outer", "pinv", "qr", "slogdet", "solve",
           "solve_triangular", "svd", "svdvals", "trace"]


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


def _check_matrix(a: Tensor, what: str) -> None:
    if a.ndim < 2 or any(isinstance(d, str) for d in a.dims[-2:]):
        raise ShapeError(f"linalg.{what}: needs matrices of known size, got "
                         f"{format_shape(a.dims)} ({user_location()})")


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

