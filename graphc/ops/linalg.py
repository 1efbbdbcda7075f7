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

from ..bind import OpDef, declare
from ..errors import DTypeError, LinAlgError, ShapeError
from ..ir import Tensor, format_shape
from . import linalg_rules as rules
from .linalg_rules import diag_embed, diagonal_node, mT  # noqa: F401  (gc.linalg's builders)

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


# ---- declarations ---------------------------------------------------------------------------

declare(OpDef(name="cholesky", arity=1, kind="linalg", impl=_cholesky_impl,
              shape=_square_shape("cholesky"), vjp=rules.cholesky_vjp,
              jvp=rules.cholesky_jvp,
              cost=8, latex=r"\operatorname{chol}",
              doc="lower Cholesky factor of each matrix (numpy.linalg.cholesky)"))
declare(OpDef(name="solve_triangular", arity=2, kind="linalg", impl=_solve_triangular_impl,
              shape=_rhs_shape("solve_triangular"), vjp=rules.tri_solve_vjp,
              jvp=rules.tri_solve_jvp,
              cost=8, doc="x with op(triangle of a) @ x = b (SciPy's solve_triangular)"))
declare(OpDef(name="solve", arity=2, kind="linalg", impl=_solve_impl, shape=_rhs_shape("solve"),
              vjp=rules.solve_vjp, jvp=rules.solve_jvp, cost=8,
              doc="x with a @ x = b, LU with partial pivoting (numpy.linalg.solve)"))
declare(OpDef(name="logabsdet", arity=1, kind="linalg", impl=_logabsdet_impl,
              shape=_det_shape, vjp=rules.logabsdet_vjp, jvp=rules.logabsdet_jvp, cost=8,
              latex=r"\log\left|\det\right|",
              doc="log |det a| (numpy.linalg.slogdet(a)[1])"))
declare(OpDef(name="det_sign", arity=1, kind="linalg", impl=_det_sign_impl, shape=_det_shape,
              vjp=lambda n, g: [None], jvp=lambda n, t: None, differentiable=False, cost=8,
              latex=r"\operatorname{sign}\det",
              doc="the sign of det a: -1, 0 or 1 (numpy.linalg.slogdet(a)[0])"))
declare(OpDef(name="eigvalsh", arity=1, kind="linalg", impl=_eigvalsh_impl,
              shape=_eigvalsh_shape, vjp=rules.eigvalsh_vjp, jvp=rules.eigvalsh_jvp, cost=16,
              latex=r"\lambda",
              doc="eigenvalues of each symmetric matrix, ascending (numpy.linalg.eigvalsh)"))
declare(OpDef(name="eigh_vectors", arity=1, kind="linalg", impl=_eigh_vectors_impl,
              shape=_square_shape("eigh"), vjp=rules.eigh_vectors_vjp,
              jvp=rules.eigh_vectors_jvp,
              cost=16, latex=r"\operatorname{eigvecs}",
              doc="eigenvectors of each symmetric matrix (numpy.linalg.eigh(a)[1]), each "
                  "one's entry of largest magnitude positive"))
declare(OpDef(name="qr_q", arity=1, kind="linalg", impl=_qr_q_impl, shape=_qr_shape("q"),
              vjp=rules.qr_q_vjp, jvp=lambda n, t: rules.qr_dq_dr(n, t)[0], cost=12,
              latex=r"\operatorname{Q}",
              doc="Q of the reduced QR decomposition (numpy.linalg.qr(a)[0])"))
declare(OpDef(name="qr_r", arity=1, kind="linalg", impl=_qr_r_impl, shape=_qr_shape("r"),
              vjp=rules.qr_r_vjp, jvp=lambda n, t: rules.qr_dq_dr(n, t)[1], cost=12,
              latex=r"\operatorname{R}",
              doc="R of the reduced QR decomposition (numpy.linalg.qr(a)[1])"))
