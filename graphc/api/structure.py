"""Reductions, reshapes, transposes, broadcasts, matmul and one_hot: the primitives whose
attributes come from the user's arguments (axes, shapes, permutations), normalised here."""
from __future__ import annotations

import builtins
import numbers
from typing import Protocol

import numpy as np

from ..errors import ShapeError
from ..ir import Tensor, format_shape, shape_dims, user_location
from .data import DEFAULT_FLOAT, apply, check_dtype, element_count, lift
from .elementwise import cast, neg


class Shaped(Protocol):
    """What axis checks read: a Tensor, or a stand-in of a given rank."""

    @property
    def ndim(self) -> int: ...

    @property
    def dims(self) -> tuple: ...


def normalize_axes(x: Shaped, axis, what: str) -> tuple:
    if axis is None:
        return tuple(range(x.ndim))
    raw = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = []
    for a in raw:
        if not isinstance(a, numbers.Integral) or not -x.ndim <= int(a) < x.ndim:
            raise ShapeError(f"{what}: axis {a!r} is out of range for shape "
                             f"{format_shape(x.dims)} ({user_location()})")
        a = int(a) % x.ndim
        if a in out:
            raise ShapeError(f"{what}: axis {a} repeated in {raw!r} for shape "
                             f"{format_shape(x.dims)} ({user_location()})")
        out.append(a)
    return tuple(sorted(out))


def _reduce(name, x, axis, keepdims):
    (x,) = lift([x])
    axes = normalize_axes(x, axis, name)
    if not axes:
        return x
    return apply(name, [x], axes=axes, keepdims=bool(keepdims))


def sum(x, axis=None, keepdims=False) -> Tensor:
    """Sum over ``axis`` (an int, a tuple, or ``None`` for all); negative axes count back.

    >>> import graphc as gc
    >>> m = gc.constant([[1., 2., 3.], [4., 5., 6.]])
    >>> gc.evaluate(m.sum(0))
    array([5., 7., 9.], dtype=float32)
    >>> gc.sum(m, -1, keepdims=True).shape
    (2, 1)
    """
    return _reduce("sum", x, axis, keepdims)


def max(x, axis=None, keepdims=False) -> Tensor:
    """Maximum over ``axis``; the gradient is shared evenly among ties.

    >>> import graphc as gc
    >>> gc.evaluate(gc.constant([[1., 2., 3.], [4., 5., 6.]]).max(1))
    array([3., 6.], dtype=float32)
    """
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False) -> Tensor:
    """Minimum over ``axis``, as ``-max(-x)``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.min(gc.constant([[1., 2.], [0., 5.]]), axis=0))
    array([0., 2.], dtype=float32)
    """
    return neg(max(neg(x), axis, keepdims))


def mean(x, axis=None, keepdims=False) -> Tensor:
    """Mean over ``axis``; over a run-time (``None``) dim it divides by the fed size.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 2))
    >>> gc.evaluate(x.mean(0), {x: [[1., 2.], [3., 6.]]})
    array([2., 4.], dtype=float32)
    """
    (x,) = lift([x])
    if x.dtype.kind != "f":
        x = cast(x, DEFAULT_FLOAT)
    axes = normalize_axes(x, axis, "mean")
    return sum(x, axes, keepdims) / element_count([x.dims[a] for a in axes], x.dtype)


