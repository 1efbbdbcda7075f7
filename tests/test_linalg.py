"""gc.linalg: every function forward against NumPy, every gradient against finite
differences in float64 (and forward mode against reverse mode, second derivatives of
slogdet, solve and cholesky), on the interpreter and the numpy and c backends (the C
backend through its generated loops and through LAPACK), run-time errors, printing.
torch.linalg in float64 is a second oracle where installed (tests/test_linalg_torch.py).
The CUDA emulation runs every primitive in tests/backend_suite.py; its flag (NaN) and its
size limit are checked here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import c_lapack
from helpers_backends import needs_cxx

L = gc.linalg
RNG = np.random.default_rng(7)


def spd(*shape, rng=RNG):
    n = shape[-1]
    a = rng.normal(size=shape)
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def sym(a):
    return (a + gc.swapaxes(a, -1, -2)) * 0.5


def wellcond(*shape, rng=RNG):
    return rng.normal(size=shape) + 3 * np.eye(shape[-1])


def run(outputs, phs, vals, backend):
    """Outputs of ``outputs`` at ``vals`` on ``backend`` ("interp": the interpreter)."""
    if backend == "interp":
        return gc.evaluate(outputs, dict(zip(phs, vals)))
    return gc.compile(outputs, inputs=phs, backend=backend)(*vals)


BACKENDS = ["interp", "numpy", "c"]

# name -> (builder over placeholders, NumPy reference, input arrays); batched and not
FORWARD = {
    "cholesky": (lambda a: L.cholesky(a), np.linalg.cholesky, [spd(2, 4, 4)]),
    "cholesky_upper": (lambda a: L.cholesky(a, upper=True),
                       lambda a: np.swapaxes(np.linalg.cholesky(a), -1, -2), [spd(4, 4)]),
    "solve": (L.solve, np.linalg.solve, [wellcond(2, 4, 4), RNG.normal(size=(2, 4, 3))]),
    "solve_vector": (L.solve, np.linalg.solve, [wellcond(4, 4), RNG.normal(size=(4,))]),
    "solve_broadcast": (L.solve, np.linalg.solve, [wellcond(4, 4), RNG.normal(size=(3, 4, 2))]),
    "solve_triangular": (lambda a, b: L.solve_triangular(a, b, lower=True),
                         lambda a, b: np.linalg.solve(np.tril(a), b),
                         [wellcond(2, 4, 4), RNG.normal(size=(2, 4, 3))]),
    "solve_triangular_T_unit": (
        lambda a, b: L.solve_triangular(a, b, trans="T", unit_diagonal=True),
        lambda a, b: np.linalg.solve((np.triu(a, 1) + np.eye(4)).T, b),
        [RNG.normal(size=(4, 4)) * 0.3, RNG.normal(size=(4,))]),
    "cho_solve": (lambda a, b: L.cho_solve((L.cholesky(a), True), b), np.linalg.solve,
                  [spd(2, 4, 4), RNG.normal(size=(2, 4, 2))]),
    "cho_solve_upper": (lambda a, b: L.cho_solve((L.cholesky(a, upper=True), False), b),
                        np.linalg.solve, [spd(4, 4), RNG.normal(size=(4,))]),
    "inv": (L.inv, np.linalg.inv, [wellcond(3, 4, 4)]),
    "det": (L.det, np.linalg.det, [RNG.normal(size=(3, 4, 4))]),
    "slogdet_sign": (lambda a: L.slogdet(a)[0], lambda a: np.linalg.slogdet(a)[0],
                     [RNG.normal(size=(5, 3, 3))]),
    "slogdet_log": (lambda a: L.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1],
                    [RNG.normal(size=(5, 3, 3))]),
    "logdet": (L.logdet, lambda a: np.linalg.slogdet(a)[1], [spd(2, 4, 4)]),
    "eigvalsh": (L.eigvalsh, np.linalg.eigvalsh, [spd(2, 4, 4)]),
    "eigh_values": (lambda a: L.eigh(a)[0], lambda a: np.linalg.eigh(a)[0], [spd(4, 4)]),
    "eigh_projector": (lambda a: L.eigh(a)[1] @ gc.swapaxes(L.eigh(a)[1], -1, -2),
                       lambda a: np.broadcast_to(np.eye(4), a.shape), [spd(2, 4, 4)]),
    "eigh_reconstruct": (lambda a: (L.eigh(a)[1] * L.eigh(a)[0][..., None, :])
                         @ gc.swapaxes(L.eigh(a)[1], -1, -2), lambda a: a, [spd(2, 4, 4)]),
    "qr_tall": (lambda a: L.qr(a)[0] @ L.qr(a)[1], lambda a: a, [RNG.normal(size=(2, 5, 3))]),
    "qr_r": (lambda a: L.qr(a, mode="r"), lambda a: np.linalg.qr(a, mode="r"),
             [RNG.normal(size=(5, 3))]),
    "qr_q_wide": (lambda a: L.qr(a)[0], lambda a: np.linalg.qr(a)[0],
                  [RNG.normal(size=(3, 5))]),
    "qr_r_wide": (lambda a: L.qr(a)[1], lambda a: np.linalg.qr(a)[1], [RNG.normal(size=(3, 5))]),
    "svdvals": (L.svdvals, lambda a: np.linalg.svd(a, compute_uv=False),
                [RNG.normal(size=(2, 4, 3))]),
    "svd_reconstruct": (lambda a: (L.svd(a, full_matrices=False)[0]
                                   * L.svd(a, full_matrices=False)[1][..., None, :])
                        @ L.svd(a, full_matrices=False)[2], lambda a: a,
                        [RNG.normal(size=(3, 4))]),
    "pinv": (L.pinv, np.linalg.pinv, [RNG.normal(size=(5, 3))]),
    "lstsq": (lambda a, b: L.lstsq(a, b)[0], lambda a, b: np.linalg.lstsq(a, b)[0],
              [RNG.normal(size=(6, 3)), RNG.normal(size=(6,))]),
    "lstsq_residuals_rank_s": (
        lambda a, b: gc.concatenate([L.lstsq(a, b)[1], gc.cast(L.lstsq(a, b)[2], "float64")[None],
                                     L.lstsq(a, b)[3]]),
        lambda a, b: np.concatenate([np.linalg.lstsq(a, b)[1], [np.linalg.lstsq(a, b)[2]],
                                     np.linalg.lstsq(a, b)[3]]),
        [RNG.normal(size=(6, 3)), RNG.normal(size=(6,))]),
    "matrix_power": (lambda a: L.matrix_power(a, 5), lambda a: np.linalg.matrix_power(a, 5),
                     [RNG.normal(size=(2, 3, 3)) * 0.5]),
    "matrix_power_neg": (lambda a: L.matrix_power(a, -2),
                         lambda a: np.linalg.matrix_power(a, -2), [wellcond(3, 3)]),
    "matrix_power_0": (lambda a: L.matrix_power(a, 0), lambda a: np.linalg.matrix_power(a, 0),
                       [RNG.normal(size=(2, 3, 3))]),
    "trace": (L.trace, lambda a: np.trace(a, axis1=-2, axis2=-1), [RNG.normal(size=(2, 4, 4))]),
    "trace_offset": (lambda a: L.trace(a, offset=1),
                     lambda a: np.trace(a, offset=1, axis1=-2, axis2=-1),
                     [RNG.normal(size=(3, 4))]),
    "diagonal": (lambda a: L.diagonal(a, offset=-1),
                 lambda a: np.diagonal(a, offset=-1, axis1=-2, axis2=-1),
                 [RNG.normal(size=(2, 4, 3))]),
    "diag": (lambda v: L.diag(v, 1), lambda v: np.diag(v, 1), [RNG.normal(size=(3,))]),
    "outer": (L.outer, np.outer, [RNG.normal(size=(3,)), RNG.normal(size=(4,))]),
    "kron": (L.kron, np.kron, [RNG.normal(size=(2, 3)), RNG.normal(size=(3, 2))]),
    "norm_2": (lambda a: L.norm(a, 2), lambda a: np.linalg.norm(a, 2), [RNG.normal(size=(4, 3))]),
    "norm_nuc": (lambda a: L.norm(a, "nuc"), lambda a: np.linalg.norm(a, "nuc"),
                 [RNG.normal(size=(3, 3))]),
    "norm_fro": (lambda a: L.norm(a, axis=(1, 2), keepdims=True),
                 lambda a: np.linalg.norm(a, axis=(1, 2), keepdims=True),
                 [RNG.normal(size=(2, 3, 3))]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(FORWARD))
def test_forward_matches_numpy(name, backend):
    build, ref, vals = FORWARD[name]
    phs = [gc.placeholder(f"x{k}", v.shape, "float64") for k, v in enumerate(vals)]
    got = run([build(*phs)], phs, vals, backend)[0]
    want = ref(*vals)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_time_batch_dims(backend):
    """Batch axes known only at run time (one compiled function, several batch sizes)."""
    a = gc.placeholder("a", (None, 3, 3), "float64")
    b = gc.placeholder("b", (None, 3), "float64")
    x = L.solve(L.cholesky(a) @ gc.swapaxes(L.cholesky(a), 1, 2), b[:, :, None])[:, :, 0] \
        + L.eigvalsh(a)
    f = (lambda *v: gc.evaluate(x, dict(zip([a, b], v)))) if backend == "interp" else \
        gc.compile(x, inputs=[a, b], backend=backend)
    for batch in (1, 5):
        av, bv = spd(batch, 3, 3), RNG.normal(size=(batch, 3))
        np.testing.assert_allclose(f(av, bv), np.linalg.solve(av, bv[..., None])[..., 0]
                                   + np.linalg.eigvalsh(av), rtol=1e-10)


# ---- gradients --------------------------------------------------------------------------------

def fd_grad(f, vals, k, eps=1e-6):
    out = np.zeros_like(vals[k])
    for idx in np.ndindex(vals[k].shape):
        hi = [v.copy() for v in vals]
        lo = [v.copy() for v in vals]
        hi[k][idx] += eps
        lo[k][idx] -= eps
        out[idx] = (f(hi) - f(lo)) / (2 * eps)
    return out


def _tri_solve(lower, trans, unit):
    return lambda a, b: L.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)


# name -> (builder, inputs): functions of a symmetric input go through sym() so the finite
# differences see the same function the gradient describes
GRADIENTS = {
    "cholesky": (lambda a: L.cholesky(sym(a)), [spd(2, 3, 3)]),
    "solve": (L.solve, [wellcond(2, 3, 3), RNG.normal(size=(2, 3, 2))]),
    "solve_vector": (L.solve, [wellcond(3, 3), RNG.normal(size=(3,))]),
    **{f"solve_triangular_{lower}_{trans}_{unit}": (
        _tri_solve(lower, trans, unit),
        [wellcond(2, 3, 3) * (0.3 if unit else 1), RNG.normal(size=(2, 3, 2))])
       for lower in (False, True) for trans in (0, 1) for unit in (False, True)},
    "slogdet": (lambda a: L.slogdet(a)[1], [RNG.normal(size=(2, 3, 3))]),
    "det": (L.det, [RNG.normal(size=(3, 3))]),
    "logdet": (lambda a: L.logdet(sym(a)), [spd(2, 3, 3)]),
    "inv": (L.inv, [wellcond(3, 3)]),
    "eigvalsh": (lambda a: L.eigvalsh(sym(a)), [spd(2, 3, 3)]),
    "eigh_vectors": (lambda a: L.eigh(sym(a))[1], [spd(2, 3, 3)]),
    "qr_q": (lambda a: L.qr(a)[0], [RNG.normal(size=(2, 4, 3))]),
    "qr_r": (lambda a: L.qr(a)[1], [RNG.normal(size=(4, 3))]),
    "qr_square": (lambda a: L.qr(a)[0] * 2 + L.qr(a)[1], [RNG.normal(size=(3, 3))]),
    "svdvals": (L.svdvals, [RNG.normal(size=(4, 3))]),
    "svd_u": (lambda a: L.svd(a, full_matrices=False)[0], [RNG.normal(size=(4, 3))]),
    "svd_vh": (lambda a: L.svd(a, full_matrices=False)[2], [RNG.normal(size=(3, 4))]),
    "pinv": (L.pinv, [RNG.normal(size=(4, 3))]),
    "lstsq": (lambda a, b: L.lstsq(a, b)[0], [RNG.normal(size=(5, 3)), RNG.normal(size=(5,))]),
    "matrix_power": (lambda a: L.matrix_power(a, -3), [wellcond(3, 3)]),
    "trace_kron_outer": (lambda a: L.trace(a) * L.kron(a, a) + L.outer(a[0], a[1]).sum(),
                         [RNG.normal(size=(3, 3))]),
    "norms": (lambda a: L.norm(a, 2) + L.norm(a, "nuc") + L.norm(a, -2),
              [RNG.normal(size=(3, 3))]),
}


def _loss(build, phs, rng):
    y = build(*phs)
    w = gc.constant(rng.normal(size=tuple(y.shape)))
    return gc.sum(y * w)


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradient_matches_finite_differences(name):
    build, vals = GRADIENTS[name]
    phs = [gc.placeholder(f"x{k}", v.shape, "float64") for k, v in enumerate(vals)]
    loss = _loss(build, phs, np.random.default_rng(1))
    grads = gc.evaluate(gc.grad(loss, phs), dict(zip(phs, vals)))
    def f(vs):
        return float(gc.evaluate(loss, dict(zip(phs, vs))))
    for k in range(len(vals)):
        fd = fd_grad(f, vals, k)
        np.testing.assert_allclose(grads[k], fd, rtol=1e-6, atol=1e-7 * (1 + np.abs(fd).max()),
                                   err_msg=f"{name} input {k}")


@pytest.mark.parametrize("backend", ["numpy", "c"])
@pytest.mark.parametrize("name", ["cholesky", "solve", "solve_vector", "slogdet", "eigh_vectors",
                                  "qr_q", "svd_u", "solve_triangular_True_1_False"])
def test_gradient_on_backends_matches_interpreter(name, backend):
    build, vals = GRADIENTS[name]
    phs = [gc.placeholder(f"x{k}", v.shape, "float64") for k, v in enumerate(vals)]
    loss = _loss(build, phs, np.random.default_rng(1))
    outs = [loss] + gc.grad(loss, phs)
    want = run(outs, phs, vals, "interp")
    got = run(outs, phs, vals, backend)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", ["cholesky", "solve", "solve_triangular_True_0_False",
                                  "solve_triangular_False_1_True", "slogdet", "eigvalsh",
                                  "eigh_vectors", "qr_q", "qr_r"])
def test_forward_mode_matches_reverse_mode(name):
    """<jvp(t), w> == <t, vjp(w)>: each primitive's forward rule against its reverse rule."""
    build, vals = GRADIENTS[name]
    rng = np.random.default_rng(3)
    phs = [gc.placeholder(f"x{k}", v.shape, "float64") for k, v in enumerate(vals)]
    y = build(*phs)
    w = rng.normal(size=tuple(y.shape))
    tangents = [rng.normal(size=v.shape) for v in vals]
    feeds = dict(zip(phs, vals))
    forward = gc.evaluate(gc.jvp(y, phs, [gc.constant(t) for t in tangents]), feeds)
    reverse = gc.evaluate(gc.grad(gc.sum(y * gc.constant(w)), phs), feeds)
    lhs = float(np.sum(forward * w))
    rhs = sum(float(np.sum(t * g)) for t, g in zip(tangents, reverse))
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-11)


