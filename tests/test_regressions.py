"""Shrunk failures found by the differential fuzzer (tests/test_fuzz_differential.py),
kept as plain regression tests. Each checks against the oracles (the interpreter,
finite differences) through the fuzzer's own checks, on every available backend."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

from strategies import built_from
from helpers_backends import BACKENDS, each_backend
from test_fuzz_differential import check_backend_built, check_grad_built


def rand(seed, shape, dtype=np.float64):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(dtype)


def test_zero_d_array_is_scalar_data():
    """Fuzz #1: gc.parameter(name, np.array(x)) raised TypeError (len() of unsized object)
    in the ragged-data check."""
    p = gc.parameter("p", np.array(1.5))
    assert p.shape == () and p.value == 1.5
    c = gc.constant([np.array(1.0), np.array(2.0)])
    np.testing.assert_array_equal(gc.evaluate(c * p), [1.5, 3.0])


def _run_time_meets_known():
    """x: (None, 1, 1) broadcast against y: (2, 1, 1): the sum's static dim is 2."""
    x = gc.placeholder("x0", (None, 1, 1), np.float64)
    y = gc.placeholder("x1", (2, 1, 1), np.float64)
    return built_from([gc.exp(x) + y * x], {"x0": rand(1, (2, 1, 1)), "x1": rand(2, (2, 1, 1))})


def _matmul_run_time_inner():
    """(3, 2) @ (None, n1): the gradient w.r.t. the right operand is (2, n1) statically."""
    a = gc.parameter("p3", rand(3, (3, 2)))
    x = gc.placeholder("x1", (None, "n1"), np.float64)
    return built_from([a @ x, x], {"x1": rand(4, (2, 3))})


def _two_anonymous_dims():
    """x: (None,) + y: (None,): unified to one of the two anonymous dims."""
    x = gc.placeholder("x", (None,), np.float64)
    y = gc.placeholder("y", (None,), np.float64)
    return built_from([gc.sin(x) * y + y], {"x": rand(5, (4,)), "y": rand(6, (4,))})


GRAPHS = {"run_time_meets_known": _run_time_meets_known,
          "matmul_run_time_inner": _matmul_run_time_inner,
          "two_anonymous_dims": _two_anonymous_dims}


@pytest.mark.parametrize("graph", GRAPHS)
def test_grad_with_run_time_dims(graph):
    """Fuzz #2: gc.grad raised ShapeError ("cannot reshape (2, 1, 1) into (None, 1, 1)")
    when a run-time dim met a known size in broadcasting or matmul: the un-broadcast
    gradient only needs a relabelled shape (graphc/ops.py unbroadcast)."""
    compared, directions = check_grad_built(GRAPHS[graph]())
    assert compared == directions > 0  # smooth graphs: no direction may be skipped


@pytest.mark.parametrize("graph", GRAPHS)
@each_backend
def test_backends_with_run_time_dims(graph, backend, options):
    check_backend_built(GRAPHS[graph](), backend, options)


@each_backend
def test_one_hot_fused_into_reduction(backend, options):
    """Fuzz #3: C and CUDA kernels fusing one_hot into a reduction redeclared an index
    variable ("conflicting declaration 'const gc_index_t i2'"): they did not compile."""
    labels = gc.placeholder("x3", (1, 2, 1), np.int64)
    p4 = gc.parameter("p4", rand(7, (2,), np.float32))
    p5 = gc.parameter("p5", rand(8, (3, 1), np.float32))
    t7 = gc.one_hot(labels, 2, np.float32) * p4
    outputs = [p5 @ t7, gc.sum(t7, -1)]
    feeds = {"x3": np.array([[[1], [0]]], np.int64)}
    check_backend_built(built_from(outputs, feeds), backend, options)


@each_backend
def test_float32_cast_inside_float64_graph(backend, options):
    """Fuzz #4 (a test bug, kept): a float64 graph with a float32 part returns float32
    results; tolerances follow each result's dtype, not the graph's."""
    x = gc.placeholder("x0", (), np.float64)
    out = gc.broadcast_to(gc.cast(x, "float32"), (2,))
    check_backend_built(built_from([out], {"x0": np.array(0.512444019317627)}),
                        backend, options)


