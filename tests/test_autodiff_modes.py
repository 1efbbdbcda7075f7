"""Autodiff beyond first-order reverse mode: higher order, hvp, jvp, seeds, errors, tie rules,
and a hypothesis property test on random graphs (oracle: finite differences via gc.evaluate)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

import graphc as gc

F64 = "float64"


def num_grad(f, x, h=1e-6):
    """Central differences of an array-valued ``f`` at ``x``: shape f(x).shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    f0 = np.asarray(f(x))
    out = np.zeros(f0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        out[(Ellipsis,) + idx] = (np.asarray(f(xp)) - np.asarray(f(xm))) / (2 * h)
    return out


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-3)


# ---- the tutorial and higher order ------------------------------------------------------------

def test_tutorial_gradients_and_formulas():
    a = gc.parameter("a", [2., 4.])
    b = gc.parameter("b", [7., 5.])
    E = 3 * a**3 - b**2
    da, db = gc.grad(E, [a, b], seed=gc.constant([1., 1.]))
    assert str(gc.expr(da)) == "9*a**2" and str(gc.expr(db)) == "-2*b"
    sa, sb = sympy.Symbol("a", real=True), sympy.Symbol("b", real=True)
    assert gc.expr(da) == 9 * sa**2 and gc.expr(db) == -2 * sb
    np.testing.assert_allclose(gc.evaluate(da), [36., 144.])
    np.testing.assert_allclose(gc.evaluate(db), [-14., -10.])


def test_hessian_of_cubic_is_18a():
    a = gc.parameter("a", [2., 4.])
    ones = gc.constant([1., 1.])
    da = gc.grad(3 * a**3, a, seed=ones)
    d2a = gc.grad(da, a, seed=ones)
    assert gc.expr(d2a) == 18 * sympy.Symbol("a", real=True)
    np.testing.assert_allclose(gc.evaluate(d2a), [36., 72.])
    d3a = gc.grad(d2a, a, seed=ones)
    assert gc.expr(d3a) == 18


def test_second_derivatives_match_fd_of_gradient():
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (4,), F64)
    W = gc.placeholder("W", (4, 3), F64)
    y = gc.sum(gc.tanh(x @ W) ** 2) + gc.sum(gc.exp(0.3 * x) * gc.sin(x))
    gx = gc.grad(y, x)
    xv, Wv = rng.uniform(-1, 1, 4), rng.uniform(-1, 1, (4, 3))
    # the full Hessian, row by row, as gradients of the gradient
    H = np.stack([gc.evaluate(gc.grad(gx, x, seed=gc.constant(np.eye(4)[i])), {x: xv, W: Wv})
                  for i in range(4)])
    H_fd = num_grad(lambda v: gc.evaluate(gx, {x: v, W: Wv}), xv)
    assert rel_err(H, H_fd) < 1e-6
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    # mixed second derivative d/dW (dy/dx), contracted with a random seed
    s = rng.standard_normal(4)
    mixed = gc.evaluate(gc.grad(gx, W, seed=gc.constant(s)), {x: xv, W: Wv})
    fd = num_grad(lambda w: gc.evaluate(gx, {x: xv, W: w}) @ s, Wv)
    assert rel_err(mixed, fd) < 1e-6


@pytest.mark.parametrize("case", ["poly", "mlp", "softmax"])
def test_hvp_matches_fd_of_gradient(case):
    rng = np.random.default_rng(1)
    x = gc.placeholder("x", (3, 2), F64)
    if case == "poly":
        y = gc.sum(x**3 * 2.0 - x * gc.sum(x, axis=0))
    elif case == "mlp":
        y = gc.sum(gc.sigmoid(x @ gc.constant(rng.uniform(-1, 1, (2, 4)))) ** 2)
    else:
        y = gc.sum(gc.log_softmax(x * 2.0) * gc.constant(rng.uniform(0, 1, (3, 2))))
    xv, v = rng.uniform(-1, 1, (3, 2)), rng.standard_normal((3, 2))
    got = gc.evaluate(gc.hvp(y, x, gc.constant(v)), {x: xv})
    g = gc.grad(y, x)
    h = 1e-6
    fd = (gc.evaluate(g, {x: xv + h * v}) - gc.evaluate(g, {x: xv - h * v})) / (2 * h)
    assert rel_err(got, fd) < 1e-6


