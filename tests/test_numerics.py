"""check_numerics=True: the first NaN/Inf node is named with its expression and file:line,
on every available backend, and the failing call changes no parameter."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphc as gc
from graphc.numerics import first_nonfinite

from helpers_backends import each_backend


def here() -> str:
    """test_numerics.py:<line of the caller>: where the caller built a node."""
    return f"test_numerics.py:{inspect.currentframe().f_back.f_lineno}"


def _compile(outputs, backend, options, **kw):
    return gc.compile(outputs, backend=backend, check_numerics=True, **options, **kw)


@each_backend
def test_log_of_negative_names_log_and_line(backend, options):
    x = gc.placeholder("x", (None,))
    w = gc.parameter("w", [1.0, 2.0, 3.0])
    bad = gc.log(x - 1.0); line = here()  # noqa: E702  (the line the node is created on)
    loss = gc.sum(bad * w)
    step = _compile(loss, backend, options, updates={w: w - 0.1 * gc.grad(loss, w)})
    before = w.value.copy()
    with pytest.raises(gc.NumericsError) as info:
        step(np.array([2.0, 0.5, 3.0], np.float32))
    e = info.value
    assert e.op == "log" and e.kind == "NaN"
    assert e.location == line and line in str(e)
    assert "log(x - 1" in str(e)              # the expression
    assert "index (1,)" in str(e)             # where the first NaN is
    np.testing.assert_array_equal(w.value, before)  # no update applied
    step(np.array([2.0, 1.5, 3.0], np.float32))     # a finite call still trains
    assert not np.array_equal(w.value, before)


@each_backend
def test_overflow_is_inf_from_exp(backend, options):
    x = gc.placeholder("x", (2,))
    y = gc.exp(x * 100.0); line = here()  # noqa: E702
    f = _compile([gc.tanh(y), y], backend, options)
    with pytest.raises(gc.NumericsError) as info:
        f(np.array([1.0, 0.5], np.float32))
    assert info.value.op == "exp" and info.value.kind == "Inf" and info.value.location == line


@each_backend
def test_first_node_is_reported_not_its_users(backend, options):
    x = gc.placeholder("x", (3,), "float64")
    first = gc.sqrt(x); line = here()  # noqa: E702
    later = gc.log(first) * gc.exp(first)
    f = _compile(gc.sum(later), backend, options)
    with pytest.raises(gc.NumericsError) as info:
        f(np.array([1.0, -1.0, 4.0]))
    assert info.value.op == "sqrt" and info.value.location == line


@each_backend
def test_zero_over_zero(backend, options):
    x = gc.placeholder("x", (2,), "float64")
    y = gc.placeholder("y", (2,), "float64")
    q = x / y; line = here()  # noqa: E702
    f = _compile(q + 1.0, backend, options)
    with pytest.raises(gc.NumericsError) as info:
        f(np.array([0.0, 1.0]), np.array([0.0, 2.0]))
    assert info.value.op == "div" and info.value.kind == "NaN" and info.value.location == line
    np.testing.assert_allclose(f(np.array([1.0, 1.0]), np.array([4.0, 2.0])), [1.25, 1.5])


@each_backend
def test_nan_feed_names_the_input(backend, options):
    x = gc.placeholder("batch_x", (None, 2))
    f = _compile(gc.sum(x * 2.0), backend, options)
    with pytest.raises(gc.NumericsError) as info:
        f(np.array([[1.0, np.nan]], np.float32))
    assert "'batch_x'" in str(info.value) and info.value.op == "placeholder"


@each_backend
def test_nan_parameter_names_the_parameter(backend, options):
    p = gc.parameter("weights", [1.0, np.nan])
    x = gc.placeholder("x", (2,))
    f = _compile(x @ p, backend, options)
    with pytest.raises(gc.NumericsError) as info:
        f(np.ones(2, np.float32))
    assert "'weights'" in str(info.value) and info.value.op == "parameter"


@each_backend
def test_update_only_nan_blocks_every_update(backend, options):
    """An output can be finite while a new parameter value is not: nothing is committed."""
    a = gc.parameter("a", [1.0, 4.0])
    b = gc.parameter("b", [2.0, 3.0])
    x = gc.placeholder("x", (2,))
    f = _compile(gc.sum(a * x), backend, options,
                 updates={a: a + 1.0, b: gc.log(b - x)})
    before = a.value.copy(), b.value.copy()
    with pytest.raises(gc.NumericsError) as info:
        f(np.array([3.0, 1.0], np.float32))
    assert info.value.op == "log"
    np.testing.assert_array_equal(a.value, before[0])
    np.testing.assert_array_equal(b.value, before[1])


@each_backend
def test_without_the_guard_nan_passes_through(backend, options):
    x = gc.placeholder("x", (2,))
    f = gc.compile(gc.log(x), backend=backend, **options)
    out = f(np.array([-1.0, 1.0], np.float32))
    assert np.isnan(out[0]) and out[1] == 0.0


@each_backend
def test_guard_agrees_with_the_interpreter_node_by_node(backend, options):
    """Oracle: evaluating every node alone with gc.evaluate finds the same first node."""
    rng = np.random.default_rng(3)
    x = gc.placeholder("x", (5,), "float64")
    nodes = [x]
    h = x
    for k in range(12):
        h = [gc.sin, gc.exp, gc.tanh, lambda t: gc.log(t + 0.5), gc.sqrt][k % 5](h) * 1.5
        nodes.append(h)
    feed = rng.uniform(-2, 2, 5)
    order = gc.topo_order([h])
    values = gc.evaluate(order, {"x": feed})
    expect = next((n for n, v in zip(order, values) if not np.all(np.isfinite(v))), None)
    found = first_nonfinite([h], {id(x): feed}, {})
    assert (found.node if found else None) is expect
    f = _compile(h, backend, options)
    if expect is None:
        f(feed)
    else:
        with pytest.raises(gc.NumericsError) as info:
            f(feed)
        assert info.value.location == expect.location


def test_deep_graph_no_recursion():
    backend, options = "numpy", {}  # the guard is backend-agnostic: one backend is enough
    x = gc.placeholder("x", (2,), "float64")
    h = x
    for _ in range(10_000):
        h = h * 1.0001
    y = gc.log(h - 1e9)
    f = _compile(y, backend, options)
    with pytest.raises(gc.NumericsError) as info:
        f(np.array([1.0, 2.0]))
    assert info.value.op == "log"
