"""A reusable suite of backend checks, every result compared with the interpreter.

A backend's test file runs the whole suite by defining a ``backend`` fixture and
importing the tests::

    import pytest
    from backend_suite import *  # noqa: F401,F403  (the test functions)

    @pytest.fixture(params=[("c", {}), ("cuda", {"device": "emulate"})], ids=str)
    def backend(request):
        return request.param            # (backend name, compile options)

Covered: every primitive op forward and backward (float32 and float64),
matmuls past every GEMM tile edge with fused operands and epilogues, broadcasting, run-time
(``None``) dims called with batch 1, 7 and 256, parameter updates (atomic), and a few steps
of MLP training. Shapes are small so the suite is fast.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.ops import OPS

__all__ = [
    "test_every_op_has_a_case", "test_op_forward_backward", "test_broadcasting",
    "test_none_dims_batches", "test_updates_match_interpreter", "test_updates_are_atomic",
    "test_mlp_training_steps", "test_reductions_and_shapes_with_none_dims",
    "test_outputs_are_fresh_arrays", "test_constant_and_leaf_outputs",
    "test_matmul_variants", "test_matmul_past_tile_boundaries",
    "test_repeated_and_view_outputs", "test_where_special_values",
    "test_random_graphs_match_interpreter",
    "compile_with", "assert_close", "OP_CASES",
]

DTYPES = ["float32", "float64"]


def compile_with(backend, outputs, **kw):
    """``gc.compile`` on the suite's backend (``backend`` is (name, options))."""
    name, options = backend
    return gc.compile(outputs, backend=name, **options, **kw)


