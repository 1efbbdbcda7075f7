"""``x.at[idx].multiply/min/max`` and ``gc.scatter``: every value aimed at an element is
combined (duplicates included, as JAX does), on every backend, against NumPy's
``ufunc.at``; gradients against finite differences (float64), the zero-safe product
rule, JAX's tie rule for min/max; indices out of range on the CUDA emulation."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from helpers_backends import each_backend, needs_cxx
from op_checks import finite_difference
from helpers_errors import check_raise

RNG = np.random.default_rng(13)
UFUNC = {"multiply": np.multiply, "min": np.minimum, "max": np.maximum, "add": np.add}


def at_reference(x0, index, v0, how):
    """NumPy: ``x0`` with every value of ``v0`` combined in at ``index`` (ufunc.at)."""
    out = x0.copy()
    with np.errstate(invalid="ignore"):   # NaN compared
        UFUNC[how].at(out, index, v0)
    return out


@each_backend
@pytest.mark.parametrize("how", ["multiply", "min", "max"])
def test_duplicates_combine_like_ufunc_at(backend, options, how):
    x0 = RNG.standard_normal((5, 3))
    v0 = RNG.standard_normal((6, 3))
    x, v = gc.parameter("x", x0), gc.parameter("v", v0)
    idx = gc.placeholder("idx", (None,), "int64")
    pair = gc.placeholder("pair", (2,), "int64")
    cols = np.array([2, 0, 2, -1])
    w0 = RNG.standard_normal((5, 4))
    outs = [getattr(x.at[idx], how)(v),                          # rows, duplicates
            getattr(x.at[:, cols], how)(gc.constant(w0)),       # an axis after a slice
            getattr(x.at[pair, 1], how)(v[:2, 0])]           # two index arrays
    f = gc.compile(outs, backend=backend, **options)
    for i in (np.array([3, -2, 3, 0, 3, 4]), np.array([1, 1, 1, 1, 1, 1])):
        got = f(idx=i, pair=i[:2])
        np.testing.assert_allclose(got[0], at_reference(x0, i, v0, how), rtol=1e-12)
        np.testing.assert_allclose(got[1], at_reference(x0, (slice(None), cols), w0, how),
                                   rtol=1e-12)
        np.testing.assert_allclose(got[2], at_reference(x0, (i[:2], 1), v0[:2, 0], how),
                                   rtol=1e-12)


@each_backend
@pytest.mark.parametrize("how", ["multiply", "min", "max"])
def test_gradients_match_finite_differences(backend, options, how):
    x0 = RNG.standard_normal((4, 3))
    v0 = RNG.standard_normal((5, 3))
    i = np.array([2, 0, 2, -1, 2])
    x, v = gc.parameter("x", x0), gc.parameter("v", v0)
    weights = RNG.standard_normal((4, 3))
    y = gc.sum(gc.sin(getattr(x.at[i], how)(v * 1.5)) * weights)
    f = gc.compile([y, *gc.grad(y, [x, v])], backend=backend, **options)
    got = f()

    def loss(a, b):
        return np.sum(np.sin(at_reference(a, i, b * 1.5, how)) * weights)
    np.testing.assert_allclose(got[0], loss(x0, v0), rtol=1e-12)
    np.testing.assert_allclose(got[1], finite_difference(lambda a: loss(a, v0), x0),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got[2], finite_difference(lambda b: loss(x0, b), v0),
                               rtol=1e-6, atol=1e-8)


@each_backend
def test_multiply_gradient_is_zero_safe(backend, options):
    """Each value's gradient is x times the product of the other values aimed at its
    element, computed without dividing by a zero value (one zero, two zeros, none)."""
    x0 = np.array([2.0, 3.0, 5.0, 7.0])
    v0 = np.array([0.0, 4.0, 0.0, 0.0, 6.0, 2.0, 0.5])
    i = np.array([0, 0, 1, 1, 1, 2, 2])
    x, v = gc.parameter("x", x0), gc.parameter("v", v0)
    y = gc.sum(x.at[i].multiply(v))
    gx, gv = gc.compile(gc.grad(y, [x, v]), backend=backend, **options)()
    want_v = np.array([2 * 4, 2 * 0, 3 * 0 * 6, 3 * 0 * 6, 3 * 0 * 0, 5 * 0.5, 5 * 2])
    np.testing.assert_array_equal(gv, want_v)
    np.testing.assert_array_equal(gx, [0.0, 0.0, 1.0, 1.0])
    assert np.all(np.isfinite(gv)) and np.all(np.isfinite(gx))


# gradients of sum(x.at[[0, 0, 1]].min(v)) for x = [1, 2, 3], as JAX 0.10 computes them:
# an equal share for x's element and each value that attains the result
JAX_TIES = [([1., 1., 5.], [1 / 3, 1., 1.], [1 / 3, 1 / 3, 0.]),
            ([0.5, 0.5, 5.], [0., 1., 1.], [0.5, 0.5, 0.]),
            ([1., 3., 5.], [0.5, 1., 1.], [0.5, 0., 0.]),
            ([1., 1., 2.], [1 / 3, 0.5, 1.], [1 / 3, 1 / 3, 0.5])]


@each_backend
@pytest.mark.parametrize("case", range(len(JAX_TIES)))
def test_min_max_ties_share_the_gradient_as_jax(backend, options, case):
    vals, want_x, want_v = JAX_TIES[case]
    x, v = gc.parameter("x", np.array([1., 2., 3.])), gc.parameter("v", np.array(vals))
    y_min = gc.sum(x.at[[0, 0, 1]].min(v))
    y_max = gc.sum((-x).at[[0, 0, 1]].max(-v))      # the same ties, mirrored
    got = gc.compile([*gc.grad(y_min, [x, v]), *gc.grad(y_max, [x, v])], backend=backend,
                     **options)()
    for g, w in zip(got, [want_x, want_v, np.negative(want_x), np.negative(want_v)]):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_against_jax_float64():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    jax.config.update("jax_enable_x64", True)
    x0 = np.round(RNG.standard_normal(6), 1)
    v0 = np.round(RNG.standard_normal(9), 1)   # rounded: ties happen
    v0[:3] = x0[[1, 1, 4]]
    i = np.array([1, 1, 4, 0, 4, 1, 5, 5, 0])
    for how in ("min", "max"):
        def jax_loss(a, b):
            return jnp.sum(jnp.tanh(getattr(a.at[i], how)(b)))
        want = jax.grad(jax_loss, (0, 1))(jnp.array(x0), jnp.array(v0))
        x, v = gc.parameter("x", x0), gc.parameter("v", v0)
        y = gc.sum(gc.tanh(getattr(x.at[i], how)(v)))
        got = gc.evaluate([y, *gc.grad(y, [x, v])])
        np.testing.assert_allclose(got[0], float(jax_loss(jnp.array(x0), jnp.array(v0))))
        np.testing.assert_allclose(got[1], np.asarray(want[0]), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got[2], np.asarray(want[1]), rtol=1e-12, atol=1e-14)


@each_backend
def test_scatter_function_and_integers(backend, options):
    x0 = np.arange(12, dtype=np.int64).reshape(3, 4)
    x = gc.placeholder("x", (3, 4), "int64")
    i = np.array([3, 0, 3, -4])
    u0 = np.array([[5, -1, 7, 2], [1, 1, 1, 1], [9, 9, -9, 9]], dtype=np.int64)
    outs = [gc.scatter(x, i, gc.constant(u0), axis=1, combine=c)
            for c in ("add", "mul", "min", "max")]
    got = gc.compile(outs, backend=backend, **options)(x=x0)
    for g, how in zip(got, ("add", "multiply", "min", "max")):
        want = x0.copy()
        UFUNC[how].at(want, (slice(None), i % 4), u0)
        np.testing.assert_array_equal(g, want)
        assert g.dtype == np.int64


def test_nan_wins_like_numpy():
    x0 = np.array([1.0, 2.0, np.nan])
    v0 = np.array([np.nan, 0.5, 3.0])
    for how in ("min", "max"):
        got = gc.evaluate(getattr(gc.constant(x0).at[[0, 1, 2]], how)(gc.constant(v0)))
        np.testing.assert_array_equal(got, at_reference(x0, [0, 1, 2], v0, how))


def test_unknown_combine_is_a_clear_error():
    check_raise(lambda: gc.scatter(gc.constant([1., 2.]), [0], [1.], combine="mean"),
                gc.UsageError, "scatter", "'mean'", "add", "max")


def test_jvp_matches_vjp():
    x0, v0 = RNG.standard_normal(4), RNG.standard_normal(6)
    i = np.array([1, 3, 1, 1, 0, 3])
    for how in ("multiply", "min", "max"):
        x, v = gc.parameter("x", x0), gc.parameter("v", v0)
        y = getattr(x.at[i], how)(v)
        tv = RNG.standard_normal(6)
        jv = gc.jvp(y, v, gc.constant(tv))
        w = RNG.standard_normal(4)
        (gv,) = gc.grad(gc.sum(y * w), [v])
        np.testing.assert_allclose(np.dot(gc.evaluate(jv), w), np.dot(gc.evaluate(gv), tv),
                                   rtol=1e-10)


# ---- an index out of range on CUDA: the device's fault flag -------------------------------

@needs_cxx
def test_cuda_index_out_of_range_is_an_index_error_and_changes_nothing():
    E0 = RNG.standard_normal((4, 2))
    E = gc.parameter("E", E0.copy())
    t = gc.placeholder("t", (None,), "int64")
    loss = gc.sum(E[t] ** 2)
    f = gc.compile(loss, updates={E: E - 0.1 * gc.grad(loss, E)}, backend="cuda",
                   device="emulate")
    with pytest.raises(IndexError, match=r"gather \(created at .*test_scatter_combine.py.*"
                                         r"'E'.*index 9 is out of bounds"):
        f(t=np.array([0, 9, 1]))
    np.testing.assert_array_equal(E.value, E0)            # nothing committed
    with pytest.raises(IndexError, match="index -2 is out of bounds"):   # -6 wraps to -2
        f(t=np.array([-6]))
    np.testing.assert_array_equal(E.value, E0)
    np.testing.assert_allclose(f(t=np.array([0, -1])), np.sum(E0[[0, 3]] ** 2))   # recovers
    assert not np.array_equal(E.value, E0)                # and that call committed


@needs_cxx
def test_cuda_scatter_index_out_of_range():
    x = gc.placeholder("x", (3,))
    i = gc.placeholder("i", (None,), "int64")
    f = gc.compile(x.at[i].max(gc.constant(2.0)), backend="cuda", device="emulate")
    with pytest.raises(IndexError, match=r"scatter \(created at .*index 3 is out of bounds"):
        f(x=np.zeros(3, np.float32), i=np.array([0, 3]))
    np.testing.assert_array_equal(f(x=np.zeros(3, np.float32), i=np.array([2, 2])), [0, 0, 2])
