"""Scans and orderings along an axis: cumsum, cumprod, logcumsumexp, argsort, sort, top_k.

Values against NumPy on every backend (numpy, c, cuda emulation) in float32/float64/int,
NumPy's edge cases (axis=None, negative axes, empty and length-1 axes, NaN last, stable
ties), derivatives against finite differences in float64 (cumprod with zeros in the
input, logcumsumexp with large inputs, second order through hvp, forward mode), torch
float64 when installed, saved + loaded graphs, kernel counts, and clear errors.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from helpers_backends import BACKENDS, each_backend
from helpers_errors import fails
from op_checks import finite_difference

RNG = np.random.default_rng(7)


def run(outputs, feeds, backend, options):
    """Compile on ``backend`` and call with ``feeds`` ({placeholder: array})."""
    f = gc.compile(outputs, inputs=list(feeds), backend=backend, **options)
    return f(*feeds.values())


def numpy_logcumsumexp(x, axis):
    return np.logaddexp.accumulate(x, axis=axis)


# ---- values vs NumPy -------------------------------------------------------------------------

@each_backend
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_scans_match_numpy(backend, options, dtype):
    x = gc.placeholder("x", (None, 4, 5), dtype)
    xv = RNG.uniform(-2, 2, (3, 4, 5))
    xv = xv.astype(dtype) if dtype.startswith("float") else RNG.integers(-3, 4, (3, 4, 5)).astype(dtype)
    outs = [gc.cumsum(x, axis=1), gc.cumsum(x, axis=-1), gc.cumprod(x, axis=0),
            gc.cumprod(x, axis=2), x.cumsum(0), x.cumprod(-2)]
    wants = [np.cumsum(xv, 1), np.cumsum(xv, -1), np.cumprod(xv, 0), np.cumprod(xv, 2),
             np.cumsum(xv, 0), np.cumprod(xv, -2)]
    if dtype.startswith("float"):
        outs.append(gc.logcumsumexp(x, axis=1))
        wants.append(numpy_logcumsumexp(xv, 1))
    got = run(outs, {x: xv}, backend, options)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for g, w in zip(got, wants):
        assert g.dtype == w.dtype, (g.dtype, w.dtype)   # int32 adds up in int64, as NumPy
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


@each_backend
def test_axis_none_flattens_and_dtype_argument(backend, options):
    x = gc.placeholder("x", (2, 3), "int32")
    b = gc.placeholder("b", (5,), "bool")
    xv = np.arange(1, 7, dtype=np.int32).reshape(2, 3)
    bv = np.array([True, False, True, True, False])
    got = run([gc.cumsum(x), gc.cumprod(x), gc.cumsum(x, axis=0, dtype="float64"),
               gc.cumsum(b), gc.logcumsumexp(gc.cast(x, "float64"))], {x: xv, b: bv},
              backend, options)
    wants = [np.cumsum(xv), np.cumprod(xv), np.cumsum(xv, 0, dtype=np.float64), np.cumsum(bv),
             numpy_logcumsumexp(xv.astype(np.float64).ravel(), 0)]
    for g, w in zip(got, wants):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w)


@each_backend
@pytest.mark.parametrize("shape,axis", [((3, 0), 1), ((0, 4), 0), ((0, 4), 1), ((3, 1), 1),
                                        ((1, 4), 0), ((1,), 0)])
def test_empty_and_length_one_axes(backend, options, shape, axis):
    x = gc.placeholder("x", shape, "float64")
    xv = RNG.uniform(-1, 1, shape)
    got = run([gc.cumsum(x, axis), gc.cumprod(x, axis), gc.logcumsumexp(x, axis),
               gc.argsort(x, axis), gc.sort(x, axis)], {x: xv}, backend, options)
    wants = [np.cumsum(xv, axis), np.cumprod(xv, axis), numpy_logcumsumexp(xv, axis)
             if xv.size else xv, np.argsort(xv, axis, kind="stable"), np.sort(xv, axis)]
    for g, w in zip(got, wants):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12)


@each_backend
def test_logcumsumexp_large_and_infinite_values(backend, options):
    x = gc.placeholder("x", (6,), "float64")
    xv = np.array([1000., 1000., -1000., 2000., -np.inf, 3.])
    y = gc.logcumsumexp(x, 0)
    g = gc.grad(gc.sum(y * gc.constant(np.array([1., -2., 3., 1., 1., 1.]))), x)
    got_y, got_g = run([y, g], {x: xv}, backend, options)
    np.testing.assert_allclose(got_y, numpy_logcumsumexp(xv, 0), rtol=1e-12)
    assert np.isfinite(got_g).all(), got_g
    # d out_i / d x_j = exp(x_j - out_i); by hand for the weights above
    out = numpy_logcumsumexp(xv, 0)
    w = np.array([1., -2., 3., 1., 1., 1.])
    want = np.array([sum(w[i] * np.exp(xv[j] - out[i]) for i in range(j, 6)) for j in range(6)])
    np.testing.assert_allclose(got_g, want, rtol=1e-10, atol=1e-300)
    # all -inf: the value is -inf and the gradient is 0 (no NaN)
    got_y, got_g = run([y, g], {x: np.full(6, -np.inf)}, backend, options)
    assert np.all(got_y == -np.inf) and np.all(got_g == 0)


@each_backend
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logcumsumexp_float32_large_inputs(backend, options, dtype):
    x = gc.placeholder("x", (None, 8), dtype)
    xv = RNG.uniform(-80, 80, (3, 8)).astype(dtype) * 10
    y = gc.logcumsumexp(x, axis=1)
    got_y, got_g = run([y, gc.grad(gc.sum(y), x)], {x: xv}, backend, options)
    np.testing.assert_allclose(got_y, numpy_logcumsumexp(xv, 1), rtol=1e-5)
    assert np.isfinite(got_g).all()


@each_backend
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_cummax_cummin_match_numpy(backend, options, dtype):
    if dtype == "bool":
        xv = RNG.random((4, 6)) > 0.5
    elif dtype.startswith("int"):
        xv = RNG.integers(-3, 4, (4, 6)).astype(dtype)
    else:
        xv = RNG.normal(size=(4, 6)).astype(dtype)
        xv[1, 2], xv[3, 0] = np.nan, np.nan
    x = gc.placeholder("x", (4, 6), dtype)
    got = run([gc.cummax(x, axis=1), gc.cummin(x, axis=0), gc.cummax(x), gc.cummin(x, -1)],
              {x: xv}, backend, options)
    wants = [np.maximum.accumulate(xv, 1), np.minimum.accumulate(xv, 0),
             np.maximum.accumulate(xv.ravel()), np.minimum.accumulate(xv, -1)]
    for g, w in zip(got, wants):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@each_backend
@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_cummax_index_primitive(backend, options, dtype):
    """cummax/cummin with index=True: where the running extreme is (latest tie; NaN: the
    first NaN), forward and reverse, computed in the scan's own loop."""
    from graphc.ops.lines import extreme_node
    xv = np.array([[1., 3., 3., 2., np.nan, 5., np.nan], [0., -1., 0., 4., 4., 2., 4.]])
    if dtype != "float64":
        xv = np.nan_to_num(xv, nan=7.0).astype(dtype)
    x = gc.placeholder("x", xv.shape, dtype)
    outs = [extreme_node(op, x, 1, reverse, True) for op in ("cummax", "cummin")
            for reverse in (False, True)]
    got = run(outs, {x: xv}, backend, options)
    want = gc.evaluate(outs, {x: xv})
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    if dtype == "float64":
        np.testing.assert_array_equal(want[0], [[0, 1, 2, 2, 4, 4, 4], [0, 0, 2, 3, 4, 4, 6]])
        np.testing.assert_array_equal(want[2], [[0, 0, 0, 0, 4, 4, 4], [0, 1, 1, 1, 1, 1, 1]])


