"""Indexing, slicing, padding and joining: NumPy's semantics, gradients, every backend.

Oracles: NumPy itself for values (``x[idx]``, ``np.pad``, ``np.concatenate``...), the
cotangent scattered back by NumPy for gradients (and finite differences for the padding
modes), and the interpreter for the compiled backends. Kernel-count tests show slices,
pads, flips and concatenation fuse as index arithmetic (no copies).
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from helpers_backends import BACKEND_IDS, BACKENDS, compile_and_compare

EACH = pytest.mark.parametrize("backend,options", BACKENDS, ids=BACKEND_IDS)
S = slice(None)

INDEXES = [  # every one of NumPy's basic-indexing forms, edge cases included
    (S, 1), (S, -1), (Ellipsis, slice(None, None, -2)), (S, None, -1, slice(1, 3)),
    (S, slice(4, 0, -3), 2), (S, slice(3, 3)), (Ellipsis, 1, None), (S, -5),
    (S, slice(-2, None)), (S, slice(None, -6, -1)), (S, slice(10, 20)), (S, S, slice(None, None, 3)),
    (S, slice(None, None, -1), slice(None, None, -1)), (None, Ellipsis, None), (S, 2, -4),
]


@pytest.fixture
def x3():
    return gc.placeholder("x", (None, 5, 4), "float64")


@pytest.fixture
def v3():
    return np.random.default_rng(0).normal(size=(3, 5, 4))


@pytest.mark.parametrize("index", INDEXES, ids=str)
def test_basic_indexing_values_and_gradient(x3, v3, index):
    y = x3[index]
    got = gc.evaluate(y, {x3: v3})
    assert got.shape == v3[index].shape
    assert all(s is None or s == n for s, n in zip(y.shape, got.shape, strict=True))
    np.testing.assert_array_equal(got, v3[index])
    w = np.random.default_rng(1).normal(size=v3[index].shape)
    grad = gc.evaluate(gc.grad(gc.sum(y * w), x3), {x3: v3})
    want = np.zeros_like(v3)
    np.add.at(want, index, w)  # the cotangent scattered to where each element came from
    np.testing.assert_array_equal(grad, want)


@pytest.mark.parametrize("index", [(S, 5), (S, -6), (S, 0, 0, 0), (0,), (S, 1.5),
                                   (Ellipsis, Ellipsis)], ids=str)
def test_bad_indexes_are_clear_errors(x3, index):
    with pytest.raises((gc.ShapeError, gc.UsageError), match=r"index|ellipsis|indices|run time"):
        x3[index]


def test_boolean_masks_are_refused_clearly(x3):
    # integer index arrays are advanced indexing (tests/test_gather.py); a mask's result
    # has a data-dependent shape
    assert x3[:, gc.constant([0, 1])].shape[1] == 2
    with pytest.raises(gc.UsageError, match="gc.where"):
        x3[:, gc.constant([True, False, True, False, True])]


@pytest.mark.parametrize("width, mode, kw", [
    ((1, 2), "constant", {"constant_values": -3.5}), (((0, 1), (2, 0)), "constant", {}),
    (2, "edge", {}), (((1, 2), (3, 1)), "reflect", {}), (((3, 3), (4, 4)), "reflect", {}),
    (0, "reflect", {})], ids=str)
def test_pad_matches_numpy(width, mode, kw):
    v = np.random.default_rng(2).normal(size=(4, 5))
    x = gc.placeholder("x", (4, 5), "float64")
    y = gc.pad(x, width, mode=mode, **kw)
    np.testing.assert_array_equal(gc.evaluate(y, {x: v}), np.pad(v, width, mode=mode, **kw))
    w = np.random.default_rng(3).normal(size=y.shape)
    loss = gc.sum(y * w)
    grad = gc.evaluate(gc.grad(loss, x), {x: v})
    h, fd = 1e-6, np.zeros_like(v)
    for i in np.ndindex(v.shape):
        e = np.zeros_like(v)
        e[i] = h
        fd[i] = (gc.evaluate(loss, {x: v + e}) - gc.evaluate(loss, {x: v - e})) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-8)


def test_concatenate_stack_split_flip_match_numpy():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 5))
    A, B = gc.constant(a), gc.constant(b)
    np.testing.assert_array_equal(gc.evaluate(gc.concatenate([A, B], axis=-1)),
                                  np.concatenate([a, b], axis=-1))
    np.testing.assert_array_equal(gc.evaluate(gc.concat([A, A * 2, A])),
                                  np.concatenate([a, a * 2, a]))
    np.testing.assert_array_equal(gc.evaluate(gc.stack([A, A + 1], axis=1)),
                                  np.stack([a, a + 1], axis=1))
    for spec in (2, [1], [0, 3, 5], [4, 4]):
        parts = gc.split(B, spec, axis=1) if spec != 2 else gc.split(A, 2, axis=0)
        want = np.split(b, spec, axis=1) if spec != 2 else np.split(a, 2, axis=0)
        for p, w in zip(parts, want, strict=True):
            np.testing.assert_array_equal(gc.evaluate(p), w)
    np.testing.assert_array_equal(gc.evaluate(gc.flip(B)), np.flip(b))
    np.testing.assert_array_equal(gc.evaluate(gc.flip(B, -1)), np.flip(b, -1))
    assert gc.expand_dims(A, 1).shape == (2, 1, 3) and gc.squeeze(gc.expand_dims(A, 0)).shape == (2, 3)


def test_concatenate_gradient_splits_the_cotangent():
    a, b = gc.placeholder("a", (None, 2), "float64"), gc.placeholder("b", (None, 3), "float64")
    w = np.arange(10.0).reshape(2, 5)
    ga, gb = gc.grad(gc.sum(gc.concatenate([a, b], axis=1) * w), [a, b])
    feeds = {a: np.ones((2, 2)), b: np.ones((2, 3))}
    np.testing.assert_array_equal(gc.evaluate(ga, feeds), w[:, :2])
    np.testing.assert_array_equal(gc.evaluate(gb, feeds), w[:, 2:])


def test_join_errors_name_the_shapes():
    with pytest.raises(gc.ShapeError, match=r"\(2, 3\).*\(3, 3\)"):
        gc.concatenate([gc.placeholder("a", (2, 3)), gc.placeholder("b", (3, 3))], axis=1)
    with pytest.raises(gc.ShapeError, match="equal sections"):
        gc.split(gc.placeholder("a", (5,)), 2)
    with pytest.raises(gc.ShapeError, match="run time"):
        gc.flip(gc.placeholder("a", (None, 2)), 0)
    with pytest.raises(gc.UsageError, match="mode"):
        gc.pad(gc.placeholder("a", (5,)), 1, mode="wrap")


def test_printing_uses_numpy_notation(x3):
    assert str(x3[:, ::-1, 1:4:2] * 2) == "x[:, ::-1, 1:5:2] * 2"
    assert "pad(" in str(gc.concatenate([x3, x3], axis=2))
    assert "slice" in gc.show(x3[:, 1])


@EACH
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backends_match_the_interpreter(backend, options, dtype):
    """Forward and gradient of a graph mixing every movement op, on every backend."""
    x = gc.placeholder("x", (None, 6, 5), dtype)
    p = gc.parameter("p", np.linspace(-1, 1, 30).reshape(6, 5).astype(dtype))
    y = gc.tanh(x[:, ::-2] * p[1::2]) + x[:, 1:4:1, ::-1][:, :, 1:4].sum() * 0.1
    z = gc.concatenate([gc.pad(y, ((0, 0), (1, 0), (0, 2)), constant_values=0.5),
                        gc.flip(x, 2)[:, :4, :]], axis=2)
    loss = gc.sum(z * z)
    gx, gp = gc.grad(loss, [x, p])
    v = np.random.default_rng(5).normal(size=(3, 6, 5)).astype(dtype)
    compile_and_compare([z, gx, gp], {x: v}, backend, options,
                        **({"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {}))


@EACH
def test_integer_and_bool_data_move_too(backend, options):
    i = gc.placeholder("i", (4, 3), "int32")
    m = gc.placeholder("m", (4, 3), "bool")
    out = [gc.concatenate([i[::-1], i[:, 1:] * 2], axis=1), gc.pad(gc.cast(m, "int32"), 1)]
    compile_and_compare(out, {i: np.arange(12, dtype=np.int32).reshape(4, 3),
                              m: np.eye(4, 3, dtype=bool)}, backend, options)
