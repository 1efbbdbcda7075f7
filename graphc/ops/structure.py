"""Primitives that move or combine elements: reductions, reshape/transpose/broadcast_to,
matmul and one_hot, each with its shape rule (which checks every misuse), vjp and jvp."""
from __future__ import annotations


import numpy as np

from ..bind import BOOL, OpDef, bind, declare, promote
from ..errors import DTypeError, ShapeError
from ..ir import Tensor, broadcast_dims, format_shape
from .builders import (broadcast_node, cast_node, relabel, reshape_node, scalar_source, sum_node,
                       transpose_node, unbroadcast)


# ---- reductions ----------------------------------------------------------------------------

def _reduce_shape(inputs, attrs):
    x = inputs[0]
    axes, keep = tuple(attrs["axes"]), attrs["keepdims"]
    if list(axes) != sorted(set(axes)) or not all(0 <= a < x.ndim for a in axes):
        raise ShapeError(f"reduce: axes {axes} must be distinct axes of shape "
                         f"{format_shape(x.dims)}, in order")
    if keep:
        dims = tuple(1 if k in axes else d for k, d in enumerate(x.dims))
    else:
        dims = tuple(d for k, d in enumerate(x.dims) if k not in axes)
    return dims, x.dtype


def _sum_shape(inputs, attrs):
    dims, dtype = _reduce_shape(inputs, attrs)
    return dims, np.dtype("int64") if dtype == BOOL else dtype  # sum of bools counts (NumPy)



def _reshape_cot(g: Tensor, dims) -> Tensor:
    s = scalar_source(g)
    if s is not None:
        return broadcast_node(s, dims)
    r = relabel(g, dims) if tuple(dims) != g.dims else None
    return r if r is not None else reshape_node(g, dims)


def _keep(n: Tensor, g: Tensor) -> Tensor:
    """``g`` (shaped like reduce node ``n``) reshaped to the keepdims shape (or the
    scalar it broadcasts, which broadcasts the same way)."""
    if n.attr("keepdims"):
        return g
    s = scalar_source(g)
    if s is not None:
        return s
    x = n.inputs[0]
    axes = n.attr("axes")
    return reshape_node(g, tuple(1 if k in axes else d for k, d in enumerate(x.dims)))


def _sum_vjp(n, g):
    return [broadcast_node(_keep(n, g), n.inputs[0].dims)]


def _max_mask(n):
    x = n.inputs[0]
    mask = cast_node(bind("equal", x, _keep(n, n)), x.dtype)
    return mask / sum_node(mask, n.attr("axes"), keepdims=True)  # ties share the gradient


declare(OpDef(name="sum", arity=1, kind="reduce",
              impl=lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
              shape=_sum_shape, vjp=_sum_vjp,
              jvp=lambda n, t: sum_node(t[0], n.attr("axes"), n.attr("keepdims")),
              doc="sum over axes"))
declare(OpDef(name="max", arity=1, kind="reduce",
              impl=lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
              shape=_reduce_shape,
              vjp=lambda n, g: [_max_mask(n) * _keep(n, g)],
              jvp=lambda n, t: sum_node(_max_mask(n) * t[0], n.attr("axes"), n.attr("keepdims")),
              doc="maximum over axes"))


# ---- shape ops -----------------------------------------------------------------------------

def _bad_dims(dims) -> bool:
    return any(not isinstance(d, (int, str)) or isinstance(d, bool) or
               (isinstance(d, int) and d < 0) for d in dims)


def _relabels(src, dst) -> bool:
    """Same rank, and wherever the dims differ one of them is a run-time size: the sizes
    agree when the graph runs (checked then), only the static names differ."""
    return len(src) == len(dst) and all(
        a == b or isinstance(a, str) or isinstance(b, str) for a, b in zip(src, dst))


def _reshape_shape(inputs, attrs):
    x, dims = inputs[0], tuple(attrs["shape"])
    known = [int(np.prod([d for d in s if isinstance(d, int)], dtype=np.int64))
             for s in (x.dims, dims)]
    symbolic = [sorted(d for d in s if isinstance(d, str)) for s in (x.dims, dims)]
    if _bad_dims(dims) or not (_relabels(x.dims, dims) or (
            known[0] == known[1] and symbolic[0] == symbolic[1])):
        raise ShapeError(f"reshape: cannot reshape {format_shape(x.dims)} into "
                         f"{format_shape(dims)}")
    return dims, x.dtype


def _transpose_shape(inputs, attrs):
    x, perm = inputs[0], tuple(attrs["perm"])
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {perm} is not a permutation of the axes of "
                         f"{format_shape(x.dims)}")
    return tuple(x.dims[p] for p in perm), x.dtype