@pytest.mark.parametrize("name", ["slogdet", "solve", "cholesky"])
def test_second_derivatives(name):
    """Hessian-vector products (the gradient graphs differentiated again) against finite
    differences of the gradient."""
    build, vals = GRADIENTS[name]
    phs = [gc.placeholder(f"x{k}", v.shape, "float64") for k, v in enumerate(vals)]
    loss = _loss(build, phs, np.random.default_rng(1))
    rng = np.random.default_rng(5)
    vs = [rng.normal(size=v.shape) for v in vals]
    hv = gc.evaluate(gc.hvp(loss, phs, [gc.constant(v) for v in vs]), dict(zip(phs, vals)))
    grads = gc.grad(loss, phs)
    eps = 1e-6
    hi = gc.evaluate(grads, dict(zip(phs, [x + eps * v for x, v in zip(vals, vs)])))
    lo = gc.evaluate(grads, dict(zip(phs, [x - eps * v for x, v in zip(vals, vs)])))
    for k in range(len(vals)):
        fd = (hi[k] - lo[k]) / (2 * eps)
        np.testing.assert_allclose(hv[k], fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd).max()))
    # and compiled: the numpy and c backends agree with the interpreter
    outs = gc.hvp(loss, phs, [gc.constant(v) for v in vs])
    for backend in ("numpy", "c"):
        for g, w in zip(run(outs, phs, vals, backend), hv):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11)


