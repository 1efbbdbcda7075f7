"""Dead-code elimination: keep only what the outputs need, and drop no-op nodes.

Graphs are immutable and rebuilt from their outputs, so unreachable nodes vanish
on the rebuild; what this pass adds is the removal of nodes that compute nothing
(the ``dce`` phase of the rule book): ``stop_gradient`` (its job ended with autodiff),
reshapes and broadcasts to the shape the input already has, casts to the dtype it
already has, identity transposes. Canonicalize runs these same rules first.
Its node counts show how much of the graph was dead.

>>> import graphc as gc
>>> from graphc.passes.dce import dce
>>> x = gc.placeholder("x", (3,))
>>> dce([gc.stop_gradient(x)])[0] is x
True
"""
from __future__ import annotations

from ..ir import Tensor
from ..rules import Rule, register_rules
from .patterns import compile_phase
from .rewrite import rewrite

# (witnesses build the no-op nodes raw: the API itself never makes them)
NOOP_RULES = register_rules("dce", [
    Rule("stop_gradient(x)", ("stop_gradient", "x"), "x",
         witness=lambda v: v.op("stop_gradient", v("x"))),
    Rule("cast to own dtype", ("cast", "x"), "x", lambda b: b["x"].dtype == b["_"].dtype,
         witness=lambda v: v.op("cast", v("x"), dtype=v("x").dtype.name),
         near_miss=lambda v: v.op("cast", v("x"), dtype="int32")),
    Rule("reshape/broadcast to own shape", (frozenset({"reshape", "broadcast_to"}), "x"), "x",
         lambda b: b["x"].dims == b["_"].dims,
         witness=lambda v: v.op("reshape", v("x"), shape=v("x").dims),
         near_miss=lambda v: v.op("reshape", v("x", (4,)), shape=(1, 4))),
    Rule("identity transpose", ("transpose", "x"), "x",
         lambda b: b["_"].attr("perm") == tuple(range(b["_"].ndim)),
         witness=lambda v: v.op("transpose", v("x", (3, 4)), perm=(0, 1)),
         near_miss=lambda v: v.op("transpose", v("x", (3, 4)), perm=(1, 0))),
])

DCE = compile_phase("dce")


def dce(outputs) -> list[Tensor]:
    """The graph of ``outputs`` without dead or no-op nodes."""
    return rewrite(outputs, DCE)
