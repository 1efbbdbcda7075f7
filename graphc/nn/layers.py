"""Layer functions with ``torch.nn.functional``'s names and signatures: ``linear``,
``embedding``, ``layer_norm`` and ``scaled_dot_product_attention``.

Each is a composite of primitives (matmul, gather, reductions, softmax), so gradients,
fusion and printing come from those; the attention's causal mask is a constant ``where``
before a finite-max softmax, so masked scores add exactly nothing.

>>> import numpy as np, graphc as gc
>>> x = gc.placeholder("x", (None, 4), "float64")
>>> y = gc.nn.layer_norm(x, 4)
>>> np.round(gc.evaluate(y, {x: [[1., 2., 3., 4.]]}), 4)
array([[-1.3416, -0.4472,  0.4472,  1.3416]])
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..api import constant, mean, softmax, sqrt, swapaxes, where
from ..api.data import lift
from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location


def linear(x, weight, bias=None) -> Tensor:
    """``x @ weight.T + bias`` with torch's layout (``weight``: ``(out, in)``).

    >>> import graphc as gc
    >>> gc.nn.linear(gc.placeholder("x", (None, 3)), gc.placeholder("W", (5, 3))).shape
    (None, 5)
    """
    x, weight = lift([x, weight])
    y = x @ swapaxes(weight, -1, -2) if weight.ndim >= 2 else x @ weight
    return y if bias is None else y + bias


def embedding(ids, weight) -> Tensor:
    """Rows of ``weight`` (``(vocab, width)``) at integer ``ids`` (any shape): ``weight[ids]``;
    the gradient to ``weight`` is a scatter-add (repeated ids add up).

    >>> import graphc as gc
    >>> E = gc.parameter("E", [[0., 1.], [2., 3.], [4., 5.]])
    >>> gc.evaluate(gc.nn.embedding(gc.constant([[2, 0]]), E))
    array([[[4., 5.],
            [0., 1.]]], dtype=float32)
    """
    ids, weight = lift([ids, weight])
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be (vocab, width), got "
                         f"{format_shape(weight.dims)} ({user_location()})")
    return weight[ids]


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last ``len(normalized_shape)`` axes to zero mean and unit variance
    (biased variance, ``eps`` inside the square root, as torch), then scale and shift.

    >>> import graphc as gc
    >>> gc.nn.layer_norm(gc.placeholder("x", (None, 8, 16)), (16,)).shape
    (None, 8, 16)
    """
    (x,) = lift([x])
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) \
        else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or k > x.ndim or tuple(x.dims[x.ndim - k:]) != shape:
        raise ShapeError(f"layer_norm: normalized_shape {shape} must be the last axes of "
                         f"{format_shape(x.dims)} ({user_location()})")
    axes = tuple(range(x.ndim - k, x.ndim))
    centred = x - mean(x, axes, keepdims=True)
    y = centred / sqrt(mean(centred * centred, axes, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal: bool = False,
                                 scale=None) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` over the last two axes (torch's signature;
    ``scale`` defaults to ``1/sqrt(q.shape[-1])``). ``attn_mask``: a boolean tensor (True
    = may attend) or a float tensor added to the scores; ``is_causal``: position i attends
    to positions <= i (the sequence lengths must be static).

    >>> import graphc as gc
    >>> q = gc.placeholder("q", (None, 5, 8))
    >>> gc.nn.scaled_dot_product_attention(q, q, q, is_causal=True).shape
    (None, 5, 8)
    """
    q, k, v = lift([query, key, value])
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(f"scaled_dot_product_attention: query, key and value need at least "
                         f"2 dimensions, got {format_shape(q.dims)}, {format_shape(k.dims)}, "
                         f"{format_shape(v.dims)} ({user_location()})")
    width = q.dims[-1]
    if scale is None:
        if not isinstance(width, int):
            raise ShapeError(f"scaled_dot_product_attention: the feature axis of "
                             f"{format_shape(q.dims)} has a run-time size; pass scale= "
                             f"({user_location()})")
        scale = 1.0 / math.sqrt(width)
    scores = (q @ swapaxes(k, -1, -2)) * scale
    if is_causal:
        if attn_mask is not None:
            raise UsageError(f"scaled_dot_product_attention: give attn_mask or is_causal, "
                             f"not both ({user_location()})")
        rows, cols = q.dims[-2], k.dims[-2]
        if not (isinstance(rows, int) and isinstance(cols, int)):
            raise ShapeError(f"scaled_dot_product_attention: is_causal needs static sequence "
                             f"lengths, got {format_shape(q.dims)} and {format_shape(k.dims)} "
                             f"({user_location()})")
        attn_mask = constant(np.tril(np.ones((rows, cols), dtype=bool)))
    if attn_mask is not None:
        (attn_mask,) = lift([attn_mask])
        if attn_mask.dtype == np.bool_:
            scores = where(attn_mask, scores, constant(np.array(-np.inf, scores.dtype)))
        else:
            scores = scores + attn_mask
    return softmax(scores, axis=-1) @ v
