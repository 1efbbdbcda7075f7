"""Graph builders the derivative rules use (through ``bind``, so every node is
shape-checked), and the cotangent plumbing shared by several ops' rules (``unbroadcast``)."""
from __future__ import annotations


import numpy as np

from ..bind import bind, constant_node
from ..ir import Tensor


def reshape_node(x: Tensor, dims) -> Tensor:
    dims = tuple(dims)
    return x if x.dims == dims else bind("reshape", x, shape=dims)


def broadcast_node(x: Tensor, dims) -> Tensor:
    dims = tuple(dims)
    return x if x.dims == dims else bind("broadcast_to", x, shape=dims)


def transpose_node(x: Tensor, perm) -> Tensor:
    perm = tuple(int(p) for p in perm)
    return x if perm == tuple(range(x.ndim)) else bind("transpose", x, perm=perm)


def sum_node(x: Tensor, axes, keepdims=False) -> Tensor:
    return bind("sum", x, axes=tuple(axes), keepdims=bool(keepdims))


def cast_node(x: Tensor, dtype) -> Tensor:
    dtype = np.dtype(dtype)
    return x if x.dtype == dtype else bind("cast", x, dtype=dtype.name)


def unbroadcast(g: Tensor, dims) -> Tensor:
    """Sum ``g`` over the axes that broadcasting added or stretched to reach ``g``'s shape."""
    dims = tuple(dims)
    if g.dims == dims:
        return g
    lead = g.ndim - len(dims)
    axes = list(range(lead))
    for k, d in enumerate(dims):
        if d == 1 and g.dims[lead + k] != 1:
            axes.append(lead + k)
    s = scalar_source(g)
    counts = [g.dims[a] for a in axes]
    if axes and s is not None and s.op == "constant" and all(isinstance(c, int) for c in counts):
        # a constant cotangent summed: the sum is known (keeps gradients of seeds small)
        total = constant_node(s.value * int(np.prod(counts)), g.dtype)
        return total if not dims else broadcast_node(total, dims)
    if axes:
        stretched = len(axes) > lead
        # only leading axes to drop: one plain sum (reads as sum(g, axis=0), no reshape)
        g = sum_node(g, tuple(axes), keepdims=stretched)
        lead = lead if stretched else 0
    if g.dims != dims and lead:
        g = reshape_node(g, g.dims[lead:])  # drop the summed leading axes (now 1s)
    if g.dims != dims:
        r = relabel(g, dims)
        g = r if r is not None else reshape_node(g, dims)
    return g


def relabel(g: Tensor, dims) -> Tensor | None:
    """``g`` with static shape ``dims`` when the two differ only where one side is a run-time
    dim (a run-time dim met a known size, or another run-time dim, in broadcasting): the
    sizes agree at run time, only the static names differ. Else None."""
    dims = tuple(dims)
    if len(g.dims) != len(dims) or not all(
            a == b or isinstance(a, str) or isinstance(b, str) for a, b in zip(g.dims, dims)):
        return None
    return bind("reshape", g, shape=dims)




def scalar_source(g: Tensor) -> Tensor | None:
    """The 0-d tensor ``g`` merely broadcasts (``g`` itself if 0-d), else None.

    Cotangents of sums are often such broadcasts; reshaping or transposing them
    is the same broadcast of the same scalar, which keeps gradient graphs small."""
    if g.ndim == 0:
        return g
    if g.op == "broadcast_to" and g.inputs[0].ndim == 0:
        return g.inputs[0]
    return None
