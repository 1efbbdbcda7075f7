"""Movement primitives beyond reshape/transpose/broadcast_to: ``slice`` and ``pad``.

They carry all of indexing, flipping, concatenation and windows (tinygrad's shrink/pad/
flip): a ``slice`` reads ``x[start + i * step]`` on each axis (a negative step flips), and
a ``pad`` places ``x`` at ``lo + i * (interior + 1)`` in an array filled with ``fill``.
Each is the other's transpose, so their gradients are each other. In fused kernels both
are index arithmetic: a slice is an affine load (offset and strides), a pad a gated load
(a validity condition and a fill value), never a copy.

A run-time (``None``) axis is passed through whole (start 0, step 1, no padding): its
size is only known when the graph runs.
"""
from __future__ import annotations

import numpy as np

from ..bind import OpDef, bind, declare
from ..errors import ShapeError
from ..ir import Tensor, format_shape


def _per_axis(x: Tensor, attrs: dict, names: tuple[str, ...], op: str) -> list[tuple]:
    values = [tuple(attrs[n]) for n in names]
    if any(len(v) != x.ndim for v in values) or not all(
            isinstance(e, int) and not isinstance(e, bool) for v in values for e in v):
        raise ShapeError(f"{op}: {', '.join(names)} need one int per axis of "
                         f"{format_shape(x.dims)}, got {', '.join(map(str, values))}")
    return list(zip(*values))


def _slice_shape(inputs, attrs):
    x, dims = inputs[0], tuple(attrs["shape"])
    if len(dims) != x.ndim:
        raise ShapeError(f"slice: {format_shape(dims)} has not one size per axis of "
                         f"{format_shape(x.dims)}")
    for (start, step), n, d in zip(_per_axis(x, attrs, ("starts", "steps"), "slice"), dims,
                                   x.dims):
        if isinstance(d, str) or isinstance(n, str):
            ok = (start, step, n) == (0, 1, d)  # a run-time axis is kept whole
        else:
            last = start + (n - 1) * step
            ok = step != 0 and n >= 0 and (n == 0 or (0 <= start < d and 0 <= last < d))
        if not ok:
            raise ShapeError(f"slice: start {start}, step {step}, size {n} does not fit an "
                             f"axis of size {'None' if isinstance(d, str) else d} of "
                             f"{format_shape(x.dims)}")
    return dims, x.dtype


def _slice_impl(x, starts, steps, shape):
    index = tuple(slice(start, start + n * step if start + n * step >= 0 else None, step)
                  for start, step, n in zip(starts, steps, shape))
    return x[index]


def padded_size(n, lo, hi, interior):
    """The size of an axis of ``n`` elements padded by ``lo``/``hi`` with ``interior``
    fill elements between neighbours."""
    return lo + hi + n + max(n - 1, 0) * interior


def _pad_shape(inputs, attrs):
    x = inputs[0]
    dims = []
    for (lo, hi, interior), d in zip(_per_axis(x, attrs, ("lo", "hi", "interior"), "pad"),
                                     x.dims):
        if min(lo, hi, interior) < 0 or (isinstance(d, str) and (lo, hi, interior) != (0, 0, 0)):
            raise ShapeError(f"pad: widths ({lo}, {hi}) and interior {interior} must be "
                             f">= 0, and 0 on run-time axes, for {format_shape(x.dims)}")
        dims.append(d if isinstance(d, str) else padded_size(d, lo, hi, interior))
    return tuple(dims), x.dtype


def _pad_impl(x, lo, hi, interior, fill):
    shape = tuple(padded_size(n, *p) for n, p in zip(x.shape, zip(lo, hi, interior)))
    out = np.full(shape, fill, dtype=x.dtype)
    out[tuple(slice(a, a + n + max(n - 1, 0) * i, i + 1)
              for a, n, i in zip(lo, x.shape, interior))] = x
    return out


def slice_node(x: Tensor, starts, steps, dims) -> Tensor:
    starts, steps, dims = tuple(starts), tuple(steps), tuple(dims)
    if dims == x.dims and all(s == 0 for s in starts) and all(s == 1 for s in steps):
        return x
    return bind("slice", x, starts=starts, steps=steps, shape=dims)


def pad_node(x: Tensor, lo, hi, interior=None, fill=0.0) -> Tensor:
    lo, hi = tuple(lo), tuple(hi)
    interior = tuple(interior) if interior is not None else (0,) * x.ndim
    if not any(lo + hi + interior):
        return x
    return bind("pad", x, lo=lo, hi=hi, interior=interior, fill=float(fill))


def flip_node(x: Tensor, axes) -> Tensor:
    """``x`` reversed along ``axes`` (a slice with step -1 there)."""
    starts = [d - 1 if k in axes and d else 0 for k, d in enumerate(x.dims)]
    steps = [-1 if k in axes else 1 for k in range(x.ndim)]
    return slice_node(x, starts, steps, x.dims)


def _slice_vjp(n: Tensor, g: Tensor):
    """Scatter the cotangent back: flip the axes read backwards, then pad each axis so the
    element read at ``start + i * step`` lands there (interior padding between them)."""
    x = n.inputs[0]
    starts, steps = n.attr("starts"), n.attr("steps")
    g = flip_node(g, [k for k, s in enumerate(steps) if s < 0])
    lo, hi, interior = [], [], []
    for start, step, size, d in zip(starts, steps, n.dims, x.dims):
        if isinstance(d, str):
            lo.append(0)
            hi.append(0)
            interior.append(0)
            continue
        first = start if step > 0 else start + (size - 1) * step  # smallest index read
        last = start + (size - 1) * step if step > 0 else start
        if size == 0:
            first, last = d, d - 1
        lo.append(first)
        hi.append(d - 1 - last)
        interior.append(abs(step) - 1 if size else 0)
    return [pad_node(g, lo, hi, interior)]


def _pad_vjp(n: Tensor, g: Tensor):
    x = n.inputs[0]
    steps = [i + 1 for i in n.attr("interior")]
    return [slice_node(g, n.attr("lo"), steps, x.dims)]


declare(OpDef(name="slice", arity=1, kind="shape", sizes=True, impl=_slice_impl,
              shape=_slice_shape, vjp=_slice_vjp,
              jvp=lambda n, t: slice_node(t[0], n.attr("starts"), n.attr("steps"), n.dims),
              cost=0, doc="x[start + i * step] on each axis (NumPy basic slicing; step < 0 "
                          "flips)"))
declare(OpDef(name="pad", arity=1, kind="shape", impl=_pad_impl, shape=_pad_shape,
              vjp=_pad_vjp,
              jvp=lambda n, t: pad_node(t[0], n.attr("lo"), n.attr("hi"), n.attr("interior")),
              cost=0, doc="x placed at lo + i * (interior + 1) in an array filled with fill"))
