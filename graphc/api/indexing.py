"""Indexing and joining with NumPy's names and semantics, built on ``slice`` and ``pad``.

``x[...]`` takes integers (negative too), slices with any step (negative too, empty
results too), ``None``/``gc.newaxis`` and ``Ellipsis``. ``concatenate`` is a sum of
pads (tinygrad's way: in a fused kernel each operand is a gated load, no copy),
``stack``, ``split``, ``flip``, ``pad`` (constant, edge and reflect modes),
``expand_dims`` and ``squeeze`` are compositions of these and reshapes.

A run-time (``None``) axis can only be taken whole (``:``), since its size is known only
when the graph runs.

>>> import graphc as gc
>>> x = gc.constant([[1., 2., 3.], [4., 5., 6.]])
>>> gc.evaluate(x[:, ::-1][1])
array([6., 5., 4.], dtype=float32)
>>> gc.evaluate(gc.concatenate([x, x[:1] * 10]))
array([[ 1.,  2.,  3.],
       [ 4.,  5.,  6.],
       [10., 20., 30.]], dtype=float32)
"""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location
from ..ops.movement import flip_node, pad_node, slice_node
from .data import lift
from .elementwise import add
from .structure import normalize_axes, reshape

newaxis = None


def _is_int(k) -> bool:
    return isinstance(k, numbers.Integral) and not isinstance(k, bool)


def _expand_index(x: Tensor, index) -> list:
    """The index as one entry per axis of ``x`` (``Ellipsis`` expanded), plus ``None``s."""
    index = list(index) if isinstance(index, tuple) else [index]
    for k in index:
        if isinstance(k, Tensor) or isinstance(k, (list, np.ndarray)):
            raise UsageError(f"indexing {format_shape(x.dims)}: index arrays (advanced "
                             f"indexing) are not supported yet; use integers, slices, None "
                             f"and ... ({user_location()})")
        if not (k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k)):
            raise UsageError(f"indexing {format_shape(x.dims)}: cannot index with a "
                             f"{type(k).__name__} ({user_location()})")
    if builtins.sum(k is Ellipsis for k in index) > 1:
        raise ShapeError(f"indexing {format_shape(x.dims)}: an index can only have a single "
                         f"ellipsis ('...') ({user_location()})")
    used = builtins.sum(1 for k in index if k is not None and k is not Ellipsis)
    if used > x.ndim:
        raise ShapeError(f"indexing {format_shape(x.dims)}: too many indices ({used}) for "
                         f"{x.ndim} dimensions ({user_location()})")
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index[at:at + 1] = [slice(None)] * (x.ndim - used)
    return index + [slice(None)] * (x.ndim - builtins.sum(k is not None for k in index))


def getitem(x, index) -> Tensor:
    """``x[index]`` with NumPy's basic indexing (what ``x[...]`` calls).

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 5, 4))
    >>> x[:, 1].shape, x[..., ::-2].shape, x[:, None, -1, 1:3].shape
    ((None, 4), (None, 5, 2), (None, 1, 2))
    """
    (x,) = lift([x])
    starts: list[int] = []
    steps: list[int] = []
    dims: list[int | str] = []
    out_dims: list[int | str] = []
    axis = 0
    for k in _expand_index(x, index):
        if k is None:
            out_dims.append(1)
            continue
        d = x.dims[axis]
        if isinstance(d, str):
            if k != slice(None):
                raise ShapeError(f"indexing {format_shape(x.dims)}: axis {axis} has a size "
                                 f"known only at run time, so it can only be taken whole "
                                 f"(:), not {k!r} ({user_location()})")
            starts.append(0)
            steps.append(1)
            dims.append(d)
            out_dims.append(d)
        elif isinstance(k, slice):
            start, stop, step = k.indices(d)
            n = len(range(start, stop, step))
            starts.append(start if n else 0)
            steps.append(step)
            dims.append(n)
            out_dims.append(n)
        else:
            if not -d <= k < d:
                raise ShapeError(f"indexing {format_shape(x.dims)}: index {k} is out of "
                                 f"bounds for axis {axis} of size {d} ({user_location()})")
            starts.append(int(k) % d)
            steps.append(1)
            dims.append(1)
        axis += 1
    return reshape(slice_node(x, starts, steps, dims), tuple(out_dims))


