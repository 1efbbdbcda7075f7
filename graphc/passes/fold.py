"""Constant folding: a node whose inputs are all constants becomes a constant.

Values come from the reference interpreter (``interpreter.run_node``), so folding
computes exactly what running the graph would, in the node's exact dtype.
Placeholders, parameters and ``shape_size`` (a run-time size when the shape is
symbolic) are never folded, nor anything with a symbolic dimension. Folding never
materialises a big array out of a small one: a result larger than its inputs is
kept as ``broadcast_to(scalar)`` when uniform, else left unfolded.

>>> import graphc as gc
>>> from graphc.passes.fold import fold
>>> x = gc.placeholder("x", (2,))
>>> print(gc.show(fold([x * (gc.constant(2.) + 1.)])))
graph(x: f32[2]) {
  t1: f32[2] = mul(x, 3.0)
  return t1
}
"""
from __future__ import annotations

import numpy as np

from ..bind import OPS
from ..interpreter import run_node
from ..ir import Tensor, size_of
from .rewrite import NamedRule, broadcast_to, const_node, rewrite

SMALL = 64  # elements: results up to this size are always materialised


def fold_rule(n: Tensor) -> Tensor | None:
    """``n`` as a constant if all its inputs are constants, else ``None``."""
    ins = n.inputs
    if not ins or ins[0].op != "constant" or any(i.op != "constant" for i in ins) \
            or OPS[n.op].kind == "loop":
        return None   # (a loop's trip count is not bounded: never run one at compile time)
    size = size_of(n.dims)
    if size is None:
        return None
    biggest = max(i.attr("value").array.size for i in n.inputs)
    try:
        with np.errstate(all="ignore"):
            value = run_node(n, [i.attr("value").array for i in n.inputs], {})
    except Exception:  # an op that cannot run here (bad labels...) stays for run time
        return None
    if size <= max(SMALL, biggest):
        return const_node(value, n.dtype)
    flat = value.reshape(-1)
    if np.all(flat == flat[0]) or np.all(np.isnan(flat)):
        return broadcast_to(const_node(flat[0], n.dtype), n.dims)
    return None


FOLD = NamedRule("fold", fold_rule)


def fold(outputs) -> list[Tensor]:
    """Fold every constant subgraph of ``outputs``."""
    return rewrite(outputs, FOLD)
