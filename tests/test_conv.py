"""gc.nn convolution and pooling: values and gradients against direct NumPy loops (finite
differences, float64) on the numpy backend, against torch.nn.functional when importable,
and one combined graph on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ShapeError, UsageError
from helpers_backends import BACKENDS, BACKEND_IDS, compile_and_compare
from op_checks import check_against_numpy, check_against_torch

RNG = np.random.default_rng(2)
X = RNG.normal(size=(2, 2, 5, 6))
W = RNG.normal(size=(4, 2, 3, 3))
W_GROUPED = RNG.normal(size=(4, 1, 2, 3))
BIAS = RNG.normal(size=4)


def _out_size(n, k, s, d):
    return (n - d * (k - 1) - 1) // s + 1


def np_conv2d(x, w, bias=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
              groups=1):
    """Direct definition: each output is the window (rows y*s + i*d) dotted with the kernel."""
    x = np.pad(x, ((0, 0), (0, 0)) + tuple(padding))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = _out_size(h, kh, stride[0], dilation[0]), _out_size(wd, kw, stride[1], dilation[1])
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for y in range(oh):
        for z in range(ow):
            rows = y * stride[0] + np.arange(kh) * dilation[0]
            cols = z * stride[1] + np.arange(kw) * dilation[1]
            window = x[:, :, rows][:, :, :, cols]
            for g in range(groups):
                out[:, g * og:(g + 1) * og, y, z] = np.einsum(
                    "nckl,ockl->no", window[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og])
    return out if bias is None else out + bias[:, None, None]


def np_conv_transpose2d(x, w, stride, padding, output_padding, groups, dilation):
    """Direct definition: each input element scatters its kernel-weighted copy."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    full = np.zeros((n, og * groups, (h - 1) * stride + dilation * (kh - 1) + 1 + output_padding,
                     (wd - 1) * stride + dilation * (kw - 1) + 1 + output_padding))
    for g in range(groups):
        for y in range(h):
            for z in range(wd):
                for i in range(kh):
                    for j in range(kw):
                        full[:, g * og:(g + 1) * og, y * stride + i * dilation,
                             z * stride + j * dilation] += \
                            x[:, g * cg:(g + 1) * cg, y, z] @ w[g * cg:(g + 1) * cg, :, i, j]
    return full[:, :, padding:full.shape[2] - padding, padding:full.shape[3] - padding]


def np_pool2d(x, k, s, p, reduce, fill):
    """Direct definition: each output reduces its window of the padded input."""
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    oh, ow = _out_size(x.shape[2], k, s, 1), _out_size(x.shape[3], k, s, 1)
    out = np.zeros(x.shape[:2] + (oh, ow))
    for y in range(oh):
        for z in range(ow):
            out[:, :, y, z] = reduce(x[:, :, y * s:y * s + k, z * s:z * s + k], axis=(2, 3))
    return out


