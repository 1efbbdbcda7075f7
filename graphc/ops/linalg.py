"""Linear-algebra primitives over the last two axes (batched over the leading ones).

A small primitive set; everything else in ``gc.linalg`` is built from these (and matmul)
in ``graphc.api.linalg``:

* ``cholesky(a)``: the lower factor ``L`` of ``a = L @ L.T`` (reads the lower triangle);
* ``solve_triangular(a, b, lower, trans, unit_diagonal)``: SciPy's, ``b`` a matrix;
* ``solve(a, b)``: LU with partial pivoting, ``b`` a matrix with ``a``'s batch dims;
* ``logabsdet(a)`` and ``det_sign(a)``: the two halves of ``slogdet``;
* ``eigvalsh(a)`` and ``eigh_vectors(a)``: ``numpy.linalg.eigh`` (lower triangle), each
  eigenvector's entry of largest magnitude made positive (a convention every backend
  shares, so vectors agree across backends);
* ``qr_q(a)`` and ``qr_r(a)``: the reduced QR (Householder, LAPACK's signs).

The matrix axes are known sizes (the batch axes may be run-time sizes). Gradients are
graphs of these same ops (Giles 2008; Murray 2016 for Cholesky), so they differentiate
again. Functions of a symmetric input (cholesky, eigh) get the gradient of the symmetric
matrix, ``(G + G.T) / 2`` (as torch.linalg). A failure at run time (a matrix that is not
positive definite, a singular one) is ``graphc.errors.LinAlgError`` naming the op and its
input (``failure_message``).

>>> import numpy as np
>>> _cholesky_impl(np.array([[4., 2.], [2., 5.]]))
array([[2., 0.],
       [1., 2.]])
"""
from __future__ import annotations

import numpy as np

from ..bind import OpDef, bind, constant_node, declare
from ..errors import DTypeError, LinAlgError, ShapeError
from ..ir import Tensor, format_shape
from .builders import broadcast_node, reshape_node, sum_node, transpose_node
from .movement import slice_node

# what each op's failure at run time says about its (first) input
FAILURES = {"cholesky": "is not positive definite", "solve": "is singular",
            "solve_triangular": "is singular (a zero on the diagonal)"}
# the gc.linalg function a user called, for messages (the primitive behind it)
PUBLIC = {"cholesky": "cholesky", "solve": "solve", "solve_triangular": "solve_triangular"}


# ---- reference implementations (NumPy) ------------------------------------------------------

def _fail(op: str) -> LinAlgError:
    return LinAlgError(f"gc.linalg.{PUBLIC[op]}: input {FAILURES[op]}")


def _cholesky_impl(a):
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise _fail("cholesky") from None


def _triangle(a, lower, unit_diagonal):
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        n = a.shape[-1]
        t = t * (1 - np.eye(n, dtype=a.dtype)) + np.eye(n, dtype=a.dtype)
    return t


def _as_columns(a, b):
    return (b[..., None], True) if b.ndim == a.ndim - 1 else (b, False)


def _solve_triangular_impl(a, b, lower, trans, unit_diagonal):
    b, vector = _as_columns(a, b)
    t = _triangle(a, lower, unit_diagonal)
    if trans:
        t = np.swapaxes(t, -1, -2)
    if not unit_diagonal and np.any(np.diagonal(a, axis1=-2, axis2=-1) == 0):
        raise _fail("solve_triangular")
    x = np.linalg.solve(t, b)
    return x[..., 0] if vector else x


def _solve_impl(a, b):
    b, vector = _as_columns(a, b)
    try:
        x = np.linalg.solve(a, b)
        return x[..., 0] if vector else x
    except np.linalg.LinAlgError:
        raise _fail("solve") from None


def _logabsdet_impl(a):
    return np.linalg.slogdet(a)[1]


def _det_sign_impl(a):
    return np.linalg.slogdet(a)[0]


def sign_convention(v):
    """Eigenvectors (columns of ``v``) scaled by +-1 so each one's entry of largest
    magnitude is positive (the first such entry on a tie)."""
    big = np.argmax(np.abs(v), axis=-2)[..., None, :]
    s = np.sign(np.take_along_axis(v, big, axis=-2))
    return v * np.where(s == 0, 1, s)


