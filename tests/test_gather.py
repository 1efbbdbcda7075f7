"""Advanced indexing (``gather``), ``scatter_add`` and ``x.at[...]`` updates: values and
gradients against NumPy (``np.take``, ``np.add.at``, fancy indexing) and finite
differences, on every backend this machine runs; torch (float64) where importable."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from helpers_backends import each_backend, needs_c
from op_checks import finite_difference

RNG = np.random.default_rng(7)


def run(outputs, feeds, backend, options):
    f = gc.compile(outputs, backend=backend, **options)
    return f(**feeds)


# ---- x[...] with index arrays: NumPy's results ------------------------------------------

X = RNG.standard_normal((4, 5, 3))
CASES = [
    ([2, -1, 0, 2],),                                     # duplicates and a negative index
    (slice(None), [[1, -5], [4, 4]]),                     # a 2-D index after a slice
    (slice(None), [[1], [2]], [0, 2, -1]),               # broadcast together, adjacent
    ([1, 3], slice(None), [0, 2]),                        # separated: index axes first
    (0, slice(None), [1, 2]),                             # an integer counts as an index
    (Ellipsis, np.array([2, 0])),
    (slice(3, 0, -1), np.array([4, 0]), slice(None, None, -2)),
    (np.array([], dtype=np.int64),),                      # empty index array
]


@pytest.mark.parametrize("index", CASES, ids=range(len(CASES)))
def test_getitem_matches_numpy(index):
    got = gc.evaluate(gc.constant(X)[index])
    np.testing.assert_array_equal(got, X[index])


def test_take_and_take_along_axis_match_numpy():
    x = gc.constant(X)
    np.testing.assert_array_equal(gc.evaluate(gc.take(x, [[3, -1]])), np.take(X, [[3, -1]]))
    np.testing.assert_array_equal(gc.evaluate(gc.take(x, [1, -1], axis=-1)),
                                  np.take(X, [1, -1], axis=-1))
    order = np.argsort(X, axis=1)
    np.testing.assert_array_equal(gc.evaluate(gc.take_along_axis(x, order, 1)), np.sort(X, 1))


def test_scatter_add_sums_duplicates_like_add_at():
    idx = np.array([[4, 0], [4, -1]])
    u = RNG.standard_normal((3, 2, 2))
    want = np.zeros((3, 5))
    np.add.at(want, (slice(None), idx % 5), u)
    got = gc.evaluate(gc.scatter_add(gc.constant(np.zeros((3, 5))), idx, u, axis=1))
    np.testing.assert_allclose(got, want)


def test_boolean_mask_points_to_where():
    with pytest.raises(gc.UsageError, match="gc.where"):
        gc.constant(X)[X > 0]
    with pytest.raises(gc.ShapeError, match="do not broadcast"):
        gc.constant(X)[[0, 1], :, [0, 1, 2]]


# ---- every backend: forward, gradients, run-time batch -----------------------------------

@each_backend
def test_embedding_forward_and_gradient(backend, options):
    E0 = RNG.standard_normal((7, 4))
    w0 = RNG.standard_normal(4)
    E, w = gc.parameter("E", E0), gc.parameter("w", w0)
    tokens = gc.placeholder("tokens", (None, 3), "int64")
    y = gc.sum(gc.tanh(E[tokens]) * w)
    gE, gw = gc.grad(y, [E, w])
    t = np.array([[1, 6, 1], [-1, 0, 1]])           # duplicates and a negative index
    f = gc.compile([y, gE, gw], backend=backend, **options)
    got = f(tokens=t)

    def loss(e):
        return np.sum(np.tanh(e[t]) * w0)
    np.testing.assert_allclose(got[0], loss(E0))
    np.testing.assert_allclose(got[1], finite_difference(loss, E0), atol=1e-6)
    np.testing.assert_allclose(got[2], np.tanh(E0[t]).sum(axis=(0, 1)))
    # the same function at another run-time batch
    t5 = RNG.integers(-7, 7, size=(5, 3))
    ge = np.zeros_like(E0)
    np.add.at(ge, t5 % 7, (1 - np.tanh(E0[t5]) ** 2) * w0)
    np.testing.assert_allclose(f(tokens=t5)[1], ge, atol=1e-12)


@each_backend
def test_multi_index_and_scatter_gradients(backend, options):
    x0 = RNG.standard_normal((3, 4, 5))
    x = gc.parameter("x", x0)
    rows, cols = np.array([[0], [2]]), np.array([1, -1, 1])
    y = gc.sum(gc.exp(x[rows, :, cols]) * gc.constant(np.arange(24.).reshape(2, 3, 4) / 24))
    (g,) = gc.grad(y, [x])
    got = run([y, g], {}, backend, options)

    def loss(a):
        return np.sum(np.exp(a[rows, :, cols]) * np.arange(24.).reshape(2, 3, 4) / 24)
    np.testing.assert_allclose(got[0], loss(x0))
    np.testing.assert_allclose(got[1], finite_difference(loss, x0), rtol=1e-6, atol=1e-8)


@each_backend
def test_at_updates_values_and_gradients(backend, options):
    x0 = RNG.standard_normal((5, 3))
    v0 = RNG.standard_normal((2, 3))
    x, v = gc.parameter("x", x0), gc.parameter("v", v0)
    idx = gc.placeholder("idx", (2,), "int64")
    i = np.array([3, -5])
    outs = [x.at[idx].add(v), x.at[idx].set(v), x.at[idx].multiply(v),
            x.at[idx].min(v), x.at[idx].max(v), x.at[1:4:2, ::-1].set(v * 2)]
    got = run(outs, {"idx": i}, backend, options)
    want = [x0.copy() for _ in range(6)]
    np.add.at(want[0], i, v0)
    want[1][i] = v0
    want[2][i] *= v0
    want[3][i] = np.minimum(x0[i], v0)
    want[4][i] = np.maximum(x0[i], v0)
    want[5][1:4:2, ::-1] = v0 * 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w)
    # gradients flow to x and v (set: the overwritten elements of x get none)
    gx, gv = run(gc.grad(gc.sum(outs[1] * outs[1]), [x, v]), {"idx": i}, backend, options)
    mask = np.ones_like(x0)
    mask[i] = 0
    np.testing.assert_allclose(gx, 2 * x0 * mask)
    np.testing.assert_allclose(gv, 2 * v0)


def test_set_with_duplicate_indices_writes_the_mean():
    x = gc.constant(np.zeros(3))
    got = gc.evaluate(x.at[[1, 1]].set(gc.constant([2., 4.])))
    np.testing.assert_allclose(got, [0., 3., 0.])


def test_out_of_range_index_is_an_error_on_numpy():
    E = gc.parameter("E", np.ones((4, 2)))
    t = gc.placeholder("t", (None,), "int64")
    f = gc.compile(gc.sum(E[t]))
    with pytest.raises(IndexError, match="index 4 is out of bounds"):
        f(t=np.array([0, 4]))
    with pytest.raises(IndexError, match="out of bounds"):   # -5 wraps to -1: still out
        f(t=np.array([-5]))
    with pytest.raises(IndexError, match="out of bounds"):
        gc.evaluate(gc.sum(E[t]), {t: np.array([9])})


@needs_c
def test_out_of_range_index_is_an_error_on_c():
    E = gc.parameter("E", np.ones((4, 2)))
    t = gc.placeholder("t", (None,), "int64")
    f = gc.compile([gc.sum(E[t]), gc.grad(gc.sum(E[t]), E)], backend="c")
    with pytest.raises(IndexError, match=r"gather \(created at .*test_gather.py.*index 7"):
        f(t=np.array([0, 7]))
    np.testing.assert_allclose(f(t=np.array([0, -1]))[0], 4.0)   # and it recovers


@needs_c
def test_gather_then_sum_is_one_c_kernel():
    E = gc.parameter("E", RNG.standard_normal((50, 8)))
    w = gc.parameter("w", RNG.standard_normal(8))
    tokens = gc.placeholder("tokens", (None, 6), "int64")
    f = gc.compile(gc.sum(E[tokens] * w), backend="c")
    assert f.stats["kernels"] == 1, f.stats["fused"]
    assert "gather" in f.stats["fused"][0]["ops"]
    t = RNG.integers(0, 50, size=(3, 6))
    np.testing.assert_allclose(f(tokens=t), np.sum(E.value[t] * w.value))


@needs_c
def test_scatter_add_is_one_kernel_with_its_producers():
    E = gc.parameter("E", RNG.standard_normal((20, 4)))
    tokens = gc.placeholder("tokens", (None,), "int64")
    (g,) = gc.grad(gc.sum(gc.sin(E[tokens])), [E])
    f = gc.compile(g, backend="c")
    kinds = [k["kind"] for k in f.stats["fused"]]
    assert kinds == ["scatter"], f.stats["fused"]
    t = RNG.integers(0, 20, size=9)
    want = np.zeros((20, 4))
    np.add.at(want, t, np.cos(E.value[t]))
    np.testing.assert_allclose(f(tokens=t), want)


def test_against_torch_float64():
    torch = pytest.importorskip("torch")
    E0 = RNG.standard_normal((6, 3))
    t = np.array([[5, 0, 5], [2, 2, -1]])
    E = gc.parameter("E", E0)
    tokens = gc.placeholder("tokens", (2, 3), "int64")
    y = gc.sum(gc.sigmoid(E[tokens]) ** 2)
    got = gc.compile([y, gc.grad(y, E)])(tokens=t)
    Et = torch.tensor(E0, requires_grad=True)
    yt = (torch.sigmoid(Et[torch.tensor(t % 6)]) ** 2).sum()
    yt.backward()
    np.testing.assert_allclose(got[0], yt.item())
    np.testing.assert_allclose(got[1], Et.grad.numpy())