@each_backend
def test_cummax_gradient_goes_to_the_latest_tied_maximum(backend, options):
    x = gc.placeholder("x", (None, 7), "float64")
    xv = np.array([[1., 3., 3., 2., 3., 0., 5.], [4., 4., 1., 5., -1., 5., 6.]])
    w = RNG.normal(size=(2, 7))
    got = run([gc.grad(gc.sum(gc.cummax(x, 1) * gc.constant(w)), x),
               gc.grad(gc.sum(gc.cummin(x, 1) * gc.constant(w)), x)], {x: xv}, backend, options)
    for g, acc in zip(got, (np.maximum.accumulate, np.minimum.accumulate)):
        out = acc(xv, 1)
        want = np.zeros_like(xv)
        for r in range(2):
            for i in range(7):   # the latest j <= i holding out[i] (torch.cummax's index)
                j = max(j for j in range(i + 1) if xv[r, j] == out[r, i])
                want[r, j] += w[r, i]
        np.testing.assert_allclose(g, want, rtol=1e-12)


# ---- sorting ---------------------------------------------------------------------------------

@each_backend
def test_argsort_sort_nan_last_and_stable_ties(backend, options):
    x = gc.placeholder("x", (None, 6), "float64")
    xv = np.array([[3., np.nan, 1., 3., -np.inf, 1.],
                   [0., 0., 0., 0., 0., 0.],
                   [np.nan, 2., np.nan, -1., np.inf, 2.]])
    got = run([gc.argsort(x), gc.argsort(x, axis=0), gc.argsort(x, descending=True),
               x.argsort(0, descending=True)], {x: xv}, backend, options)
    np.testing.assert_array_equal(got[0], np.argsort(xv, -1, kind="stable"))
    np.testing.assert_array_equal(got[1], np.argsort(xv, 0, kind="stable"))
    # descending: largest first, NaN first (as torch.sort(descending=True, stable=True))
    np.testing.assert_array_equal(got[2], [[1, 0, 3, 2, 5, 4], [0, 1, 2, 3, 4, 5],
                                           [0, 2, 4, 1, 5, 3]])
    assert got[3].dtype == np.int64


