"""Composites built from primitives, numerically stable by construction (max subtraction,
``log_softmax`` as ``z - log(sum(exp(z)))``), also for infinite entries: the max subtracted
is made finite first, so a row holding ``+inf`` or only ``-inf`` gives ``inf - 0`` or
``-inf - 0``, never ``inf - inf``."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir import Tensor, format_shape, user_location
from ..value_checks import require_range
from .advanced import check_index
from .data import lift
from .elementwise import (abs, exp, greater, less, log, maximum, minimum, mul, stop_gradient,
                          where)
from .structure import max, mean, normalize_axes, one_hot, reshape, sum


def square(x) -> Tensor:
    """``x * x``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.square(gc.constant([3., -2.])))
    array([9., 4.], dtype=float32)
    """
    return mul(x, x)


def relu(x) -> Tensor:
    """``max(x, 0)``; its gradient at 0 is 0 (as in PyTorch).

    >>> import graphc as gc
    >>> gc.evaluate(gc.relu(gc.constant([-1., 2.])))
    array([0., 2.], dtype=float32)
    """
    (x,) = lift([x])
    return where(greater(x, 0), x, 0)



def clip(x, lo, hi) -> Tensor:
    """``x`` limited to ``[lo, hi]``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.clip(gc.constant([-3., 0.5, 3.]), -1, 1))
    array([-1. ,  0.5,  1. ], dtype=float32)
    """
    return minimum(maximum(x, lo), hi)


def _finite_max(x: Tensor, axes) -> Tensor:
    """The max of ``x`` over ``axes`` (kept) where it is finite, else 0, without a gradient:
    the shift that keeps ``exp`` in range (subtracting an infinite max gave ``inf - inf``)."""
    m = stop_gradient(max(x, axes, keepdims=True))
    return where(less(abs(m), np.inf), m, 0)


def logsumexp(x, axis=-1, keepdims=False) -> Tensor:
    """``log(sum(exp(x)))`` with the max subtracted first (finite for large inputs; ``+inf``
    for a row holding ``+inf``, ``-inf`` for a row of ``-inf`` only).

    >>> import graphc as gc
    >>> gc.evaluate(gc.logsumexp(gc.constant([1000., 1000.])))
    array(1000.6932, dtype=float32)
    """
    (x,) = lift([x])
    axes = normalize_axes(x, axis, "logsumexp")
    m = _finite_max(x, axes)
    out = log(sum(exp(x - m), axes, keepdims=True)) + m
    return out if keepdims else reshape(out, [d for k, d in enumerate(x.dims) if k not in axes])


def softmax(x, axis=-1) -> Tensor:
    """``exp(x) / sum(exp(x))`` over ``axis``, with the max subtracted first.

    >>> import graphc as gc
    >>> gc.evaluate(gc.softmax(gc.constant([1000., 1000.])))
    array([0.5, 0.5], dtype=float32)
    """
    (x,) = lift([x])
    axes = normalize_axes(x, axis, "softmax")
    e = exp(x - _finite_max(x, axes))
    return e / sum(e, axes, keepdims=True)


def log_softmax(x, axis=-1) -> Tensor:
    """``x - logsumexp(x)``, computed as ``z - log(sum(exp(z)))`` with ``z = x - max(x)``.

    Subtracting the max first keeps ``exp`` finite, and subtracting the small ``log(sum)``
    from ``z`` (not the large ``logsumexp`` from ``x``) loses no digits for large ``x``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.log_softmax(gc.constant([1000., 1000.])))
    array([-0.6931472, -0.6931472], dtype=float32)
    """
    (x,) = lift([x])
    axes = normalize_axes(x, axis, "log_softmax")
    z = x - _finite_max(x, axes)
    return z - log(sum(exp(z), axes, keepdims=True))


def cross_entropy(logits, labels) -> Tensor:
    """Mean softmax cross-entropy of ``logits (..., classes)`` against integer ``labels (...)``.

    A logit masked with ``-inf`` in a class other than the label adds nothing (the label's
    log-probability is selected, never multiplied by 0). Labels outside ``[0, classes)``
    are an error when the graph runs: ``FeedError`` naming the labels input and the value
    for fed labels (``graphc.value_checks``), ``EvalError`` naming the op that computed
    them for labels computed in the graph (``check_index``, checked inside the kernels).

    >>> import graphc as gc
    >>> logits = gc.placeholder("logits", (None, 2))
    >>> labels = gc.placeholder("labels", (None,), "int32")
    >>> loss = gc.cross_entropy(logits, labels)
    >>> gc.evaluate(loss, {logits: [[0., 0.], [0., 0.]], labels: [0, 1]})
    array(0.6931472, dtype=float32)
    """
    (logits,) = lift([logits])
    (labels,) = lift([labels])
    # run-time (None) dims of labels and logits may come from different placeholders: a
    # symbolic dim matches anything here (the sizes meet when the graph runs)
    if logits.ndim < 1 or labels.ndim != logits.ndim - 1 or not all(
            l == g or isinstance(l, str) or isinstance(g, str)
            for l, g in zip(labels.dims, logits.dims[:-1])):
        raise ShapeError(f"cross_entropy: labels of shape {format_shape(labels.dims)} do not "
                         f"match logits of shape {format_shape(logits.dims)} ({user_location()})")
    depth = logits.dims[-1]
    if not isinstance(depth, int):
        raise ShapeError(f"cross_entropy: the class axis must have a known size, got "
                         f"{format_shape(logits.dims)} ({user_location()})")
    here = user_location()
    need = (f"cross_entropy (created at {here}) takes labels in [0, {depth}) (the classes "
            f"of logits {format_shape(logits.dims)})")
    if labels.op == "placeholder":   # fed: checked on the host before any backend runs
        require_range(labels, 0, depth, need)
    else:   # computed in the graph (or a parameter): checked where it is computed
        labels = check_index(labels, depth, f"{need}: the {labels.op} created at "
                                            f"{labels.location}")
    chosen = one_hot(labels, depth, "bool")
    return -mean(sum(where(chosen, log_softmax(logits, -1), 0), -1))
