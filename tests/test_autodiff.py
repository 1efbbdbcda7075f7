"""Reverse mode (gc.grad) of every primitive and composite against central finite
differences in float64, through the reference interpreter (gc.evaluate)."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import graphc as gc

F64 = "float64"
RTOL = 1e-6


def fd_check(build, inputs: dict, rng=None, h=1e-6, rtol=RTOL):
    """Compare gc.grad with central differences for every float input.

    ``build(**tensors)`` returns the output tensor; ``inputs`` maps names to float64
    arrays (placeholders are made of their shapes). A random seed of the output's
    shape makes the check cover the full vector-Jacobian product.
    """
    rng = rng or np.random.default_rng(0)
    phs = {k: gc.placeholder(k, np.shape(v), np.asarray(v).dtype.name) for k, v in inputs.items()}
    y = build(**phs)
    seed_val = rng.standard_normal(gc.evaluate(y, inputs).shape)
    floats = [k for k, v in inputs.items() if np.asarray(v).dtype.kind == "f"]
    grads = gc.grad(y, [phs[k] for k in floats], seed=gc.constant(seed_val))
    # feed by tensor: a gradient graph need not use every placeholder
    got = gc.evaluate(grads, {phs[k]: v for k, v in inputs.items()})

    def f(feeds):
        return float(np.sum(gc.evaluate(y, feeds) * seed_val))

    for k, g in zip(floats, got):
        x = np.array(inputs[k], dtype=np.float64)
        assert g.shape == x.shape, (k, g.shape, x.shape)
        fd = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += h
            xm[idx] -= h
            fd[idx] = (f({**inputs, k: xp}) - f({**inputs, k: xm})) / (2 * h)
        err = np.linalg.norm(g - fd) / max(np.linalg.norm(fd), 1e-3)
        assert err < rtol, f"d/d{k}: relative error {err:.2e}\ngot {g}\nfd  {fd}"
    return got


def stable_seed(*key) -> int:
    """A seed from the test's parameters, the same in every run (``hash`` of str is not)."""
    return zlib.crc32(repr(key).encode())


def rnd(rng, shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape)


def away_from_zero(rng, shape, lo=0.3, hi=2.0):
    """Values with |v| in [lo, hi], random signs: away from the kink of abs/relu/sign."""
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


# ---- elementwise unary --------------------------------------------------------------------

UNARY = {
    "neg": (gc.neg, rnd),
    "exp": (gc.exp, rnd),
    "log": (gc.log, lambda r, s: r.uniform(0.2, 3.0, s)),
    "sin": (gc.sin, rnd),
    "cos": (gc.cos, rnd),
    "tanh": (gc.tanh, rnd),
    "sigmoid": (gc.sigmoid, lambda r, s: r.uniform(-6, 6, s)),
    "sqrt": (gc.sqrt, lambda r, s: r.uniform(0.2, 3.0, s)),
    "abs": (gc.abs, away_from_zero),
    "sign": (gc.sign, away_from_zero),
    "log1p": (gc.log1p, lambda r, s: r.uniform(-0.8, 3.0, s)),
    "expm1": (gc.expm1, rnd),
    # composites
    "relu": (gc.relu, away_from_zero),
    "softplus": (gc.softplus, away_from_zero),
    "square": (gc.square, rnd),
    "clip": (lambda x: gc.clip(x, -1.0, 1.0),
             lambda r, s: r.choice([-1.0, 1.0], s) * r.choice([0.5, 1.6], s)
             + r.uniform(-.2, .2, s)),
    "pos": (lambda x: +x, rnd),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(), (5,), (2, 3)])
def test_unary_grad(name, shape):
    fn, gen = UNARY[name]
    rng = np.random.default_rng(stable_seed((name, shape)))
    fd_check(lambda x: fn(x), {"x": gen(rng, shape)}, rng)


# ---- elementwise binary, with broadcasting --------------------------------------------------

def _pos(r, s):
    return r.uniform(0.5, 2.0, s)