@each_backend
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_sort_and_top_k_match_numpy(backend, options, dtype):
    shape = (4, 9)
    xv = (RNG.normal(size=shape) * 3).astype(dtype) if dtype[0] == "f" else \
        RNG.integers(-4, 5, shape).astype(dtype)      # ints: many ties
    x = gc.placeholder("x", shape, dtype)
    values, indices = gc.top_k(x, 4)
    got = run([gc.sort(x), gc.sort(x, axis=0), gc.sort(x, axis=None), gc.argsort(x),
               values, indices, gc.sort(x, descending=True)], {x: xv}, backend, options)
    want_idx = np.argsort(-xv.astype(np.float64), -1, kind="stable")[:, :4]
    wants = [np.sort(xv), np.sort(xv, 0), np.sort(xv, None), np.argsort(xv, kind="stable"),
             np.take_along_axis(xv, want_idx, -1), want_idx, -np.sort(-xv)]
    for g, w in zip(got, wants):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@each_backend
def test_argsort_float32_random_keys_is_a_permutation(backend, options):
    """What a random permutation builds on: argsort of float32 uniforms."""
    keys = gc.placeholder("keys", (None, 257), "float32")
    kv = RNG.random((5, 257), dtype=np.float32)
    kv[0, :10] = kv[0, 10]    # some ties too
    (got,) = run([gc.argsort(keys)], {keys: kv}, backend, options)
    np.testing.assert_array_equal(got, np.argsort(kv, -1, kind="stable"))
    assert (np.sort(got, -1) == np.arange(257)).all()


@each_backend
def test_sort_and_top_k_with_run_time_batch(backend, options):
    """A run-time batch dim: each value is selected from its line (a fused reduction)."""
    x = gc.placeholder("x", (None, 7), "float64")
    xv = RNG.normal(size=(5, 7))
    xv[1, 3], xv[2, :3] = np.nan, 0.25
    values, indices = gc.top_k(x, 3)
    w = RNG.normal(size=(3, 3))
    loss = gc.sum(values * gc.constant(w)) + gc.sum(gc.sort(x) * gc.sin(x))
    got = run([values, indices, gc.sort(x)], {x: xv[2:]}, backend, options)
    v = xv[2:]
    want_idx = np.argsort(-v, -1, kind="stable")[:, :3]   # ties (row 0) in index order
    np.testing.assert_array_equal(got[1], want_idx)
    np.testing.assert_array_equal(got[0], np.take_along_axis(v, want_idx, -1))
    np.testing.assert_array_equal(got[2], np.sort(v, -1))
    v = RNG.normal(size=(3, 7))   # no ties: a derivative exists everywhere
    (got_grad,) = run([gc.grad(loss, x)], {x: v}, backend, options)
    want = finite_difference(lambda u: np.sum(np.take_along_axis(
        u, np.argsort(-u, -1, kind="stable")[:, :3], -1) * w) + np.sum(
        np.sort(u, -1) * np.sin(u)), v)
    np.testing.assert_allclose(got_grad, want, rtol=1e-6, atol=1e-8)
    (nan_row,) = run([indices], {x: xv[1:2]}, backend, options)
    assert nan_row[0, 0] == 3        # NaN is the largest