def test_second_order_through_relabelled_run_time_dims():
    """Fuzz #5: gc.hvp raised ShapeError ("cannot reshape (1, 2) into (1, None)"): the
    gradient of the shape relabelling that fix #2 introduces must relabel back."""
    from test_fuzz_differential import ev
    x2 = gc.placeholder("x2", (None, None), np.float64)
    p3 = gc.parameter("p3", rand(9, (4, 1)))
    p4 = gc.parameter("p4", rand(10, (2,)))
    t4 = x2 @ p3
    out = t4 + p4 @ t4
    c = gc.placeholder("c", out.dims, np.float64)
    loss = gc.sum(out * c)
    feeds = {"x2": rand(11, (2, 4)), "c": rand(12, (2, 1))}
    v = [rand(13, (4, 1)), rand(14, (2,))]
    hv_nodes = gc.hvp(loss, [p3, p4], [gc.constant(a) for a in v])
    hv = ev([loss] + hv_nodes, feeds)[1:]
    grads = gc.grad(loss, [p3, p4])
    base = [p3.value.copy(), p4.value.copy()]

    def grads_at(h):
        p3.value, p4.value = base[0] + h * v[0], base[1] + h * v[1]
        try:
            return ev([loss] + grads, feeds)[1:]
        finally:
            p3.value, p4.value = base
    plus, minus = grads_at(1e-5), grads_at(-1e-5)
    for a, gp, gm in zip(hv, plus, minus):
        np.testing.assert_allclose(a, (gp - gm) / 2e-5, rtol=1e-5, atol=1e-6)
    check_backend_built(built_from([loss] + hv_nodes, feeds), "numpy", {})


@pytest.mark.parametrize("same", [False, True], ids=["x0-cancels", "sum-cancels"])
def test_single_pass_keeps_the_source_of_a_run_time_size(same):
    """Passes run alone (PASSES[name][1]) dropped the only placeholder binding a run-time
    size the gradient still reshapes to: ``-((p + x0) - x0)`` (sympy) and
    ``-((x0 + p) - (x0 + p))`` (stabilize), x0 of shape (None,) unified with 2."""
    from graphc.passes.pipeline import PASSES
    x0 = gc.placeholder("x0", (None,), np.float64)
    p = gc.parameter("p", rand(1, (1, 2)))
    s = x0 + p
    y = -(s - s) if same else -((p + x0) - x0)
    cot = gc.placeholder("cot", (1, 2), np.float64)
    loss = gc.sum(y * cot)
    outs = [y, loss, gc.grad(loss, x0)]
    feeds = {"x0": rand(2, (2,)), "cot": rand(3, (1, 2))}
    ref = gc.evaluate(outs, feeds)
    for name, (_, runner) in PASSES.items():
        new = runner(list(outs), {name})
        names = {n.name for n in gc.topo_order(new) if n.op == "placeholder"}
        got = gc.evaluate(new, {k: v for k, v in feeds.items() if k in names})
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12, err_msg=name)


def test_softplus_second_derivative_at_zero():
    """softplus was max(x, 0) + log1p(exp(-|x|)): its symbolic second derivative at
    exactly 0 came out 0 (sign(0) = 0) instead of sigmoid'(0) = 1/4, so Newton's
    method diverged from w = 0. Checked against finite differences of the gradient."""
    x = gc.placeholder("x", (3,), np.float64)
    g = gc.grad(gc.sum(gc.softplus(x)), x)
    h = gc.grad(gc.sum(g), x)
    at = np.array([0.0, -1.5, 2.0])
    eps = 1e-6
    fd = (gc.evaluate(g, {"x": at + eps}) - gc.evaluate(g, {"x": at - eps})) / (2 * eps)
    np.testing.assert_allclose(gc.evaluate(h, {"x": at}), fd, rtol=1e-6)
    for backend, options in BACKENDS:
        np.testing.assert_allclose(gc.compile(h, backend=backend, **options)(at), fd, rtol=1e-6)


@each_backend
def test_constant_index_term_in_a_second_order_graph(backend, options):
    """Fuzz (second order, C and CUDA): a kernel reading a slice through a constant index
    term (axis None) made axis collapsing compare None with an int (TypeError while
    lowering the hvp of sum(one_hot(l) * p, -1) - x)[::2, 0])."""
    from strategies import Data, Leaf, Recipe, Ref, Step
    from test_fuzz_differential import check_hvp_backend
    recipe = Recipe(items=[
        Leaf(kind="placeholder", name="x0", dims=(1, 1),
             data=Data(seed=12345, shape=(1, 1), low=-2.0, high=2.0, integer=False),
             int_dtype=False),
        Step(fn="neg", args=(Ref(index=0),), kwargs=()),
        Leaf(kind="placeholder", name="x1", dims=(1, 1),
             data=Data(seed=1_406_932_606, shape=(1, 1), low=0, high=2, integer=True),
             int_dtype=True),
        Step(fn="one_hot", args=(Ref(index=2), 2, "$dtype"), kwargs=()),
        Leaf(kind="parameter", name="p2", dims=(2,),
             data=Data(seed=654583775, shape=(2,), low=-2.0, high=2.0, integer=False),
             int_dtype=False),
        Step(fn="mul", args=(Ref(index=3), Ref(index=4)), kwargs=()),
        Step(fn="sum", args=(Ref(index=5), -1, False), kwargs=()),
        Step(fn="add", args=(Ref(index=6), Ref(index=1)), kwargs=()),
        Step(fn="[]", args=(Ref(index=7), (slice(None, None, 2), 0)), kwargs=())],
        outputs=[8])
    check_hvp_backend(recipe, backend, options)
