"""Dead-code elimination: keep only what the outputs need, and drop no-op nodes.

Graphs are immutable and rebuilt from their outputs, so unreachable nodes vanish
on the rebuild; what this pass adds is the removal of nodes that compute nothing:
``stop_gradient`` (its job ended with autodiff), reshapes and broadcasts to the
shape the input already has, casts to the dtype it already has, identity transposes.
Its node counts show how much of the graph was dead.

>>> import graphc as gc
>>> from graphc.passes.dce import dce
>>> x = gc.placeholder("x", (3,))
>>> dce([gc.stop_gradient(x)])[0] is x
True
"""
from __future__ import annotations

from ..ir import Tensor
from .rewrite import NamedRule, rewrite


def noop_rule(n: Tensor) -> Tensor | None:
    """The input of a node that returns its input unchanged, else ``None``."""
    if n.op == "stop_gradient":
        return n.inputs[0]
    if n.op in ("reshape", "broadcast_to") and n.inputs[0].dims == n.dims:
        return n.inputs[0]
    if n.op == "cast" and n.inputs[0].dtype == n.dtype:
        return n.inputs[0]
    if n.op == "transpose" and n.attr("perm") == tuple(range(n.ndim)):
        return n.inputs[0]
    return None


DCE = NamedRule("dce", noop_rule)


def dce(outputs) -> list[Tensor]:
    """The graph of ``outputs`` without dead or no-op nodes."""
    return rewrite(outputs, DCE)
