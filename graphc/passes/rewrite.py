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

import operator
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..bind import bind, build_site, built_at, constant_node
from ..ops.builders import broadcast_node as broadcast_to
from ..ops.builders import reshape_node as reshape  # noqa: F401  (for the rules)
from ..ops.builders import transpose_node as transpose  # noqa: F401  (for the rules)
from ..errors import DTypeError, ShapeError
from ..ir import Tensor, as_list, topo_order

Rule = Callable[[Tensor], "Tensor | None"]


class _State(threading.local):
    """What the rules of the rewrite running in this thread share."""

    def __init__(self):
        self.scratch: dict = {}         # a table rules may use (canonicalize's twins)
        self.strict = False             # no broadcasts to run-time shapes (see rewrite)


_state = _State()


def scratch() -> dict:
    """A table shared by the rules of the current rewrite (of the pipeline run, with a memo)."""
    return _state.scratch


# Rules build nodes through ``bind`` (so an op's shape rule refuses what the API would),
# and with the graph builders the derivative rules use; the rewrite sets
# ``build_site.location`` to the node being rewritten, so new nodes say they come from it.
build = bind


def remake(node: Tensor, inputs: Sequence[Tensor]) -> Tensor:
    """``node`` rebuilt over new ``inputs`` (the same node if the inputs are the same)."""
    for a, b in zip(inputs, node.inputs):
        if a is not b:
            break
    else:
        return node
    with built_at(node.location):
        out = bind(node.op, *inputs, **dict(node.attrs))
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


def fit(new: Tensor, old: Tensor, strict: bool = False) -> Tensor | None:
    """``new`` made to stand in for ``old`` (same dtype and shape), or ``None`` if it cannot.

    ``strict``: refuse to add a broadcast to a run-time shape (see ``rewrite``)."""
    if new.dims == old.dims and new.dtype == old.dtype:
        return new
    if new.dtype != old.dtype or not _fits(new.dims, old.dims):
        return None
    if len(new.dims) == len(old.dims) and all(map(_same_dim, new.dims, old.dims)):
        return new
    if strict and any(isinstance(d, str) for d in old.dims):
        return None
    with built_at(old.location):
        return bind("broadcast_to", new, shape=old.dims)


@dataclass(frozen=True)
class NamedRule:
    """A rule with a name, so ``rewrite`` can remember which rules found nothing to do at a
    node (nodes are immutable and rules are pure, so that stays true) and skip them in
    later passes. ``implies``: names of rule sets this one covers (finding nothing for
    this rule means finding nothing for those)."""

    name: str
    fn: Rule
    implies: frozenset = frozenset()


Memo = dict  # id(node) -> (node, frozenset of rule names known to find nothing there)
_EMPTY: frozenset = frozenset()


def _named(rules) -> list[NamedRule]:
    if rules is None:
        return []
    if callable(rules) and not isinstance(rules, NamedRule):
        return [NamedRule(getattr(rules, "__name__", repr(rules)), rules)]
    if isinstance(rules, NamedRule):
        return [rules]
    return [r if isinstance(r, NamedRule) else _named(r)[0] for r in rules]


