"""var, std, norm, logaddexp, log_sigmoid, argmax/argmin, tensordot, einsum, tile, repeat,
roll, moveaxis, swapaxes: values and gradients against NumPy (finite differences, float64)
on the numpy backend, against torch when importable, and a combined graph on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ShapeError, UsageError
from helpers_backends import BACKENDS, BACKEND_IDS, compile_and_compare
from op_checks import check_against_numpy, check_against_torch

RNG = np.random.default_rng(13)
A34 = RNG.normal(size=(3, 4))
A234 = RNG.normal(size=(2, 3, 4))
B45 = RNG.normal(size=(4, 5))
V4 = RNG.normal(size=4)
W4 = RNG.normal(size=4)

# (id, graphc build, NumPy reference, inputs)
CASES = [
    ("var_all", gc.var, np.var, [A34]),
    ("var_axis_ddof", lambda x: gc.var(x, axis=-1, ddof=1), lambda x: x.var(-1, ddof=1), [A234]),
    ("var_axes_keepdims", lambda x: gc.var(x, axis=(0, 2), keepdims=True),
     lambda x: x.var((0, 2), keepdims=True), [A234]),
    ("std_ddof", lambda x: gc.std(x, axis=0, ddof=1), lambda x: x.std(0, ddof=1), [A34]),
    ("std_keepdims", lambda x: gc.std(x, -2, keepdims=True), lambda x: x.std(-2, keepdims=True),
     [A234]),
    ("norm_2", gc.norm, np.linalg.norm, [A234]),
    ("norm_vector_1", lambda x: gc.norm(x, 1, axis=-1), lambda x: np.linalg.norm(x, 1, axis=-1),
     [A34]),
    ("norm_vector_inf", lambda x: gc.norm(x, np.inf, axis=0),
     lambda x: np.linalg.norm(x, np.inf, axis=0), [A34]),
    ("norm_vector_-inf", lambda x: gc.norm(x, -np.inf, axis=1, keepdims=True),
     lambda x: np.linalg.norm(x, -np.inf, axis=1, keepdims=True), [A34]),
    ("norm_vector_p3", lambda x: gc.norm(x, 3), lambda x: np.linalg.norm(x, 3), [V4]),
    ("norm_fro", lambda x: gc.norm(x, "fro", axis=(0, 2)),
     lambda x: np.linalg.norm(x, "fro", axis=(0, 2)), [A234]),
    ("norm_matrix_1", lambda x: gc.norm(x, 1), lambda x: np.linalg.norm(x, 1), [A34]),
    ("norm_matrix_-1", lambda x: gc.norm(x, -1, axis=(-1, -2)),
     lambda x: np.linalg.norm(x, -1, axis=(-1, -2)), [A234]),
    ("norm_matrix_inf", lambda x: gc.norm(x, np.inf, keepdims=True),
     lambda x: np.linalg.norm(x, np.inf, keepdims=True), [A34]),
    ("logaddexp", gc.logaddexp, np.logaddexp, [A34, RNG.normal(size=(4,))]),
    ("log_sigmoid", gc.log_sigmoid, lambda x: -np.logaddexp(0, -x), [A34 * 10]),
    ("tensordot_int", gc.tensordot, np.tensordot, [A234, RNG.normal(size=(3, 4, 2))]),
    ("tensordot_pairs", lambda a, b: gc.tensordot(a, b, ([0, 2], [2, 0])),
     lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), [A234, RNG.normal(size=(4, 5, 2))]),
    ("tensordot_0", lambda a, b: gc.tensordot(a, b, 0), lambda a, b: np.tensordot(a, b, 0),
     [V4, W4[:3]]),
    ("einsum_matmul", lambda a, b: gc.einsum("ij,jk->ik", a, b),
     lambda a, b: np.einsum("ij,jk->ik", a, b), [A34, B45]),
    ("einsum_implicit", lambda a, b: gc.einsum("bij,jk", a, b),
     lambda a, b: np.einsum("bij,jk", a, b), [A234, B45]),
    ("einsum_batch_outer", lambda a, b: gc.einsum("bi,bj->bji", a, b),
     lambda a, b: np.einsum("bi,bj->bji", a, b), [A34, RNG.normal(size=(3, 2))]),
    ("einsum_three", lambda a, b, c: gc.einsum("ij,jk,k->i", a, b, c),
     lambda a, b, c: np.einsum("ij,jk,k->i", a, b, c), [A34, B45, RNG.normal(size=5)]),
    ("einsum_sum_and_transpose", lambda a: gc.einsum("bij->jb", a),
     lambda a: np.einsum("bij->jb", a), [A234]),
    ("einsum_trace", lambda a: gc.einsum("ii", a), lambda a: np.einsum("ii", a), [A34[:, :3]]),
    ("einsum_diagonal_batch", lambda a: gc.einsum("bii->bi", a),
     lambda a: np.einsum("bii->bi", a), [RNG.normal(size=(2, 3, 3))]),
    ("einsum_dot", lambda a, b: gc.einsum("i,i", a, b), lambda a, b: np.einsum("i,i", a, b),
     [V4, W4]),
    ("einsum_ellipsis", lambda a, b: gc.einsum("...ij,jk->...ik", a, b),
     lambda a, b: np.einsum("...ij,jk->...ik", a, b), [A234, B45]),
    ("einsum_ellipsis_broadcast", lambda a, b: gc.einsum("...i,...i->...", a, b),
     lambda a, b: np.einsum("...i,...i->...", a, b), [A234, RNG.normal(size=(1, 4))]),
    ("tile", lambda x: gc.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), [A34]),
    ("tile_more_reps", lambda x: gc.tile(x, (2, 2)), lambda x: np.tile(x, (2, 2)), [V4]),
    ("repeat_int", lambda x: gc.repeat(x, 2, axis=-1), lambda x: np.repeat(x, 2, axis=-1),
     [A34]),
    ("repeat_counts", lambda x: gc.repeat(x, [0, 2, 1], axis=0),
     lambda x: np.repeat(x, [0, 2, 1], axis=0), [A34]),
    ("repeat_flat", lambda x: gc.repeat(x, 3), lambda x: np.repeat(x, 3), [A34]),
    ("roll_axis", lambda x: gc.roll(x, -1, axis=-1), lambda x: np.roll(x, -1, axis=-1), [A234]),
    ("roll_axes", lambda x: gc.roll(x, (1, 5), axis=(0, 2)),
     lambda x: np.roll(x, (1, 5), axis=(0, 2)), [A234]),
    ("roll_flat", lambda x: gc.roll(x, 5), lambda x: np.roll(x, 5), [A34]),
    ("moveaxis", lambda x: gc.moveaxis(x, [0, -1], [-1, 0]),
     lambda x: np.moveaxis(x, [0, -1], [-1, 0]), [A234]),
    ("swapaxes", lambda x: gc.swapaxes(x, 0, -2), lambda x: np.swapaxes(x, 0, -2), [A234]),
]


@pytest.mark.parametrize("build,reference,arrays", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_value_and_gradient_against_numpy(build, reference, arrays):
    check_against_numpy(build, reference, arrays)


TORCH_CASES = [
    ("var_unbiased", lambda x: gc.var(x, 1, ddof=1), lambda t, x: t.var(x, 1), [A34]),
    ("std", lambda x: gc.std(x, 0), lambda t, x: t.std(x, 0, correction=0), [A34]),
    ("vector_norm_p3", lambda x: gc.norm(x, 3, axis=-1),
     lambda t, x: t.linalg.vector_norm(x, 3, dim=-1), [A234]),
    ("matrix_norm_inf", lambda x: gc.norm(x, np.inf, axis=(1, 2)),
     lambda t, x: t.linalg.matrix_norm(x, float("inf")), [A234]),
    ("logaddexp", gc.logaddexp, lambda t, a, b: t.logaddexp(a, b), [A34, A34[::-1].copy()]),
    ("log_sigmoid", gc.log_sigmoid, lambda t, x: t.nn.functional.logsigmoid(x), [A34 * 30]),
    ("einsum", lambda a, b: gc.einsum("bij,jk->bki", a, b),
     lambda t, a, b: t.einsum("bij,jk->bki", a, b), [A234, B45]),
    ("tensordot", lambda a, b: gc.tensordot(a, b, ([1], [0])),
     lambda t, a, b: t.tensordot(a, b, ([1], [0])), [A34, B45]),
    ("tile", lambda x: gc.tile(x, (1, 2, 2)), lambda t, x: t.tile(x, (1, 2, 2)), [A234]),
    ("repeat", lambda x: gc.repeat(x, [1, 3, 0, 2], axis=1),
     lambda t, x: t.repeat_interleave(x, t.tensor([1, 3, 0, 2]), dim=1), [A34]),
    ("roll", lambda x: gc.roll(x, 2, axis=1), lambda t, x: t.roll(x, 2, 1), [A234]),
    ("moveaxis", lambda x: gc.moveaxis(x, 0, 2), lambda t, x: t.movedim(x, 0, 2), [A234]),
]


@pytest.mark.parametrize("build,torch_fn,arrays", [c[1:] for c in TORCH_CASES],
                         ids=[c[0] for c in TORCH_CASES])
def test_value_and_gradient_against_torch(build, torch_fn, arrays):
    torch = pytest.importorskip("torch", reason="torch is not installed (an optional oracle)")
    check_against_torch(torch, lambda *xs: build(*xs), lambda *xs: torch_fn(torch, *xs), arrays)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (None, True), (0, False),
                                           (-1, True), (1, False)])
@pytest.mark.parametrize("which", ["argmax", "argmin"])
def test_argmax_argmin_first_index_among_ties(which, axis, keepdims):
    data = np.array([[[1., 3., 3.], [0., 0., -2.]], [[3., 3., 1.], [-2., 5., -2.]]])
    x = gc.placeholder("x", data.shape, "float64")
    out = getattr(gc, which)(x, axis=axis, keepdims=keepdims)
    got = gc.compile(out)(data)
    want = getattr(np, which)(data, axis=axis, keepdims=keepdims)
    assert got.dtype == np.int64 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_argmax_runs_with_a_run_time_batch_and_has_no_gradient():
    x = gc.placeholder("x", (None, 4), "float64")
    data = RNG.normal(size=(5, 4))
    np.testing.assert_array_equal(gc.compile(gc.argmax(x, -1))(data), data.argmax(-1))
    picked = gc.sum(gc.cast(gc.argmax(x, 1), "float64") * x[:, 0])
    np.testing.assert_allclose(gc.evaluate(gc.grad(picked, x), {x: data})[:, 1:], 0)


@pytest.mark.parametrize("backend,options", BACKENDS[:2], ids=BACKEND_IDS[:2])
def test_logaddexp_of_infinities_as_numpy(backend, options):
    a, b = gc.placeholder("a", (5,)), gc.placeholder("b", (5,))
    left = np.array([-np.inf, 1, np.inf, -3, np.inf], np.float32)
    right = np.array([-np.inf, np.inf, 2, -np.inf, np.inf], np.float32)
    got = gc.compile(gc.logaddexp(a, b), backend=backend, **options)(left, right)
    np.testing.assert_array_equal(got, np.logaddexp(left, right))


@pytest.mark.parametrize("build,reference", [
    (lambda x: gc.tile(x, (2, 1, 2)), lambda d: np.tile(d, (2, 1, 2))),
    (lambda x: gc.repeat(x, [1, 0, 2], axis=-1), lambda d: np.repeat(d, [1, 0, 2], axis=-1)),
    (lambda x: gc.repeat(x, [0, 0, 0], axis=1), lambda d: np.repeat(d, [0, 0, 0], axis=1)),
    (lambda x: gc.roll(x, -4, axis=1), lambda d: np.roll(d, -4, axis=1)),
    (lambda x: gc.moveaxis(x, 0, -1), lambda d: np.moveaxis(d, 0, -1)),
], ids=["tile", "repeat_counts", "repeat_zero", "roll", "moveaxis"])
def test_arrangements_keep_a_run_time_batch(build, reference):
    x = gc.placeholder("x", (None, 3), "float64")
    f = gc.compile(build(x))
    for batch in (1, 4):
        data = RNG.normal(size=(batch, 3))
        np.testing.assert_array_equal(f(data), reference(data))


def test_var_over_a_run_time_axis_divides_by_the_fed_size():
    x = gc.placeholder("x", (None, 3), "float64")
    data = RNG.normal(size=(6, 3))
    np.testing.assert_allclose(gc.compile(gc.var(x, 0, ddof=1))(data), data.var(0, ddof=1))


def test_einsum_keeps_run_time_dims_and_is_one_matmul():
    a, b = gc.placeholder("a", (None, 3, 4)), gc.placeholder("b", (4, 5))
    y = gc.einsum("nij,jk->nik", a, b)
    assert y.shape == (None, 3, 5)
    assert [n.op for n in gc.topo_order([y])].count("matmul") == 1
    # two run-time sizes among the contracted indices: the broadcast-and-sum fallback
    p, q = gc.placeholder("p", (None, "m", 2)), gc.placeholder("q", (None, "m"))
    z = gc.einsum("abj,ab->j", p, q)
    pd, qd = RNG.normal(size=(3, 4, 2)), RNG.normal(size=(3, 4))
    np.testing.assert_allclose(gc.evaluate(z, {p: pd, q: qd}), np.einsum("abj,ab->j", pd, qd),
                               rtol=1e-5)


@pytest.mark.parametrize("call,error", [
    (lambda: gc.einsum("ij,jk", gc.placeholder("a", (2, 3))), UsageError),
    (lambda: gc.einsum("ij->ik", gc.placeholder("a", (2, 3))), UsageError),
    (lambda: gc.einsum("ijk->i", gc.placeholder("a", (2, 3))), ShapeError),
    (lambda: gc.einsum("ij,jk", gc.placeholder("a", (2, 3)), gc.placeholder("b", (4, 2))),
     ShapeError),
    (lambda: gc.einsum("iI", gc.placeholder("a", (2, 2))), UsageError),
    (lambda: gc.norm(gc.placeholder("a", (2, 2)), 2, axis=(0, 1)), UsageError),
    (lambda: gc.norm(gc.placeholder("a", (2, 2, 2)), 1), ShapeError),
    (lambda: gc.argmax(gc.placeholder("a", (None, 2)), 0), ShapeError),
    (lambda: gc.repeat(gc.placeholder("a", (3,)), [1, 2]), ShapeError),
    (lambda: gc.tensordot(gc.placeholder("a", (2,)), gc.placeholder("b", (2,)), 2), ShapeError),
])
def test_misuse_is_a_clear_error(call, error):
    with pytest.raises(error, match=r"\(.*test_statistics_linear\.py:\d+"):
        call()


@pytest.fixture(scope="module")
def combined_graph():
    """Several of the ops in one graph (one compile per backend), outputs and gradients."""
    arrays = [A234, B45, W4]

    def build(x, b, w):
        return gc.concatenate([
            gc.reshape(gc.var(x, -1, ddof=1), (-1,)), gc.reshape(gc.norm(x, 3, axis=1), (-1,)),
            gc.reshape(gc.logaddexp(x, w), (-1,)),
            gc.reshape(gc.einsum("nij,jk->kn", x, b), (-1,)),
            gc.reshape(gc.tile(gc.roll(x, 1, -1), (1, 2, 1)), (-1,)),
            gc.reshape(gc.repeat(gc.swapaxes(x, 0, 1), [2, 0, 1], 0), (-1,)),
            gc.cast(gc.reshape(gc.argmax(x, 1), (-1,)), "float64")])
    inputs = [gc.placeholder(f"x{k}", a.shape, "float64") for k, a in enumerate(arrays)]
    y = build(*inputs)
    grads = gc.grad(gc.sum(y * gc.constant(RNG.normal(size=y.shape))), inputs)
    return [y] + grads, {p: a for p, a in zip(inputs, arrays)}


@pytest.mark.parametrize("backend,options", BACKENDS, ids=BACKEND_IDS)
def test_every_backend_matches_the_interpreter(combined_graph, backend, options):
    outputs, feeds = combined_graph
    compile_and_compare(outputs, feeds, backend, options, rtol=1e-9, atol=1e-10)