def test_gaussian_log_likelihood_hessian_wrt_mean():
    """A multivariate normal's log-density: gradient Sigma^-1 (x - mu), Hessian -Sigma^-1."""
    S = spd(3, 3)
    mu = gc.parameter("mu", np.zeros(3))
    x = gc.constant(RNG.normal(size=3))
    Sigma = gc.constant(S)
    d = x - mu
    logp = -0.5 * (gc.sum(d * L.solve(Sigma, d)) + L.logdet(Sigma) + 3 * np.log(2 * np.pi))
    H = np.stack([gc.evaluate(gc.hvp(logp, mu, gc.constant(e))) for e in np.eye(3)])
    np.testing.assert_allclose(H, -np.linalg.inv(S), rtol=1e-10)


def test_eigh_at_degenerate_eigenvalues():
    """Exactly equal eigenvalues: the eigenvalue gradient is exact; the terms of the
    eigenvector gradient that would divide by zero are dropped (finite, documented)."""
    a = gc.placeholder("a", (3, 3), "float64")
    w, V = L.eigh(sym(a))
    at = np.diag([2.0, 2.0, 5.0])
    gw = gc.evaluate(gc.grad(gc.sum(w * gc.constant([1.0, 2.0, 3.0])), a), {"a": at})
    # d(sum c_i w_i)/dA for the eigenbasis numpy returns: V diag(c) V^T
    np.testing.assert_allclose(np.trace(gw), 6.0)
    np.testing.assert_allclose(gw[2, 2], 3.0)
    gv = gc.evaluate(gc.grad(gc.sum(V * gc.constant(RNG.normal(size=(3, 3)))), a), {"a": at})
    assert np.all(np.isfinite(gv))


