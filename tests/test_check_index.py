"""``gc.check_index`` (the ``check_index`` primitive): a value required in [0, size) where
it is computed, on every backend; cross_entropy's labels that are not fed (computed, or a
parameter) go through it."""
from __future__ import annotations

import os

import numpy as np
import pytest

import graphc as gc
from helpers_backends import BACKENDS, BACKEND_IDS
from helpers_errors import check_raise

HERE = os.path.basename(__file__)
each_backend = pytest.mark.parametrize("backend,options", BACKENDS, ids=BACKEND_IDS)


@each_backend
def test_check_index_passes_values_and_refuses_others(backend, options):
    k = gc.placeholder("k", (None, 2), "int64")
    f = gc.compile([gc.check_index(k * 2, 5) + 1, gc.sum(gc.check_index(k, 3))],
                   backend=backend, **options)
    got = f(k=np.array([[0, 1], [2, 2]]))
    np.testing.assert_array_equal(got[0], [[1, 3], [5, 5]])
    assert got[1] == 5
    check_raise(lambda: f(k=np.array([[0, 1], [3, 0]])), gc.EvalError, "check_index",
                f"created at {HERE}", "[0, 5)", "holds 6", "the mul created at")


@each_backend
def test_labels_held_by_a_parameter_are_checked(backend, options):
    labels = gc.parameter("labels_p", np.array([0, 2], np.int64))
    logits = gc.placeholder("logits", (2, 3))
    f = gc.compile(gc.cross_entropy(logits, labels), backend=backend, **options)
    np.testing.assert_allclose(f(logits=np.zeros((2, 3), np.float32)), np.log(3), rtol=1e-6)
    labels.value = np.array([0, 7])
    check_raise(lambda: f(logits=np.zeros((2, 3), np.float32)), gc.EvalError,
                "cross_entropy", "[0, 3)", "holds 7", "the parameter created at")


def test_bad_arguments():
    check_raise(lambda: gc.check_index(gc.constant([1.0]), 3), gc.UsageError, "check_index",
                "integers", "float32")
    check_raise(lambda: gc.check_index(gc.constant([1]), -1), gc.UsageError, "check_index",
                "size", "-1")


def test_graph_file_round_trip_keeps_the_check(tmp_path):
    k = gc.placeholder("k", (3,), "int64")
    y = gc.check_index(k, 3, "labels of the test")
    gc.save(str(tmp_path / "g.gcg"), [y], inputs=[k])
    g = gc.load(str(tmp_path / "g.gcg"))
    f = gc.compile(g.outputs, inputs=g.inputs)
    check_raise(lambda: f(np.array([0, 1, 3])), gc.EvalError, "labels of the test", "holds 3")