BINARY = {
    "add": (gc.add, rnd, rnd),
    "sub": (gc.sub, rnd, rnd),
    "mul": (gc.mul, rnd, rnd),
    "div": (gc.div, rnd, away_from_zero),
    "pow": (gc.pow, _pos, rnd),
    "maximum": (gc.maximum, rnd, rnd),
    "minimum": (gc.minimum, rnd, rnd),
}

BROADCASTS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 1, 4), (3, 1)),
              ((4,), ())]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_binary_grad(name, shapes):
    fn, ga, gb = BINARY[name]
    rng = np.random.default_rng(stable_seed((name, shapes)))
    a, b = ga(rng, shapes[0]), gb(rng, shapes[1])
    # maximum/minimum: keep every pair of compared elements apart (no tie within h)
    while name in ("maximum", "minimum") and np.min(np.abs(np.subtract(a, b))) < 0.05:
        b = gb(rng, shapes[1])
    fd_check(lambda a, b: fn(a, b), {"a": a, "b": b}, rng)


def test_python_scalar_operands():
    rng = np.random.default_rng(1)
    fd_check(lambda x: 2.5 - x * 3 + 1 / (x + 4.0) + x ** 2 + 2 ** x, {"x": rnd(rng, (4,))}, rng)


def test_where_and_comparisons():
    rng = np.random.default_rng(2)
    x = away_from_zero(rng, (3, 4))
    fd_check(lambda x, y: gc.where(x > 0, x * y, gc.sin(y)) + gc.where(x <= y, 1.0, x),
             {"x": x, "y": rnd(rng, (4,)) + 3.0}, rng)
    # a broadcast condition and broadcast branches
    fd_check(lambda c, a, b: gc.where(c > 0.0, a, b),
             {"c": away_from_zero(rng, (3, 1)), "a": rnd(rng, (4,)), "b": rnd(rng, ())}, rng)


def test_comparisons_have_no_gradient():
    x = gc.placeholder("x", (3,), F64)
    y = gc.cast(gc.less(x, 1.0), F64) * 2.0 + gc.cast(gc.equal(x, x), F64)
    g = gc.grad(gc.sum(y), x)
    np.testing.assert_array_equal(gc.evaluate(g, {x: [0.5, 1.5, 2.0]}), np.zeros(3))


def test_stop_gradient_blocks_only_its_path():
    x = gc.placeholder("x", (3,), F64)
    y = gc.sum(gc.stop_gradient(x * x) * x)  # d/dx = x*x (the stopped factor is a constant)
    xv = np.array([0.5, -1.5, 2.0])
    np.testing.assert_allclose(gc.evaluate(gc.grad(y, x), {x: xv}), xv * xv)


def test_cast_gradient_flows_between_floats():
    """cast f64 -> f32 -> f64 passes the cotangent through (rounded to f32 on the way)."""
    rng = np.random.default_rng(3)
    x = gc.placeholder("x", (5,), F64)
    seed = rng.standard_normal(5)
    y = gc.cast(gc.cast(x, "float32") * 2.0, F64)
    g = gc.evaluate(gc.grad(y, x, seed=gc.constant(seed)), {x: rnd(rng, (5,))})
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 2 * seed.astype(np.float32), rtol=1e-7)
    # a cast to an integer stops the gradient
    z = gc.cast(gc.cast(x, "int64"), F64) + x
    np.testing.assert_array_equal(gc.evaluate(gc.grad(gc.sum(z), x), {x: np.ones(5)}), np.ones(5))


# ---- reductions ------------------------------------------------------------------------------

AXES = [None, 0, 1, (0, 2), -1, (0, 1, 2)]


@pytest.mark.parametrize("reduce", ["sum", "max", "mean", "min"])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_grad(reduce, axis, keepdims):
    rng = np.random.default_rng(stable_seed((reduce, str(axis), keepdims)))
    # distinct values (a permutation) so max/min have no ties
    x = rng.permutation(24).reshape(2, 3, 4) * 0.1 + rng.uniform(0, 0.01, (2, 3, 4))
    fd_check(lambda x: getattr(gc, reduce)(x, axis, keepdims), {"x": x}, rng)


