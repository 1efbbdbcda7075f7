"""Derivative rules of the linear-algebra primitives (``graphc.ops.linalg``), as graphs of
the same primitives and matmul, so they differentiate again: Giles (2008) for solves,
determinants and eigh, Murray (2016) for Cholesky, Walter & Lehmann / Seeger et al. for
QR; plus the graph builders the rules and ``gc.linalg``'s composites share.

Functions of a symmetric input (cholesky, eigh) get the gradient of the symmetric matrix,
``(G + G.T) / 2``, and their forward rules take the symmetric part of the tangent (as
torch.linalg).
"""
from __future__ import annotations

import numpy as np

from ..bind import bind, constant_node
from ..errors import GradError
from ..ir import Tensor, format_shape
from .builders import broadcast_node, reshape_node, sum_node, transpose_node
from .movement import slice_node


def is_vector_rhs(n: Tensor) -> bool:
    """Is ``b`` of solve/solve_triangular node ``n`` a stack of vectors (one axis less
    than ``a``)? Same memory as a one-column matrix."""
    return n.inputs[1].ndim == n.inputs[0].ndim - 1


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


def cholesky_vjp(n: Tensor, g: Tensor):
    L = n
    P = _phi(mm(mT(L), g))
    S = tri_solve_node(L, P, lower=True, trans=1)              # L^-T P
    G = mT(tri_solve_node(L, mT(S), lower=True, trans=1))     # L^-T P L^-1
    return [sym(G)]


def cholesky_jvp(n: Tensor, t):
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


def tri_solve_vjp(n: Tensor, g: Tensor):
    a = n.inputs[0]
    lower, trans, unit = n.attr("lower"), n.attr("trans"), n.attr("unit_diagonal")
    gb = tri_solve_node(a, g, lower, 1 - trans, unit)
    gm = -_outer(gb, n, is_vector_rhs(n))
    return [_tri_mask_of(n, gm if trans == 0 else mT(gm)), gb]


def tri_solve_jvp(n: Tensor, t):
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


def solve_vjp(n: Tensor, g: Tensor):
    gb = solve_node(mT(n.inputs[0]), g)
    return [-_outer(gb, n, is_vector_rhs(n)), gb]


def solve_jvp(n: Tensor, t):
    rhs = t[1]
    if t[0] is not None:
        term = _matvec(t[0], n, is_vector_rhs(n))
        rhs = term if rhs is None else rhs + term
    return solve_node(n.inputs[0], rhs)


def _expand2(g: Tensor) -> Tensor:
    return reshape_node(g, g.dims + (1, 1))


def logabsdet_vjp(n: Tensor, g: Tensor):
    a = n.inputs[0]
    inv_t = solve_node(mT(a), eye_like(a))     # inv(a).T, by a solve (stable)
    return [_expand2(g) * inv_t]


def logabsdet_jvp(n: Tensor, t):
    return sum_node(diagonal_node(solve_node(n.inputs[0], t[0])), (n.ndim,))


def _eig_gap_inverse(w: Tensor) -> Tensor:
    """``F[i, j] = 1 / (w[j] - w[i])`` where the two eigenvalues differ; 0 on the diagonal
    and wherever two are exactly equal (degenerate: that pair's term is dropped)."""
    d = reshape_node(w, w.dims[:-1] + (1, w.dims[-1])) - \
        reshape_node(w, w.dims[:-1] + (w.dims[-1], 1))
    zero = bind("equal", d, const_like(0.0, d))
    safe = bind("where", zero, broadcast_node(const_like(1.0, d), d.dims), d)
    return bind("where", zero, broadcast_node(const_like(0.0, d), d.dims),
                const_like(1.0, d) / safe)


def eigvalsh_vjp(n: Tensor, g: Tensor):
    V = bind("eigh_vectors", n.inputs[0])
    return [sym(mm(V * reshape_node(g, g.dims[:-1] + (1, g.dims[-1])), mT(V)))]


def eigvalsh_jvp(n: Tensor, t):
    V = bind("eigh_vectors", n.inputs[0])
    return sum_node(V * mm(sym(t[0]), V), (n.ndim - 1,))


def eigh_vectors_vjp(n: Tensor, g: Tensor):
    V, w = n, bind("eigvalsh", n.inputs[0])
    inner = _eig_gap_inverse(w) * mm(mT(V), g)
    return [sym(mm(mm(V, inner), mT(V)))]


def eigh_vectors_jvp(n: Tensor, t):
    V, w = n, bind("eigvalsh", n.inputs[0])
    return mm(V, _eig_gap_inverse(w) * mm(mT(V), mm(sym(t[0]), V)))


def _copyltu(m: Tensor) -> Tensor:
    """The symmetric matrix whose lower triangle is ``m``'s."""
    return tri_mask(m, True) + mT(tri_mask(m, True, -1))


def _qr_check(a: Tensor) -> None:
    if a.dims[-2] < a.dims[-1]:
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


def qr_q_vjp(n: Tensor, g: Tensor):
    a = n.inputs[0]
    _qr_check(a)
    return [_qr_from_m(a, g, -mm(mT(g), n))]


def qr_r_vjp(n: Tensor, g: Tensor):
    a = n.inputs[0]
    _qr_check(a)
    return [_qr_from_m(a, None, mm(n, mT(g)))]


def qr_dq_dr(n: Tensor, t):
    """(dQ, dR) of ``a = QR`` along ``t`` (m >= n): with ``C = Q^T dA R^-1`` and ``Omega``
    the skew-symmetric matrix of ``C``'s strict lower triangle (``Q^T dQ``),
    ``dR = (C - Omega) R`` and ``dQ = dA R^-1 - Q (C - Omega)``."""
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