# ---- the C backend's two paths ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_c_lapack_path_and_generated_loops_agree(dtype):
    """Matrices of LAPACK_MIN_N rows and more go through LAPACK; smaller ones through the
    generated loops; both match NumPy (float64 and float32)."""
    assert c_lapack.numpy_lapack()[0], "NumPy's OpenBLAS exports LAPACKE_dpotrf"
    rtol = 1e-9 if dtype == "float64" else 2e-3
    for n in (5, c_lapack.LAPACK_MIN_N + 2):
        rng = np.random.default_rng(n)
        S = spd(2, n, n, rng=rng).astype(dtype)
        B = rng.normal(size=(2, n, 3)).astype(dtype)
        a = gc.placeholder("a", S.shape, dtype)
        b = gc.placeholder("b", B.shape, dtype)
        Lc = L.cholesky(a)
        w, V = L.eigh(a)
        q, r = L.qr(a)
        outs = [Lc, L.solve(a, b), L.solve_triangular(Lc, b, lower=True), L.slogdet(a)[1],
                L.slogdet(a)[0], w, V @ gc.swapaxes(V, 1, 2), q @ r, r]
        got = gc.compile(outs, inputs=[a, b], backend="c")(S, B)
        want = gc.evaluate(outs, {"a": S, "b": B})
        for k, (g, x) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, x, rtol=rtol, atol=rtol * np.abs(x).max(),
                                       err_msg=f"n={n} output {k}")