def reshape(x, shape) -> Tensor:
    """Reshape; one ``-1`` is inferred, run-time sizes carried through. A ``None`` (as
    in ``x.shape[0]``) stands for the input's run-time size when it has exactly one;
    otherwise it is inferred like ``-1``.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 4, 7))
    >>> gc.reshape(x, (-1, 2, 2, 7)).shape, gc.reshape(x, (x.shape[0], -1)).shape
    ((None, 2, 2, 7), (None, 28))
    """
    (x,) = lift([x])
    if isinstance(shape, (numbers.Integral, str)) or shape is None:
        shape = (shape,)
    shape = _target_dims(shape, "reshape", x)
    run_time = sorted({d for d in x.dims if isinstance(d, str)})
    if len(run_time) == 1 and shape.count(None) == 1:
        # reshape(x, (x.shape[0], -1)): a None stands for the input's one run-time size
        shape = [run_time[0] if d is None else d for d in shape]
    shape = [-1 if d is None else d for d in shape]
    if builtins.sum(1 for d in shape if d == -1) > 1:
        raise ShapeError(f"reshape: at most one -1 in {tuple(shape)} ({user_location()})")
    known_x = int(np.prod([d for d in x.dims if isinstance(d, int)], dtype=np.int64))
    sym_x = sorted(d for d in x.dims if isinstance(d, str))
    known_t = int(np.prod([d for d in shape if isinstance(d, int) and d != -1], dtype=np.int64))
    sym_t = sorted(d for d in shape if isinstance(d, str))
    bad = ShapeError(f"reshape: cannot reshape {format_shape(x.dims)} into "
                     f"{format_shape(shape)} ({user_location()})")
    if any(isinstance(d, int) and d < -1 for d in shape):
        raise bad
    if -1 in shape:
        rest = list(sym_x)
        for d in sym_t:
            if d not in rest:
                raise bad
            rest.remove(d)
        if len(rest) == 0:
            if known_t == 0 or known_x % known_t:
                raise bad
            fill: int | str = known_x // known_t
        elif len(rest) == 1 and known_x == known_t:
            fill = rest[0]
        else:
            raise ShapeError(f"reshape: cannot infer -1 in {format_shape(shape)} from "
                             f"{format_shape(x.dims)}; give the sizes ({user_location()})")
        shape = [fill if d == -1 else d for d in shape]
    shape = tuple(shape)
    if shape == x.dims:
        return x
    return apply("reshape", [x], shape=shape)


def _target_dims(shape, what: str, x: Tensor) -> list:
    """A user's target shape as dims: ints (NumPy ints too) stay, strings are named dims,
    and another tensor's ``.shape`` brings its run-time sizes."""
    given = shape_dims(shape)
    if given is not None:
        return list(given)
    out: list[int | str | None] = []
    for d in shape:
        if isinstance(d, numbers.Integral) and not isinstance(d, bool):
            out.append(int(d))
        elif isinstance(d, str) or d is None:
            out.append(d)
        else:
            raise ShapeError(f"{what}: bad dimension {d!r} in {tuple(shape)!r} for a tensor of "
                             f"shape {format_shape(x.dims)} ({user_location()})")
    return out


def transpose(x, perm=None) -> Tensor:
    """Permute axes (reverse them by default); ``x.T`` is ``transpose(x)``.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (2, 3, 4))
    >>> gc.transpose(x, (1, 0, 2)).shape, x.T.shape
    ((3, 2, 4), (4, 3, 2))
    """
    (x,) = lift([x])
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    perm = tuple(int(p) % x.ndim if isinstance(p, numbers.Integral) and -x.ndim <= p < x.ndim
                 else -1 for p in perm)  # -1: out of range, which the shape rule reports
    if perm == tuple(range(x.ndim)):
        return x
    return apply("transpose", [x], perm=perm)


def broadcast_to(x, shape) -> Tensor:
    """Broadcast ``x`` to ``shape`` (NumPy rules).

    >>> import graphc as gc
    >>> gc.evaluate(gc.broadcast_to(gc.constant([1., 2.]), (2, 2)))
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """
    (x,) = lift([x])
    if isinstance(shape, (numbers.Integral, str)):
        shape = (shape,)
    shape = tuple(_target_dims(shape, "broadcast_to", x))
    if shape == x.dims:
        return x
    return apply("broadcast_to", [x], shape=shape)


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules: 2-D, matrix-vector, batched (leading dims).

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 784))
    >>> (x @ gc.placeholder("W", (784, 256))).shape
    (None, 256)
    >>> gc.matmul(gc.placeholder("A", (8, 2, 3)), gc.placeholder("v", (3,))).shape
    (8, 2)
    """
    return apply("matmul", [a, b])


def one_hot(labels, depth: int, dtype="float32") -> Tensor:
    """Rows of the ``depth x depth`` identity picked by integer ``labels``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.one_hot(gc.constant([0, 2]), 3))
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    dt = check_dtype(dtype, "one_hot")
    if isinstance(depth, numbers.Integral) and not isinstance(depth, bool):
        depth = int(depth)  # NumPy ints too; anything else the shape rule reports
    return apply("one_hot", [labels], depth=depth, dtype=dt.name)