@each_backend
def test_sort_and_cummax_along_a_run_time_axis(backend, options):
    """Along an axis of run-time size the positions are a running count of ones."""
    x = gc.placeholder("x", (None, 6), "float64")
    xv = RNG.normal(size=(5, 6))
    loss = gc.sum(gc.sort(x, 0) * gc.sin(x)) + gc.sum(gc.cummax(x, 0) ** 2)
    got = run([gc.sort(x, 0), gc.cummax(x, 0), gc.grad(loss, x)], {x: xv}, backend, options)
    np.testing.assert_array_equal(got[0], np.sort(xv, 0))
    np.testing.assert_array_equal(got[1], np.maximum.accumulate(xv, 0))
    want = finite_difference(lambda v: np.sum(np.sort(v, 0) * np.sin(v))
                        + np.sum(np.maximum.accumulate(v, 0) ** 2), xv)
    np.testing.assert_allclose(got[2], want, rtol=1e-6, atol=1e-8)


def test_top_k_ties_nan_and_gradients_vs_finite_differences():
    x = gc.parameter("x", np.array([1., 3., 3., np.nan, 2.]))
    values, indices = gc.top_k(x, 3)
    np.testing.assert_array_equal(gc.evaluate(indices), [3, 1, 2])   # NaN largest, ties by index
    xv = RNG.normal(size=(3, 7))
    p = gc.placeholder("p", (3, 7), "float64")
    w = RNG.normal(size=(3, 4))
    loss = gc.sum(gc.top_k(p, 4)[0] * w) + gc.sum(gc.sort(p, axis=0) ** 2)
    for backend, options in BACKENDS:
        (got,) = run([gc.grad(loss, p)], {p: xv}, backend, options)
        want = finite_difference(lambda v: np.sum(np.take_along_axis(
            v, np.argsort(-v, -1, kind="stable")[:, :4], -1) * w) + np.sum(np.sort(v, 0) ** 2), xv)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=backend)


# ---- derivatives ---------------------------------------------------------------------------

def _cumprod_loss(v, w, axis):
    return np.sum(np.cumprod(v, axis) * w)


@each_backend
def test_cumprod_gradient_exact_with_zeros(backend, options):
    xv = np.array([[2., 0., 3., 0., 5., 1.5],
                   [0., 4., 0.5, 2., 1., 3.],
                   [1., 2., 3., 4., 5., 0.],
                   [1.5, -2., 0.5, 3., -1., 2.]])
    w = RNG.normal(size=xv.shape)
    x = gc.placeholder("x", (None, 6), "float64")
    for axis in (1, 0):
        loss = gc.sum(gc.cumprod(x, axis) * gc.constant(w))
        (got,) = run([gc.grad(loss, x)], {x: xv}, backend, options)
        # cumprod is a polynomial in each element: central differences are exact up to eps^2
        want = finite_difference(lambda v: _cumprod_loss(v, w, axis), xv)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-8)
        assert np.isfinite(got).all()