class _Rewriter:
    """State of one ``rewrite`` run: normal forms of the nodes seen so far."""

    def __init__(self, rules, budget: int, subst: dict[int, Tensor], memo: Memo | None,
                 lookahead: Sequence[NamedRule] = ()):
        self.rules = _named(rules)
        self.lookahead = [r for r in lookahead if all(r.name != o.name for o in self.rules)
                          ] if memo is not None else []
        self.grown: dict[tuple, frozenset] = {}   # (known, rule name) -> known with its names
        self.names = frozenset(r.name for r in self.rules).union(
            *(r.implies for r in self.rules))
        self.budget = budget
        self.subst = subst
        self.memo = memo
        # known rule names -> (the rules still to try, known | names): worked out once per
        # distinct set rather than per node
        self.todo: dict[frozenset, tuple[list[NamedRule], frozenset, bool]] = {}
        self.norm: dict[int, Tensor] = {}       # id(node) -> its normal form
        self.redirect: dict[int, Tensor | None] = {}   # id(node) -> replacement being normalised
        self.alive: list[Tensor] = []           # keeps keyed nodes alive so ids stay unique

    def apply(self, m: Tensor) -> Tensor | None:
        """The first rule's replacement for ``m`` (fitted to its shape), or None."""
        if not self.rules or self.budget <= 0:
            return None
        self.budget -= 1
        memo = self.memo
        known = _EMPTY
        if memo is not None:
            entry = memo.get(id(m))
            if entry is not None and entry[0] is m:
                known = entry[1]
        todo = self.todo.get(known)
        if todo is None:
            todo = self.todo[known] = ([r for r in self.rules if r.name not in known],
                                       known | self.names, self.names <= known)
        rules, merged, complete = todo
        if complete:
            return None  # every rule already found nothing here
        build_site.location = m.location
        for rule in rules:
            try:
                r = rule.fn(m)
            except (ShapeError, DTypeError):  # a result that would not type-check: skip it
                continue
            if r is None or r is m:
                continue
            r = fit(r, m, _state.strict)
            if r is not None:
                return r
        if memo is not None:
            if self.lookahead:
                merged = self._look_ahead(m, merged)
            memo[id(m)] = (m, merged)
        return None

    def _look_ahead(self, m: Tensor, known: frozenset) -> frozenset:
        """``known`` with the lookahead rules that find nothing at ``m`` either (a later
        pass then need not try them here; one that would rewrite ``m`` is left to it)."""
        for rule in self.lookahead:
            if rule.name in known:
                continue
            try:
                r = rule.fn(m)
            except (ShapeError, DTypeError):
                r = None
            if r is not None and r is not m and fit(r, m, _state.strict) is not None:
                continue
            grown = self.grown.get((known, rule.name))
            if grown is None:
                grown = self.grown[(known, rule.name)] = known | {rule.name} | rule.implies
            known = grown
        return known

    def settle(self, root: Tensor) -> Tensor:
        """Normal form of ``root`` (iterative; nodes built by rules are settled in turn)."""
        norm, redirect, alive = self.norm, self.redirect, self.alive
        stack = [root]
        while stack:
            n = stack[-1]
            k = id(n)
            if k in norm:
                stack.pop()
                continue
            target: Tensor | None = redirect.get(k)
            if target is None and k in self.subst:
                target = redirect[k] = fit(self.subst[k], n)
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
            r = self.apply(m) if target is None else None
            if r is None:
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
        return norm[id(root)]


def rewrite(outputs, rule, max_steps: int | None = None,
            substitute: dict[int, Tensor] | None = None, memo: Memo | None = None,
            order: list[Tensor] | None = None, strict: bool = False,
            check_dims: bool = True, lookahead: Sequence[NamedRule] = ()) -> list[Tensor]:
    """Rewrite the graph of ``outputs`` with ``rule`` applied to every node until it settles.

    ``rule`` is a function, a ``NamedRule``, a list of them (tried in order, the first
    that fires wins) or ``None`` (only rebuild). ``memo`` (shared across the passes
    of one pipeline run) remembers which named rules found nothing at which node.
    ``order`` may pass ``topo_order(outputs)`` if the caller already has it.

    A rule may replace ``x - x`` by zeros broadcast to ``x``'s run-time shape; if
    ``x``'s placeholder then leaves the graph, nothing binds that size. With
    ``check_dims`` the result is checked for that and, if so, rewritten again in
    ``strict`` mode, where such broadcasts are refused (the pipeline does the same
    check itself, since it has the new graph's order anyway).

    ``max_steps`` caps rule applications (default: 20 per node plus 1,000), a guard
    against rule sets that would cycle: past it nodes are only rebuilt.
    ``substitute`` maps ``id(old node)`` to a replacement built over the old graph
    (its inputs are rewritten in turn); the caller keeps those old nodes alive.

    ``lookahead`` (with a ``memo``): the rules of later passes, tried at each node where
    ``rule`` finds nothing, only to record in the memo those that find nothing there too,
    so that a later pass over an unchanged graph skips its walk (``_all_known``). Nothing
    they return is used: rules are pure, so the later pass finds what they found.
    """
    outs = as_list(outputs)
    order = topo_order(outs) if order is None else order
    saved = _state.strict
    _state.strict = strict
    # rules fold constants with NumPy: 1e30 * 1e30 is inf, as it is at run time, and
    # graphc's own arithmetic never warns about it
    try:
        with np.errstate(all="ignore"):
            result = _rewrite_once(outputs, outs, order, rule, max_steps, substitute, memo,
                                   lookahead)
            if check_dims and not strict and result is not outputs and result is not outs:
                if unbound_dims(topo_order(result)) - unbound_dims(order):
                    _state.strict = True
                    result = _rewrite_once(outputs, outs, order, rule, max_steps, substitute,
                                           memo)
                    if unbound_dims(topo_order(result)) - unbound_dims(order):
                        result = outputs  # even so (a static zero): keep the graph as it was
    finally:
        _state.strict = saved
    return result


