"""Graph-building errors (shapes, dtypes, data, misuse of tensors, gradients): each is a
GraphcError subclass raised by graphc's own code, naming the op, the shapes and the
user's file:line (this file's name and the line of the failing call).

Every case is one line: ``fails(Exc, lambda: <the mistake>, *texts)`` (tests/
helpers_errors.py) checks the type, the origin, that the message names this file and that
line, and that it contains ``texts``. Compile- and call-time errors: test_bad_inputs.py.
"""
import os

import numpy as np
import pytest

import graphc as gc
from graphc.errors import UsageError

from helpers_errors import fails

HERE = os.path.basename(__file__)


@pytest.fixture
def t():
    """A few tensors of known shapes."""
    class T:
        a = gc.placeholder("a", (2, 3))
        b = gc.placeholder("b", (4,))
        m = gc.placeholder("m", (3, 4))
        n = gc.placeholder("n", (5, 6))
        batch = gc.placeholder("batch3", (2, 3, 4))
        i = gc.placeholder("i", (3,), "int32")
        x = gc.placeholder("x", (None, 784))
    return T


def test_add_shape_mismatch(t):
    fails(gc.ShapeError, lambda: t.a + t.b, "add", "(2, 3)", "(4,)")
    fails(gc.ShapeError, lambda: gc.add(t.b, t.a), "add", "(4,)", "(2, 3)")
    fails(gc.ShapeError, lambda: t.a * [1.0, 2.0], "mul", "(2, 3)", "(2,)")
    fails(gc.ShapeError, lambda: np.ones(4) - t.a, "sub", "(4,)", "(2, 3)")
    fails(gc.ShapeError, lambda: gc.maximum(t.a, t.m), "maximum", "(2, 3)", "(3, 4)")
    fails(gc.ShapeError, lambda: t.a < t.b, "less", "(2, 3)", "(4,)")


def test_matmul_shape_mismatch(t):
    fails(gc.ShapeError, lambda: t.a @ t.n, "matmul", "(2, 3)", "(5, 6)")
    fails(gc.ShapeError, lambda: t.b @ t.a, "matmul", "(4,)", "(2, 3)")
    fails(gc.ShapeError, lambda: t.a @ t.b, "matmul", "(2, 3)", "(4,)")
    fails(gc.ShapeError, lambda: t.x @ t.m, "matmul", "(None, 784)", "(3, 4)")
    fails(gc.ShapeError, lambda: gc.matmul(t.a, 2.0), "matmul", "(2, 3)", "()")
    fails(gc.ShapeError, lambda: gc.matmul(gc.placeholder("s", ()), t.a), "matmul", "()",
          "(2, 3)")
    fails(gc.ShapeError, lambda: t.batch @ gc.placeholder("q", (3, 4, 5)), "matmul",
          "(2, 3, 4)", "(3, 4, 5)")


def test_where_shape_mismatch(t):
    fails(gc.ShapeError, lambda: gc.where(t.a > 0, t.a, t.b), "where", "(2, 3)", "(4,)")
    fails(gc.ShapeError, lambda: gc.where(t.b > 0, t.a, 0.0), "where", "(4,)", "(2, 3)")
    fails(gc.DTypeError, lambda: gc.where(t.a, t.a, 0.0), "where", "bool", "float32", "(2, 3)")


def test_bad_axis(t):
    fails(gc.ShapeError, lambda: gc.sum(t.a, 2), "sum", "axis 2", "(2, 3)")
    fails(gc.ShapeError, lambda: t.a.max(axis=-3), "max", "axis -3", "(2, 3)")
    fails(gc.ShapeError, lambda: t.a.mean(axis=(0, 5)), "mean", "axis 5", "(2, 3)")
    fails(gc.ShapeError, lambda: t.a.sum(axis=(0, -2)), "sum", "repeated", "(2, 3)")
    fails(gc.ShapeError, lambda: gc.min(t.b, 1), "axis 1", "(4,)")
    fails(gc.ShapeError, lambda: gc.softmax(t.a, axis=2), "softmax", "(2, 3)")
    fails(gc.ShapeError, lambda: gc.logsumexp(t.b, axis=-2), "logsumexp", "(4,)")
    fails(gc.ShapeError, lambda: t.a.transpose(0, 2), "transpose", "(2, 3)")
    fails(gc.ShapeError, lambda: t.batch.transpose(0, 0, 1), "transpose", "(2, 3, 4)")


