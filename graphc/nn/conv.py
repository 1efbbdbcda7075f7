"""Convolution and pooling with ``torch.nn.functional``'s signatures and layouts: inputs
``(N, C, *spatial)`` (NCHW), weights ``(out, in / groups, *kernel)`` (OIHW).

Built as im2col from primitives: one strided slice of the padded input per kernel tap
(``x_padded[:, :, i*dilation : ... : stride, ...]``), the taps stacked into patches
``(N, C, taps, *out)``; a convolution is then one matmul of the weights with the patches
(the heavy part is a single GEMM; in fused kernels the patches are gated loads, no copy),
a pooling a max or mean over the tap axis. Gradients for inputs, weights and bias come
from the primitives. The batch axis may be a run-time (``None``) size; channel and spatial
sizes must be known.

>>> import graphc as gc
>>> x = gc.placeholder("x", (None, 3, 8, 8))
>>> w = gc.placeholder("w", (16, 3, 3, 3))
>>> gc.nn.conv2d(x, w, padding="same").shape, gc.nn.max_pool2d(x, 2).shape
((None, 16, 8, 8), (None, 3, 4, 4))
"""
from __future__ import annotations

import builtins
import itertools
import math
import numbers

import numpy as np

from ..api import constant, flip, lift, matmul, max, mean, pad, reshape, stack, transpose
from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
           "adaptive_avg_pool2d"]