def test_hvp_several_wrt():
    rng = np.random.default_rng(2)
    a = gc.placeholder("a", (3,), F64)
    b = gc.placeholder("b", (3,), F64)
    y = gc.sum(a * a * b + gc.sin(b))
    av, bv, va, vb = (rng.uniform(-1, 1, 3) for _ in range(4))
    ha, hb = gc.evaluate(gc.hvp(y, [a, b], [gc.constant(va), gc.constant(vb)]), {a: av, b: bv})
    # H = [[2b, 2a], [2a, -sin b]] (diagonal blocks)
    np.testing.assert_allclose(ha, 2 * bv * va + 2 * av * vb, rtol=1e-12)
    np.testing.assert_allclose(hb, 2 * av * va - np.sin(bv) * vb, rtol=1e-12)


# ---- forward mode ------------------------------------------------------------------------------

JVP_CASES = {
    "elementwise": lambda x, w: gc.sin(x) * gc.exp(w) / (1.5 + gc.cos(x)),
    "matmul": lambda x, w: gc.tanh(x @ w) @ w.T,
    "reduce": lambda x, w: gc.max(x, axis=1, keepdims=True) * gc.sum(w, axis=0) + gc.mean(x),
    "softmax": lambda x, w: gc.softmax(x @ w, axis=-1),
    "shape": lambda x, w: gc.reshape(
        gc.broadcast_to(gc.reshape(x, (2, 3, 1)), (2, 3, 4)).transpose(2, 0, 1), (4, 6)) * 2.0,
    "maximum_where": lambda x, w: gc.where(x > 0, gc.maximum(x, 0.1), x * x) + gc.minimum(x, 0.2),
    "pow_div_log": lambda x, w: gc.log(gc.abs(x) + 1.0) ** 2.0 / (x * x + 1.0),
}


@pytest.mark.parametrize("case", sorted(JVP_CASES))
def test_jvp_is_transpose_of_vjp(case):
    """jvp(v) . u == v . vjp(u) for random u, v; and jvp matches finite differences."""
    rng = np.random.default_rng(3)
    x = gc.placeholder("x", (2, 3), F64)
    w = gc.placeholder("w", (3, 4), F64)
    build = JVP_CASES[case]
    if case in ("elementwise",):
        y = build(x, gc.sum(w, axis=1))
    else:
        y = build(x, w)
    xv = rng.uniform(0.2, 1.0, (2, 3)) * rng.choice([-1, 1], (2, 3))
    wv = rng.uniform(-1, 1, (3, 4))
    feeds = {x: xv, w: wv}
    ys = gc.evaluate(y, feeds)
    u = rng.standard_normal(ys.shape)
    tx, tw = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    jv = gc.evaluate(gc.jvp(y, [x, w], [gc.constant(tx), gc.constant(tw)]), feeds)
    gx, gw = gc.evaluate(gc.grad(y, [x, w], seed=gc.constant(u)), feeds)
    assert jv.shape == ys.shape
    lhs = np.sum(jv * u)
    rhs = np.sum(gx * tx) + np.sum(gw * tw)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    h = 1e-6
    fd = (gc.evaluate(y, {x: xv + h * tx, w: wv + h * tw})
          - gc.evaluate(y, {x: xv - h * tx, w: wv - h * tw})) / (2 * h)
    assert rel_err(jv, fd) < 1e-6


def test_jvp_list_outputs_and_constant_output():
    x = gc.placeholder("x", (3,), F64)
    c = gc.constant(np.ones(3))
    y1, y2 = gc.jvp([x * x, c * 2.0], x, gc.constant(np.ones(3)))
    xv = np.array([1., 2., 3.])
    np.testing.assert_allclose(gc.evaluate(y1, {x: xv}), 2 * xv)
    np.testing.assert_array_equal(gc.evaluate(y2), np.zeros(3))