def _eigvalsh_impl(a):
    return np.linalg.eigvalsh(a)


def _eigh_vectors_impl(a):
    return sign_convention(np.linalg.eigh(a)[1])


def _qr_q_impl(a):
    return np.linalg.qr(a, mode="reduced")[0]


def _qr_r_impl(a):
    return np.linalg.qr(a, mode="reduced")[1]


# ---- shape rules ----------------------------------------------------------------------------

def _matrix(x: Tensor, op: str, square: bool = True) -> None:
    if x.dtype.kind != "f":
        raise DTypeError(f"linalg.{op}: needs a float matrix, got {x.dtype}")
    if x.ndim < 2 or any(isinstance(d, str) for d in x.dims[-2:]) or (
            square and x.dims[-1] != x.dims[-2]):
        what = "square matrices" if square else "matrices"
        raise ShapeError(f"linalg.{op}: needs {what} of known size in the last two axes, "
                         f"got {format_shape(x.dims)}")


def _same_batch(a: Tensor, b: Tensor) -> bool:
    return len(a.dims) == len(b.dims) and all(
        x == y or isinstance(x, str) or isinstance(y, str) for x, y in zip(a.dims[:-2],
                                                                           b.dims[:-2]))


def _square_shape(op):
    def rule(inputs, attrs):
        _matrix(inputs[0], op)
        return inputs[0].dims, inputs[0].dtype
    return rule


def is_vector_rhs(n: Tensor) -> bool:
    """Is ``b`` of solve/solve_triangular node ``n`` a stack of vectors (one axis less
    than ``a``)? Same memory as a one-column matrix."""
    return n.inputs[1].ndim == n.inputs[0].ndim - 1


def _rhs_shape(op):
    def rule(inputs, attrs):
        a, b = inputs
        _matrix(a, op)
        if b.dtype != a.dtype:
            raise DTypeError(f"linalg.{op}: a is {a.dtype} but b is {b.dtype}")
        vector = b.ndim == a.ndim - 1
        bdims = b.dims + (1,) if vector else b.dims
        if len(bdims) != a.ndim or isinstance(bdims[-1], str) or bdims[-2] != a.dims[-1] or \
                not all(x == y or isinstance(x, str) or isinstance(y, str)
                        for x, y in zip(a.dims[:-2], bdims[:-2])):
            raise ShapeError(f"linalg.{op}: b of shape {format_shape(b.dims)} does not fit a "
                             f"of shape {format_shape(a.dims)} (b: the same batch axes, then "
                             f"a vector or a matrix)")
        if op == "solve_triangular" and (attrs.get("trans") not in (0, 1) or not isinstance(
                attrs.get("lower"), bool) or not isinstance(attrs.get("unit_diagonal"), bool)):
            raise ShapeError("linalg.solve_triangular: lower and unit_diagonal must be bools, "
                             f"trans 0 or 1, got {attrs}")
        return b.dims, a.dtype
    return rule


def _det_shape(inputs, attrs):
    _matrix(inputs[0], "slogdet")
    return inputs[0].dims[:-2], inputs[0].dtype


def _eigvalsh_shape(inputs, attrs):
    _matrix(inputs[0], "eigh")
    return inputs[0].dims[:-1], inputs[0].dtype


def _qr_shape(which):
    def rule(inputs, attrs):
        a = inputs[0]
        _matrix(a, "qr", square=False)
        m, n = a.dims[-2:]
        k = min(m, n)
        return a.dims[:-2] + ((m, k) if which == "q" else (k, n)), a.dtype
    return rule


# ---- graph builders the rules use -----------------------------------------------------------