def _per_axis(value, n: int, what: str, name: str) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints (torch's ``_pair``), as a tuple."""
    values = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != n or not all(isinstance(v, numbers.Integral) for v in values):
        raise UsageError(f"{what}: {name} must be an int or {n} ints, got {value!r} "
                         f"({user_location()})")
    return tuple(int(v) for v in values)


def _spatial_sizes(x: Tensor, spatial: int, what: str) -> tuple[int, ...]:
    if x.ndim != spatial + 2 or any(isinstance(d, str) for d in x.dims[1:]):
        raise ShapeError(f"{what}: input must be (N, C{', *spatial' * bool(spatial)}) with "
                         f"{spatial} known spatial sizes and known channels, got "
                         f"{format_shape(x.dims)} ({user_location()})")
    return x.dims[2:]


def window_taps(x: Tensor, kernel, stride, dilation, lo, hi, fill=0.0) -> tuple[Tensor, tuple]:
    """The patches of ``x`` (N, C, *spatial) padded by ``lo``/``hi`` with ``fill``:
    ``(N, C, prod(kernel), *out)``, one strided slice per kernel tap (tap order: row-major
    over the kernel, as the weights' ``*kernel`` axes flatten), and the output sizes.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 2, 5, 5))
    >>> taps, out = gc.nn.conv.window_taps(x, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1))
    >>> taps.shape, out
    ((None, 2, 9, 3, 3), (3, 3))
    """
    sizes = x.dims[2:]
    padded = [n + a + b for n, a, b in zip(sizes, lo, hi)]
    out = tuple((p - d * (k - 1) - 1) // s + 1
                for p, k, s, d in zip(padded, kernel, stride, dilation))
    if any(o <= 0 for o in out):
        raise ShapeError(f"window of {tuple(kernel)} (dilation {tuple(dilation)}) is larger "
                         f"than the padded input {format_shape(x.dims)} ({user_location()})")
    xp = pad(x, [(0, 0), (0, 0)] + list(zip(lo, hi)), constant_values=fill)
    taps = []
    for offsets in itertools.product(*(range(k) for k in kernel)):
        pick = tuple(slice(i * d, i * d + s * (o - 1) + 1, s)
                     for i, d, s, o in zip(offsets, dilation, stride, out))
        taps.append(xp[(slice(None), slice(None)) + pick])
    return stack(taps, axis=2), out


def _conv_padding(padding, kernel, stride, dilation, what: str):
    """(lo, hi) per spatial axis; "same" puts the odd extra on the high side, as torch."""
    spatial = len(kernel)
    if padding == "valid":
        return (0,) * spatial, (0,) * spatial
    if padding == "same":
        if any(s != 1 for s in stride):
            raise UsageError(f"{what}: padding='same' needs stride 1, as in torch, got "
                             f"stride {stride} ({user_location()})")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    if isinstance(padding, str):
        raise UsageError(f"{what}: padding must be an int, ints, 'same' or 'valid', got "
                         f"{padding!r} ({user_location()})")
    lo = _per_axis(padding, spatial, what, "padding")
    return lo, lo


def _conv(x, w, bias, stride, padding, dilation, groups, spatial: int, what: str) -> Tensor:
    x, w = lift([x, w])
    _spatial_sizes(x, spatial, what)
    if w.ndim != spatial + 2 or any(isinstance(d, str) for d in w.dims):
        raise ShapeError(f"{what}: weight must be (out, in/groups, *kernel) with known sizes, "
                         f"got {format_shape(w.dims)} ({user_location()})")
    channels, (out_channels, group_in), kernel = x.dims[1], w.dims[:2], w.dims[2:]
    if groups < 1 or channels != group_in * groups or out_channels % groups:
        raise ShapeError(f"{what}: input {format_shape(x.dims)} and weight "
                         f"{format_shape(w.dims)} do not fit groups={groups} (in = groups * "
                         f"weight.shape[1], out divisible by groups) ({user_location()})")
    stride = _per_axis(stride, spatial, what, "stride")
    dilation = _per_axis(dilation, spatial, what, "dilation")
    lo, hi = _conv_padding(padding, kernel, stride, dilation, what)
    taps, out = window_taps(x, kernel, stride, dilation, lo, hi)
    batch, depth, length = x.dims[0], group_in * math.prod(kernel), math.prod(out)
    lead = [groups] if groups > 1 else []  # one GEMM per group, batched
    patches = reshape(taps, [batch] + lead + [depth, length])
    weights = reshape(w, lead + [out_channels // groups, depth])
    y = reshape(matmul(weights, patches), (batch, out_channels) + out)
    if bias is not None:
        (bias,) = lift([bias])
        y = y + reshape(bias, (out_channels,) + (1,) * spatial)
    return y


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``: ``x``
    (N, C, H, W), ``weight`` (out, C/groups, kH, kW), ``bias`` (out,) or None; ``padding``
    an int, a pair, ``"valid"`` or ``"same"`` (stride 1; an even kernel's extra row and
    column go after, as torch).

    >>> import graphc as gc, numpy as np
    >>> x = gc.constant(np.arange(16.).reshape(1, 1, 4, 4))
    >>> w = gc.constant(np.ones((1, 1, 2, 2)))
    >>> gc.evaluate(gc.nn.conv2d(x, w, stride=2))
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    return _conv(x, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution, as ``torch.nn.functional.conv1d``: ``x`` (N, C, L), ``weight``
    (out, C/groups, k).

    >>> import graphc as gc
    >>> x = gc.constant([[[1., 2., 3., 4.]]])
    >>> gc.evaluate(gc.nn.conv1d(x, gc.constant([[[1., -1.]]]), padding="same"))
    array([[[-1., -1., -1.,  4.]]], dtype=float32)
    """
    return _conv(x, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _dilate(x: Tensor, stride) -> Tensor:
    """``stride - 1`` zeros between neighbours along each spatial axis: every axis n becomes
    (n, 1), padded to (n, s), flattened, and the trailing zeros cut."""
    if all(s == 1 for s in stride):
        return x
    sizes = x.dims[2:]
    spread = reshape(x, x.dims[:2] + tuple(e for n in sizes for e in (n, 1)))
    widths = [(0, 0), (0, 0)] + [w for s in stride for w in ((0, 0), (0, s - 1))]
    wide = reshape(pad(spread, widths), x.dims[:2] + tuple(n * s for n, s in zip(sizes, stride)))
    return wide[(slice(None), slice(None)) + tuple(slice(0, (n - 1) * s + 1)
                                                    for n, s in zip(sizes, stride))]


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """Transposed 2-D convolution (the gradient of ``conv2d`` with respect to its input), as
    ``torch.nn.functional.conv_transpose2d``: ``weight`` (C, out/groups, kH, kW); the output
    is ``(H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1`` high.

    Lowered to a ``conv2d``: the input spread by ``stride`` (zeros between), padded by
    ``dilation * (k - 1) - padding``, convolved with the flipped, transposed kernel.

    >>> import graphc as gc, numpy as np
    >>> x = gc.constant(np.ones((1, 1, 2, 2)))
    >>> gc.evaluate(gc.nn.conv_transpose2d(x, gc.constant(np.ones((1, 1, 2, 2))), stride=2))
    array([[[[1., 1., 1., 1.],
             [1., 1., 1., 1.],
             [1., 1., 1., 1.],
             [1., 1., 1., 1.]]]])
    """
    x, weight = lift([x, weight])
    _spatial_sizes(x, 2, "conv_transpose2d")
    if weight.ndim != 4 or any(isinstance(d, str) for d in weight.dims) or \
            weight.dims[0] != x.dims[1] or x.dims[1] % groups:
        raise ShapeError(f"conv_transpose2d: input {format_shape(x.dims)} and weight "
                         f"{format_shape(weight.dims)} (in, out/groups, kH, kW) do not fit "
                         f"groups={groups} ({user_location()})")
    stride = _per_axis(stride, 2, "conv_transpose2d", "stride")
    dilation = _per_axis(dilation, 2, "conv_transpose2d", "dilation")
    padding = _per_axis(padding, 2, "conv_transpose2d", "padding")
    extra = _per_axis(output_padding, 2, "conv_transpose2d", "output_padding")
    channels, group_out, kernel = weight.dims[0], weight.dims[1], weight.dims[2:]
    # (C, out/g, k...) -> (g, C/g, out/g, k...) -> (g, out/g, C/g, k...) -> (out, C/g, k...)
    grouped = reshape(weight, (groups, channels // groups, group_out) + kernel)
    w = reshape(transpose(grouped, (0, 2, 1, 3, 4)),
                (groups * group_out, channels // groups) + kernel)
    w = flip(w, (2, 3))
    lo = [d * (k - 1) - p for k, d, p in zip(kernel, dilation, padding)]
    hi = [a + e for a, e in zip(lo, extra)]
    xd = _dilate(x, stride)
    # a padding larger than d * (k - 1) crops instead
    xd = pad(xd, [(0, 0), (0, 0)] + [(builtins.max(a, 0), builtins.max(b, 0))
                                     for a, b in zip(lo, hi)])
    xd = xd[(slice(None), slice(None)) + tuple(slice(builtins.max(-a, 0), n - builtins.max(-b, 0))
                                               for a, b, n in zip(lo, hi, xd.dims[2:]))]
    return _conv(xd, w, bias, 1, 0, dilation, groups, 2, "conv_transpose2d")


def _pool_geometry(x, kernel_size, stride, padding, dilation, what: str):
    x = lift([x])[0]
    _spatial_sizes(x, 2, what)
    kernel = _per_axis(kernel_size, 2, what, "kernel_size")
    stride = kernel if stride is None or stride == [] else _per_axis(stride, 2, what, "stride")
    padding = _per_axis(padding, 2, what, "padding")
    dilation = _per_axis(dilation, 2, what, "dilation")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ShapeError(f"{what}: padding {padding} must be at most half the kernel "
                         f"{kernel}, as in torch ({user_location()})")
    return x, kernel, stride, padding, dilation


def _refuse_ceil_mode(ceil_mode, what: str) -> None:
    if ceil_mode:
        raise UsageError(f"{what}: ceil_mode=True is not supported ({user_location()})")


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    """Max over each window, as ``torch.nn.functional.max_pool2d`` (``stride`` defaults to
    ``kernel_size``; padding never wins the max). The gradient goes to the window's max
    (shared evenly among ties, where torch picks one).

    >>> import graphc as gc, numpy as np
    >>> x = gc.constant(np.arange(16.).reshape(1, 1, 4, 4))
    >>> gc.evaluate(gc.nn.max_pool2d(x, 2))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    _refuse_ceil_mode(ceil_mode, "max_pool2d")
    x, kernel, stride, padding, dilation = _pool_geometry(x, kernel_size, stride, padding,
                                                          dilation, "max_pool2d")
    lowest = np.finfo(x.dtype).min if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    taps, _ = window_taps(x, kernel, stride, dilation, padding, padding, fill=float(lowest))
    return max(taps, 2)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None) -> Tensor:
    """Mean over each window, as ``torch.nn.functional.avg_pool2d``: zero padding counts in
    the divisor unless ``count_include_pad=False``; ``divisor_override`` replaces it.

    >>> import graphc as gc, numpy as np
    >>> x = gc.constant(np.ones((1, 1, 2, 2)))
    >>> gc.evaluate(gc.nn.avg_pool2d(x, 2, stride=1, padding=1))[0, 0]
    array([[0.25, 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 0.25]])
    """
    _refuse_ceil_mode(ceil_mode, "avg_pool2d")
    x, kernel, stride, padding, _ = _pool_geometry(x, kernel_size, stride, padding, 1,
                                                   "avg_pool2d")
    taps, out = window_taps(x, kernel, stride, (1, 1), padding, padding)
    if divisor_override is not None:
        return taps.sum(2) / float(divisor_override)
    if count_include_pad or not any(padding):
        return mean(taps, 2)
    return taps.sum(2) / constant(_valid_counts(x.dims[2:], kernel, stride, padding, out)
                                  .astype(x.dtype))


def _valid_counts(sizes, kernel, stride, padding, out) -> np.ndarray:
    """How many taps of each window fall inside the unpadded input (separable per axis)."""
    per_axis = []
    for n, k, s, p, o in zip(sizes, kernel, stride, padding, out):
        starts = np.arange(o) * s - p
        per_axis.append(np.clip(starts + k, 0, n) - np.clip(starts, 0, n))
    return np.outer(*per_axis)


def adaptive_avg_pool2d(x, output_size) -> Tensor:
    """``torch.nn.functional.adaptive_avg_pool2d`` where the input sizes are multiples of
    ``output_size`` (equal windows); ``output_size=1`` is global average pooling.

    >>> import graphc as gc
    >>> gc.nn.adaptive_avg_pool2d(gc.placeholder("x", (None, 64, 7, 7)), 1).shape
    (None, 64, 1, 1)
    """
    (x,) = lift([x])
    sizes = _spatial_sizes(x, 2, "adaptive_avg_pool2d")
    target = _per_axis(output_size, 2, "adaptive_avg_pool2d", "output_size")
    if any(t <= 0 or n % t for n, t in zip(sizes, target)):
        raise ShapeError(f"adaptive_avg_pool2d: input sizes {sizes} must be multiples of "
                         f"output_size {target} ({user_location()})")
    if target == (1, 1):
        return mean(x, (2, 3), keepdims=True)
    kernel = tuple(n // t for n, t in zip(sizes, target))
    return avg_pool2d(x, kernel, kernel)