def test_jvp_errors():
    x = gc.placeholder("x", (3,), F64)
    with pytest.raises(gc.GradError, match="tangent"):
        gc.jvp(x * 2.0, x, gc.constant(np.ones(4)))
    with pytest.raises(gc.GradError, match="2 wrt"):
        gc.jvp(x * 2.0, [x, x], [gc.constant(np.ones(3))])


# ---- seeds and errors ------------------------------------------------------------------------

def test_non_scalar_y_needs_seed():
    x = gc.placeholder("x", (3,), F64)
    with pytest.raises(gc.GradError, match=r"not a scalar.*seed"):
        gc.grad(x * 2.0, x)


def test_seed_of_wrong_shape():
    x = gc.placeholder("x", (3,), F64)
    msg = r"seed of shape \(4,\) does not match y of shape \(3,\)"
    with pytest.raises(gc.GradError, match=msg):
        gc.grad(x * 2.0, x, seed=gc.constant(np.ones(4)))
    with pytest.raises(gc.GradError, match="does not match"):
        gc.grad(x * 2.0, x, seed=np.ones((2, 3)))


def test_seed_broadcast_and_array_seed():
    x = gc.placeholder("x", (3,), F64)
    xv = np.array([1., 2., 3.])
    g = gc.grad(x * x, x, seed=2.0)  # a scalar seed broadcasts to y's shape
    np.testing.assert_allclose(gc.evaluate(g, {x: xv}), 4 * xv)
    g = gc.grad(x * x, x, seed=np.array([1., 0., -1.]))
    np.testing.assert_allclose(gc.evaluate(g, {x: xv}), 2 * xv * [1, 0, -1])


def test_integer_wrt_is_an_error():
    n = gc.placeholder("n", (3,), "int64")
    x = gc.placeholder("x", (3,), F64)
    y = gc.sum(gc.cast(n, F64) * x)
    with pytest.raises(gc.GradError, match=r"'n'.*int64"):
        gc.grad(y, n)
    with pytest.raises(gc.GradError, match="integer"):
        gc.grad(y, [x, n])


def test_unused_wrt_gets_zeros_or_raises():
    x = gc.placeholder("x", (None, 3), F64)
    z = gc.placeholder("z", (2, 2), F64)
    y = gc.sum(x * x)
    gx, gz = gc.grad(y, [x, z])
    assert gz.shape == (2, 2)
    np.testing.assert_array_equal(gc.evaluate(gz), np.zeros((2, 2)))
    with pytest.raises(gc.GradError, match="'z'"):
        gc.grad(y, [x, z], allow_unused=False)
    # a run-time sized wrt that y ignores also gets zeros of its (run-time) shape
    y2 = gc.sum(z)
    g = gc.grad(y2, x)
    assert g.shape == (None, 3)
    np.testing.assert_array_equal(gc.evaluate(g, {x: np.ones((4, 3))}), np.zeros((4, 3)))


def test_wrt_intermediate_tensor():
    x = gc.placeholder("x", (3,), F64)
    h = gc.sin(x)
    y = gc.sum(h * h * x)
    xv = np.array([0.3, -1.2, 2.0])
    gh = gc.evaluate(gc.grad(y, h), {x: xv})
    np.testing.assert_allclose(gh, 2 * np.sin(xv) * xv)  # h treated as independent
    # with [x, h], x gets the total derivative (as torch.autograd.grad does)
    gx, gh2 = gc.evaluate(gc.grad(y, [x, h]), {x: xv})
    np.testing.assert_allclose(gx, 2 * np.sin(xv) * np.cos(xv) * xv + np.sin(xv) ** 2)
    np.testing.assert_allclose(gh2, gh)
    # wrt y itself: the seed
    np.testing.assert_allclose(gc.evaluate(gc.grad(y, y)), 1.0)