def flip(x, axis=None) -> Tensor:
    """``x`` with the order of elements reversed along ``axis`` (all axes by default).

    >>> import graphc as gc
    >>> gc.evaluate(gc.flip(gc.constant([[1, 2], [3, 4]]), axis=1))
    array([[2, 1],
           [4, 3]])
    """
    (x,) = lift([x])
    axes = normalize_axes(x, axis, "flip")
    for a in axes:
        if isinstance(x.dims[a], str):
            raise ShapeError(f"flip: axis {a} of {format_shape(x.dims)} has a size known only "
                             f"at run time ({user_location()})")
    return flip_node(x, axes)


def _pad_widths(x: Tensor, pad_width) -> list[tuple[int, int]]:
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit {format_shape(x.dims)} "
                         f"((before, after) per axis, one pair, or one number) "
                         f"({user_location()})") from None
    out = []
    for lo, hi in widths.tolist():
        if not (_is_int(lo) and _is_int(hi)) or lo < 0 or hi < 0:
            raise ShapeError(f"pad: widths must be non-negative integers, got {pad_width!r} "
                             f"({user_location()})")
        out.append((int(lo), int(hi)))
    return out


def pad(x, pad_width, mode="constant", constant_values=0) -> Tensor:
    """NumPy's ``np.pad`` for ``mode`` "constant", "edge" and "reflect".

    >>> import graphc as gc
    >>> x = gc.constant([1., 2., 3.])
    >>> gc.evaluate(gc.pad(x, (2, 1), constant_values=-1))
    array([-1., -1.,  1.,  2.,  3., -1.], dtype=float32)
    >>> gc.evaluate(gc.pad(x, 2, mode="reflect")), gc.evaluate(gc.pad(x, 1, mode="edge"))
    (array([3., 2., 1., 2., 3., 2., 1.], dtype=float32), array([1., 1., 2., 3., 3.], dtype=float32))
    """
    (x,) = lift([x])
    widths = _pad_widths(x, pad_width)
    if mode == "constant":
        if not isinstance(constant_values, numbers.Real):
            raise UsageError(f"pad: constant_values must be one number, got "
                             f"{constant_values!r} ({user_location()})")
        for (lo, hi), d in zip(widths, x.dims):
            if isinstance(d, str) and lo + hi:
                raise ShapeError(f"pad: cannot pad a run-time axis of {format_shape(x.dims)} "
                                 f"({user_location()})")
        return pad_node(x, [w[0] for w in widths], [w[1] for w in widths],
                        fill=constant_values)
    if mode not in ("edge", "reflect"):
        raise UsageError(f"pad: mode must be 'constant', 'edge' or 'reflect', got {mode!r} "
                         f"({user_location()})")
    for axis, (lo, hi) in enumerate(widths):
        if not lo and not hi:
            continue
        d = x.dims[axis]
        if isinstance(d, str) or d == 0 or (mode == "reflect" and max(lo, hi) > d - 1):
            raise ShapeError(f"pad: mode {mode!r} cannot pad axis {axis} of "
                             f"{format_shape(x.dims)} by ({lo}, {hi}) ({user_location()})")
        pick = [slice(None)] * x.ndim

        def take(sl):
            pick[axis] = sl
            return getitem(x, tuple(pick))
        if mode == "edge":
            parts = [take(slice(0, 1))] * lo + [x] + [take(slice(d - 1, d))] * hi
        else:
            end = d - 2 - hi  # the mirror image's stop; None when it runs to the start
            parts = ([take(slice(lo, 0, -1))] if lo else []) + [x] + \
                ([take(slice(d - 2, end if end >= 0 else None, -1))] if hi else [])
        x = concatenate(parts, axis)
    return x