# ---- run-time errors -------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_not_positive_definite_names_op_and_input(backend):
    Sigma = gc.placeholder("Sigma", (None, 3, 3), "float64")
    out = L.cholesky(Sigma)
    bad = np.stack([np.eye(3), -np.eye(3)])
    with pytest.raises(gc.linalg.LinAlgError,
                       match=r"gc\.linalg\.cholesky: input 'Sigma' is not positive definite "
                             r"\(created at test_linalg\.py:\d+\)"):
        run([out], [Sigma], [bad], backend)
    assert isinstance(gc.linalg.LinAlgError("x"), gc.EvalError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_singular_matrix_names_op_and_input(backend):
    A = gc.placeholder("A", (3, 3), "float64")
    b = gc.placeholder("b", (3,), "float64")
    singular = np.ones((3, 3))
    with pytest.raises(gc.linalg.LinAlgError, match=r"gc\.linalg\.solve: input 'A' is singular"):
        run([L.solve(A, b)], [A, b], [singular, np.ones(3)], backend)
    with pytest.raises(gc.linalg.LinAlgError, match=r"gc\.linalg\.inv: input 'A' is singular"):
        run([L.inv(A)], [A], [singular], backend)
    with pytest.raises(gc.linalg.LinAlgError, match=r"gc\.linalg\.solve_triangular: input 'A'"):
        run([L.solve_triangular(A, b)], [A, b], [np.triu(singular) - np.eye(3), np.ones(3)],
            backend)
    # a singular matrix's determinant is a value, not an error
    np.testing.assert_array_equal(run(L.slogdet(A), [A], [singular], backend),
                                  [0.0, -np.inf])


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_failed_step_leaves_parameters_unchanged(backend):
    """A training step whose Cholesky fails raises and commits no update."""
    p = gc.parameter("p", np.eye(2))
    x = gc.placeholder("x", (2, 2), "float64")
    loss = gc.sum(L.cholesky(p @ p.T + x))
    step = gc.compile(loss, inputs=[x], updates={p: p - 0.1 * gc.grad(loss, p)},
                      backend=backend)
    step(np.zeros((2, 2)))
    before = p.value.copy()
    with pytest.raises(gc.linalg.LinAlgError, match="is not positive definite"):
        step(-10 * np.eye(2))
    np.testing.assert_array_equal(p.value, before)


def test_computed_input_is_named_by_its_formula():
    a = gc.placeholder("a", (2, 2), "float64")
    # (the C backend sees the optimized graph: a - 5 is a + -5 there)
    with pytest.raises(gc.linalg.LinAlgError, match=r"input 'a (- 5|\+ -5)' is not positive"):
        gc.compile(L.cholesky(a - 5.0), inputs=[a], backend="c")(np.eye(2))


def test_build_time_errors():
    with pytest.raises(gc.ShapeError, match=r"linalg\.cholesky: needs square matrices"):
        L.cholesky(gc.placeholder("a", (3, 4), "float64"))
    with pytest.raises(gc.ShapeError, match=r"linalg\.solve: b of shape \(4,\) does not fit"):
        L.solve(gc.placeholder("a", (3, 3), "float64"), gc.placeholder("b", (4,), "float64"))
    with pytest.raises(gc.ShapeError, match="known size"):
        L.det(gc.placeholder("a", (None, None), "float64"))
    with pytest.raises(gc.UsageError, match="trans"):
        L.solve_triangular(np.eye(2), np.ones(2), trans=3)
    with pytest.raises(gc.UsageError, match="full_matrices"):
        L.svd(gc.placeholder("a", (3, 2), "float64"))
    wide = gc.placeholder("a", (2, 3), "float64")
    with pytest.raises(gc.GradError, match="rows >= columns"):
        gc.grad(gc.sum(L.qr(wide)[1]), wide)


@needs_cxx
def test_cuda_flags_failures_with_nan_and_limits_size():
    a = gc.placeholder("a", (2, 2, 2), "float64")
    f = gc.compile(L.cholesky(a), inputs=[a], backend="cuda", device="emulate")
    out = f(np.stack([np.eye(2), -np.eye(2)]))
    np.testing.assert_array_equal(out[0], np.eye(2))
    assert np.all(np.isnan(out[1]))
    big = gc.placeholder("big", (65, 65), "float64")
    with pytest.raises(gc.UsageError, match=r"cholesky of 65x65 matrices is not supported by "
                                            r"backend='cuda'"):
        gc.compile(L.cholesky(big), inputs=[big], backend="cuda", device="emulate")


# ---- printing ---------------------------------------------------------------------------------

def test_printing():
    S = gc.placeholder("Sigma", (3, 3), "float64")
    x = gc.placeholder("x", (3,), "float64")
    mu = gc.placeholder("mu", (3,), "float64")
    assert str(L.solve(S, x - mu)) == "solve(Sigma, x - mu)"
    assert str(L.slogdet(S)[1]) == "slogdet(Sigma)[1]"
    assert str(L.solve_triangular(S, x, lower=True)) == "solve_triangular(Sigma, x, lower=True)"
    assert gc.latex(L.solve(S, x - mu)) == r"\Sigma^{-1} \left(x - \mu\right)"
    assert gc.latex(L.inv(S)) == r"\Sigma^{-1}"
    assert gc.latex(L.slogdet(S)[1]) == r"\log\left|\det \Sigma\right|"
    assert "logabsdet(Sigma)" in gc.show(L.slogdet(S)[1])
    assert str(L.logdet(S)) == "sum(log(diagonal(cholesky(Sigma)))) * 2"
    assert r"\operatorname{diag}\left(\operatorname{chol}\left(\Sigma\right)\right)" in \
        gc.latex(L.logdet(S))


def test_graph_file_round_trip(tmp_path):
    A = gc.placeholder("A", (3, 3), "float64")
    b = gc.placeholder("b", (3,), "float64")
    y = L.solve_triangular(A, b, trans=1, lower=True, unit_diagonal=True) + L.eigvalsh(A)
    path = str(tmp_path / "g.graphc")
    gc.save(path, y)
    y2 = gc.load(path).outputs
    feeds = {"A": wellcond(3, 3), "b": RNG.normal(size=3)}
    np.testing.assert_array_equal(gc.evaluate(y2, feeds), gc.evaluate(y, feeds))


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_batch_sizes_that_disagree_at_run_time_are_a_feed_error(backend):
    """Two run-time batch dims the API broadcast together must agree when called (the C
    kernel would otherwise read past b)."""
    a = gc.placeholder("a", (None, 3, 3), "float64")
    b = gc.placeholder("b", (None, 3), "float64")
    f = gc.compile(L.solve(a, b[:, :, None]), inputs=[a, b], backend=backend)
    with pytest.raises(gc.FeedError, match="inconsistent sizes"):
        f(np.stack([np.eye(3)] * 2), np.ones((5, 3)))


def test_exported_c_header_documents_what_it_links(tmp_path):
    a = gc.placeholder("a", (2, 3, 3), "float64")
    f = gc.compile([L.cholesky(a)], inputs=[a], backend="c")
    f.export(str(tmp_path))
    header = next(tmp_path.glob("*.h")).read_text()
    assert "generated loops (no library linked)" in header
    assert "_set_lapack(void* const* fns);" in header and "dpotrf" in header


def test_exported_numpy_module_runs_without_graphc(tmp_path):
    a = gc.placeholder("a", (3, 3), "float64")
    f = gc.compile([L.cholesky(a), L.eigh(a)[1]], inputs=[a], backend="numpy")
    paths = f.export(str(tmp_path))
    source = "\n".join(Path(p).read_text() for p in paths if p.endswith(".py"))
    assert "import graphc" not in source and "def _cholesky" in source


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [0, 1])
@pytest.mark.parametrize("unit", [False, True])
def test_large_triangular_solves_on_numpy_match_a_dense_solve(lower, trans, unit):
    """The NumPy backend's blocked substitution (blocks of 64, halves coupled by a
    matmul) on matrices big enough to recurse twice, batched, with garbage in the
    triangle it must not read, for vector and matrix right-hand sides."""
    rng = np.random.default_rng(7)
    n = 150
    a0 = rng.standard_normal((2, n, n)) / n + 2 * np.eye(n)   # well conditioned, either diagonal
    b0, B0 = rng.standard_normal(n), rng.standard_normal((2, n, 3))
    a = gc.placeholder("a", (2, n, n), "float64")
    b, B = gc.placeholder("b", (n,), "float64"), gc.placeholder("B", (2, n, 3), "float64")
    outs = [gc.linalg.solve_triangular(a, r, trans=trans, lower=lower, unit_diagonal=unit)
            for r in (b, B)]
    got = gc.compile(outs, inputs=[a, b, B], backend="numpy")(a0, b0, B0)
    t = np.tril(a0) if lower else np.triu(a0)
    if unit:
        t[:, np.arange(n), np.arange(n)] = 1
    t = np.swapaxes(t, -1, -2) if trans else t
    want = np.linalg.solve(t, np.broadcast_to(b0[:, None], (2, n, 1)))[..., 0]
    np.testing.assert_allclose(got[0], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1], np.linalg.solve(t, B0), rtol=1e-10, atol=1e-12)