CASES = [
    ("conv2d_plain", lambda x, w: gc.nn.conv2d(x, w), lambda x, w: np_conv2d(x, w), [X, W]),
    ("conv2d_bias_stride_pad", lambda x, w, b: gc.nn.conv2d(x, w, b, stride=2, padding=1),
     lambda x, w, b: np_conv2d(x, w, b, (2, 2), ((1, 1), (1, 1))), [X, W, BIAS]),
    ("conv2d_dilation_pairs", lambda x, w: gc.nn.conv2d(x, w, stride=(1, 2), padding=(2, 1),
                                                       dilation=(2, 1)),
     lambda x, w: np_conv2d(x, w, None, (1, 2), ((2, 2), (1, 1)), (2, 1)), [X, W]),
    ("conv2d_groups", lambda x, w: gc.nn.conv2d(x, w, groups=2, padding="valid"),
     lambda x, w: np_conv2d(x, w, groups=2), [X, W_GROUPED]),
    ("conv2d_same_even_kernel", lambda x, w: gc.nn.conv2d(x, w, padding="same", groups=2),
     # total padding k - 1 = (1, 2): the odd extra goes after, as torch
     lambda x, w: np_conv2d(x, w, None, (1, 1), ((0, 1), (1, 1)), groups=2), [X, W_GROUPED]),
    ("conv1d", lambda x, w: gc.nn.conv1d(x, w, stride=2, padding=1, dilation=2),
     lambda x, w: np_conv2d(x[:, :, None], w[:, :, None], None, (1, 2), ((0, 0), (1, 1)),
                            (1, 2))[:, :, 0], [X[:, :, 0], W[:, :, 0]]),
    ("conv_transpose2d", lambda x, w: gc.nn.conv_transpose2d(x, w, stride=2, padding=1,
                                                             output_padding=1),
     lambda x, w: np_conv_transpose2d(x, w, 2, 1, 1, 1, 1), [X[:, :, :3, :4], W[:2]]),
    ("conv_transpose2d_groups_dilation",
     lambda x, w: gc.nn.conv_transpose2d(x, w, stride=3, padding=3, groups=2, dilation=2),
     lambda x, w: np_conv_transpose2d(x, w, 3, 3, 0, 2, 2), [X[:, :, :3, :4], W_GROUPED[:2]]),
    ("max_pool2d", lambda x: gc.nn.max_pool2d(x, 2), lambda x: np_pool2d(x, 2, 2, 0, np.max, 0),
     [X]),
    ("max_pool2d_overlap_pad", lambda x: gc.nn.max_pool2d(x, 3, stride=2, padding=1),
     lambda x: np_pool2d(x, 3, 2, 1, np.max, -np.inf), [X]),
    ("avg_pool2d", lambda x: gc.nn.avg_pool2d(x, 3, 1, 1),
     lambda x: np_pool2d(x, 3, 1, 1, np.mean, 0), [X]),
    ("avg_pool2d_exclude_pad", lambda x: gc.nn.avg_pool2d(x, 2, 1, 1, count_include_pad=False),
     lambda x: np_pool2d(x, 2, 1, 1, np.sum, 0) / np_pool2d(np.ones_like(x), 2, 1, 1, np.sum, 0),
     [X]),
    ("global_avg_pool", lambda x: gc.nn.adaptive_avg_pool2d(x, 1),
     lambda x: x.mean((2, 3), keepdims=True), [X]),
]


