"""Sub-graphs held by control-flow nodes (loop bodies, branches): ``Body`` and ``close``.

A ``Body`` is a *closed* graph: every leaf it reads is one of its own placeholders
(``inputs``) or a constant. Tracing a user's function yields a graph that may read outer
tensors (a weight, an input, another loop's result); ``close`` cuts it at those tensors:
each outer tensor the body reads becomes a new placeholder of the body and an explicit
input of the control-flow node. Everything that does not depend on the body's own
placeholders is outer by definition, so loop-invariant work is computed once, outside the
loop, by construction.

A ``Body`` is an attribute value, hashed by identity: a body is traced once, and every
node over it (the outputs of one loop, its derivatives' loops) shares the same object, so
hash-consing merges nodes of the same loop. ``derived`` memoizes bodies built from this
one (a vjp or jvp body), so differentiating two outputs of one loop builds one backward
loop, not two.

>>> import graphc as gc
>>> c = gc.placeholder("c", (3,))
>>> w = gc.parameter("w", [1., 2., 3.])
>>> inputs, outputs, outer = close([c], [c * gc.exp(w)])
>>> [p.name for p in inputs], [o.op for o in outer]   # exp(w) is computed outside
(['c', 'c0'], ['exp'])
"""
from __future__ import annotations

from typing import Sequence

from .bind import bind, built_at, ops_where
from .ir import Tensor, fresh_uid, topo_order


class Body:
    """A closed sub-graph: ``inputs`` (placeholders, in the order the node passes its
    operands) -> ``outputs``. ``counts`` says how the inputs/outputs split into groups
    (for a scan: carries, per-step slices, constants; carries out, per-step outputs)."""

    __slots__ = ("inputs", "outputs", "kind", "counts", "derived", "memo", "residuals",
                 "__weakref__")

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor], kind: str,
                 counts: dict):
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.kind = kind
        self.counts = dict(counts)
        self.derived: dict = {}    # ("vjp", mask...) -> a body built from this one
        self.memo: tuple | None = None   # the reference interpreter's last run
        # inner nodes whose per-step values a loop can also stack as results (a scan's vjp
        # saves its body's matmul results here instead of recomputing them); only grows
        self.residuals: list[Tensor] = []

    def __repr__(self) -> str:
        return f"<{self.kind} body: {len(self.inputs)} in, {len(self.outputs)} out>"

    def __reduce__(self):
        # the graph file format and pickles have no encoding for sub-graphs yet
        from .errors import UsageError
        raise UsageError("graphs with loops or branches (gc.scan, gc.cond...) cannot be "
                         "pickled or saved yet")


def _is_inner_leaf(n: Tensor) -> bool:
    """Leaves that stay inside a body: constants and other non-fed leaves."""
    return not n.inputs and n.op not in ops_where(fed=True)


def close(placeholders: Sequence[Tensor], outputs: Sequence[Tensor], name_of=None):
    """Close the graph ``placeholders -> outputs``.

    Returns ``(inputs, new_outputs, outer)``: ``inputs`` are ``placeholders`` followed by one
    new placeholder per outer tensor the graph reads (``outer``, in first-use order);
    ``new_outputs`` read those placeholders instead. An output that is itself outer (does
    not depend on the placeholders) becomes its placeholder. ``name_of(node, k)`` names the
    placeholder of the k-th outer tensor (default: its own name, else ``c{k}``).
    """
    order = topo_order(list(outputs) + list(placeholders))
    inner = {id(p) for p in placeholders}
    for n in order:
        if id(n) not in inner and n.inputs and any(id(i) in inner for i in n.inputs):
            inner.add(id(n))
    outer: list[Tensor] = []
    subst: dict[int, Tensor] = {}

    def cut(n: Tensor) -> Tensor:
        if id(n) in inner or _is_inner_leaf(n):
            return n
        ph = subst.get(id(n))
        if ph is None:
            k = len(outer)
            name = name_of(n, k) if name_of else (n.name or f"c{k}")
            ph = Tensor.make("placeholder", (), {"name": name, "uid": fresh_uid()}, n.dims,
                             n.dtype, location=n.location)
            subst[id(n)] = ph
            outer.append(n)
        return ph

    new: dict[int, Tensor] = {}
    for n in order:
        if id(n) not in inner or n.op == "placeholder":
            continue
        ins = [new[id(i)] if id(i) in new else cut(i) for i in n.inputs]
        if all(a is b for a, b in zip(ins, n.inputs)):
            new[id(n)] = n
        else:
            with built_at(n.location):
                new[id(n)] = bind(n.op, *ins, **dict(n.attrs))
    new_outputs = [new[id(o)] if id(o) in new else (o if id(o) in inner else cut(o))
                   for o in outputs]
    inputs = list(placeholders) + [subst[id(o)] for o in outer]
    return inputs, new_outputs, outer


def body_nodes(body: Body) -> list[Tensor]:
    """The body's nodes, inputs first (its placeholders in order, then the rest)."""
    order = topo_order(list(body.outputs))
    seen = {id(p) for p in body.inputs}
    return list(body.inputs) + [n for n in order if id(n) not in seen]


def graph_size(roots: Sequence[Tensor]) -> int:
    """Nodes of the graph of ``roots`` and of every body in it, recursively (a body
    counted once however many loop nodes share it): what a loop keeps independent of its
    trip count."""
    total, seen = 0, set()
    stack = list(roots)
    while stack:
        order = topo_order(stack)
        stack = []
        total += len(order)
        for n in order:
            for _, v in n.attrs:
                for b in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(b, Body) and id(b) not in seen:
                        seen.add(id(b))
                        stack += list(b.outputs)
    return total