def assert_close(got, want, dtype, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind == "f":
        rtol, atol = (2e-4, 1e-5) if np.dtype(dtype) == np.float32 else (1e-9, 1e-12)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _rand(rng, shape, dtype, lo=0.5, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(dtype)


# ---- one case per primitive: (input specs, builder) ----------------------------------------
# an input spec is (shape, kind): "f" a float input in [0.5, 2], "s" a signed float in
# [-2, 2], "b" bool, "i" integer labels in [0, 3)

def _elementwise(name, arity, kind="f"):
    return ([((2, 3), kind)] * arity, lambda *xs: gc.api.apply(name, list(xs)))


OP_CASES: dict[str, tuple] = {
    name: _elementwise(name, op.arity, "s" if name in ("neg", "sin", "cos", "tanh", "sigmoid",
                                                        "abs", "sign", "expm1", "add", "sub",
                                                        "mul", "maximum", "minimum")
                       else "f")
    for name, op in OPS.items()
    if op.kind == "elementwise" and name not in ("where", "cast")
}
OP_CASES.update({
    "where": ([((2, 3), "b"), ((2, 3), "s"), ((3,), "s")], gc.where),
    "cast": ([((2, 3), "s")], lambda x: gc.cast(gc.cast(x, "int32"), x.dtype) + x),
    "sum": ([((2, 3, 4), "s")],
            lambda x: gc.sum(x, axis=(0, 2)) + gc.sum(x, 1, keepdims=True).sum()),
    "max": ([((2, 3, 4), "s")],
            lambda x: gc.max(x, axis=1) + gc.sum(gc.max(x, (0, 2), keepdims=True))),
    "reshape": ([((2, 3, 4), "s")], lambda x: gc.reshape(x, (6, 4)) * gc.reshape(x, (6, -1))),
    "transpose": ([((2, 3, 4), "s")], lambda x: gc.transpose(x, (2, 0, 1)) * 2),
    "broadcast_to": ([((3, 1), "s")], lambda x: gc.broadcast_to(x, (2, 3, 4)) * 3),
    "matmul": ([((2, 3), "s"), ((3, 4), "s")], lambda a, b: a @ b),
    "slice": ([((None, 5, 4), "s")], lambda x: x[:, 4:0:-2, 1::2] * x[:, :2, -1:]),
    "pad": ([((3, 4), "s")], lambda x: gc.exp(gc.pad(x, ((1, 0), (2, 1)), constant_values=0.5))
            + gc.api.apply("pad", [x[::2]], lo=(0, 1), hi=(0, 1), interior=(1, 2),
                           fill=-1.0)[:, :6].sum()),
    "one_hot": ([((5,), "i"), ((5, 3), "s")], lambda i, x: gc.one_hot(i, 3, x.dtype) * x),
    "gather": ([((4, 3), "s"), ((None, 2), "i")],
               lambda x, i: gc.tanh(x[i - 2]) * x[:, [2, 0]].sum()),
    # labels computed in the graph, checked where computed (i is in [0, 3))
    "check_index": ([((5,), "i"), ((5, 3), "s")],
                    lambda i, x: gc.one_hot(gc.check_index(gc.where(i < 2, i + 1, 0), 3), 3, x.dtype) * x),
    # inside (-1, 1), tails included (0.95 * tanh reaches 0.95)
    "erfinv": ([((2, 3), "s")], lambda x: gc.erfinv(gc.tanh(x * 2) * 0.95)),
    # every combine of the scatter primitive, duplicates included (i is in [0, 3))
    "scatter": ([((5, 3), "s"), ((None, 3), "s"), ((None,), "i")],
                lambda x, u, i: gc.exp(x.at[i - 1].add(u * 2)) + x.at[1:3, ::2].add(x[:2, :2] * 3)
                + x.at[i].multiply(u) + x.at[i + 2].min(u) * x.at[i, 1:].max(u[:, :2])),
    "cumsum": ([((None, 3, 4), "s")],
               lambda x: gc.cumsum(gc.tanh(x) * 2, axis=1) + gc.cumsum(x, axis=-1)[:, ::-1]),
    "cumprod": ([((None, 4), "s")], lambda x: gc.cumprod(x + 0.5, axis=1) * gc.cumprod(x, 0)),
    "logcumsumexp": ([((None, 4), "s")],
                     lambda x: gc.logcumsumexp(x * 3, axis=1) + gc.logcumsumexp(x, axis=0)),
    "cummax": ([((None, 5), "s")],
               lambda x: gc.cummax(x * 2, axis=1) + gc.cummax(gc.exp(x), axis=-1)),
    "cummin": ([((3, 4), "s")], lambda x: gc.cummin(x, axis=0) * gc.cummin(x)[:4]),
    "argsort": ([((3, 5), "s")],
                lambda x: gc.sort(x * x, axis=1) + gc.top_k(gc.exp(x), 5)[0]
                + gc.cast(gc.argsort(x, axis=0), x.dtype)),
    "shape_size": ([((None, 3), "s")], lambda x: gc.mean(x) * x),
    # a run-time dim, a call counter past 2**32 and a broadcast (index arithmetic per axis)
    "random_uniform": ([((None, 3), "s")], lambda x: gc.random_uniform(3, 5, x, x.dtype) * x
                       + gc.random_uniform(2**40 + 1, 9, (2, 1, 3), x.dtype)),
    "constant": ([((2, 3), "s")], lambda x: x * gc.constant(np.arange(6.0).reshape(2, 3),
                                                            x.dtype) + 1.5),
    "placeholder": ([((2, 3), "s")], lambda x: x),
    # loops and branches: an RNN-like scan over the rows (the per-step outputs and the
    # final carry), a while loop, a switch on a computed index
    "scan": ([((4, 3), "s"), ((3, 3), "s")],
             lambda x, w: (lambda c, ys: gc.sum(c) + ys)(*gc.scan(
                 lambda h, e: (gc.tanh(h @ w + e), gc.sin(h) * e), gc.sum(x, 0) * 0.1, x))),
    "while_loop": ([((2, 3), "f")], lambda x: gc.while_loop(
        lambda c: gc.sum(c) < 40.0, lambda c: c * 1.5 + 0.25, x)),
    "switch": ([((2, 3), "s")], lambda x: gc.switch(
        gc.cast(gc.sum(x) > 0, "int32"), [lambda a: gc.exp(a) * a, lambda a: a * a - 1], x)
        + gc.cond(gc.sum(x) < 100, lambda a: gc.sin(a), lambda a: a, x)),
    "parameter": ([((2, 3), "s")], lambda x: x * gc.parameter("p", np.full((2, 3), 0.5,
                                                                         x.dtype))),
})


def _spd(a):
    """A positive-definite matrix per matrix of ``a`` (square, last two axes)."""
    n = a.shape[-1]
    return a @ gc.swapaxes(a, -1, -2) + gc.constant(np.eye(n) * n, a.dtype)


def _shifted(a):
    """``a + 4 I``: well conditioned for inputs in [-2, 2]."""
    return a + gc.constant(np.eye(a.shape[-1]) * 4, a.dtype)


OP_CASES.update({   # linear algebra: well-conditioned matrices built from the inputs
    "cholesky": ([((2, 3, 3), "s")], lambda a: gc.linalg.cholesky(_spd(a))),
    "solve_triangular": ([((None, 3, 3), "s"), ((None, 3, 2), "s")],
                         lambda a, b: gc.linalg.solve_triangular(_shifted(a), b, lower=True)
                         + gc.linalg.solve_triangular(_shifted(a), b, trans=1)
                         + gc.linalg.solve_triangular(a * 0.2, b, unit_diagonal=True)),
    "solve": ([((None, 3, 3), "s"), ((None, 3, 2), "s"), ((3, 3), "s"), ((3,), "s")],
              lambda a, b, c, v: gc.linalg.solve(_shifted(a), b)
              * gc.sum(gc.linalg.solve(_shifted(c), v))),
    "logabsdet": ([((2, 3, 3), "s")], lambda a: gc.linalg.slogdet(_shifted(a))[1]),
    "det_sign": ([((2, 3, 3), "s")], lambda a: gc.linalg.slogdet(a)[0][:, None, None] * a),
    "eigvalsh": ([((2, 3, 3), "s")], lambda a: gc.linalg.eigvalsh(_spd(a))),
    "eigh_vectors": ([((2, 3, 3), "s")], lambda a: gc.linalg.eigh(_spd(a))[1]),
    "qr_q": ([((2, 4, 3), "s")], lambda a: gc.linalg.qr(a)[0]),
    "qr_r": ([((3, 3), "s")], lambda a: gc.linalg.qr(a)[1]),
})


def _inputs(specs, dtype, rng, batch=4):
    phs, vals = [], []
    for k, (shape, kind) in enumerate(specs):
        conc = tuple(batch if d is None else d for d in shape)
        if kind == "b":
            phs.append(gc.placeholder(f"in{k}", shape, "bool"))
            vals.append(rng.uniform(size=conc) > 0.5)
        elif kind == "i":
            phs.append(gc.placeholder(f"in{k}", shape, "int64"))
            vals.append(rng.integers(0, 3, size=conc))
        else:
            lo = -2.0 if kind == "s" else 0.5
            phs.append(gc.placeholder(f"in{k}", shape, dtype))
            vals.append(_rand(rng, conc, dtype, lo, 2.0))
    return phs, vals


def _check_against_interpreter(backend, outputs, phs, vals, dtype, what):
    f = compile_with(backend, outputs, inputs=phs)
    got = f(*vals)
    want = gc.evaluate(outputs, dict(zip(phs, vals)))
    for k, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, dtype, f"{what} output {k}")
    return f


# ---- tests ------------------------------------------------------------------------------------

def test_every_op_has_a_case():
    missing = sorted(set(OPS) - set(OP_CASES))
    assert not missing, f"backend_suite has no case for op(s) {missing}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(OP_CASES))
def test_op_forward_backward(backend, op, dtype):
    rng = np.random.default_rng(sorted(OP_CASES).index(op))
    specs, build = OP_CASES[op]
    phs, vals = _inputs(specs, dtype, rng)
    y = build(*phs)
    outputs = [y]
    if op == "while_loop":   # a run-time trip count: forward mode only
        outputs.append(gc.jvp(y, phs[0], gc.constant(np.ones((2, 3), dtype))))
    elif y.dtype.kind == "f":
        weights = gc.constant(_rand(rng, tuple(4 if d is None else d for d in y.shape),
                                    y.dtype, -1, 1))
        if any(d is None for d in y.shape):
            weights = gc.constant(np.float64(0.7), y.dtype)
        loss = gc.sum(y * weights)
        wrt = [p for p in phs if p.dtype.kind == "f"]
        outputs += gc.grad(loss, wrt)
    _check_against_interpreter(backend, outputs, phs, vals, dtype, op)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)),
                                    ((4, 1, 3), (2, 1)), ((1,), (5,))])
