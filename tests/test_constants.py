"""Array builders (zeros, ones, full, eye, arange, linspace, *_like), matrix views
(diagonal, diag, tril, triu) and run-time sizes passed on through ``x.shape``: values
against NumPy on every backend, gradients against finite differences, clear errors."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from helpers_backends import compile_and_compare, each_backend
from helpers_errors import fails
from op_checks import check_against_numpy


@pytest.mark.parametrize("build,want", [
    (lambda: gc.zeros((2, 3)), np.zeros((2, 3), np.float32)),
    (lambda: gc.ones(4, "int32"), np.ones(4, np.int32)),
    (lambda: gc.full((2,), 2.5, "float64"), np.full((2,), 2.5)),
    (lambda: gc.full((3,), 7), np.full((3,), 7)),
    (lambda: gc.eye(3), np.eye(3, dtype=np.float32)),
    (lambda: gc.eye(2, 4, k=-1, dtype="float64"), np.eye(2, 4, -1)),
    (lambda: gc.arange(5), np.arange(5)),
    (lambda: gc.arange(2, 11, 3, dtype="float64"), np.arange(2, 11, 3, dtype=np.float64)),
    (lambda: gc.arange(0.0, 1.0, 0.25), np.arange(0.0, 1.0, 0.25).astype(np.float32)),
    (lambda: gc.linspace(-1, 1, 5, dtype="float64"), np.linspace(-1, 1, 5)),
    (lambda: gc.linspace(0, 1, 4, endpoint=False), np.linspace(0, 1, 4, False).astype(np.float32)),
    (lambda: gc.zeros_like(gc.constant(np.ones((2, 2), np.float64))), np.zeros((2, 2))),
    (lambda: gc.ones_like(gc.constant([1, 2, 3]), dtype="float32"), np.ones(3, np.float32)),
    (lambda: gc.full_like(gc.constant([1.0, 2.0]), -3), np.full(2, -3, np.float32)),
], ids=["zeros", "ones-int", "full", "full-int", "eye", "eye-k", "arange", "arange-step",
        "arange-float", "linspace", "linspace-open", "zeros_like", "ones_like", "full_like"])
def test_builders_match_numpy(build, want):
    got = gc.evaluate(build())
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


MATRIX = np.arange(1.0, 13.0).reshape(3, 4)


@pytest.mark.parametrize("name,build,reference", [
    ("diagonal", lambda x: gc.diagonal(x), lambda x: np.diagonal(x)),
    ("diagonal+1", lambda x: gc.diagonal(x, 1), lambda x: np.diagonal(x, 1)),
    ("diagonal-2", lambda x: gc.diagonal(x, -2), lambda x: np.diagonal(x, -2)),
    ("diag-2d", lambda x: gc.diag(x, 2), lambda x: np.diag(x, 2)),
    ("tril", lambda x: gc.tril(x), lambda x: np.tril(x)),
    ("tril-1", lambda x: gc.tril(x, -1), lambda x: np.tril(x, -1)),
    ("triu+1", lambda x: gc.triu(x, 1), lambda x: np.triu(x, 1)),
])
def test_matrix_views_values_and_gradients(name, build, reference):
    check_against_numpy(build, reference, [MATRIX.copy()])


@pytest.mark.parametrize("k", [0, 2, -1])
def test_diag_of_a_vector(k):
    check_against_numpy(lambda v: gc.diag(v, k), lambda v: np.diag(v, k), [np.array([1., -2., 3.])])


def test_diagonal_of_a_batch_over_chosen_axes():
    x = np.arange(24.0).reshape(2, 3, 4)
    check_against_numpy(lambda t: gc.diagonal(t, 1, axis1=2, axis2=0),
                        lambda t: np.diagonal(t, 1, axis1=2, axis2=0), [x])


@each_backend
def test_views_and_builders_compile_on_every_backend(backend, options):
    x = gc.placeholder("x", (None, 3, 3), "float64")
    outputs = [gc.tril(x) + gc.eye(3, dtype="float64"), gc.diagonal(x, axis1=1, axis2=2),
               gc.zeros(x.shape, "float64") + gc.arange(3.0, dtype="float64"),
               gc.diag(gc.linspace(0, 1, 3, dtype="float64")) @ x]
    data = np.random.default_rng(1).normal(size=(2, 3, 3))
    compile_and_compare(outputs, {"x": data}, backend, options)


@each_backend
def test_a_run_time_size_passed_on_through_shape(backend, options):
    x = gc.placeholder("x", (None, 4), "float64")
    assert x.shape == (None, 4) and x.shape[0] is None
    z = gc.ones(x.shape, "float64")
    assert z.dims == x.dims                                    # the same run-time size
    y = gc.reshape(x * 2, x.shape) + z                         # so they broadcast together
    noise = gc.random.normal(x.shape, seed=3, dtype="float64")
    f = gc.compile([y, noise], backend=backend, **options)
    for rows in (1, 5):
        data = np.arange(rows * 4.0).reshape(rows, 4)
        got, drawn = f(x=data)
        np.testing.assert_allclose(got, data * 2 + 1)
        assert drawn.shape == (rows, 4)
    assert gc.placeholder("y", x.shape).dims == x.dims


def test_builder_errors_are_clear():
    fails(gc.ShapeError, lambda: gc.full((2,), gc.constant([1, 2])), "full", "(2,)")
    fails(gc.UsageError, lambda: gc.eye(-1), "eye", "-1")
    fails(gc.UsageError, lambda: gc.arange(0, 5, 0), "arange", "step")
    fails(gc.ShapeError, lambda: gc.diagonal(gc.constant([1, 2])), "diagonal", "(2,)")
    fails(gc.ShapeError, lambda: gc.diagonal(gc.constant(np.ones((2, 2))), 0, 1, 1),
          "diagonal", "(2, 2)")
    fails(gc.ShapeError, lambda: gc.tril(gc.placeholder("x", (None, None))), "tril",
          "static")
    fails(gc.ShapeError, lambda: gc.diag(gc.constant(np.ones((2, 2, 2)))), "diag", "(2, 2, 2)")


@each_backend
def test_reshape_with_a_run_time_size_from_shape(backend, options):
    x = gc.placeholder("x", (None, 3, 4), "float64")
    flat = gc.reshape(x, (x.shape[0], -1))
    assert flat.dims == (x.dims[0], 12)
    back = gc.reshape(flat, x.shape)
    assert back.dims == x.dims
    data = np.arange(2 * 12.0).reshape(2, 3, 4)
    compile_and_compare([flat, back * 2], {"x": data}, backend, options)


def test_a_none_is_ambiguous_with_two_run_time_sizes():
    x = gc.placeholder("x", (None, None, 4))
    fails(gc.ShapeError, lambda: gc.reshape(x, (x.shape[0], -1)), "reshape", "-1")