@pytest.mark.parametrize("build,reference,arrays", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_value_and_gradient_against_numpy(build, reference, arrays):
    check_against_numpy(build, reference, arrays)


TORCH_CASES = [
    ("conv2d", lambda x, w, b: gc.nn.conv2d(x, w, b, stride=(2, 1), padding=(1, 2),
                                            dilation=(1, 2)),
     lambda F, x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
     [X, W, BIAS]),
    ("conv2d_same_even", lambda x, w: gc.nn.conv2d(x, w, padding="same", groups=2, dilation=2),
     lambda F, x, w: F.conv2d(x, w, padding="same", groups=2, dilation=2), [X, W_GROUPED]),
    ("conv1d_same", lambda x, w, b: gc.nn.conv1d(x, w, b, padding="same"),
     lambda F, x, w, b: F.conv1d(x, w, b, padding="same"), [X[:, :, 0], W[:, :, :, 0], BIAS]),
    ("conv_transpose2d", lambda x, w, b: gc.nn.conv_transpose2d(
        x, w, b, stride=(2, 3), padding=(0, 1), output_padding=(1, 2), groups=2, dilation=1),
     lambda F, x, w, b: F.conv_transpose2d(x, w, b, stride=(2, 3), padding=(0, 1),
                                           output_padding=(1, 2), groups=2),
     [X[:, :, :3, :4], W_GROUPED[:2], BIAS[:2]]),
    ("max_pool2d", lambda x: gc.nn.max_pool2d(x, (2, 3), stride=(1, 2), padding=1),
     lambda F, x: F.max_pool2d(x, (2, 3), stride=(1, 2), padding=1), [X]),
    ("avg_pool2d", lambda x: gc.nn.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
     lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [X]),
    ("avg_pool2d_divisor", lambda x: gc.nn.avg_pool2d(x, 2, divisor_override=3),
     lambda F, x: F.avg_pool2d(x, 2, divisor_override=3), [X]),
]


@pytest.mark.parametrize("build,torch_fn,arrays", [c[1:] for c in TORCH_CASES],
                         ids=[c[0] for c in TORCH_CASES])
def test_value_and_gradient_against_torch(build, torch_fn, arrays):
    torch = pytest.importorskip("torch", reason="torch is not installed (an optional oracle)")
    check_against_torch(torch, build, lambda *xs: torch_fn(torch.nn.functional, *xs), arrays)


def test_a_run_time_batch_runs_for_any_size():
    x = gc.placeholder("x", (None, 2, 5, 6), "float64")
    w = gc.constant(W)
    y = gc.nn.max_pool2d(gc.nn.conv2d(x, w, padding=1), 2)
    assert y.shape == (None, 4, 2, 3)
    f = gc.compile(y)
    for batch in (1, 3):
        data = RNG.normal(size=(batch, 2, 5, 6))
        want = np_pool2d(np_conv2d(data, W, None, (1, 1), ((1, 1), (1, 1))), 2, 2, 0, np.max, 0)
        np.testing.assert_allclose(f(data), want, rtol=1e-10)


def test_conv_is_one_matmul_over_the_stacked_taps():
    y = gc.nn.conv2d(gc.placeholder("x", (None, 4, 5, 6)), gc.placeholder("w", (6, 4, 3, 3)))
    ops = [n.op for n in gc.topo_order([y])]
    assert ops.count("matmul") == 1 and ops.count("slice") == 9


@pytest.mark.parametrize("call,error", [
    (lambda: gc.nn.conv2d(gc.placeholder("x", (1, 4, 5, 5)), gc.placeholder("w", (6, 3, 3, 3))),
     ShapeError),
    (lambda: gc.nn.conv2d(gc.placeholder("x", (1, 4, 5, 5)), gc.placeholder("w", (5, 2, 3, 3)),
                          groups=2), ShapeError),
    (lambda: gc.nn.conv2d(gc.placeholder("x", (1, 4, 5, 5)), gc.placeholder("w", (6, 4, 3, 3)),
                          stride=2, padding="same"), UsageError),
    (lambda: gc.nn.conv2d(gc.placeholder("x", (1, 4, 2, 2)), gc.placeholder("w", (6, 4, 3, 3))),
     ShapeError),
    (lambda: gc.nn.conv2d(gc.placeholder("x", (1, 4, 5, 5)), gc.placeholder("w", (6, 4, 3, 3)),
                          padding="full"), UsageError),
    (lambda: gc.nn.max_pool2d(gc.placeholder("x", (1, 4, 5, 5)), 2, padding=2), ShapeError),
    (lambda: gc.nn.max_pool2d(gc.placeholder("x", (1, 4, 5, 5)), 2, ceil_mode=True), UsageError),
    (lambda: gc.nn.avg_pool2d(gc.placeholder("x", (4, 5, 5)), 2), ShapeError),
    (lambda: gc.nn.adaptive_avg_pool2d(gc.placeholder("x", (1, 4, 5, 5)), 2), ShapeError),
])
def test_misuse_is_a_clear_error(call, error):
    with pytest.raises(error, match=r"\(.*test_conv\.py:\d+"):
        call()


@pytest.fixture(scope="module")
def small_net():
    """conv (bias, padding, groups) -> max pool -> transposed conv (stride), with the
    gradients for input, weights and bias: one compile per backend."""
    data = {"x": RNG.normal(size=(2, 2, 4, 4)), "w": RNG.normal(size=(4, 1, 3, 3)),
            "b": RNG.normal(size=4), "v": RNG.normal(size=(4, 2, 2, 2))}
    x, w, b, v = (gc.placeholder(k, a.shape, "float64") for k, a in data.items())
    h = gc.nn.conv2d(x, w, b, padding=1, groups=2)
    y = gc.nn.conv_transpose2d(gc.nn.max_pool2d(h, 2), v, stride=2)
    loss = gc.sum(y * gc.constant(RNG.normal(size=y.shape)))
    return [y] + gc.grad(loss, [x, w, b, v]), data


@pytest.mark.parametrize("backend,options", BACKENDS, ids=BACKEND_IDS)
def test_every_backend_matches_the_interpreter(small_net, backend, options):
    outputs, feeds = small_net
    compile_and_compare(outputs, feeds, backend, options, rtol=1e-9, atol=1e-10)