def test_several_uses_of_one_node_are_summed():
    x = gc.placeholder("x", (3,), F64)
    u = gc.exp(x)
    y = gc.sum(u + u * u + gc.sin(u) + u @ u)
    xv = np.array([0.1, -0.5, 0.7])
    e = np.exp(xv)
    want = (1 + 2 * e + np.cos(e) + 3 * 2 * e) * e  # u @ u (a scalar) is broadcast 3 times
    np.testing.assert_allclose(gc.evaluate(gc.grad(y, x), {x: xv}), want, rtol=1e-12)
    # x + x is one node used twice by the same op
    np.testing.assert_allclose(gc.evaluate(gc.grad(gc.sum(x * x), x), {x: xv}), 2 * xv)


def test_grad_of_non_tensor_or_integer_y():
    x = gc.placeholder("x", (3,), F64)
    with pytest.raises(gc.GradError):
        gc.grad(3.0, x)
    n = gc.placeholder("n", (), "int64")
    with pytest.raises(gc.GradError):
        gc.grad(n * 2, x)


# ---- ties ------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_evenly(op):
    """Documented rule: where a == b, each side gets half the gradient (0.5 / 0.5)."""
    a = gc.placeholder("a", (4,), F64)
    b = gc.placeholder("b", (4,), F64)
    y = getattr(gc, op)(a, b)
    av = np.array([1.0, 2.0, 3.0, -1.0])
    bv = np.array([1.0, 1.0, 4.0, -1.0])
    ga, gb = gc.evaluate(gc.grad(y, [a, b], seed=np.ones(4)), {a: av, b: bv})
    win = av > bv if op == "maximum" else av < bv
    lose = av < bv if op == "maximum" else av > bv
    tie = av == bv
    np.testing.assert_array_equal(ga, np.where(tie, 0.5, np.where(win, 1.0, 0.0)))
    np.testing.assert_array_equal(gb, np.where(tie, 0.5, np.where(lose, 1.0, 0.0)))
    np.testing.assert_array_equal(ga + gb, np.ones(4))  # the gradient is conserved


def test_tie_half_is_the_mean_of_the_one_sided_derivatives():
    """At a tie the rule's 0.5 is the average of the left and right finite differences."""
    a = gc.placeholder("a", (), F64)
    y = gc.maximum(a, 1.0)
    g = gc.evaluate(gc.grad(y, a), {a: 1.0})
    h = 1e-4
    right = (gc.evaluate(y, {a: 1 + h}) - gc.evaluate(y, {a: 1.0})) / h
    left = (gc.evaluate(y, {a: 1.0}) - gc.evaluate(y, {a: 1 - h})) / h
    assert g == pytest.approx((left + right) / 2)


def test_max_reduction_ties_share_the_gradient():
    x = gc.placeholder("x", (2, 4), F64)
    xv = np.array([[3.0, 1.0, 3.0, 3.0], [0.0, 5.0, 2.0, 5.0]])
    g = gc.evaluate(gc.grad(gc.max(x, axis=1), x, seed=np.array([6.0, 1.0])), {x: xv})
    np.testing.assert_allclose(g, [[2.0, 0, 2.0, 2.0], [0, 0.5, 0, 0.5]])
    g = gc.evaluate(gc.grad(gc.max(x), x), {x: xv})
    np.testing.assert_allclose(g, [[0, 0, 0, 0], [0, 0.5, 0, 0.5]])
    g = gc.evaluate(gc.grad(gc.min(x, axis=0, keepdims=True), x, seed=np.ones((1, 4))), {x: xv})
    np.testing.assert_allclose(g, [[0, 1, 0, 1], [1, 0, 1, 0]])


def test_relu_gradient_at_zero_is_zero():
    x = gc.placeholder("x", (3,), F64)
    g = gc.evaluate(gc.grad(gc.relu(x), x, seed=np.ones(3)), {x: [-1.0, 0.0, 2.0]})
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


# ---- property test: random graphs vs finite differences -----------------------------------------