def _rewrite_once(outputs, outs, order, rule, max_steps, substitute, memo,
                  lookahead=()) -> list[Tensor]:
    subst = substitute or {}
    same = outputs if isinstance(outputs, list) else outs
    if memo is not None and not subst and _all_known(order, memo, _named(rule)):
        return same  # every rule already found nothing at every node
    rw = _Rewriter(rule, max_steps if max_steps is not None else 20 * len(order) + 1000, subst,
                   memo, lookahead)
    norm = rw.norm
    saved = build_site.location, _state.scratch
    build_site.location = "<optimizer>"
    _state.scratch = memo if memo is not None else {}
    try:
        for n in order:  # inputs first, so the common case needs no stack
            k = id(n)
            if k in norm:
                continue
            m = n
            ins = n.inputs
            if ins:
                new = [norm[id(i)] for i in ins]
                if not all(map(operator.is_, new, ins)):   # (else remake would give n)
                    m = remake(n, new)
            if k not in subst:
                if m is not n and id(m) in norm:
                    norm[k] = norm[id(m)]
                    continue
                r = rw.apply(m)
                if r is None:
                    norm[k] = m
                    if m is not n:
                        norm[id(m)] = m
                        rw.alive.append(m)
                    continue
                rw.redirect[k] = r
                rw.alive.append(r)
                if m is not n:
                    rw.redirect[id(m)] = r
                    rw.alive.append(m)
                rw.settle(r)
                norm[k] = norm[id(r)]
                if m is not n:
                    norm[id(m)] = norm[k]
                continue
            rw.settle(n)
    finally:
        build_site.location, _state.scratch = saved
    new_outs = [norm[id(o)] for o in outs]
    if all(a is b for a, b in zip(new_outs, outs)):
        return same  # unchanged (nodes are immutable, so the whole graph is the same)
    return new_outs


def _all_known(order: list[Tensor], memo: Memo, rules: list[NamedRule]) -> bool:
    names = frozenset(r.name for r in rules)
    for n in order:
        if not n.inputs:
            continue
        entry = memo.get(id(n))
        if entry is None or entry[0] is not n or not names <= entry[1]:
            return False
    return True


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
    with built_at("<optimizer>"):
        return constant_node(np.asarray(value).astype(dtype))


def scalar(value, dtype) -> Tensor:
    """A 0-d constant of exactly ``dtype``."""
    return const_node(value, dtype)


def filled(value, like: Tensor) -> Tensor:
    """``value`` broadcast to ``like``'s shape and dtype (refused in strict mode if that
    shape has run-time dims: the broadcast would name a size nothing may bind)."""
    if _state.strict and any(isinstance(d, str) for d in like.dims):
        raise ShapeError("strict: no broadcast to a run-time shape")
    return broadcast_to(scalar(value, like.dtype), like.dims)


def unbound_dims(order: list[Tensor]) -> set:
    """Run-time dims named in a graph that none of its placeholders/parameters binds.

    Only leaves and the ``shape`` attributes of reshape/broadcast_to/shape_size bring
    dims into a graph; every other node's dims come from its inputs.
    """
    bound: set = set()
    named: set = set()
    for n in order:
        if n.op in ("placeholder", "parameter"):
            bound.update(d for d in n.dims if isinstance(d, str))
        elif n.op in ("reshape", "broadcast_to", "shape_size"):
            named.update(d for d in n.attr("shape") if isinstance(d, str))
    return named - bound