def test_cumprod_gradient_matches_masked_quadratic_form():
    """The O(n) rule equals the definition grad_j = sum_{i>=j} g_i prod_{k<=i, k!=j} x_k."""
    xv = np.array([0., 0., 2., 0., 3., 4.])
    g = RNG.normal(size=6)
    x = gc.parameter("x", xv)
    got = gc.evaluate(gc.grad(gc.sum(gc.cumprod(x) * gc.constant(g)), x))
    want = [sum(g[i] * np.prod([xv[k] for k in range(i + 1) if k != j]) for i in range(j, 6))
            for j in range(6)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@each_backend
def test_second_order_through_cumsum_and_cumprod(backend, options):
    xv = np.array([[0.5, -1.2, 0.0, 2.0, 0.7], [1.1, 0.3, -0.4, 0.9, 0.0]])
    v = RNG.normal(size=xv.shape)
    x = gc.placeholder("x", (2, 5), "float64")

    def f(t):
        return gc.sum(gc.cumprod(t, 1) * gc.cumsum(gc.sin(t), 0)) + gc.sum(
            gc.logcumsumexp(t * t, 1)) + gc.sum(gc.sort(t, 1) ** 3 * gc.constant(v)) + \
            gc.sum(gc.cummax(gc.sin(t), 0) ** 2)
    h = gc.hvp(f(x), x, gc.constant(v))
    (got,) = run([h], {x: xv}, backend, options)

    def grad_at(val):
        return gc.evaluate(gc.grad(f(x), x), {x: val})
    eps = 1e-6
    want = (grad_at(xv + eps * v) - grad_at(xv - eps * v)) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("op", ["cumsum", "cumprod", "logcumsumexp"])
def test_forward_mode_matches_reverse_mode(op):
    xv = np.array([[1.5, 0.0, -2.0, 0.5], [0.0, 0.0, 3.0, 1.0], [900., 1000., -5., 1000.]])
    if op != "logcumsumexp":
        xv[2] = [0.5, 2.0, 0.0, 1.5]
    t = RNG.normal(size=xv.shape)
    x = gc.parameter("x", xv)
    y = getattr(gc, op)(x, axis=1)
    forward = gc.evaluate(gc.jvp(y, x, gc.constant(t)))
    # J t, row by row from reverse mode: (J t)_i = grad(y_i) . t
    rows = np.stack([gc.evaluate(gc.grad(gc.sum(y * gc.constant(np.eye(4)[i])), x))
                     for i in range(4)])
    want = np.einsum("irc,rc->ri", rows, t)
    np.testing.assert_allclose(forward, want, rtol=1e-10, atol=1e-12)
    assert np.isfinite(forward).all()


def test_reverse_scans_in_gradients_print_and_run():
    x = gc.placeholder("x", (3, 4), "float64")
    g = gc.grad(gc.sum(gc.cumsum(x, 1) * gc.constant(np.arange(12.).reshape(3, 4))), x)
    assert "reverse=True" in gc.show(g)
    want = np.cumsum(np.arange(12.).reshape(3, 4)[:, ::-1], 1)[:, ::-1]
    np.testing.assert_allclose(gc.evaluate(g, {x: np.ones((3, 4))}), want)


def test_against_torch_float64():
    torch = pytest.importorskip("torch")
    xv = np.array([[2., 0., 3., 0., 5.], [1., -2., 0.5, 0., 4.], [100., 300., 200., 1., 2.]])
    w = RNG.normal(size=xv.shape)
    x = gc.parameter("x", xv)
    ys = [gc.cumsum(x, 1), gc.cumprod(x, 1), gc.logcumsumexp(x, 1), gc.sort(x, 1),
          gc.top_k(x, 3)[0], gc.cummax(x, 1), gc.cummin(x, 0)]
    tx = torch.tensor(xv, requires_grad=True)
    tys = [torch.cumsum(tx, 1), torch.cumprod(tx, 1), torch.logcumsumexp(tx, 1),
           torch.sort(tx, dim=1, stable=True).values, torch.topk(tx, 3).values,
           torch.cummax(tx, 1).values, torch.cummin(tx, 0).values]
    for y, ty in zip(ys, tys):
        np.testing.assert_allclose(gc.evaluate(y), ty.detach().numpy(), rtol=1e-12)
        wt = w[:, :ty.shape[1]]
        got = gc.evaluate(gc.grad(gc.sum(y * gc.constant(wt)), x))
        (want,) = torch.autograd.grad((ty * torch.tensor(wt)).sum(), tx)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12)
    # second order through cumprod with zeros (double backward)
    tx2 = torch.tensor(xv[:2], requires_grad=True)
    (tg,) = torch.autograd.grad((torch.cumprod(tx2, 1) ** 2).sum(), tx2, create_graph=True)
    v = RNG.normal(size=tx2.shape)
    (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tx2)
    x2 = gc.parameter("x2", xv[:2])
    got = gc.evaluate(gc.hvp(gc.sum(gc.cumprod(x2, 1) ** 2), x2, gc.constant(v)))
    np.testing.assert_allclose(got, th.numpy(), rtol=1e-10, atol=1e-12)


# ---- fusion, printing, saving ----------------------------------------------------------------

