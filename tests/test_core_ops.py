"""Forward values of every primitive and composite against NumPy (the oracle).

Each op is evaluated by the reference interpreter (``gc.evaluate``) on random inputs in
float32 and float64 and compared with the same computation written directly in NumPy.
Shapes cover broadcasting in both directions, keepdims, negative axes and the matmul
variants; ``test_none_dims_*`` evaluate one graph at several batch sizes.
"""
import itertools

import numpy as np
import pytest

import graphc as gc

DTYPES = ["float32", "float64"]
TOL = {"float32": dict(rtol=2e-6, atol=1e-6), "float64": dict(rtol=1e-13, atol=1e-14)}


def close(got, want, dtype):
    """Same values, same shape, and the dtype the graph promised."""
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    np.testing.assert_allclose(got, want.astype(dtype), **TOL[dtype])


def data(rng, shape, dtype, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def run(fn, arrays, dtype):
    """Build ``fn`` on placeholders shaped like ``arrays`` and evaluate it."""
    phs = [gc.placeholder(f"x{k}", a.shape, dtype) for k, a in enumerate(arrays)]
    out = fn(*phs)
    assert isinstance(out, gc.Tensor)
    got = gc.evaluate(out, {p: a for p, a in zip(phs, arrays)})
    assert got.shape == tuple(out.shape)
    return got


# ---- elementwise unary ------------------------------------------------------------------

def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = [  # (graphc function, NumPy oracle, input domain)
    (gc.neg, np.negative, (-2, 2)),
    (gc.exp, np.exp, (-2, 2)),
    (gc.log, np.log, (0.1, 3)),
    (gc.sin, np.sin, (-3, 3)),
    (gc.cos, np.cos, (-3, 3)),
    (gc.tanh, np.tanh, (-3, 3)),
    (gc.sigmoid, _np_sigmoid, (-6, 6)),
    (gc.sqrt, np.sqrt, (0.1, 4)),
    (gc.abs, np.abs, (-2, 2)),
    (gc.sign, np.sign, (-2, 2)),
    (gc.log1p, np.log1p, (-0.9, 3)),
    (gc.expm1, np.expm1, (-2, 2)),
    (gc.stop_gradient, lambda x: x, (-2, 2)),
    (gc.square, np.square, (-2, 2)),
    (gc.relu, lambda x: np.maximum(x, 0), (-2, 2)),
    (gc.softplus, lambda x: np.logaddexp(0, x), (-5, 5)),
    (lambda x: gc.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), (-2, 2)),
    (lambda x: -x, lambda x: -x, (-2, 2)),
    (lambda x: +x, lambda x: x, (-2, 2)),
    (abs, np.abs, (-2, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn,oracle,domain", UNARY, ids=lambda v: getattr(v, "__name__", ""))
def test_unary(fn, oracle, domain, dtype, rng):
    x = data(rng, (3, 4), dtype, *domain)
    close(run(fn, [x], dtype), oracle(x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_on_scalars_and_1d(dtype, rng):
    for shape in [(), (5,), (2, 1, 3)]:
        x = data(rng, shape, dtype, 0.1, 2)
        close(run(gc.log, [x], dtype), np.log(x), dtype)


# ---- elementwise binary, with broadcasting ---------------------------------------------------

BINARY = [
    (gc.add, np.add), (gc.sub, np.subtract), (gc.mul, np.multiply), (gc.div, np.divide),
    (gc.pow, np.power), (gc.maximum, np.maximum), (gc.minimum, np.minimum),
    (lambda a, b: a + b, np.add), (lambda a, b: a - b, np.subtract),
    (lambda a, b: a * b, np.multiply), (lambda a, b: a / b, np.divide),
    (lambda a, b: a ** b, np.power),
]
COMPARE = [
    (gc.less, np.less), (gc.less_equal, np.less_equal), (gc.greater, np.greater),
    (gc.greater_equal, np.greater_equal), (gc.equal, np.equal), (gc.not_equal, np.not_equal),
    (lambda a, b: a < b, np.less), (lambda a, b: a <= b, np.less_equal),
    (lambda a, b: a > b, np.greater), (lambda a, b: a >= b, np.greater_equal),
]
# both directions: the left operand is broadcast in some, the right one in others
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)),
               ((2, 1, 4), (3, 1)), ((3, 1), (2, 1, 4)), ((), (3, 4)), ((3, 4), ()),
               ((1,), (2, 3)), ((2, 3, 4), (1, 3, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("fn,oracle", BINARY)
def test_binary_broadcasting(fn, oracle, shapes, dtype, rng):
    a = data(rng, shapes[0], dtype, 0.5, 2)  # positive: pow stays real
    b = data(rng, shapes[1], dtype, -1.5, 1.5)
    close(run(fn, [a, b], dtype), oracle(a, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS[:6], ids=str)
@pytest.mark.parametrize("fn,oracle", COMPARE)
def test_comparisons(fn, oracle, shapes, dtype, rng):
    # small integers stored as floats so equal/not_equal see ties
    a = rng.integers(-2, 3, size=shapes[0]).astype(dtype)
    b = rng.integers(-2, 3, size=shapes[1]).astype(dtype)
    got = run(fn, [a, b], dtype)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, oracle(a, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalars_both_sides(dtype, rng):
    x = data(rng, (3,), dtype, 0.5, 2)
    cases = [(lambda t: 2 + t, 2 + x), (lambda t: t + 2, x + 2), (lambda t: 2 - t, 2 - x),
             (lambda t: 2.5 * t, 2.5 * x), (lambda t: 1 / t, 1 / x), (lambda t: t / 4, x / 4),
             (lambda t: 2 ** t, 2 ** x), (lambda t: t ** 3, x ** 3), (lambda t: t ** 0.5, x ** 0.5),
             (lambda t: 0.1 * t, x * np.asarray(0.1, dtype))]
    for fn, want in cases:
        close(run(fn, [x], dtype), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_operands_both_sides(dtype, rng):
    x, c = data(rng, (3, 4), dtype), data(rng, (4,), dtype)
    close(run(lambda t: c * t, [x], dtype), c * x, dtype)
    close(run(lambda t: t - c, [x], dtype), x - c, dtype)
    m = data(rng, (2, 3), dtype)
    close(run(lambda t: m @ t, [x], dtype), m @ x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where(dtype, rng):
    c = rng.uniform(size=(3, 1)) > 0.5
    a, b = data(rng, (1, 4), dtype), data(rng, (4,), dtype)
    pc = gc.placeholder("c", (3, 1), "bool")
    pa, pb = gc.placeholder("a", (1, 4), dtype), gc.placeholder("b", (4,), dtype)
    got = gc.evaluate(gc.where(pc, pa, pb), {pc: c, pa: a, pb: b})
    close(got, np.where(c, a, b), dtype)
    got = gc.evaluate(gc.where(pa > 0, pa, 0.25), {pa: a})
    close(got, np.where(a > 0, a, 0.25), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cast(dtype, rng):
    x = data(rng, (3, 4), dtype, -5, 5)
    other = "float64" if dtype == "float32" else "float32"
    close(run(lambda t: gc.cast(t, other), [x], other), x.astype(other), other)
    got = run(lambda t: t.astype("int32"), [x], dtype)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, x.astype(np.int32))
    got = run(lambda t: gc.cast(t > 0, dtype), [x], dtype)
    close(got, (x > 0).astype(dtype), dtype)


# ---- reductions -----------------------------------------------------------------------------

AXES = [None, 0, 1, 2, -1, -2, -3, (0, 2), (-1, -3), (0, 1, 2), (2, 0)]
REDUCE = [(gc.sum, np.sum), (gc.max, np.max), (gc.min, np.min), (gc.mean, np.mean),
          (lambda x, axis, keepdims: x.sum(axis, keepdims), np.sum),
          (lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims), np.max),
          (lambda x, axis, keepdims: x.mean(axis=axis, keepdims=keepdims), np.mean)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("fn,oracle", REDUCE)
def test_reductions(fn, oracle, axis, keepdims, dtype, rng):
    x = data(rng, (2, 3, 4), dtype)
    got = run(lambda t: fn(t, axis=axis, keepdims=keepdims), [x], dtype)
    close(got, oracle(x, axis=axis, keepdims=keepdims), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [-1, 0, (0, 1), None], ids=str)
def test_logsumexp_softmax(axis, dtype, rng):
    x = data(rng, (3, 5), dtype, -4, 4)
    m = np.max(x, axis=axis, keepdims=True)
    lse = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    close(run(lambda t: gc.logsumexp(t, axis, keepdims=True), [x], dtype), lse, dtype)
    close(run(lambda t: gc.logsumexp(t, axis), [x], dtype),
          np.squeeze(lse, axis=axis) if axis is not None else lse.reshape(()), dtype)
    close(run(lambda t: gc.softmax(t, axis), [x], dtype), np.exp(x - lse), dtype)
    close(run(lambda t: gc.log_softmax(t, axis), [x], dtype), x - lse, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_composites_stable_for_large_inputs(dtype):
    big = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, 0.0, 89.0]], dtype)
    got = run(gc.logsumexp, [big], dtype)
    close(got, [1000 + np.log(2), 89.0], dtype)
    soft = run(gc.softmax, [big], dtype)
    assert np.all(np.isfinite(soft))
    close(soft.sum(-1), np.ones(2), dtype)
    close(run(gc.softplus, [big], dtype), np.logaddexp(0, big.astype(np.float64)), dtype)
    close(run(gc.sigmoid, [big], dtype), [[1, 1, 0], [0, 0.5, 1]], dtype)
    b64 = big.astype(np.float64)  # log_softmax keeps its digits next to large logits
    ref = b64 - b64.max(-1, keepdims=True)
    ref = ref - np.log(np.exp(ref).sum(-1, keepdims=True))
    close(run(gc.log_softmax, [big], dtype), ref, dtype)
    close(run(lambda t: gc.log_softmax(t + 1e4), [big], dtype), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_hot_and_cross_entropy(dtype, rng):
    logits = data(rng, (6, 4), dtype, -3, 3)
    labels = rng.integers(0, 4, size=6)
    pl, py = gc.placeholder("logits", (6, 4), dtype), gc.placeholder("y", (6,), "int64")
    oh = gc.evaluate(gc.one_hot(py, 4, dtype), {py: labels})
    close(oh, np.eye(4)[labels], dtype)
    m = logits.max(-1, keepdims=True)
    logp = logits - (np.log(np.exp(logits - m).sum(-1, keepdims=True)) + m)
    want = -np.mean(logp[np.arange(6), labels])
    got = gc.evaluate(gc.cross_entropy(pl, py), {pl: logits, py: labels})
    close(got, want, dtype)


def test_sum_of_bools_counts(rng):
    x = rng.uniform(size=(4, 5)) > 0.3
    p = gc.placeholder("m", (4, 5), "bool")
    got = gc.evaluate(gc.sum(p, 1), {p: x})
    np.testing.assert_array_equal(got, np.sum(x, 1))
    assert got.dtype == np.int64


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_arithmetic(dtype, rng):
    a = rng.integers(-5, 6, size=(3, 4)).astype(dtype)
    b = rng.integers(1, 4, size=(4,)).astype(dtype)
    for fn, oracle in [(gc.add, np.add), (gc.mul, np.multiply), (gc.sub, np.subtract),
                       (gc.maximum, np.maximum), (lambda x, y: x @ y.reshape(4, 1), None)]:
        got = run(fn, [a, b], dtype)
        want = oracle(a, b) if oracle else a @ b.reshape(4, 1)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.dtype(dtype)
    got = run(lambda x, y: x / y, [a, b], dtype)  # true division of ints gives float32
    close(got, a / b, "float32")


# ---- shape ops -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", [(6, 4), (-1,), (4, -1, 2), (24,), (2, 12), (1, 2, 3, 4),
                                    [3, 8], (None, 6)], ids=str)
def test_reshape(target, dtype, rng):
    x = data(rng, (2, 3, 4), dtype)
    want = x.reshape([-1 if d is None else d for d in target])
    close(run(lambda t: gc.reshape(t, target), [x], dtype), want, dtype)
    close(run(lambda t: t.reshape(*target), [x], dtype), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_every_permutation(dtype, rng):
    x = data(rng, (2, 3, 4), dtype)
    for perm in itertools.permutations(range(3)):
        close(run(lambda t: gc.transpose(t, perm), [x], dtype), x.transpose(perm), dtype)
        close(run(lambda t: t.transpose(*perm), [x], dtype), x.transpose(perm), dtype)
    neg = (-1, 0, -2)
    close(run(lambda t: t.transpose(neg), [x], dtype), x.transpose(neg), dtype)
    close(run(lambda t: t.T, [x], dtype), x.T, dtype)
    close(run(lambda t: t.transpose(), [x], dtype), x.transpose(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [((4,), (3, 4)), ((3, 1), (3, 5)), ((), (2, 2)),
                                    ((1, 4), (2, 3, 4))], ids=str)
def test_broadcast_to(shapes, dtype, rng):
    x = data(rng, shapes[0], dtype)
    close(run(lambda t: gc.broadcast_to(t, shapes[1]), [x], dtype),
          np.broadcast_to(x, shapes[1]), dtype)


# ---- matmul ------------------------------------------------------------------------------------

MATMUL = [((3, 4), (4, 5)),            # 2-D
          ((3, 4), (4,)),              # matrix-vector
          ((4,), (4, 5)),              # vector-matrix
          ((4,), (4,)),                # vector-vector
          ((2, 3, 4), (2, 4, 5)),      # batched
          ((2, 3, 4), (4, 5)),         # batched @ matrix
          ((3, 4), (2, 4, 5)),         # matrix @ batched
          ((2, 1, 3, 4), (5, 4, 2)),   # leading dims broadcast both ways
          ((4,), (2, 4, 5)),           # vector @ batched
          ((2, 3, 4), (4,)),           # batched @ vector
          ((1, 1), (1, 3))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", MATMUL, ids=str)
def test_matmul(shapes, dtype, rng):
    a, b = data(rng, shapes[0], dtype), data(rng, shapes[1], dtype)
    want = np.matmul(a, b)
    close(run(gc.matmul, [a, b], dtype), want, dtype)
    close(run(lambda x, y: x @ y, [a, b], dtype), want, dtype)


def test_matmul_mixed_dtypes_promote(rng):
    a, b = data(rng, (3, 4), "float32"), data(rng, (4, 2), "float64")
    pa, pb = gc.placeholder("a", (3, 4)), gc.placeholder("b", (4, 2), "float64")
    got = gc.evaluate(pa @ pb, {pa: a, pb: b})
    close(got, a.astype(np.float64) @ b, "float64")


# ---- None (run-time) dims: one graph, several batch sizes ----------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_none_dims_mlp_layer(dtype, rng):
    x = gc.placeholder("x", (None, 4), dtype)
    W = gc.parameter("W", data(rng, (4, 3), dtype))
    b = gc.parameter("b", data(rng, (3,), dtype))
    h = gc.relu(x @ W + b)
    outs = [h, gc.softmax(h), h.sum(0), h.mean(0), h.mean(), gc.logsumexp(h, 0),
            h.reshape(-1, 3, 1), h.T, h.max(0, keepdims=True)]
    assert h.shape == (None, 3) and outs[2].shape == (3,) and outs[6].shape == (None, 3, 1)
    for n in [1, 3, 7]:
        xv = data(rng, (n, 4), dtype)
        hv = np.maximum(xv @ W.value + b.value, 0)
        m = hv.max(0)
        want = [hv, np.exp(hv - hv.max(-1, keepdims=True)) /
                np.exp(hv - hv.max(-1, keepdims=True)).sum(-1, keepdims=True),
                hv.sum(0), hv.mean(0), hv.mean(), np.log(np.exp(hv - m).sum(0)) + m,
                hv.reshape(-1, 3, 1), hv.T, hv.max(0, keepdims=True)]
        for got, w in zip(gc.evaluate(outs, {"x": xv}), want):
            close(got, w, dtype)


def test_none_dims_cross_entropy_any_creation_order(rng):
    labels = gc.placeholder("y", (None,), "int32")  # created before x: other dim name
    x = gc.placeholder("x", (None, 5))
    loss = gc.cross_entropy(x * 2, labels)
    for n in [2, 9]:
        xv, yv = data(rng, (n, 5), "float32"), rng.integers(0, 5, size=n)
        z = 2 * xv.astype(np.float64)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        close(gc.evaluate(loss, {x: xv, labels: yv}), -logp[np.arange(n), yv].mean(), "float32")


def test_named_dims_evaluate(rng):
    x = gc.placeholder("x", ("batch", 3))
    y = gc.placeholder("y", ("batch", 1))
    z = (x * y).sum(-1)
    assert z.shape == ("batch",)
    for n in [1, 4]:
        xv, yv = data(rng, (n, 3), "float32"), data(rng, (n, 1), "float32")
        close(gc.evaluate(z, {x: xv, y: yv}), (xv * yv).sum(-1), "float32")


def test_parameters_and_constants_evaluate(rng):
    v = data(rng, (2, 3), "float64")
    p, c = gc.parameter("p", v), gc.constant(v * 2)
    close(gc.evaluate(p * c), v * v * 2, "float64")
    p.value = v + 1  # parameters are read at evaluation time
    close(gc.evaluate(p * c), (v + 1) * v * 2, "float64")


# ---- property: random shapes that broadcast, random ops, against NumPy ----------------------

from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

_OPS2 = [(gc.add, np.add), (gc.sub, np.subtract), (gc.mul, np.multiply),
         (gc.maximum, np.maximum), (lambda a, b: gc.where(a > b, a, b * 2),
                                    lambda a, b: np.where(a > b, a, b * 2))]


@settings(max_examples=60, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                 max_side=3),
       op=st.sampled_from(_OPS2), dtype=st.sampled_from(DTYPES),
       axis=st.one_of(st.none(), st.integers(-4, 3)), keepdims=st.booleans(),
       seed=st.integers(0, 2**16))
def test_property_broadcast_then_reduce(shapes, op, dtype, axis, keepdims, seed):
    rng = np.random.default_rng(seed)
    a, b = (data(rng, s, dtype) for s in shapes.input_shapes)
    fn, oracle = op
    want = oracle(a, b)
    assert want.shape == shapes.result_shape
    if axis is not None and not -want.ndim <= axis < want.ndim:
        axis = None
    got = run(lambda x, y: gc.sum(fn(x, y), axis, keepdims), [a, b], dtype)
    close(got, np.sum(want, axis=axis, keepdims=keepdims), dtype)
