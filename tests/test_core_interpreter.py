"""The reference interpreter's contract: feeds by tensor or name, run-time dims bound per
call, and call-time errors that name the placeholder and the expected/given shapes."""
import numpy as np
import pytest

import graphc as gc


def test_feeds_by_tensor_or_name_single_or_list():
    x = gc.placeholder("x", (None,))
    y = x * 2
    np.testing.assert_array_equal(gc.evaluate(y, {x: [1.0, 2.0]}), [2.0, 4.0])
    np.testing.assert_array_equal(gc.evaluate(y, {"x": [3.0]}), [6.0])
    a, b = gc.evaluate([y, x + 1], {"x": np.arange(3)})
    np.testing.assert_array_equal(a, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(b, [1.0, 2.0, 3.0])
    assert a.dtype == np.float32  # int data fed to a float32 placeholder is converted


def test_no_placeholders_needs_no_feeds():
    a = gc.parameter("a", [2.0, 4.0])
    np.testing.assert_array_equal(gc.evaluate(3 * a**3), 3 * np.array([2.0, 4.0]) ** 3)
    assert gc.evaluate(gc.constant(2.0) * 3).shape == ()


def test_feed_errors_name_placeholder_and_shapes():
    x = gc.placeholder("x", (None, 3))
    with pytest.raises(gc.FeedError, match=r"missing feed for placeholder 'x' \(shape \(None, 3\)"):
        gc.evaluate(x * 2, {})
    with pytest.raises(gc.FeedError, match=r"'x'.*\(None, 3\).*\(2, 4\)"):
        gc.evaluate(x * 2, {x: np.ones((2, 4))})
    with pytest.raises(gc.FeedError, match=r"'x'.*rank 2.*\(3,\)"):
        gc.evaluate(x * 2, {x: np.ones(3)})
    with pytest.raises(gc.FeedError, match=r"unknown feed name.*'y'"):
        gc.evaluate(x * 2, {x: np.ones((1, 3)), "y": 1.0})
    with pytest.raises(gc.FeedError, match="ragged"):
        gc.evaluate(x * 2, {x: [[1.0, 2.0, 3.0], [1.0]]})
    with pytest.raises(gc.FeedError, match="float"):
        gc.evaluate(gc.placeholder("i", (2,), "int32") + 1, {"i": [1.5, 2.0]})
    with pytest.raises(gc.FeedError, match="placeholders"):
        gc.evaluate(x * 2, {x * 2: np.ones((1, 3))})


def test_run_time_dims_must_agree_within_a_call():
    x = gc.placeholder("x", ("batch", 3))
    y = gc.placeholder("y", ("batch",))
    out = x.sum(1) + y
    np.testing.assert_array_equal(gc.evaluate(out, {x: np.ones((2, 3)), y: [1.0, 2.0]}),
                                  [4.0, 5.0])
    with pytest.raises(gc.FeedError, match=r"'y'.*size 3.*batch.*2"):
        gc.evaluate(out, {x: np.ones((2, 3)), y: np.ones(3)})


def test_ambiguous_names_must_be_fed_by_tensor():
    x1, x2 = gc.placeholder("x", (2,)), gc.placeholder("x", (2,))
    with pytest.raises(gc.FeedError, match="ambiguous"):
        gc.evaluate(x1 - x2, {"x": np.ones(2)})
    got = gc.evaluate(x1 - x2, {x1: [3.0, 3.0], x2: [1.0, 2.0]})
    np.testing.assert_array_equal(got, [2.0, 1.0])


def test_mean_over_run_time_dim_uses_the_fed_size(rng):
    x = gc.placeholder("x", (None, 2), "float64")
    m = x.mean(0)
    for n in (1, 5):
        xv = rng.normal(size=(n, 2))
        np.testing.assert_allclose(gc.evaluate(m, {x: xv}), xv.mean(0), rtol=1e-14)


def test_outputs_must_be_tensors():
    with pytest.raises(gc.FeedError, match="int"):
        gc.evaluate([gc.constant(1.0), 3])


def test_run_time_failures_name_the_node_not_numpy():
    x = gc.placeholder("x", (None, 3))
    m = x.max(0)
    with pytest.raises(gc.errors.EvalError, match=r"max \(created at test_core_interpreter.py:\d+\)"
                                                  r".*\(0, 3\)"):
        gc.evaluate(m, {x: np.ones((0, 3))})
    i = gc.placeholder("i", (2,), "int64")
    with pytest.raises(gc.GraphcError, match="pow"):
        gc.evaluate(2 ** i, {i: [1, -1]})
