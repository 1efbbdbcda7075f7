"""The bad-input catalogue at compile and call time: every misuse raises a graphc error
from graphc's own code. (Graph-building errors: tests/test_errors_build.py.)

Each case checks (tests/helpers_errors.py ``check_raise``) that
  * the exception is the documented ``graphc.errors.GraphcError`` subclass;
  * it is raised by graphc's own Python (the traceback's last frame is a file of the
    installed ``graphc`` package), never from inside NumPy, a compiler or generated code;
  * the message names the placeholder / op / parameter and the shapes or dtypes involved;
  * parameters are unchanged after any failed call.
Call-time cases run against the interpreter (``gc.evaluate``) and every available
backend's compiled ``Function``.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess

import numpy as np
import pytest

import graphc as gc
from graphc.errors import (CompileError, DTypeError, EvalError, FeedError, GraphcError,
                           ShapeError)

from graphc.ir import format_shape

from helpers_backends import BACKEND_IDS, BACKENDS, each_backend, needs_c_and_make, needs_cxx
from helpers_errors import check_raise

HERE = os.path.basename(__file__)

X23 = gc.placeholder("x23", (2, 3))
X4 = gc.placeholder("x4", (4,))


# ---- compile-time errors (32-38) ----------------------------------------------------------------

def test_32_unknown_backend():
    check_raise(lambda: gc.compile(X4 * 2, backend="fortran"), GraphcError, "fortran", "numpy")


def test_33_unknown_compile_option():
    check_raise(lambda: gc.compile(X4 * 2, no_such_option=1), GraphcError, "no_such_option",
                "numpy")
    # an option of another backend is an error too, not silently ignored
    check_raise(lambda: gc.compile(X4 * 2, backend="c", device="emulate"), GraphcError,
                "'device'", "'c'")


def test_34_update_of_a_non_parameter():
    check_raise(lambda: gc.compile(X4 * 2, updates={X4: X4 + 1}), GraphcError, "'x4'",
                "placeholder")


def test_35_update_with_wrong_shape():
    p = gc.parameter("p_upd", [1.0, 2.0])
    check_raise(lambda: gc.compile(p * 2, updates={p: gc.sum(p) + X23}), ShapeError,
                "'p_upd'", "(2,)", "(2, 3)")


def test_36_output_not_a_tensor():
    check_raise(lambda: gc.compile([X4 * 2, 3.0]), CompileError, "float")


def test_37_duplicate_input_names():
    """Two inputs named 'dup': keyword feeding is ambiguous (it fed both one array, silently);
    by position they work."""
    a, b = gc.placeholder("dup", (2,)), gc.placeholder("dup", (2,))
    one, two = np.array([1.0, 2.0], np.float32), np.array([5.0, 7.0], np.float32)
    check_raise(lambda: gc.evaluate(a - b, {"dup": one}), FeedError, "'dup'", HERE)
    for backend, options in BACKENDS:
        f = gc.compile(a - b, backend=backend, **options)
        check_raise(lambda: f(dup=one), FeedError, "'dup'", "ambiguous", HERE)
        np.testing.assert_array_equal(f(one, two), one - two)


def test_38_inputs_listing_a_non_placeholder():
    p = gc.parameter("p_in", [1.0])
    check_raise(lambda: gc.compile(p * 2, inputs=[p]), CompileError, "p_in")


# ---- call-time errors (39-52), interpreter and every backend ------------------------------------

RUNNERS = ["evaluate"] + [f"compile:{i}" for i in BACKEND_IDS]


class Call:
    """One graph (x: (None, 3), labels: int (None,), a parameter with an update) run either by
    gc.evaluate or by a compiled Function; checks that the parameter never changes."""

    def __init__(self, runner: str):
        self.x = gc.placeholder("x", (None, 3))
        self.lab = gc.placeholder("labels", (None,), "int64")
        self.w = gc.parameter("w", np.ones((3, 2), np.float32))
        self.out = gc.sum((self.x @ self.w) * gc.cast(gc.reshape(self.lab, (-1, 1)), "float32"))
        self.runner = runner
        if runner != "evaluate":
            backend, options = BACKENDS[BACKEND_IDS.index(runner.split(":", 1)[1])]
            self.f = gc.compile(self.out, backend=backend, **options,
                                updates={self.w: self.w - 0.1 * gc.grad(self.out, self.w)})
        self.before = self.w.value.copy()

    def __call__(self, **feeds):
        if self.runner == "evaluate":
            return gc.evaluate(self.out, {k: v for k, v in feeds.items()})
        return self.f(**feeds)

    def good(self):
        return {"x": np.ones((4, 3), np.float32), "labels": np.arange(4)}

    def expect(self, exc_type, *must, **feeds):
        check_raise(lambda: self(**feeds), exc_type, *must)
        np.testing.assert_array_equal(self.w.value, self.before)


@pytest.fixture(params=RUNNERS)
def call(request):
    return Call(request.param)


def test_39_feed_wrong_shape(call):
    call.expect(FeedError, "'x'", "(None, 3)", "(4, 2)", x=np.ones((4, 2), np.float32),
                labels=np.arange(4))


def test_40_feed_wrong_rank(call):
    call.expect(FeedError, "'x'", "(None, 3)", "(3,)", x=np.ones(3, np.float32),
                labels=np.arange(4))


def test_41_float_feed_for_integer_input(call):
    call.expect(FeedError, "'labels'", "int64", "float64", x=np.ones((4, 3), np.float32),
                labels=np.arange(4.0))


def test_42_string_feed(call):
    call.expect(FeedError, "'x'", x=np.array([["a", "b", "c"]]), labels=np.arange(1))


def test_43_object_feed(call):
    call.expect(FeedError, "'x'", x=np.array([[object()] * 3], dtype=object),
                labels=np.arange(1))


def test_44_ragged_list_feed(call):
    call.expect(FeedError, "'x'", x=[[1.0, 2.0, 3.0], [1.0]], labels=np.arange(2))


def test_45_missing_feed(call):
    call.expect(FeedError, "'labels'", "(None,)", x=np.ones((4, 3), np.float32))


def test_46_unknown_feed(call):
    call.expect(FeedError, "'y'", y=1.0, **call.good())


def test_47_inconsistent_run_time_sizes(call):
    # x's None dim and labels' None dim meet in the product: 4 rows vs 5 labels. A compiled
    # function checks this before running (FeedError); the interpreter, which has no such
    # plan, reports the node that cannot combine them (EvalError, with both shapes)
    exc = EvalError if call.runner == "evaluate" else FeedError
    call.expect(exc, "4", "5", x=np.ones((4, 3), np.float32), labels=np.arange(5))


def test_48_good_call_after_failures_trains(call):
    """A failed call leaves the function usable; a good one applies the update."""
    call.expect(FeedError, "'x'", x=np.ones((4, 2), np.float32), labels=np.arange(4))
    call(**call.good())
    if call.runner != "evaluate":
        assert not np.array_equal(call.w.value, call.before)
    call.w.value = call.before


def test_49_feed_of_complex_numbers(call):
    call.expect(FeedError, "'x'", "complex", x=np.ones((2, 3), np.complex64), labels=np.arange(2))


def test_50_run_time_dim_against_known_size():
    """x: (None,) fed with 3 elements combined with a known (2,) parameter."""
    x = gc.placeholder("xr", (None,))
    p = gc.parameter("p2", [1.0, 2.0])
    for runner in ["evaluate"] + BACKEND_IDS:
        if runner == "evaluate":
            fn = lambda: gc.evaluate(x + p, {"xr": np.ones(3, np.float32)})  # noqa: E731
        else:
            backend, options = BACKENDS[BACKEND_IDS.index(runner)]
            f = gc.compile(x + p, backend=backend, **options)
            fn = lambda: f(np.ones(3, np.float32))  # noqa: E731
        check_raise(fn, GraphcError, "3", "2")


def test_51_feed_key_that_is_a_parameter():
    p = gc.parameter("pk", [1.0])
    check_raise(lambda: gc.evaluate(p * 2, {p: [2.0]}), FeedError, "parameter")
    np.testing.assert_array_equal(p.value, [1.0])


def test_31_grad_seed_with_non_finite_values():
    """A NaN seed is legal data (no error at build time) but check_numerics names it."""
    p = gc.parameter("p_seed", [1.0, 2.0])
    g = gc.grad(p * 3.0, p, seed=gc.constant([np.nan, 1.0]))
    f = gc.compile(g, check_numerics=True)
    err = check_raise(f, gc.NumericsError, "constant")
    assert HERE in str(err)


def test_52_too_many_positional_inputs():
    f = gc.compile(X4 * 2)
    check_raise(lambda: f(np.ones(4, np.float32), np.ones(4, np.float32)), FeedError, "x4")


def test_53_setting_a_parameter_value_of_wrong_shape():
    p = gc.parameter("pv", [1.0, 2.0])
    check_raise(lambda: setattr(p, "value", [1.0, 2.0, 3.0]), ShapeError, "'pv'", "(2,)",
                "(3,)")
    np.testing.assert_array_equal(p.value, [1.0, 2.0])


@each_backend
def test_54_run_time_size_no_input_provides(backend, options):
    """The gradient of sum(x) over a run-time dim reads no x: no call could know the size.
    (Found by fuzzing: C/CUDA compiled it and every call raised a bare KeyError.)"""
    x = gc.placeholder("xs", ("n", 3), "float64")
    g = gc.grad(gc.sum(x), x)
    check_raise(lambda: gc.compile(g, backend=backend, **options), CompileError, "n",
                "broadcast_to", HERE)
    f = gc.compile(g, inputs=[x], backend=backend, **options)  # the way out the message names
    np.testing.assert_array_equal(f(np.zeros((2, 3))), np.ones((2, 3)))


def test_55_evaluate_a_run_time_size_no_placeholder_provides():
    """The interpreter's version of case 54 (it raised a bare KeyError from ir.py)."""
    x = gc.placeholder("xe", ("n", 3), "float64")
    g = gc.grad(gc.sum(x), x)
    check_raise(lambda: gc.evaluate(g, {}), FeedError, "broadcast_to", "n", HERE)
    s, gx = gc.evaluate([gc.sum(x), g], {"xe": np.zeros((2, 3))})  # together: x binds n
    np.testing.assert_array_equal(gx, np.ones((2, 3)))


