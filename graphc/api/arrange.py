"""Rearranging elements with NumPy's names: ``tile``, ``repeat``, ``roll``, ``moveaxis``,
``swapaxes``, composed from broadcasts, reshapes, slices and concatenation (index
arithmetic in fused kernels, so no copies).

>>> import graphc as gc
>>> x = gc.constant([1, 2, 3])
>>> gc.evaluate(gc.roll(x, 1)), gc.evaluate(gc.repeat(x, 2)), gc.evaluate(gc.tile(x, 2))
(array([3, 1, 2]), array([1, 1, 2, 2, 3, 3]), array([1, 2, 3, 1, 2, 3]))
"""
from __future__ import annotations

import numbers

from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location
from .data import lift
from .indexing import concatenate, getitem
from .structure import broadcast_to, normalize_axes, reshape, transpose


def _known_axis(x: Tensor, axis: int, what: str) -> int:
    d = x.dims[axis]
    if isinstance(d, str):
        raise ShapeError(f"{what}: axis {axis} of {format_shape(x.dims)} has a size known only "
                         f"at run time ({user_location()})")
    return d


def _as_list(value) -> list:
    return [value] if isinstance(value, numbers.Integral) else list(value)


def moveaxis(x, source, destination) -> Tensor:
    """Move axes to new positions, the others keeping their order (``np.moveaxis``).

    >>> import graphc as gc
    >>> gc.moveaxis(gc.placeholder("x", (2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    (x,) = lift([x])
    source, destination = _as_list(source), _as_list(destination)
    if len(source) != len(destination):
        raise UsageError(f"moveaxis: source {source!r} and destination {destination!r} must "
                         f"have the same number of axes ({user_location()})")
    src = [normalize_axes(x, a, "moveaxis")[0] for a in source]
    dst = [normalize_axes(x, a, "moveaxis")[0] for a in destination]
    normalize_axes(x, src, "moveaxis"), normalize_axes(x, dst, "moveaxis")  # repeats
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def swapaxes(x, axis1, axis2) -> Tensor:
    """Exchange two axes (``np.swapaxes``).

    >>> import graphc as gc
    >>> gc.swapaxes(gc.placeholder("x", (None, 3, 4)), 0, -1).shape
    (4, 3, None)
    """
    (x,) = lift([x])
    (a,), (b,) = normalize_axes(x, axis1, "swapaxes"), normalize_axes(x, axis2, "swapaxes")
    order = list(range(x.ndim))
    order[a], order[b] = b, a
    return transpose(x, order)


def _along(x: Tensor, axis: int, sl: slice) -> Tensor:
    pick = [slice(None)] * x.ndim
    pick[axis] = sl
    return getitem(x, tuple(pick))


def roll(x, shift, axis=None) -> Tensor:
    """Shift elements along ``axis`` cyclically (``np.roll``); ``axis=None`` rolls the
    flattened tensor. ``shift`` and ``axis`` may be tuples of the same length.

    >>> import graphc as gc
    >>> gc.evaluate(gc.roll(gc.constant([[1, 2, 3], [4, 5, 6]]), -1, axis=1))
    array([[2, 3, 1],
           [5, 6, 4]])
    """
    (x,) = lift([x])
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), x.dims)
    shifts, axes = _as_list(shift), _as_list(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        raise UsageError(f"roll: shift {shift!r} and axis {axis!r} differ in length "
                         f"({user_location()})")
    for s, a in zip(shifts, axes):
        (a,) = normalize_axes(x, a, "roll")
        n = _known_axis(x, a, "roll")
        s = int(s) % n if n else 0
        if s:
            x = concatenate([_along(x, a, slice(n - s, n)), _along(x, a, slice(0, n - s))], a)
    return x


def tile(x, reps) -> Tensor:
    """``x`` repeated ``reps`` times along each axis (``np.tile``): shorter ``reps`` are
    padded with 1s in front, and ``x`` gains leading axes when ``reps`` is longer.

    >>> import graphc as gc
    >>> gc.evaluate(gc.tile(gc.constant([[1, 2]]), (2, 2)))
    array([[1, 2, 1, 2],
           [1, 2, 1, 2]])
    """
    (x,) = lift([x])
    reps = [int(r) for r in _as_list(reps)]
    if any(r < 0 for r in reps):
        raise ShapeError(f"tile: repetitions must be non-negative, got {reps!r} "
                         f"({user_location()})")
    ndim = max(x.ndim, len(reps))
    reps = [1] * (ndim - len(reps)) + reps
    dims = (1,) * (ndim - x.ndim) + tuple(x.dims)
    # each axis n becomes (r, n) by a broadcast, then one axis of r * n
    wide, out = [], []
    for r, d in zip(reps, dims):
        if r != 1 and isinstance(d, str):
            raise ShapeError(f"tile: cannot repeat a run-time axis of {format_shape(x.dims)} "
                             f"({user_location()})")
        wide += [r, d]
        out.append(d if r == 1 else r * d)
    spread = reshape(x, [e for d in dims for e in (1, d)])
    return reshape(broadcast_to(spread, wide), out)


def repeat(x, repeats, axis=None) -> Tensor:
    """Each element repeated along ``axis`` (``np.repeat``): ``repeats`` one count, or one
    count per element (static sizes); ``axis=None`` works on the flattened tensor.

    >>> import graphc as gc
    >>> x = gc.constant([[1, 2], [3, 4]])
    >>> gc.evaluate(gc.repeat(x, [1, 2], axis=0))
    array([[1, 2],
           [3, 4],
           [3, 4]])
    """
    (x,) = lift([x])
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axes(x, axis, "repeat")
    n = _known_axis(x, axis, "repeat")
    counts = _as_list(repeats)
    if len(counts) == 1:
        counts = counts * n
    if len(counts) != n or any(int(c) < 0 for c in counts):
        raise ShapeError(f"repeat: repeats {repeats!r} must be one count or {n} non-negative "
                         f"counts for axis {axis} of {format_shape(x.dims)} ({user_location()})")
    counts = [int(c) for c in counts]
    if len(set(counts)) == 1:  # one count: (n, 1) broadcast to (n, r), then n * r
        r = counts[0]
        one = reshape(x, x.dims[:axis + 1] + (1,) + x.dims[axis + 1:])
        wide = broadcast_to(one, x.dims[:axis + 1] + (r,) + x.dims[axis + 1:])
        return reshape(wide, x.dims[:axis] + (n * r,) + x.dims[axis + 1:])
    parts = []
    for i, c in enumerate(counts):
        if c:
            part = _along(x, axis, slice(i, i + 1))
            parts.append(broadcast_to(part, part.dims[:axis] + (c,) + part.dims[axis + 1:]))
    return concatenate(parts, axis) if parts else _along(x, axis, slice(0, 0))