def test_broadcasting(backend, shapes, dtype):
    rng = np.random.default_rng(1)
    a = gc.placeholder("a", shapes[0], dtype)
    b = gc.placeholder("b", shapes[1], dtype)
    y = gc.exp(a) * b - a / (b * b + 1) + gc.maximum(a, b)
    outputs = [y] + gc.grad(gc.sum(y * y), [a, b])
    vals = [_rand(rng, s, dtype, -1, 1) for s in shapes]
    _check_against_interpreter(backend, outputs, [a, b], vals, dtype, f"broadcast {shapes}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_none_dims_batches(backend, dtype):
    rng = np.random.default_rng(2)
    x = gc.placeholder("x", (None, 3), dtype)
    w = gc.parameter("w", _rand(rng, (3, 2), dtype, -1, 1))
    h = gc.tanh(x @ w)
    loss = gc.mean(h * h) + gc.sum(gc.log_softmax(h, -1)) / 9
    gw = gc.grad(loss, w)
    f = compile_with(backend, [h, loss, gw], inputs=[x])
    for batch in (1, 7, 256, 7):
        xv = _rand(rng, (batch, 3), dtype, -1, 1)
        got = f(xv)
        want = gc.evaluate([h, loss, gw], {x: xv})
        for k, (g, e) in enumerate(zip(got, want)):
            assert_close(g, e, dtype, f"batch {batch} output {k}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_and_shapes_with_none_dims(backend, dtype):
    rng = np.random.default_rng(3)
    x = gc.placeholder("x", (None, 2, 3), dtype)
    flat = gc.reshape(x, (x.dims[0], 6))   # x.dims[0] is the run-time size's name
    y = flat.T @ flat
    z = gc.sum(gc.max(x, axis=2), axis=0) + gc.mean(gc.transpose(x, (2, 1, 0)))
    outputs = [y, z] + gc.grad(gc.sum(y) + gc.sum(z * z), [x])
    f = compile_with(backend, outputs, inputs=[x])
    for batch in (1, 5):
        xv = _rand(rng, (batch, 2, 3), dtype, -1, 1)
        want = gc.evaluate(outputs, {x: xv})
        for k, (g, e) in enumerate(zip(f(xv), want)):
            assert_close(g, e, dtype, f"batch {batch} output {k}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_updates_match_interpreter(backend, dtype):
    rng = np.random.default_rng(4)
    x = gc.placeholder("x", (None, 2), dtype)
    w = gc.parameter("w", _rand(rng, (2,), dtype, -1, 1))
    b = gc.parameter("b", np.zeros((), dtype))
    loss = gc.mean((x @ w + b - 1.0) ** 2)
    gw, gb = gc.grad(loss, [w, b])
    step = compile_with(backend, loss, updates={w: w - 0.1 * gw, b: b - 0.1 * gb})
    ref_w, ref_b = w.value.copy(), b.value.copy()
    for _ in range(3):
        xv = _rand(rng, (5, 2), dtype, -1, 1)
        feeds = {x: xv}
        # the oracle: evaluate with the old values, then set the new ones
        w_prev, b_prev = w.value, b.value
        w.value, b.value = ref_w, ref_b
        want_loss, ref_w, ref_b = gc.evaluate([loss, w - 0.1 * gw, b - 0.1 * gb], feeds)
        w.value, b.value = w_prev, b_prev
        got_loss = step(xv)
        assert_close(got_loss, want_loss, dtype, "loss")
        assert_close(w.value, ref_w, dtype, "w")
        assert_close(b.value, ref_b, dtype, "b")


def test_updates_are_atomic(backend):
    a = gc.parameter("a", [1.0, 2.0])
    b = gc.parameter("b", [10.0, 20.0])
    out = a + b
    swap = compile_with(backend, out, updates={a: b, b: a + 0.5 * b})
    got = swap()
    np.testing.assert_allclose(got, [11.0, 22.0])
    np.testing.assert_allclose(a.value, [10.0, 20.0])   # from the old b
    np.testing.assert_allclose(b.value, [6.0, 12.0])    # from the old a and b
    swap()
    np.testing.assert_allclose(a.value, [6.0, 12.0])
    np.testing.assert_allclose(b.value, [13.0, 26.0])


def _mlp(dtype, rng, hidden=8, classes=3, features=2):
    x = gc.placeholder("x", (None, features), dtype)
    labels = gc.placeholder("labels", (None,), "int64")
    W1 = gc.parameter("W1", rng.normal(0, 0.5, (features, hidden)).astype(dtype))
    b1 = gc.parameter("b1", np.zeros(hidden, dtype))
    W2 = gc.parameter("W2", rng.normal(0, 0.5, (hidden, classes)).astype(dtype))
    b2 = gc.parameter("b2", np.zeros(classes, dtype))
    logits = gc.relu(x @ W1 + b1) @ W2 + b2
    loss = gc.cross_entropy(logits, labels)
    params = [W1, b1, W2, b2]
    grads = gc.grad(loss, params)
    return x, labels, params, loss, logits, grads


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_training_steps(backend, dtype):
    rng = np.random.default_rng(5)
    x, labels, params, loss, logits, grads = _mlp(dtype, rng)
    lr = 0.5
    updates = {p: p - lr * g for p, g in zip(params, grads)}
    step = compile_with(backend, [loss, logits], inputs=[x, labels], updates=updates)
    ref = [p.value.copy() for p in params]
    for batch in (7, 1, 7):
        xv = rng.normal(size=(batch, 2)).astype(dtype)
        yv = rng.integers(0, 3, size=batch)
        current = [p.value for p in params]
        for p, r in zip(params, ref):
            p.value = r
        want = gc.evaluate([loss, logits] + [updates[p] for p in params], {x: xv, labels: yv})
        for p, c in zip(params, current):
            p.value = c
        got_loss, got_logits = step(xv, labels=yv)
        assert_close(got_loss, want[0], dtype, "loss")
        assert_close(got_logits, want[1], dtype, "logits")
        ref = want[2:]
        for p, r in zip(params, ref):
            assert_close(p.value, r, dtype, p.name)


def test_outputs_are_fresh_arrays(backend):
    x = gc.placeholder("x", (None,), "float64")
    f = compile_with(backend, [x * 2, gc.exp(x)], inputs=[x])
    first = f(np.arange(3.0))
    kept = [a.copy() for a in first]
    f(np.arange(3.0) + 10)
    for a, k in zip(first, kept):
        np.testing.assert_array_equal(a, k)   # a later call must not overwrite results


def test_constant_and_leaf_outputs(backend):
    x = gc.placeholder("x", (2,), "float32")
    p = gc.parameter("p", [1.0, 2.0])
    c = gc.constant([3.0, 4.0])
    f = compile_with(backend, [x, p, c, x + p + c], inputs=[x])
    got = f(np.array([1.0, 1.0], np.float32))
    want = gc.evaluate([x, p, c, x + p + c], {x: np.array([1.0, 1.0], np.float32)})
    for g, w in zip(got, want):
        assert_close(g, w, "float32")


@pytest.mark.parametrize("shapes", [((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)),
                                    ((2, 2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 2))])
def test_matmul_variants(backend, shapes):
    rng = np.random.default_rng(6)
    a = gc.placeholder("a", shapes[0], "float64")
    b = gc.placeholder("b", shapes[1], "float64")
    y = a @ b
    outputs = [y] + gc.grad(gc.sum(y * y), [a, b])
    vals = [_rand(rng, s, "float64", -1, 1) for s in shapes]
    _check_against_interpreter(backend, outputs, [a, b], vals, "float64", f"matmul {shapes}")


# past every tile edge of the generated GEMMs (C: 64 output columns per block; CUDA:
# 64 x 64 tiles, k-steps of 16): M, N, K above 64 and multiples of neither 64 nor 16
TILE_EDGE_SHAPES = [((67, 131), (131, 75)), ((2, 67, 131), (131, 75)), ((131,), (131, 75)),
                    ((67, 131), (131,))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", TILE_EDGE_SHAPES, ids=str)
def test_matmul_past_tile_boundaries(backend, shapes, dtype):
    """Plain operands (BLAS where the backend has it) and fused ones (an activation
    inside the GEMM's operand loads, bias + activation in its epilogue), with their
    gradients: every output element past a tile edge must match the interpreter."""
    rng = np.random.default_rng(9)
    a = gc.placeholder("a", shapes[0], dtype)
    b = gc.placeholder("b", shapes[1], dtype)
    n_out = shapes[1][-1] if len(shapes[1]) > 1 else 1
    bias = gc.constant(_rand(rng, (n_out,), dtype, -1, 1)) if len(shapes[1]) > 1 else 0.5
    plain = a @ b + bias
    fused = gc.relu(gc.tanh(a) @ (b * 0.5) + bias)
    outputs = [plain, fused] + gc.grad(gc.sum(fused * fused) + gc.sum(plain), [a, b])
    vals = [_rand(rng, s, dtype, -1, 1) for s in shapes]
    _check_against_interpreter(backend, outputs, [a, b], vals, dtype, f"matmul {shapes}")


def test_repeated_and_view_outputs(backend):
    x = gc.placeholder("x", (None, 3), "float64")
    w = gc.parameter("w", np.ones((3, 2)))
    h = gc.exp(x) @ w
    outs = [h, h, h.T, gc.reshape(h.T, (2, x.dims[0])), gc.sum(h)]
    step = compile_with(backend, outs, inputs=[x], updates={w: w + gc.sum(h)})
    xv = np.linspace(-1, 1, 6).reshape(2, 3)
    want = gc.evaluate(outs + [w + gc.sum(h)], {x: xv})
    got = step(xv)
    for k, (g, e) in enumerate(zip(got, want)):
        assert_close(g, e, "float64", f"output {k}")
    assert_close(w.value, want[-1], "float64", "w")
    kept = [g.copy() for g in got]
    step(xv * 2)
    for g, k in zip(got, kept):
        np.testing.assert_array_equal(g, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_special_values(backend, dtype):
    """Selections and the logistic function keep inf, NaN and the sign of zero, silently
    (the NumPy backend spells where(c, x, 0.0) as bit masking and sigmoid as
    1 / (1 + exp(-x)), whose exp overflows at -100)."""
    x, c = gc.placeholder("x", (8,), dtype), gc.placeholder("c", (8,), "bool")
    outs = [gc.relu(x), gc.where(x > 0, 1.0, 0.0), gc.where(x > 0, 2.5, -0.0),
            gc.where(x < 0, x, np.inf), gc.grad(gc.sum(gc.relu(x) * 3.0), x),
            gc.where(x <= 0, x, 0.0), gc.where(c, x, 0.0), gc.where(c, -2.5, 0.0)]
    xv = np.array([-np.inf, -100.0, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan], dtype)
    cv = np.array([0, 1, 0, 1, 1, 0, 1, 1], bool)   # NaN, inf, -0.0 selected and not
    f = compile_with(backend, outs + [gc.sigmoid(x)], inputs=[x, c])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        *got, sigmoid = f(xv, cv)
    for k, (g, w) in enumerate(zip(got, gc.evaluate(outs, {x: xv, c: cv}))):
        np.testing.assert_array_equal(g, w, err_msg=f"output {k}")
        assert np.array_equal(np.signbit(g), np.signbit(w)), f"output {k}: signs of zeros"
    with np.errstate(over="ignore"):   # the float64 oracle; sigmoid(-100) is subnormal
        want = 1 / (1 + np.exp(-xv.astype(np.float64)))
    np.testing.assert_allclose(sigmoid, want, rtol=1e-6, atol=1e-43)


# ---- random graphs (hypothesis): many values alive at once stress the buffer reuse ----------

def _random_graph(data, phs):
    from hypothesis import strategies as st

    pool = list(phs)
    unary = [gc.exp, gc.tanh, gc.sin, gc.neg, lambda t: gc.sqrt(gc.abs(t) + 1.0),
             lambda t: gc.log1p(gc.abs(t)), gc.sigmoid,
             lambda t: gc.sum(t, -1, keepdims=True) if t.ndim else t * 2.0,
             lambda t: gc.transpose(gc.transpose(t) * 1.5) if t.ndim == 2 else t + 1.0]
    binary = [gc.add, gc.sub, gc.mul, gc.maximum,
              lambda a, b: gc.where(gc.greater(a, b), a, b * 0.5)]
    for _ in range(data.draw(st.integers(3, 14))):
        if data.draw(st.booleans()):
            f = data.draw(st.sampled_from(unary))
            pool.append(f(data.draw(st.sampled_from(pool))))
        else:
            f = data.draw(st.sampled_from(binary))
            pool.append(f(data.draw(st.sampled_from(pool)), data.draw(st.sampled_from(pool))))
    return pool


def test_random_graphs_match_interpreter(backend):
    from hypothesis import given, settings, strategies as st

    shapes = [(3, 4), (4,), (3, 1), ()]

    @settings(max_examples=15, deadline=None)
    @given(st.data())
    def check(data):
        phs = [gc.placeholder(f"p{k}", s, "float64") for k, s in enumerate(shapes)]
        pool = _random_graph(data, phs)
        outs = pool[-2:] + gc.grad(gc.sum(pool[-1] * pool[-1]), phs)
        rng = np.random.default_rng(0)
        vals = [_rand(rng, s, "float64", -1.5, 1.5) for s in shapes]
        f = compile_with(backend, outs, inputs=phs)
        for k, (g, w) in enumerate(zip(f(*vals), gc.evaluate(outs, dict(zip(phs, vals))))):
            assert_close(g, w, "float64", f"output {k}")
    check()