# ---- update normalization and inputs= (56-61) ---------------------------------------------------

def test_56_updates_as_a_list_of_pairs_train_like_a_dict():
    x = gc.placeholder("x_pairs", (2,))
    w = gc.parameter("w_pairs", [1.0, 2.0])
    f = gc.compile(gc.sum(w * x), updates=[(w, w - 0.5 * x)])
    f(np.array([2.0, 4.0], np.float32))
    np.testing.assert_array_equal(w.value, [0.0, 0.0])


@pytest.mark.parametrize("updates, fragment", [
    (lambda w: [w], "list of (parameter, new_value) pairs"),
    (lambda w: [(w, w, w)], "list of (parameter, new_value) pairs"),
    (lambda w: 5, "got int"),
])
def test_57_updates_that_are_not_pairs(updates, fragment):
    w = gc.parameter("w_np", [1.0])
    check_raise(lambda: gc.compile(w * 2, updates=updates(w)), CompileError, fragment)


def test_58_parameter_updated_twice():
    w = gc.parameter("w_twice", [1.0])
    check_raise(lambda: gc.compile(w * 2, updates=[(w, w + 1), (w, w - 1)]), CompileError,
                "'w_twice'", "twice")


def test_59_update_of_a_lossy_dtype():
    """A float new value for an integer parameter would truncate at every step (it did,
    silently): refused, naming the parameter and both dtypes. Widening is allowed."""
    k = gc.parameter("k_int", np.array([1, 2], np.int32))
    flag = gc.parameter("flag", np.array([True]))
    w = gc.parameter("w_f32", [1.0, 2.0])
    check_raise(lambda: gc.compile(k * 1, updates={k: k * 1.5}), DTypeError, "'k_int'",
                "float32", "int32")
    check_raise(lambda: gc.compile(flag * 1, updates={flag: gc.cast(flag, "int32") + 1}),
                DTypeError, "'flag'", "int32", "bool")
    f = gc.compile(w * 1, updates={w: gc.cast(w, "int32") + 1})  # int into float: exact
    f()
    np.testing.assert_array_equal(w.value, [2.0, 3.0])
    assert w.value.dtype == np.float32