def _broadcast_shape(inputs, attrs):
    x, dims = inputs[0], tuple(attrs["shape"])
    lead = len(dims) - x.ndim
    if _bad_dims(dims) or lead < 0 or not all(
            d == 1 or _relabels((d,), (dims[lead + k],)) for k, d in enumerate(x.dims)):
        raise ShapeError(f"broadcast_to: cannot broadcast {format_shape(x.dims)} to "
                         f"{format_shape(dims)}")
    return dims, x.dtype


declare(OpDef(name="reshape", arity=1, kind="shape", sizes=True,
              impl=lambda x, shape: np.reshape(x, shape), shape=_reshape_shape,
              vjp=lambda n, g: [_reshape_cot(g, n.inputs[0].dims)],
              jvp=lambda n, t: reshape_node(t[0], n.dims), cost=0))
declare(OpDef(name="transpose", arity=1, kind="shape",
              impl=lambda x, perm: np.transpose(x, perm), shape=_transpose_shape,
              vjp=lambda n, g: [broadcast_node(s, n.inputs[0].dims)
                                if (s := scalar_source(g)) is not None else
                                transpose_node(g, np.argsort(n.attr("perm")).tolist())],
              jvp=lambda n, t: transpose_node(t[0], n.attr("perm")), cost=0))
declare(OpDef(name="broadcast_to", arity=1, kind="shape", sizes=True,
              impl=lambda x, shape: np.broadcast_to(x, shape), shape=_broadcast_shape,
              vjp=lambda n, g: [unbroadcast(g, n.inputs[0].dims)],
              jvp=lambda n, t: broadcast_node(t[0], n.dims), cost=0))


# ---- matmul --------------------------------------------------------------------------------

def _matmul_shape(inputs, attrs):
    a, b = inputs
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: operands must have at least one dimension, got shapes "
                         f"{format_shape(a.dims)} and {format_shape(b.dims)}")
    ad = a.dims if a.ndim > 1 else (1,) + a.dims
    bd = b.dims if b.ndim > 1 else b.dims + (1,)
    k1, k2 = ad[-1], bd[-2]
    contracted = broadcast_dims([(k1,), (k2,)])
    if contracted is None or (k1 == 1) != (k2 == 1):
        raise ShapeError(f"matmul: inner dimensions differ: shapes {format_shape(a.dims)} "
                         f"and {format_shape(b.dims)}")
    batch = broadcast_dims([ad[:-2], bd[:-2]])
    if batch is None:
        raise ShapeError(f"matmul: batch dimensions do not broadcast: shapes "
                         f"{format_shape(a.dims)} and {format_shape(b.dims)}")
    dims = batch + (ad[-2],) * (a.ndim > 1) + (bd[-1],) * (b.ndim > 1)
    return dims, promote(a.dtype, b.dtype)


def _swap_last(t: Tensor) -> Tensor:
    perm = tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2)
    return transpose_node(t, perm)


def _matmul_vjp(n, g):
    a, b = n.inputs
    A2 = a if a.ndim > 1 else reshape_node(a, (1,) + a.dims)
    B2 = b if b.ndim > 1 else reshape_node(b, b.dims + (1,))
    gdims = list(g.dims)
    if a.ndim == 1:
        gdims.insert(len(gdims) - (b.ndim > 1), 1)
    if b.ndim == 1:
        gdims.append(1)
    G = reshape_node(g, tuple(gdims)) if tuple(gdims) != g.dims else g
    ga = unbroadcast(bind("matmul", G, _swap_last(B2)), A2.dims)
    gb = unbroadcast(bind("matmul", _swap_last(A2), G), B2.dims)
    return [reshape_node(ga, a.dims) if ga.dims != a.dims else ga,
            reshape_node(gb, b.dims) if gb.dims != b.dims else gb]


def _matmul_jvp(n, t):
    a, b = n.inputs
    terms = []
    if t[0] is not None:
        terms.append(bind("matmul", t[0], b))
    if t[1] is not None:
        terms.append(bind("matmul", a, t[1]))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


declare(OpDef(name="matmul", arity=2, kind="matmul", impl=np.matmul, shape=_matmul_shape,
              vjp=_matmul_vjp,
              jvp=_matmul_jvp, infix="@", cost=2))


# ---- indexing ------------------------------------------------------------------------------

def _one_hot_shape(inputs, attrs):
    x = inputs[0]
    if x.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: labels must be integers, got {x.dtype}")
    depth = attrs["depth"]
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ShapeError(f"one_hot: depth must be a positive int, got {depth!r} (labels of "
                         f"shape {format_shape(x.dims)})")
    return x.dims + (attrs["depth"],), np.dtype(attrs["dtype"])


declare(OpDef(name="one_hot", arity=1, kind="index",
              impl=lambda x, depth, dtype: (x[..., None] == np.arange(depth)).astype(dtype),
              shape=_one_hot_shape, vjp=lambda n, g: [None], jvp=lambda n, t: None,
              differentiable=False, doc="one_hot(labels, depth): rows of the identity"))