# Each entry: (arity, builder). Builders keep values in smooth, bounded regions
# (no log of negatives, no division near zero) so finite differences are accurate.
UNARY_OPS = [
    lambda x: gc.sin(x), lambda x: gc.cos(x), lambda x: gc.tanh(x), lambda x: gc.sigmoid(x),
    lambda x: gc.exp(gc.tanh(x)), lambda x: gc.log(x * x + 1.0), lambda x: gc.sqrt(x * x + 0.5),
    lambda x: gc.log1p(gc.sigmoid(x)), lambda x: gc.expm1(gc.sin(x)), lambda x: -x,
    lambda x: x * 0.7 + 0.1, lambda x: (gc.sigmoid(x) + 0.5) ** 1.5, lambda x: gc.softplus(x),
    lambda x: gc.square(x), lambda x: gc.sin(x) * x,
]
BINARY_OPS = [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
    lambda a, b: a / (gc.exp(b) + 0.5), lambda a, b: gc.maximum(a, b) + gc.minimum(a, b * 0.5),
    lambda a, b: gc.where(a > 0.0, b, a * 2.0),
    lambda a, b: (gc.sigmoid(a) + 0.5) ** b,
]
REDUCE_OPS = [
    lambda x: gc.sum(x, axis=-1, keepdims=True), lambda x: gc.mean(x, axis=0, keepdims=True),
    lambda x: gc.max(x, axis=-1, keepdims=True), lambda x: gc.logsumexp(x, -1, keepdims=True),
    lambda x: gc.softmax(x, -1), lambda x: gc.transpose(gc.transpose(x)),
    lambda x: x @ gc.constant(np.linspace(-1, 1, 9).reshape(3, 3)),
    lambda x: gc.reshape(gc.reshape(x, (-1,)), (2, 3)),
    lambda x: gc.broadcast_to(gc.sum(x, axis=0), (2, 3)),
]


def random_smooth_graph(ops, phs):
    """A random graph over the placeholders ``phs`` from hypothesis-drawn steps."""
    pool = list(phs)
    for kind, i, j, k in ops:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        if kind == 0:
            pool.append(UNARY_OPS[k % len(UNARY_OPS)](a))
        elif kind == 1:
            pool.append(BINARY_OPS[k % len(BINARY_OPS)](a, b))
        else:
            a = gc.broadcast_to(a, (2, 3)) if a.dims != (2, 3) else a
            pool.append(REDUCE_OPS[k % len(REDUCE_OPS)](a))
    y = pool[-1]
    for extra in pool[len(phs):-1:2]:  # more fan-out: several uses of intermediate nodes
        y = y + gc.sum(extra) * 0.1
    return y


def test_random_graph_gradients_match_fd():
    """Reverse mode vs finite differences and vs forward mode on random graphs. Points
    within h of a kink (max/maximum/where) are skipped, but at least 80 % of the
    (example, placeholder) pairs must reach the finite-difference comparison."""
    counts = {"compared": 0, "kinked": 0}

    @settings(max_examples=40, deadline=None)
    @given(ops=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 100), st.integers(0, 100),
                                  st.integers(0, 100)), min_size=1, max_size=8),
           data_seed=st.integers(0, 2**31 - 1))
    def run(ops, data_seed):
        rng = np.random.default_rng(data_seed)
        shapes = [(2, 3), (3,), (2, 1), ()]
        phs = [gc.placeholder(f"p{k}", s, F64) for k, s in enumerate(shapes)]
        y = random_smooth_graph(ops, phs)
        feeds = {p: rng.uniform(-1.5, 1.5, p.shape) for p in phs}
        ys = gc.evaluate(y, feeds)
        seed = rng.standard_normal(ys.shape)
        grads = gc.evaluate(gc.grad(y, phs, seed=gc.constant(seed)), feeds)
        # forward mode is the transpose of reverse mode: jvp(v) . seed == sum_p v_p . grad_p
        tangents = [rng.standard_normal(p.shape) for p in phs]
        jv = gc.evaluate(gc.jvp(y, phs, [gc.constant(t) for t in tangents]), feeds)
        lhs = np.sum(jv * seed)
        rhs = sum(np.sum(g * t) for g, t in zip(grads, tangents))
        assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs)), (lhs, rhs)
        for p, g in zip(phs, grads):
            def f(v, p=p):
                return np.sum(gc.evaluate(y, {**feeds, p: v}) * seed)
            fd = num_grad(f, feeds[p])
            # max/maximum/where are kinked: skip draws that landed within h of a kink
            fd_coarse = num_grad(f, feeds[p], h=1e-4)
            if rel_err(fd, fd_coarse) > 1e-4:
                counts["kinked"] += 1
                continue
            # central differences carry ~1e-16 |f| / h = 1e-10 of rounding: an absolute floor
            # keeps tiny gradients (1e-4) from failing on that noise alone
            assert np.max(np.abs(g - fd)) <= 1e-6 * np.max(np.abs(fd)) + 1e-8, (p.name, g, fd)
            counts["compared"] += 1

    run()
    total = counts["compared"] + counts["kinked"]
    assert counts["compared"] >= 0.8 * total and counts["compared"] >= 100, counts