def concatenate(tensors, axis=0) -> Tensor:
    """Join tensors along an existing axis (``np.concatenate``); also ``gc.concat``.

    >>> import graphc as gc
    >>> a, b = gc.placeholder("a", (None, 2)), gc.placeholder("b", (None, 3))
    >>> gc.concatenate([a, b], axis=-1).shape
    (None, 5)
    """
    tensors = lift(list(tensors))
    if not tensors:
        raise UsageError(f"concatenate: needs at least one tensor ({user_location()})")
    first = tensors[0]
    (axis,) = normalize_axes(first, axis, "concatenate") if first.ndim else (None,)
    if axis is None:
        raise ShapeError(f"concatenate: zero-dimensional tensors cannot be concatenated "
                         f"({user_location()})")
    for t in tensors:
        same = t.ndim == first.ndim and all(  # run-time sizes meet when the graph runs
            a == b or (isinstance(a, str) and isinstance(b, str))
            for k, (a, b) in enumerate(zip(t.dims, first.dims)) if k != axis)
        if not same or isinstance(t.dims[axis], str):
            raise ShapeError(f"concatenate: shapes {', '.join(format_shape(u.dims) for u in tensors)}"
                             f" must agree except on axis {axis}, which must have a known size "
                             f"({user_location()})")
    total = builtins.sum(t.dims[axis] for t in tensors)
    out: Tensor | None = None
    at = 0
    for t in tensors:
        n = t.dims[axis]
        lo = [at if k == axis else 0 for k in range(t.ndim)]
        hi = [total - at - n if k == axis else 0 for k in range(t.ndim)]
        part = pad_node(t, lo, hi)
        out = part if out is None else add(out, part)
        at += n
    assert out is not None  # tensors is not empty (checked above)
    return out


concat = concatenate


def stack(tensors, axis=0) -> Tensor:
    """Join tensors of one shape along a new axis (``np.stack``).

    >>> import graphc as gc
    >>> gc.stack([gc.placeholder("a", (3,)), gc.placeholder("b", (3,))], axis=1).shape
    (3, 2)
    """
    tensors = lift(list(tensors))
    if not tensors:
        raise UsageError(f"stack: needs at least one tensor ({user_location()})")
    (axis,) = normalize_axes(_rank(tensors[0].ndim + 1), axis, "stack")
    return concatenate([expand_dims(t, axis) for t in tensors], axis)


class _rank:
    """Stands for a tensor of ``ndim`` axes where only the rank matters (axis checks)."""

    def __init__(self, ndim):
        self.ndim, self.dims = ndim, (1,) * ndim


def split(x, indices_or_sections, axis=0) -> list[Tensor]:
    """``np.split``: a number of equal sections, or the indices where each part starts.

    >>> import graphc as gc
    >>> [p.shape for p in gc.split(gc.placeholder("x", (6, 2)), [1, 4])]
    [(1, 2), (3, 2), (2, 2)]
    """
    (x,) = lift([x])
    (axis,) = normalize_axes(x, axis, "split")
    d = x.dims[axis]
    if isinstance(d, str):
        raise ShapeError(f"split: axis {axis} of {format_shape(x.dims)} has a size known only "
                         f"at run time ({user_location()})")
    if _is_int(indices_or_sections):
        sections = int(indices_or_sections)
        if sections <= 0 or d % sections:
            raise ShapeError(f"split: an axis of size {d} does not divide into "
                             f"{indices_or_sections!r} equal sections ({user_location()})")
        bounds = list(range(0, d, d // sections))[1:]
    else:
        bounds = [int(b) for b in indices_or_sections]
    edges = [0] + bounds + [d]
    parts = []
    for lo, hi in zip(edges, edges[1:]):
        pick = [slice(None)] * x.ndim
        pick[axis] = slice(lo, hi)
        parts.append(getitem(x, tuple(pick)))
    return parts


def expand_dims(x, axis) -> Tensor:
    """A new axis of size 1 at ``axis`` (``np.expand_dims``).

    >>> import graphc as gc
    >>> gc.expand_dims(gc.placeholder("x", (None, 3)), -1).shape
    (None, 3, 1)
    """
    (x,) = lift([x])
    (axis,) = normalize_axes(_rank(x.ndim + 1), axis, "expand_dims")
    return reshape(x, x.dims[:axis] + (1,) + x.dims[axis:])


def squeeze(x, axis=None) -> Tensor:
    """``x`` without the axes of size 1 (those in ``axis``, or all) (``np.squeeze``).

    >>> import graphc as gc
    >>> gc.squeeze(gc.placeholder("x", (1, 3, 1))).shape
    (3,)
    """
    (x,) = lift([x])
    axes = [k for k, d in enumerate(x.dims) if d == 1] if axis is None else \
        normalize_axes(x, axis, "squeeze")
    for a in axes:
        if x.dims[a] != 1:
            raise ShapeError(f"squeeze: axis {a} of {format_shape(x.dims)} does not have size "
                             f"1 ({user_location()})")
    return reshape(x, tuple(d for k, d in enumerate(x.dims) if k not in axes))