def test_60_update_of_a_value_that_is_not_data():
    w = gc.parameter("w_str", [1.0])
    check_raise(lambda: gc.compile(w * 2, updates={w: "abc"}), DTypeError, "constant")


def test_61_input_listed_twice():
    x = gc.placeholder("x_dup_in", (2,))
    y = gc.placeholder("y_dup_in", (2,))
    check_raise(lambda: gc.compile(x + y, inputs=[x, y, x]), CompileError, "'x_dup_in'",
                "twice")


# ---- exported artefacts and native run-time errors (62-63) -------------------------------------

@needs_c_and_make
def test_62_exported_c_loader_checks_its_feeds(tmp_path):
    """The exported C folder's ctypes loader (no graphc) refuses bad feeds by name."""
    x = gc.placeholder("x", (None, 3))
    lab = gc.placeholder("labels", (None,), "int32")
    w = gc.parameter("w_export", np.ones((3, 2), np.float32))
    out = gc.sum((x @ w) * gc.cast(gc.reshape(lab, (-1, 1)), "float32"))
    f = gc.compile(out, inputs=[x, lab], backend="c")
    f.export(str(tmp_path), name="feedcheck")
    subprocess.run(["make", "-s"], cwd=tmp_path, check=True, capture_output=True, timeout=300)
    spec = importlib.util.spec_from_file_location("feedcheck_loader",
                                                  tmp_path / "feedcheck_loader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    step = module.load()
    xs, labels = np.ones((4, 3), np.float32), np.arange(4, dtype=np.int32)
    assert float(step(xs, labels)) == float(f(xs, labels)) == 36.0
    for bad, error, pattern in [
        ((np.ones((4, 2), np.float32), labels), ValueError, "'x'.*expected size 3, got 2"),
        ((np.ones(3, np.float32), labels), ValueError, "'x'.*expected rank 2.*\\(3,\\)"),
        ((xs, np.arange(5, dtype=np.int32)), ValueError, "'labels'.*size 5 conflicts"),
        ((xs,), TypeError, "expected 2 inputs.*'x'.*'labels'"),
    ]:
        with pytest.raises(error, match=pattern):
            step(*bad)
    with pytest.raises(TypeError, match="unknown input 'y'"):
        step(xs, labels, y=xs)


@needs_cxx
def test_63_cuda_runtime_error_under_emulation():
    """A device allocation that cannot succeed (a 2**48-element temporary: more than any
    address space) is a GraphcError naming the function and the failed call; the parameter
    is unchanged and the function still runs."""
    x = gc.placeholder("xcol", (None, 1))
    y = gc.placeholder("yrow", (1, None))
    w = gc.parameter("w_oom", [1.0])
    f = gc.compile(gc.max(gc.tanh(x @ y)) * w, updates={w: w * 2.0}, backend="cuda",
                   device="emulate", name="outer_max")
    n = 1 << 24
    huge = np.ones((n, 1), np.float32)
    check_raise(lambda: f(huge, huge.T), GraphcError, "CUDA error", "'outer_max'",
                "out of memory")
    np.testing.assert_array_equal(w.value, [1.0])
    small = np.full((2, 1), 0.5, np.float32)
    np.testing.assert_allclose(f(small, small.T), [np.tanh(0.25)], rtol=1e-6)
    np.testing.assert_array_equal(w.value, [2.0])


# ---- found by a new user (issue 20: 64-67) -------------------------------------------------------

def _loss_runner(runner: str, loss, w, fixed: dict, varied):
    """``run(value)``: ``loss`` with ``fixed`` feeds and ``varied`` fed ``value``, by
    gc.evaluate or by a Function of the runner's backend that also takes an SGD step on
    ``w`` (so a failed call can be seen to leave it unchanged)."""
    if runner == "evaluate":
        return lambda value: gc.evaluate(loss, {**fixed, varied: value})
    backend, options = BACKENDS[BACKEND_IDS.index(runner.split(":", 1)[1])]
    f = gc.compile(loss, updates={w: w - 0.1 * gc.grad(loss, w)}, backend=backend, **options)
    names = {p.name: v for p, v in fixed.items()}
    return lambda value: f(**names, **{varied.name: value})


@pytest.mark.parametrize("runner", RUNNERS)
def test_64_cross_entropy_labels_outside_the_classes(runner):
    """Labels outside [0, classes) gave a finite, wrong loss (one_hot of 3 is a row of zeros).
    Checked on the host before any backend runs: the same error on every backend."""
    x = gc.placeholder("x_ce", (None, 2))
    labels = gc.placeholder("labels_ce", (None,), "int32")
    w = gc.parameter("w_ce", np.ones((2, 3), np.float32))
    loss = gc.cross_entropy(x @ w, labels)
    xs = np.ones((3, 2), np.float32)
    run = _loss_runner(runner, loss, w, {x: xs}, labels)
    for bad, value, index in [([0, 3, 1], "3", "(1,)"), ([0, 1, -1], "-1", "(2,)")]:
        err = check_raise(lambda: run(np.array(bad, np.int32)), FeedError, "'labels_ce'",
                          "[0, 3)", f"holds {value} at index {index}", "(None, 3)", HERE)
        assert "cross_entropy" in str(err)
        np.testing.assert_array_equal(w.value, np.ones((2, 3), np.float32))
    assert np.isfinite(run(np.array([0, 2, 1], np.int32)))


@pytest.mark.parametrize("runner", RUNNERS)
def test_65_cross_entropy_labels_computed_in_the_graph(runner):
    """Labels computed inside the graph (here raw + 2) are checked where they are computed,
    on every backend: the interpreter and NumPy name the value and its index, C and CUDA
    (a check inside the kernel; CUDA: a device-side flag) the value; nothing committed."""
    logits = gc.placeholder("logits_cc", (None, 3))
    raw = gc.placeholder("raw_cc", (None,), "int32")
    w = gc.parameter("w_cc", np.ones((3, 3), np.float32))
    loss = gc.cross_entropy(logits @ w, raw + 2)
    zeros = np.zeros((2, 3), np.float32)
    run = _loss_runner(runner, loss, w, {logits: zeros}, raw)
    for bad, value in [([0, 1], "3"), ([-3, 0], "-1")]:
        err = check_raise(lambda: run(np.array(bad, np.int32)), EvalError, "[0, 3)",
                          f"holds {value}", "the add created at", "(None, 3)", HERE)
        assert "cross_entropy" in str(err)
        if runner in ("evaluate", "compile:numpy"):
            assert "at index (" in str(err)
        np.testing.assert_array_equal(w.value, np.ones((3, 3), np.float32))
    assert np.isfinite(run(np.array([0, -2], np.int32)))


@pytest.mark.parametrize("value", [lambda w: gc.sum(w), lambda w: gc.constant([1.0, 2.0]),
                                   lambda w: gc.reshape(w, (3, 1))])
def test_66_update_value_of_another_shape_is_not_broadcast(value):
    """A scalar (or any other shape) into a (3,) parameter was silently broadcast."""
    w = gc.parameter("w_shape", [1.0, 2.0, 3.0])
    v = value(w)
    check_raise(lambda: gc.compile(w * 2, updates={w: v}), ShapeError, "'w_shape'",
                format_shape(v.dims), "(3,)", "broadcast_to")
    np.testing.assert_array_equal(w.value, [1.0, 2.0, 3.0])
    f = gc.compile(None, updates={w: 0.0})  # a plain number fills the parameter, as documented
    f()
    np.testing.assert_array_equal(w.value, [0.0, 0.0, 0.0])


def test_67_two_parameters_with_one_name_in_a_function():
    """They collided in saved parameter files and exports."""
    a = gc.parameter("twin", [1.0])
    b = gc.parameter("twin", [2.0, 3.0])
    err = check_raise(lambda: gc.compile(gc.sum(a) + gc.sum(b), updates={a: a + 1}),
                      CompileError, "'twin'", "(1,)", "(2,)")
    assert str(err).count(HERE) == 2
    np.testing.assert_array_equal(a.value, [1.0])
    np.testing.assert_allclose(gc.compile(gc.sum(a))(), 1.0)  # one of them alone is fine
