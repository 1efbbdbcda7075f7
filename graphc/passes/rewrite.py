"""The shared engine of the rewriting passes: rebuild a graph bottom-up, applying local rules.

A pass is a *rule*: a function from one node (whose inputs are already rewritten)
to a replacement node or ``None``. ``rewrite(outputs, rule)`` walks the graph in
topological order, rebuilds each node from its rewritten inputs (hash-consing
returns the old node when nothing changed) and applies the rule until it reaches
a fixpoint. Nodes a rule creates are themselves brought to normal form before
they are used, so rules compose without a second sweep. Everything is iterative:
graphs 10,000 nodes deep need no recursion.

Every replacement goes through ``fit``: it must keep the node's dtype, and its
shape must broadcast to the node's shape (a ``broadcast_to`` is added when a rule
returns something smaller, e.g. ``x * 1`` -> ``x`` where ``1`` was the larger operand).
A rule therefore can never change what a graph computes by changing a shape.

>>> import graphc as gc
>>> from graphc.passes.rewrite import rewrite
>>> x = gc.placeholder("x", (3,))
>>> def drop_neg_neg(n):
...     return n.inputs[0].inputs[0] if n.op == "neg" and n.inputs[0].op == "neg" else None
>>> rewrite([-(-x)], drop_neg_neg)[0] is x
True
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..ir import ConstValue, Tensor, as_list
from ..ops import OPS

Rule = Callable[[Tensor], "Tensor | None"]


def remake(node: Tensor, inputs: Sequence[Tensor]) -> Tensor:
    """``node`` rebuilt over new ``inputs`` (the same node if the inputs are the same)."""
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    attrs = dict(node.attrs)
    dims, dtype = OPS[node.op].shape(list(inputs), attrs)
    out = Tensor.make(node.op, inputs, attrs, dims, dtype, location=node.location)
    fitted = fit(out, node)
    return out if fitted is None else fitted


def _same_dim(a, b) -> bool:
    # Two anonymous run-time dims that the old graph broadcast together are equal at
    # run time (broadcasting never takes a symbolic dim to be 1), so a rewrite may
    # swap one for the other.
    return a == b or (isinstance(a, str) and isinstance(b, str)
                      and a.startswith("?") and b.startswith("?"))


def _fits(small: tuple, big: tuple) -> bool:
    """Can ``small`` broadcast to exactly ``big``?"""
    if len(small) > len(big):
        return False
    lead = len(big) - len(small)
    return all(d == 1 or _same_dim(d, big[lead + k]) for k, d in enumerate(small))


def fit(new: Tensor, old: Tensor) -> Tensor | None:
    """``new`` made to stand in for ``old`` (same dtype and shape), or ``None`` if it cannot."""
    if new.dims == old.dims and new.dtype == old.dtype:
        return new
    if new.dtype != old.dtype or not _fits(new.dims, old.dims):
        return None
    if len(new.dims) == len(old.dims) and all(map(_same_dim, new.dims, old.dims)):
        return new
    return Tensor.make("broadcast_to", [new], {"shape": old.dims}, old.dims, old.dtype,
                       location=old.location)


def rewrite(outputs, rule: Rule | None, max_steps: int | None = None,
            substitute: dict[int, Tensor] | None = None) -> list[Tensor]:
    """Rewrite the graph of ``outputs`` with ``rule`` applied to every node until it settles.

    ``max_steps`` caps rule applications (default: 20 per node plus 1,000), a guard
    against rule sets that would cycle: past it nodes are only rebuilt.
    ``substitute`` maps ``id(old node)`` to a replacement built over the old graph
    (its inputs are rewritten in turn); the caller keeps those old nodes alive.
    """
    subst = substitute or {}
    if rule is None:
        def rule(_n):
            return None
    outs = as_list(outputs)
    norm: dict[int, Tensor] = {}        # id(node) -> its normal form
    redirect: dict[int, Tensor] = {}    # id(node) -> replacement being normalised
    alive: list[Tensor] = []            # keeps every keyed node alive, so ids stay unique
    budget = [max_steps if max_steps is not None else 1000]
    first = max_steps is None

    def settle(root: Tensor) -> None:
        stack = [root]
        while stack:
            n = stack[-1]
            k = id(n)
            if k in norm:
                stack.pop()
                continue
            target = redirect.get(k)
            if target is None and k in subst:
                target = redirect[k] = fit(subst[k], n)
                if target is not None and target is not n:
                    alive.append(target)
                    stack.append(target)
                    continue
            if target is not None and id(target) in norm:
                norm[k] = norm[id(target)]
                stack.pop()
                continue
            missing = [i for i in n.inputs if id(i) not in norm]
            if missing:
                stack.extend(reversed(missing))
                continue
            m = remake(n, [norm[id(i)] for i in n.inputs])
            if m is not n:
                alive.append(m)
                if id(m) in norm:
                    norm[k] = norm[id(m)]
                    stack.pop()
                    continue
            r = None
            if budget[0] > 0 and target is None:
                budget[0] -= 1
                r = rule(m)
                if r is not None:
                    r = fit(r, m)
            if r is None or r is m:
                norm[k] = norm[id(m)] = m
                stack.pop()
                continue
            alive.append(r)
            if id(r) in norm:
                norm[k] = norm[id(m)] = norm[id(r)]
                stack.pop()
                continue
            redirect[k] = redirect[id(m)] = r
            stack.append(r)

    if first:
        from ..ir import topo_order
        budget[0] = 20 * len(topo_order(outs)) + 1000
    for o in outs:
        alive.append(o)
        settle(o)
    return [norm[id(o)] for o in outs]


# ---- helpers shared by the rule sets ----------------------------------------------------------

def splat_value(node: Tensor):
    """The scalar a node is filled with, if it is a constant with all elements equal
    (possibly reshaped or broadcast); else ``None``."""
    while node.op in ("broadcast_to", "reshape"):
        node = node.inputs[0]
    if node.op != "constant":
        return None
    arr = node.attr("value").array
    if arr.size == 0:
        return None
    flat = arr.reshape(-1)
    first = flat[0]
    if arr.size > 1 and not np.all(flat == first):
        return None
    return first


def is_const(node: Tensor) -> bool:
    """A constant, or a broadcast/reshape of one."""
    while node.op in ("broadcast_to", "reshape"):
        node = node.inputs[0]
    return node.op == "constant"


def const_node(value, dtype) -> Tensor:
    """A constant node holding ``value`` in exactly ``dtype``."""
    arr = np.asarray(value).astype(dtype)
    return Tensor.make("constant", (), {"value": ConstValue(arr)}, arr.shape, arr.dtype,
                       location="<optimizer>")


def scalar(value, dtype) -> Tensor:
    """A 0-d constant of exactly ``dtype``."""
    return const_node(value, dtype)


def filled(value, like: Tensor) -> Tensor:
    """``value`` broadcast to ``like``'s shape and dtype."""
    from .. import api as A
    return A.broadcast_to(scalar(value, like.dtype), like.dims)