def test_producers_fuse_into_the_line_kernel():
    x = gc.placeholder("x", (None, 16))
    f = gc.compile([gc.cumsum(gc.exp(x) * 2 + 1, axis=1)], backend="c")
    assert f.stats["kernels"] == 1
    assert f.stats["fused"][0]["kind"] == "lines"
    assert set(f.stats["fused"][0]["ops"]) == {"cumsum", "add", "mul", "exp"}
    # the gradient: cumsum(exp(x)), then the reversed cumsum of x with the elementwise
    # work combining both fused into its line loop (its epilogue)
    g = gc.grad(gc.sum(gc.cumsum(gc.exp(x), 1) * x), x)
    f = gc.compile([g], backend="c")
    assert [k["kind"] for k in f.stats["fused"]] == ["lines", "lines"]
    assert "add" in f.stats["fused"][1]["ops"] and "mul" in f.stats["fused"][1]["ops"]
    xv = RNG.normal(size=(3, 16)).astype(np.float32)
    np.testing.assert_allclose(f(xv)[0], gc.evaluate(g, {x: xv}), rtol=1e-5)
    # a scan read only by its fused consumer is never written to memory
    f = gc.compile([gc.log(gc.cumsum(gc.exp(x), 1)) * 2 + x], backend="c")
    assert f.stats["kernels"] == 1 and "t0_cumsum" not in f.source["graph.c"]


def test_printing():
    x = gc.placeholder("x", (2, 3))
    assert str(gc.cumsum(x, 1)) == "cumsum(x, axis=1)"
    assert str(gc.argsort(x, 0, descending=True)) == "argsort(x, axis=0, descending=True)"
    assert "logcumsumexp" in gc.show(gc.logcumsumexp(x, -1))
    assert r"\operatorname{cumprod}_{\mathrm{axis}=1}" in gc.latex(gc.cumprod(x, 1))
    with pytest.raises(gc.GraphcError, match="not elementwise"):
        gc.expr(gc.cumsum(x, 1))


def test_saved_and_loaded_graph(tmp_path):
    x = gc.placeholder("x", (None, 5), "float64")
    s = gc.placeholder("s", (2, 5), "float64")
    outs = [gc.cumsum(x, 1), gc.cumprod(x, 0), gc.logcumsumexp(x, 1), gc.sort(s, 1),
            gc.top_k(s, 2)[1], gc.argsort(x, 1, descending=True), gc.cummax(s, 1),
            gc.cummin(x, 1),
            gc.grad(gc.sum(gc.cumprod(x, 1) ** 2), x)]
    path = tmp_path / "lines.graphc"
    gc.save(path, outs, inputs=[x, s])
    g = gc.load(path)
    xv, sv = RNG.normal(size=(3, 5)), RNG.normal(size=(2, 5))
    xv[1, 2] = 0.0
    got = gc.evaluate(g.outputs, {g.inputs[0]: xv, g.inputs[1]: sv})
    for a, b in zip(gc.evaluate(outs, {x: xv, s: sv}), got):
        np.testing.assert_array_equal(a, b)
    f = gc.compile(g.outputs, inputs=g.inputs, backend="c")
    for a, b in zip(f(xv, sv), got):
        np.testing.assert_allclose(a, b, rtol=1e-12)


# ---- errors ----------------------------------------------------------------------------------

def test_clear_errors():
    x = gc.placeholder("x", (3, 4))
    fails(gc.ShapeError, lambda: gc.cumsum(x, axis=2), "cumsum", "axis 2", "(3, 4)")
    fails(gc.ShapeError, lambda: gc.cumprod(x, axis=-3), "cumprod", "axis -3")
    fails(gc.ShapeError, lambda: gc.argsort(x, axis=5), "argsort", "axis 5")
    fails(gc.ShapeError, lambda: gc.top_k(x, 5), "top_k", "k=5", "size 4")
    fails(gc.UsageError, lambda: gc.top_k(x, 1.5), "top_k", "k must be an int")
    fails(gc.ShapeError, lambda: gc.top_k(gc.placeholder("z", (3, None)), 2), "top_k",
          "run time")
    fails(gc.DTypeError, lambda: gc.logcumsumexp(gc.placeholder("i", (3,), "int32")),
          "logcumsumexp", "floating-point")