def test_bad_reshape(t):
    fails(gc.ShapeError, lambda: t.a.reshape(4, 2), "reshape", "(2, 3)", "(4, 2)")
    fails(gc.ShapeError, lambda: gc.reshape(t.a, (-1, 4)), "reshape", "(2, 3)", "(-1, 4)")
    fails(gc.ShapeError, lambda: t.a.reshape(-1, -1), "reshape", "-1")
    fails(gc.ShapeError, lambda: t.a.reshape(2, 3.0), "reshape", "3.0", "(2, 3)")
    fails(gc.ShapeError, lambda: t.x.reshape(-1, 100), "reshape", "(None, 784)", "(-1, 100)")
    fails(gc.ShapeError, lambda: t.x.reshape(784, 2), "reshape", "(None, 784)", "(784, 2)")


def test_bad_broadcast_to(t):
    fails(gc.ShapeError, lambda: gc.broadcast_to(t.a, (3, 3)), "broadcast_to", "(2, 3)",
          "(3, 3)")
    fails(gc.ShapeError, lambda: gc.broadcast_to(t.a, (3,)), "broadcast_to", "(2, 3)", "(3,)")
    fails(gc.ShapeError, lambda: gc.broadcast_to(t.b, (None, 4)), "broadcast_to", "(4,)")


def test_ragged_parameter_data():
    fails(gc.ShapeError, lambda: gc.parameter("w", [[1.0, 2.0], [3.0]]), "'w'", "ragged",
          "[2, 1]")
    fails(gc.ShapeError, lambda: gc.parameter("w", [[[1, 2]], [[3, 4], [5, 6]]]), "[1, 2]")
    fails(gc.ShapeError, lambda: gc.parameter("w", [[1.0, 2.0], 3.0]), "ragged", "(2,)")
    fails(gc.ShapeError, lambda: gc.constant([[1, 2, 3], [4, 5]]), "constant", "[3, 2]")
    fails(gc.DTypeError, lambda: gc.parameter("w", ["a", "b"]), "'w'")
    fails(gc.DTypeError, lambda: gc.constant(np.array([object()], dtype=object)), "constant")
    fails(gc.ShapeError, lambda: gc.constant([np.ones((2, 3)), np.ones((2, 4))]), "(2, 3)",
          "(2, 4)")
    assert gc.constant([np.float32(1), np.array(2.0)]).shape == (2,)  # 0-d arrays are scalars


def test_tensor_used_as_bool(t):
    def use_in_if():
        if t.a > 0:  # the mistake is here, one line below the def
            pass
    line = use_in_if.__code__.co_firstlineno + 1
    with pytest.raises(UsageError) as info:
        use_in_if()
    assert f"{HERE}:{line}" in str(info.value) and "(2, 3)" in str(info.value)
    fails(UsageError, lambda: bool(t.a), "truth value", "(2, 3)", "gc.where")
    fails(UsageError, lambda: t.a and t.b, "(2, 3)")
    fails(UsageError, lambda: 0 < t.b < 1, "(4,)")
    fails(UsageError, lambda: not t.b, "(4,)")
    assert isinstance(info.value, TypeError)  # what Python code expects from bool()


def test_other_usage_errors(t):
    fails(UsageError, lambda: list(t.a), "iterable", "(2, 3)")
    fails(UsageError, lambda: len(t.x), "len", "(None, 784)")
    fails(UsageError, lambda: t.a + "text", "str")
    fails(gc.GraphcError, lambda: t.b + object(), "object")
    fails(UsageError, lambda: gc.constant(t.a), "constant")
    fails(UsageError, lambda: gc.placeholder(3, (2,)), "placeholder", "name")
    fails(gc.GraphcError, lambda: gc.one_hot(t.i, float("inf")), "one_hot", "depth")