@pytest.mark.parametrize("axis", [-1, 0, (0, 1)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_grad(axis, keepdims):
    rng = np.random.default_rng(4)
    fd_check(lambda x: gc.logsumexp(x, axis, keepdims), {"x": rnd(rng, (3, 4)) * 3}, rng)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_grad(fn, axis):
    rng = np.random.default_rng(5)
    fd_check(lambda x: getattr(gc, fn)(x, axis), {"x": rnd(rng, (3, 4)) * 3}, rng)


def test_cross_entropy_grad():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 5, (4,))
    fd_check(lambda z, y: gc.cross_entropy(z, y), {"z": rnd(rng, (4, 5)) * 3, "y": labels}, rng)


def test_mean_over_runtime_dim():
    """mean over a None axis divides by a run-time size; the gradient uses it too."""
    rng = np.random.default_rng(7)
    x = gc.placeholder("x", (None, 3), F64)
    y = gc.mean(gc.sin(x) * x, axis=0)
    seed = rng.standard_normal(3)
    g = gc.grad(y, x, seed=gc.constant(seed))
    for n in (2, 5):
        xv = rnd(rng, (n, 3))
        want = (np.cos(xv) * xv + np.sin(xv)) * seed / n
        np.testing.assert_allclose(gc.evaluate(g, {"x": xv}), want, rtol=1e-12)


# ---- shape ops -------------------------------------------------------------------------------

def test_reshape_transpose_broadcast_grad():
    rng = np.random.default_rng(8)
    fd_check(lambda x: gc.reshape(x, (4, 6)) * gc.reshape(x, (6, -1)).T,
             {"x": rnd(rng, (2, 3, 4))}, rng)
    fd_check(lambda x: gc.transpose(x, (2, 0, 1)) * 2.0, {"x": rnd(rng, (2, 3, 4))}, rng)
    fd_check(lambda x: x.T, {"x": rnd(rng, (2, 3))}, rng)
    fd_check(lambda x: gc.broadcast_to(x, (2, 3, 4)), {"x": rnd(rng, (3, 1))}, rng)
    fd_check(lambda x: gc.broadcast_to(x, (5, 2)), {"x": rnd(rng, ())}, rng)
    fd_check(lambda x: gc.sin(x.reshape(3, 2)).T @ x.reshape(3, 2), {"x": rnd(rng, (6,))}, rng)


# ---- matmul, every variant ---------------------------------------------------------------------

MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
                 ((2, 1, 3, 4), (3, 4, 2)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_grad(shapes):
    rng = np.random.default_rng(stable_seed(shapes))
    fd_check(lambda a, b: a @ b, {"a": rnd(rng, shapes[0]), "b": rnd(rng, shapes[1])}, rng)


def test_matmul_same_operand():
    rng = np.random.default_rng(9)
    fd_check(lambda a: a @ a.T @ a, {"a": rnd(rng, (3, 3))}, rng)


def test_one_hot_has_no_gradient_into_labels():
    rng = np.random.default_rng(10)
    fd_check(lambda x, y: gc.one_hot(y, 4, F64) * x, {"x": rnd(rng, (3, 4)),
                                                      "y": np.array([0, 3, 1])}, rng)


def test_mlp_layer_grad():
    rng = np.random.default_rng(11)
    fd_check(lambda x, W, b: gc.tanh(x @ W + b) @ W.T,
             {"x": rnd(rng, (5, 3)), "W": rnd(rng, (3, 4)), "b": rnd(rng, (4,))}, rng)


def test_parameters_float64():
    rng = np.random.default_rng(12)
    W = gc.parameter("W", rnd(rng, (3, 2)))
    x = gc.placeholder("x", (None, 3), F64)
    loss = gc.sum(gc.sigmoid(x @ W) ** 2)
    g = gc.grad(loss, W)
    xv = rnd(rng, (4, 3))
    Wv = W.value.copy()
    h = 1e-6
    fd = np.zeros_like(Wv)
    for idx in np.ndindex(Wv.shape):
        vals = []
        for s in (h, -h):
            w = Wv.copy()
            w[idx] += s
            W.value = w
            vals.append(gc.evaluate(loss, {"x": xv}))
        fd[idx] = (vals[0] - vals[1]) / (2 * h)
    W.value = Wv
    np.testing.assert_allclose(gc.evaluate(g, {"x": xv}), fd, rtol=1e-6)
