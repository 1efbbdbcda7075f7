"""erfinv (an elementwise primitive) and ``gc.random.truncated_normal`` built on it.

Oracles: mpmath's erfinv (50 digits) for ``graphc.special.erfinv``; NumPy's reference
for every backend; the closed-form derivative sqrt(pi)/2 exp(erfinv(x)^2), finite
differences and SymPy; for truncated_normal the truncated normal CDF (KS test on 10^6
draws), its bounds, and JAX's method (same uniforms -> same numbers) where JAX imports."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import graphc as gc
from graphc import special
from helpers_backends import BACKENDS, BACKEND_IDS
from helpers_errors import check_raise

each_backend = pytest.mark.parametrize("backend,options", BACKENDS, ids=BACKEND_IDS)
RNG = np.random.default_rng(23)
mpmath.mp.dps = 50


def ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(got - exact) / np.spacing(np.abs(exact))


def mp_erfinv(xs) -> np.ndarray:
    return np.array([float(mpmath.erfinv(mpmath.mpf(float(x)))) for x in xs])


# ---- the NumPy function ------------------------------------------------------------------

def test_special_erfinv_within_one_ulp_of_mpmath():
    xs = np.concatenate([RNG.uniform(-1, 1, 3000),
                         1 - np.logspace(-16, -0.31, 400),          # the tails, to 1 - 1e-16
                         -(1 - np.logspace(-16, -0.31, 100)),
                         np.logspace(-300, -0.31, 200),             # tiny to 0.5
                         np.nextafter(0.5, [0.0, 1.0]), [0.5, -0.5, 5e-324]])
    got = special.erfinv(xs)
    assert ulps(got, mp_erfinv(xs)).max() <= 1.0


def test_special_erfinv_special_values_and_dtypes():
    got = special.erfinv(np.array([0.0, -0.0, 1.0, -1.0, 1.5, -2.0, np.nan, np.inf]))
    np.testing.assert_array_equal(got, [0.0, -0.0, np.inf, -np.inf, np.nan, np.nan, np.nan,
                                        np.nan])
    assert np.signbit(got[1])
    x32 = RNG.uniform(-1, 1, 1000).astype(np.float32)
    got32 = special.erfinv(x32)
    assert got32.dtype == np.float32   # computed in float64, rounded once
    np.testing.assert_array_equal(got32, mp_erfinv(x32).astype(np.float32))
    np.testing.assert_allclose(special.erf(special.erfinv(x32.astype(np.float64))), x32,
                               rtol=1e-15, atol=1e-16)


# ---- the primitive on every backend ------------------------------------------------------

@each_backend
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_and_gradient_on_every_backend(backend, options, dtype):
    x = gc.placeholder("x", (None,), dtype)
    y = gc.erfinv(x)
    f = gc.compile([y, gc.grad(gc.sum(y), x)], backend=backend, **options)
    xs = np.concatenate([RNG.uniform(-0.999, 0.999, 500), [0.0, 0.5, -0.5, 1 - 1e-7],
                         [1.0, -1.0, 1.25, np.nan]]).astype(dtype)
    value, grad = f(x=xs)
    assert value.dtype == np.dtype(dtype)
    want = special.erfinv(xs)
    # float32: the same double computation rounded once; float64: libm's erf/erfc in C
    # against graphc's own in NumPy, a few ulp
    rtol = 0 if dtype == "float32" else 4e-16
    np.testing.assert_allclose(value, want, rtol=rtol, atol=0)
    inside = np.abs(xs.astype(np.float64)) < 1
    closed = math.sqrt(math.pi) / 2 * np.exp(want[inside].astype(np.float64) ** 2)
    np.testing.assert_allclose(grad[inside], closed, rtol=2e-6 if dtype == "float32" else 1e-14)
    assert np.isinf(grad[~inside][:2]).all() and np.isnan(grad[~inside][2:]).all()


def test_gradient_and_second_derivative_match_finite_differences():
    xs = np.array([-0.95, -0.4, 0.0, 0.2, 0.7, 0.99])
    x = gc.placeholder("x", (6,), "float64")
    (g,) = gc.grad(gc.sum(gc.erfinv(x)), [x])
    (h,) = gc.grad(gc.sum(g), [x])
    got_g, got_h = gc.evaluate([g, h], {x: xs})
    eps = 1e-6
    fd = (special.erfinv(xs + eps) - special.erfinv(xs - eps)) / (2 * eps)
    np.testing.assert_allclose(got_g, fd, rtol=1e-7)
    fd2 = (gc.evaluate(g, {x: xs + eps}) - gc.evaluate(g, {x: xs - eps})) / (2 * eps)
    np.testing.assert_allclose(got_h, fd2, rtol=1e-6)


def test_expr_latex_and_formulas_name_erfinv():
    import sympy
    x = gc.placeholder("x", (3,), "float64")
    y = gc.erfinv(x)
    e = gc.expr(y)
    s = sorted(e.free_symbols, key=str)[0]
    assert e == sympy.erfinv(s)
    (g,) = gc.grad(gc.sum(y), [x])
    assert sympy.simplify(gc.expr(g) - sympy.diff(sympy.erfinv(s), s)) == 0
    assert r"\operatorname{erfinv}" in gc.latex(y)
    from graphc.formula import FUNCTIONS
    assert "erfinv" in FUNCTIONS


def test_against_torch_float64():
    torch = pytest.importorskip("torch")
    xs = RNG.uniform(-0.999, 0.999, 200)
    x = gc.placeholder("x", (200,), "float64")
    y = gc.erfinv(x)
    value, grad = gc.compile([y, gc.grad(gc.sum(y * y), x)])(x=xs)
    xt = torch.tensor(xs, requires_grad=True)
    yt = torch.special.erfinv(xt)
    (yt * yt).sum().backward()
    np.testing.assert_allclose(value, yt.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12)


# ---- truncated_normal --------------------------------------------------------------------

N = 1_000_000
KS_CRITICAL_1PCT = 1.6276 / math.sqrt(N)


def truncated_cdf(lower, upper):
    def phi(t):
        return 0.5 * (1 + special.erf(t / math.sqrt(2)))
    return lambda t: (phi(t) - phi(lower)) / (phi(upper) - phi(lower))


def ks_statistic(sample, cdf) -> float:
    x = np.sort(sample.astype(np.float64))
    f = cdf(x)
    n = len(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


@pytest.mark.parametrize("lower,upper,dtype", [(-2.0, 2.0, "float32"), (-1.0, 3.0, "float64"),
                                               (0.5, 6.0, "float64"), (-np.inf, -1.5, "float32")])
def test_truncated_normal_distribution_and_bounds(lower, upper, dtype):
    z = gc.compile(gc.random.truncated_normal((N,), lower, upper, dtype=dtype, seed=31))()
    assert z.dtype == np.dtype(dtype) and np.isfinite(z).all()
    assert z.min() > lower and z.max() < upper
    assert ks_statistic(z, truncated_cdf(lower, upper)) < KS_CRITICAL_1PCT


def test_truncated_normal_mean_std_and_moments():
    z = gc.compile(gc.random.truncated_normal((N,), mean=3.0, std=0.5, dtype="float64",
                                              seed=32))()
    assert z.min() > 2.0 and z.max() < 4.0                       # 2 deviations each side
    # the standard normal truncated to (-2, 2): variance 1 - 4 phi(2) / (2 Phi(2) - 1)
    var = 1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(math.sqrt(2))
    assert abs(z.mean() - 3.0) < 5 * 0.5 * math.sqrt(var / N)
    assert abs(z.var() - 0.25 * var) < 0.002


def test_truncated_normal_clips_into_the_open_interval():
    """Narrow bounds: erfinv of u's range ends rounds onto the bounds; the clip keeps
    every number strictly inside, one ulp in, as JAX does."""
    lo, hi = 1.0, float(np.nextafter(np.float32(1.0), np.float32(2.0))) * 1.000001
    z = gc.compile(gc.random.truncated_normal((1000,), lo, hi, seed=33))()
    assert (z > lo).all() and (z < hi).all()


def _draws(backend, options):
    x = gc.placeholder("x", (None, 3))
    outs = [gc.random.truncated_normal(x, seed=41) + 0 * x,
            gc.random.truncated_normal((5000,), -0.5, 3.0, mean=1.0, std=2.0, seed=42),
            gc.random.truncated_normal((2000,), -3.0, 1.0, dtype="float64", seed=43)]
    f = gc.compile(outs, inputs=[x], backend=backend, **options)
    return [f(np.zeros((6, 3), np.float32)) for _ in range(2)]


def test_same_numbers_on_every_backend():
    want = _draws("numpy", {})
    assert not np.array_equal(want[0][1], want[1][1])     # every call draws fresh numbers
    for backend, options in BACKENDS[1:]:
        for call_w, call_g in zip(want, _draws(backend, options)):
            for w, g in zip(call_w[:2], call_g[:2]):      # float32: the same bits
                assert w.dtype == g.dtype and np.array_equal(w, g), backend
            assert ulps(call_g[2], call_w[2]).max() <= 4, backend   # float64: a few ulp


def test_reparameterized_gradients():
    mu, sigma = gc.parameter("mu", 0.5), gc.parameter("sigma", 2.0)
    z = gc.random.truncated_normal((1000,), seed=44)
    y = gc.sum(mu + sigma * z)
    g_mu, g_sigma, zs = gc.compile([*gc.grad(y, [mu, sigma]), z])()
    assert g_mu == 1000
    np.testing.assert_allclose(g_sigma, zs.sum(dtype=np.float64), rtol=1e-4)


def test_same_numbers_as_jax_method():
    """JAX's truncated_normal on the same uniforms gives the same numbers (JAX's ends
    are computed in float32; ours in float64 then rounded: compared to a few ulp)."""
    jax = pytest.importorskip("jax")
    from jax import lax
    z = gc.random.truncated_normal((4000,), -1.5, 2.5, dtype="float32", seed=45)
    u_node = [n for n in gc.ir.topo_order([z]) if n.op == "random_uniform"][0]
    u, got = gc.compile([u_node, z])()
    a, b = np.float32(special.erf(-1.5 / math.sqrt(2))), np.float32(special.erf(2.5 / math.sqrt(2)))
    want = np.sqrt(np.float32(2)) * np.asarray(lax.erf_inv(jax.numpy.asarray(a + (b - a) * u)))
    np.testing.assert_allclose(got, want, rtol=3e-6, atol=1e-6)


def test_bad_arguments_are_clear_errors():
    check_raise(lambda: gc.random.truncated_normal((3,), 2.0, 1.0), gc.UsageError,
                "truncated_normal", "lower < upper", "2.0", "1.0")
    check_raise(lambda: gc.random.truncated_normal((3,), dtype="int32"), gc.UsageError,
                "truncated_normal", "float dtype", "int32")