def test_dtype_errors(t):
    fails(gc.DTypeError, lambda: gc.exp(t.i), "exp", "int32", "(3,)")
    fails(gc.DTypeError, lambda: -(t.a > 0), "neg", "bool", "(2, 3)")
    fails(gc.DTypeError, lambda: (t.a > 0) - (t.a < 1), "sub", "bool", "(2, 3)")
    fails(gc.DTypeError, lambda: gc.placeholder("h", (2,), "float16"), "float16")
    fails(gc.DTypeError, lambda: gc.placeholder("z", (2,), "complex64"), "'z'", "complex64")
    fails(gc.DTypeError, lambda: gc.cast(t.a, "complex64"), "complex64")
    fails(gc.DTypeError, lambda: gc.one_hot(t.a, 3), "one_hot", "float32")
    fails(gc.ShapeError, lambda: gc.one_hot(t.i, 2.5), "one_hot", "2.5", "(3,)")
    fails(gc.DTypeError, lambda: gc.one_hot(t.i, 3, "float16"), "one_hot", "float16")
    fails(gc.DTypeError, lambda: gc.constant(2**70), "constant")
    fails(gc.DTypeError, lambda: t.i + 2**40, "1099511627776", "int32")


def test_placeholder_shape_errors():
    fails(gc.ShapeError, lambda: gc.placeholder("p", (2, -1)), "'p'", "-1")
    fails(gc.ShapeError, lambda: gc.placeholder("p", (2.5,)), "'p'", "2.5")


def test_named_dims_conflict():
    x = gc.placeholder("x", ("batch", 3))
    y = gc.placeholder("y", ("rows", 3))
    fails(gc.ShapeError, lambda: x + y, "add", "(batch, 3)", "(rows, 3)")
    fails(gc.ShapeError, lambda: x @ gc.placeholder("w", (4, 2)), "(batch, 3)", "(4, 2)")


def test_cross_entropy_shape_errors(t):
    logits = gc.placeholder("logits", (6, 4))
    fails(gc.ShapeError, lambda: gc.cross_entropy(logits, t.i), "cross_entropy", "(3,)",
          "(6, 4)")
    fails(gc.ShapeError, lambda: gc.cross_entropy(gc.placeholder("z", (6, None)),
                                                  gc.placeholder("y", (6,), "int32")),
          "(6, None)")
    fails(gc.DTypeError, lambda: gc.cross_entropy(logits, gc.placeholder("f", (6,))),
          "one_hot", "float32")


def test_error_inside_a_composite_points_at_the_user():
    """A failing primitive deep inside a composite still names the user's line."""
    x = gc.placeholder("x", (2, 3))
    fails(gc.ShapeError, lambda: gc.clip(x, np.zeros(4), 1.0), "maximum", "(2, 3)", "(4,)")
    fails(gc.ShapeError, lambda: gc.softplus(x) + np.zeros(5), "(2, 3)", "(5,)")


def test_hierarchy():
    for exc in (gc.ShapeError, gc.DTypeError, gc.FeedError, gc.GradError, gc.CompileError,
                gc.NumericsError, gc.UsageError, gc.EvalError):
        assert issubclass(exc, gc.GraphcError)
    assert issubclass(gc.ShapeError, ValueError) and issubclass(gc.DTypeError, TypeError)


def test_tensor_needing_a_concrete_value(t):
    fails(UsageError, lambda: np.asarray(t.a), "NumPy array", "(2, 3)", "gc.evaluate")
    fails(UsageError, lambda: float(t.i), "float()", "(3,)")
    fails(UsageError, lambda: int(t.b), "int()", "(4,)")
    fails(gc.DTypeError, lambda: gc.constant([t.b, t.b]), "constant")


def test_gradient_errors(t):
    labels = gc.placeholder("labels", (5,), "int64")
    fails(gc.GradError, lambda: gc.grad(t.a * 2.0, t.a), "(2, 3)", "seed")
    fails(gc.GradError, lambda: gc.grad(t.a * 2.0, t.a, seed=np.ones(4, np.float32)), "(4,)",
          "(2, 3)")
    fails(gc.GradError, lambda: gc.grad(gc.sum(gc.cast(labels, "float32")), labels),
          "'labels'", "int64")
    fails(gc.GradError, lambda: gc.grad(3.0, t.b), "float")
    fails(gc.GradError, lambda: gc.grad(gc.sum(t.b), [t.b, "b"]), "str")
    fails(gc.GradError, lambda: gc.jvp(t.a * 2.0, t.a, np.ones(4, np.float32)), "(4,)",
          "(2, 3)")