def mT(x: Tensor) -> Tensor:
    """``x`` with its last two axes swapped."""
    return transpose_node(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def mm(a: Tensor, b: Tensor) -> Tensor:
    return bind("matmul", a, b)


def const_like(array, x: Tensor) -> Tensor:
    return constant_node(np.asarray(array, dtype=x.dtype))


def eye_like(x: Tensor) -> Tensor:
    """The identity broadcast to ``x``'s (square) shape."""
    return broadcast_node(const_like(np.eye(x.dims[-1]), x), x.dims)


def tri_mask(x: Tensor, lower: bool, k: int = 0) -> Tensor:
    """``x`` times the 0/1 mask of its lower (``np.tril(., k)``) or upper triangle."""
    n, m = x.dims[-2:]
    ones = np.ones((n, m))
    return x * const_like(np.tril(ones, k) if lower else np.triu(ones, k), x)


def sym(x: Tensor) -> Tensor:
    return (x + mT(x)) * const_like(0.5, x)


def diagonal_node(x: Tensor) -> Tensor:
    """The diagonal of each (square) matrix: a strided slice of the flattened matrix."""
    n = x.dims[-1]
    flat = reshape_node(x, x.dims[:-2] + (n * n,))
    lead = x.ndim - 2
    return slice_node(flat, (0,) * (lead + 1), (1,) * lead + (n + 1,), x.dims[:-2] + (n,))


def diag_embed(d: Tensor) -> Tensor:
    """Vectors ``d`` as diagonal matrices."""
    n = d.dims[-1]
    return reshape_node(d, d.dims + (1,)) * const_like(np.eye(n), d)


def solve_node(a: Tensor, b: Tensor) -> Tensor:
    return bind("solve", a, b)


def tri_solve_node(a: Tensor, b: Tensor, lower: bool, trans: int = 0,
                   unit_diagonal: bool = False) -> Tensor:
    return bind("solve_triangular", a, b, lower=bool(lower), trans=int(trans),
                unit_diagonal=bool(unit_diagonal))


# ---- derivative rules -----------------------------------------------------------------------

def _phi(x: Tensor) -> Tensor:
    """The lower triangle of ``x`` with its diagonal halved (Murray 2016)."""
    n = x.dims[-1]
    return x * const_like(np.tril(np.ones((n, n))) - 0.5 * np.eye(n), x)


def _cholesky_vjp(n: Tensor, g: Tensor):
    L = n
    P = _phi(mm(mT(L), g))
    S = tri_solve_node(L, P, lower=True, trans=1)              # L^-T P
    G = mT(tri_solve_node(L, mT(S), lower=True, trans=1))     # L^-T P L^-1
    return [sym(G)]


def _cholesky_jvp(n: Tensor, t):
    L = n
    X = tri_solve_node(L, sym(t[0]), lower=True)              # L^-1 dA
    Y = tri_solve_node(L, mT(X), lower=True)                   # L^-1 dA L^-T (symmetric)
    return mm(L, _phi(Y))


def _tri_mask_of(n: Tensor, x: Tensor) -> Tensor:
    """``x`` masked to the triangle of ``a`` that ``solve_triangular`` node ``n`` reads."""
    return tri_mask(x, n.attr("lower"), (-1 if n.attr("lower") else 1)
                    if n.attr("unit_diagonal") else 0)


def _col(x: Tensor, vector: bool) -> Tensor:
    """A stack of vectors as one-column matrices (others as they are)."""
    return reshape_node(x, x.dims + (1,)) if vector else x


def _outer(u: Tensor, v: Tensor, vector: bool) -> Tensor:
    """``u @ v.T`` of two stacks of matrices, or of vectors as columns."""
    return mm(_col(u, vector), mT(_col(v, vector)))


def _tri_solve_vjp(n: Tensor, g: Tensor):
    a = n.inputs[0]
    lower, trans, unit = n.attr("lower"), n.attr("trans"), n.attr("unit_diagonal")
    gb = tri_solve_node(a, g, lower, 1 - trans, unit)
    gm = -_outer(gb, n, is_vector_rhs(n))
    return [_tri_mask_of(n, gm if trans == 0 else mT(gm)), gb]


def _tri_solve_jvp(n: Tensor, t):
    a = n.inputs[0]
    lower, trans, unit = n.attr("lower"), n.attr("trans"), n.attr("unit_diagonal")
    rhs = t[1]
    if t[0] is not None:
        dm = _tri_mask_of(n, t[0])
        term = _matvec(dm if trans == 0 else mT(dm), n, is_vector_rhs(n))
        rhs = term if rhs is None else rhs + term
    return tri_solve_node(a, rhs, lower, trans, unit)


def _matvec(m: Tensor, x: Tensor, vector: bool) -> Tensor:
    """``-(m @ x)`` for a stack of matrices or vectors ``x``."""
    out = mm(m, _col(x, vector))
    return -(reshape_node(out, x.dims) if vector else out)


def _solve_vjp(n: Tensor, g: Tensor):
    gb = solve_node(mT(n.inputs[0]), g)
    return [-_outer(gb, n, is_vector_rhs(n)), gb]


def _solve_jvp(n: Tensor, t):
    rhs = t[1]
    if t[0] is not None:
        term = _matvec(t[0], n, is_vector_rhs(n))
        rhs = term if rhs is None else rhs + term
    return solve_node(n.inputs[0], rhs)


def _expand2(g: Tensor) -> Tensor:
    return reshape_node(g, g.dims + (1, 1))


def _logabsdet_vjp(n: Tensor, g: Tensor):
    a = n.inputs[0]
    inv_t = solve_node(mT(a), eye_like(a))     # inv(a).T, by a solve (stable)
    return [_expand2(g) * inv_t]


def _logabsdet_jvp(n: Tensor, t):
    return sum_node(diagonal_node(solve_node(n.inputs[0], t[0])), (n.ndim,))


def _eig_gap_inverse(w: Tensor) -> Tensor:
    """``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal and wherever two eigenvalues are
    equal (degenerate: that pair's term is dropped), else 0."""
    d = reshape_node(w, w.dims[:-1] + (1, w.dims[-1])) - \
        reshape_node(w, w.dims[:-1] + (w.dims[-1], 1))
    zero = bind("equal", d, const_like(0.0, d))
    safe = bind("where", zero, broadcast_node(const_like(1.0, d), d.dims), d)
    return bind("where", zero, broadcast_node(const_like(0.0, d), d.dims),
                const_like(1.0, d) / safe)


def _eigvalsh_vjp(n: Tensor, g: Tensor):
    V = bind("eigh_vectors", n.inputs[0])
    return [sym(mm(V * reshape_node(g, g.dims[:-1] + (1, g.dims[-1])), mT(V)))]


def _eigvalsh_jvp(n: Tensor, t):
    V = bind("eigh_vectors", n.inputs[0])
    return sum_node(V * mm(sym(t[0]), V), (n.ndim - 1,))


def _eigh_vectors_vjp(n: Tensor, g: Tensor):
    V, w = n, bind("eigvalsh", n.inputs[0])
    inner = _eig_gap_inverse(w) * mm(mT(V), g)
    return [sym(mm(mm(V, inner), mT(V)))]


def _eigh_vectors_jvp(n: Tensor, t):
    V, w = n, bind("eigvalsh", n.inputs[0])
    return mm(V, _eig_gap_inverse(w) * mm(mT(V), mm(sym(t[0]), V)))


def _copyltu(m: Tensor) -> Tensor:
    """The symmetric matrix whose lower triangle is ``m``'s."""
    return tri_mask(m, True) + mT(tri_mask(m, True, -1))


def _qr_check(a: Tensor) -> None:
    if a.dims[-2] < a.dims[-1]:
        from ..errors import GradError
        raise GradError(f"linalg.qr: the gradient needs rows >= columns, got "
                        f"{format_shape(a.dims)}")


def _qr_from_m(a: Tensor, gq_term: Tensor | None, m: Tensor) -> Tensor:
    """``(gQ + Q copyltu(M)) R^-T`` with ``R^-T`` applied by a triangular solve."""
    Q, R = bind("qr_q", a), bind("qr_r", a)
    x = mm(Q, _copyltu(m))
    if gq_term is not None:
        x = gq_term + x
    # x R^-T = (R^-1 x^T)^T
    return mT(tri_solve_node(R, mT(x), lower=False))


def _qr_q_vjp(n: Tensor, g: Tensor):
    a = n.inputs[0]
    _qr_check(a)
    return [_qr_from_m(a, g, -mm(mT(g), n))]


def _qr_r_vjp(n: Tensor, g: Tensor):
    a = n.inputs[0]
    _qr_check(a)
    return [_qr_from_m(a, None, mm(n, mT(g)))]


def _qr_dq_dr(n: Tensor, t):
    """(dQ, dR) of ``a = QR`` along ``t`` (m >= n): with ``C = Q^T dA R^-1``,
    ``dR = (tril(C, -1) skew part + ...)``: Walter & Lehmann's forward rule."""
    a = n.inputs[0]
    _qr_check(a)
    Q, R = bind("qr_q", a), bind("qr_r", a)
    da = t[0]
    # dA R^-1 = (R^-T dA^T)^T
    dar = mT(tri_solve_node(R, mT(da), lower=False, trans=1))
    C = mm(mT(Q), dar)
    low = tri_mask(C, True, -1)
    omega = low - mT(low)                   # skew: Q^T dQ
    dR = mm(C - omega, R)
    dQ = dar - mm(Q, C - omega)
    return dQ, dR


# ---- declarations ---------------------------------------------------------------------------

declare(OpDef(name="cholesky", arity=1, kind="linalg", impl=_cholesky_impl,
              shape=_square_shape("cholesky"), vjp=_cholesky_vjp, jvp=_cholesky_jvp,
              cost=8, latex=r"\operatorname{chol}",
              doc="lower Cholesky factor of each matrix (numpy.linalg.cholesky)"))
declare(OpDef(name="solve_triangular", arity=2, kind="linalg", impl=_solve_triangular_impl,
              shape=_rhs_shape("solve_triangular"), vjp=_tri_solve_vjp, jvp=_tri_solve_jvp,
              cost=8, doc="x with op(triangle of a) @ x = b (SciPy's solve_triangular)"))
declare(OpDef(name="solve", arity=2, kind="linalg", impl=_solve_impl, shape=_rhs_shape("solve"),
              vjp=_solve_vjp, jvp=_solve_jvp, cost=8,
              doc="x with a @ x = b, LU with partial pivoting (numpy.linalg.solve)"))
declare(OpDef(name="logabsdet", arity=1, kind="linalg", impl=_logabsdet_impl,
              shape=_det_shape, vjp=_logabsdet_vjp, jvp=_logabsdet_jvp, cost=8,
              latex=r"\log\left|\det\right|",
              doc="log |det a| (numpy.linalg.slogdet(a)[1])"))
declare(OpDef(name="det_sign", arity=1, kind="linalg", impl=_det_sign_impl, shape=_det_shape,
              vjp=lambda n, g: [None], jvp=lambda n, t: None, differentiable=False, cost=8,
              latex=r"\operatorname{sign}\det",
              doc="the sign of det a: -1, 0 or 1 (numpy.linalg.slogdet(a)[0])"))
declare(OpDef(name="eigvalsh", arity=1, kind="linalg", impl=_eigvalsh_impl,
              shape=_eigvalsh_shape, vjp=_eigvalsh_vjp, jvp=_eigvalsh_jvp, cost=16,
              latex=r"\lambda",
              doc="eigenvalues of each symmetric matrix, ascending (numpy.linalg.eigvalsh)"))
declare(OpDef(name="eigh_vectors", arity=1, kind="linalg", impl=_eigh_vectors_impl,
              shape=_square_shape("eigh"), vjp=_eigh_vectors_vjp, jvp=_eigh_vectors_jvp,
              cost=16, latex=r"\operatorname{eigvecs}",
              doc="eigenvectors of each symmetric matrix (numpy.linalg.eigh(a)[1]), each "
                  "one's entry of largest magnitude positive"))
declare(OpDef(name="qr_q", arity=1, kind="linalg", impl=_qr_q_impl, shape=_qr_shape("q"),
              vjp=_qr_q_vjp, jvp=lambda n, t: _qr_dq_dr(n, t)[0], cost=12,
              latex=r"\operatorname{Q}",
              doc="Q of the reduced QR decomposition (numpy.linalg.qr(a)[0])"))
declare(OpDef(name="qr_r", arity=1, kind="linalg", impl=_qr_r_impl, shape=_qr_shape("r"),
              vjp=_qr_r_vjp, jvp=lambda n, t: _qr_dq_dr(n, t)[1], cost=12,
              latex=r"\operatorname{R}",
              doc="R of the reduced QR decomposition (numpy.linalg.qr(a)[1])"))