# ---- run-time sizes and deep graphs -----------------------------------------------------------

def test_seed_and_tangent_of_known_size_for_runtime_dims():
    x = gc.placeholder("x", (None, 3), F64)
    xv = np.arange(12.0).reshape(4, 3) / 10
    y = gc.sin(x)
    seed = np.linspace(-1, 1, 12).reshape(4, 3)
    g = gc.grad(y, x, seed=gc.constant(seed))
    assert g.shape == (None, 3)
    np.testing.assert_allclose(gc.evaluate(g, {x: xv}), np.cos(xv) * seed)
    t = gc.jvp(y, x, gc.constant(seed))
    np.testing.assert_allclose(gc.evaluate(t, {x: xv}), np.cos(xv) * seed)
    g = gc.grad(y, x, seed=np.ones(3))  # broadcast along the run-time axis
    np.testing.assert_allclose(gc.evaluate(g, {x: xv}), np.cos(xv))
    with pytest.raises(gc.GradError, match="does not match"):
        gc.grad(y, x, seed=np.ones((4, 2)))


def test_gradient_of_sum_over_runtime_dim_evaluates_alone():
    """d sum(x) / dx = ones of x's run-time shape, even though the graph has no x in it."""
    x = gc.placeholder("x", (None, 3), F64)
    g = gc.grad(gc.sum(x), x)
    np.testing.assert_array_equal(gc.evaluate(g, {x: np.zeros((5, 3))}), np.ones((5, 3)))


def test_deep_graph_grad_hvp_jvp_are_iterative():
    import sys

    x = gc.placeholder("x", (2,), F64)
    y = x
    depth = 10_000
    for k in range(depth):
        y = gc.sin(y) * 0.5 + x if k % 100 == 0 else y * 0.9999
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        s = gc.sum(y)
        g = gc.grad(s, x)
        jv = gc.jvp(s, x, gc.constant(np.ones(2)))
        xv = np.array([0.3, -0.2])
        gv, jvv = gc.evaluate([g, jv], {x: xv})
    finally:
        sys.setrecursionlimit(limit)
    h = 1e-6
    fd = [(gc.evaluate(s, {x: xv + h * e}) - gc.evaluate(s, {x: xv - h * e})) / (2 * h)
          for e in np.eye(2)]
    assert rel_err(gv, fd) < 1e-6
    assert abs(jvv - np.sum(gv)) < 1e-9 * max(1, abs(jvv))


def test_jvp_and_hvp_take_array_tangents_and_stop_at_integer_casts():
    x = gc.placeholder("x", (3,), F64)
    xv = np.array([0.5, 1.2, 2.7])
    y = gc.cast(gc.cast(x * 3.0, "int64"), F64) + x * x  # the int path has no derivative
    np.testing.assert_allclose(gc.evaluate(gc.jvp(y, x, np.array([1.0, 0.0, 2.0])), {x: xv}),
                               2 * xv * [1, 0, 2])
    np.testing.assert_allclose(gc.evaluate(gc.grad(y, x, seed=np.ones(3)), {x: xv}), 2 * xv)
    np.testing.assert_allclose(gc.evaluate(gc.hvp(gc.sum(x**3.0), x, [1.0, 1.0, 1.0]), {x: xv}),
                               6 * xv)
