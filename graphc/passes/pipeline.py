"""The optimization pipeline: named passes, opt levels, per-pass stats, dumps.

Passes, in order (each a pure function from output nodes to output nodes):

=============  =====  ==========================================================
name           level  what
=============  =====  ==========================================================
canonicalize   1      operand order, constants collected, signs, CSE beyond hash-consing
fold           1      constant subgraphs evaluated (exact dtypes)
simplify       1      algebraic pattern rules
stabilize      2      numerically stable forms
sympy          2      SymPy on small elementwise clusters, budgeted, cost-checked
dce            1      dead and no-op nodes dropped
=============  =====  ==========================================================

canonicalize, simplify, stabilize and dce apply the rules of the rule book phase of
the same name (``graphc.rules``; canonicalize runs dce's no-op rules first).

``opt_level=0`` runs nothing. ``disable=("simplify",)`` switches passes off by
name. The rule-based passes use the enabled cheaper passes' rules as cleanup
(``simplify`` also canonicalizes and folds what it creates), so each pass leaves a
normalised graph. Per pass, ``PassStat`` records node counts before and after and
the seconds taken.

Dumps, like a compiler's print-after-all: ``dump="after-all"`` (or the
environment variable ``GRAPHC_DUMP=after-all``) prints the ``gc.show`` listing
after every pass to stderr; ``dump="after-simplify"`` after one pass only; a
``list`` as ``dump`` collects ``(pass name, listing)`` pairs into it instead.

>>> import graphc as gc
>>> a = gc.parameter("a", [2., 4.])
>>> da = gc.grad(3 * a**3, a, seed=gc.constant([1., 1.]))
>>> print(gc.show(gc.optimize(da)))
graph(a: f32[2] param) {
  t1: f32[2] = mul(a, a)
  t2: f32[2] = mul(9.0, t1)
  return t2
}
"""
from __future__ import annotations

import gc as pygc
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import progress
from ..errors import GraphcError
from ..ir import Tensor, as_list, topo_order
from .canonicalize import CANONICALIZE
from .dce import DCE
from .fold import FOLD
from .rewrite import Memo, rewrite, unbound_dims
from .simplify import SIMPLIFY
from .stabilize import STABILIZE


@dataclass
class PassStat:
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float
    note: str = ""


@dataclass
class OptimizeResult:
    outputs: list[Tensor]
    stats: list[PassStat] = field(default_factory=list)
    order: list[Tensor] = field(default_factory=list)   # topo_order(outputs), for reuse


@dataclass
class _Run:
    """What the passes of one pipeline run share."""
    enabled: set
    order: list            # topo order of the current outputs
    memo: Memo = field(default_factory=dict)
    strict: bool = False      # no rule may broadcast to a run-time shape (see rewrite)
    standalone: bool = False  # a runner called on its own checks run-time dims itself
    # (order, names the memo has at each of its nodes): the memo only learns more about
    # the nodes of an order (they stay alive), so an older answer is never wrong, only
    # short; it is worked out again after a walk that may have taught it more
    everywhere: tuple | None = None

    def known_everywhere(self, rules) -> bool:
        """Does the memo say that every rule of ``rules`` finds nothing at every node of
        the current graph? (``rewrite`` asks the same per pass; one scan of the memo serves
        the passes that follow an unchanged graph.)"""
        if self.everywhere is None or self.everywhere[0] is not self.order:
            self.everywhere = (self.order, _common_names(self.order, self.memo))
        known = self.everywhere[1]
        return known is None or {r.name for r in rules} <= known

    def cleanup(self) -> list:
        """The enabled cheap passes' rules, used by later passes to tidy what they build."""
        return [r for r in (CANONICALIZE, FOLD) if r.name in self.enabled]


def _common_names(order: list[Tensor], memo: Memo) -> frozenset | None:
    """The rule names the memo has at every node with inputs (``None``: there are none)."""
    common = None
    seen: set[int] = set()   # the memo shares a few sets among all nodes: each checked once
    for n in order:
        if not n.inputs:
            continue
        entry = memo.get(id(n))
        if entry is None or entry[0] is not n:
            return frozenset()
        names = entry[1]
        if id(names) not in seen:
            seen.add(id(names))
            common = names if common is None else common & names
    return common


def _context(outs: list[Tensor], ctx) -> _Run:
    """A runner's context: the pipeline's, or a fresh one from a set of enabled pass names
    (so ``PASSES[name][1](outputs, enabled)`` runs one pass on its own)."""
    if isinstance(ctx, _Run):
        return ctx
    return _Run(set(PASSES) if ctx is None else set(ctx), topo_order(outs), standalone=True)


def _rules(*own, ahead=()) -> Callable:
    """A rule-based pass: ``own`` rules, then the enabled cheap passes' as cleanup.
    ``ahead``: later rule-based passes whose rules this walk tries where nothing else
    applies, recording where they find nothing (``rewrite``'s lookahead), so that those
    passes need not walk a graph that has not changed since (most large graphs)."""
    def run(outs: list[Tensor], ctx=None) -> list[Tensor]:
        ctx = _context(outs, ctx)
        extra = [r for r in ctx.cleanup() if r not in own]
        later = [] if ctx.standalone else [r for r in ahead if r.name in ctx.enabled]
        if not ctx.standalone and ctx.known_everywhere([*own, *extra]):
            return outs   # what rewrite would find itself (_all_known), without a scan
        ctx.everywhere = None   # the walk adds to the memo
        return rewrite(outs, [*own, *extra], memo=ctx.memo, order=ctx.order, strict=ctx.strict,
                       check_dims=ctx.standalone, lookahead=later)
    return run


def _sympy_pass(outs: list[Tensor], ctx=None) -> list[Tensor]:
    from .sympy_simplify import sympy_simplify
    ctx = _context(outs, ctx)
    tidy = ([SIMPLIFY] if "simplify" in ctx.enabled else []) + ctx.cleanup()
    new = sympy_simplify(outs, order=ctx.order, cleanup=tidy, memo=ctx.memo,
                         strict=ctx.strict, check_dims=ctx.standalone)
    if len(new) == len(outs) and all(a is b for a, b in zip(new, outs)):
        return outs   # unchanged: the pipeline keeps the order it has
    return new


# name -> (lowest opt level that runs it, runner)
PASSES: dict[str, tuple[int, Callable]] = {
    "canonicalize": (1, _rules(CANONICALIZE, ahead=(SIMPLIFY, STABILIZE))),
    "fold": (1, _rules(FOLD)),
    "simplify": (1, _rules(SIMPLIFY, ahead=(STABILIZE,))),
    "stabilize": (2, _rules(STABILIZE, SIMPLIFY)),
    "sympy": (2, _sympy_pass),
    "dce": (1, _rules(DCE)),
}


def _dumper(dump):
    dump = dump if dump is not None else os.environ.get("GRAPHC_DUMP") or None
    if dump is None:
        return None
    from ..printing import show
    if isinstance(dump, list):
        return lambda name, outs: dump.append((name, show(outs, title=f"after {name}")))
    if not isinstance(dump, str) or not dump.startswith("after-"):
        raise GraphcError(f"dump must be 'after-all', 'after-<pass>' or a list, got {dump!r}")
    which = dump[len("after-"):]
    if which != "all" and which not in PASSES:
        raise GraphcError(f"dump={dump!r}: no pass named {which!r}; passes: {list(PASSES)}")

    def emit(name, outs):
        if which in ("all", name):
            print(show(outs, title=f"after {name}"), file=sys.stderr)
    return emit


def run_pipeline(outputs, opt_level: int = 2, disable=(), dump=None,
                 order: list[Tensor] | None = None) -> OptimizeResult:
    """Optimize ``outputs`` (a tensor or a list); return the new outputs and per-pass stats.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (3,))
    >>> r = run_pipeline([x * 1.0 + 0.0])
    >>> r.outputs[0] is x, [s.name for s in r.stats][:3]
    (True, ['canonicalize', 'fold', 'simplify'])

    ``order`` may pass ``topo_order(outputs)`` when the caller has it already.
    """
    outs = as_list(outputs)
    for o in outs:
        if not isinstance(o, Tensor):
            raise GraphcError(f"optimize: outputs must be tensors, got {type(o).__name__}")
    disable = {disable} if isinstance(disable, str) else set(disable)
    unknown = disable - set(PASSES)
    if unknown:
        raise GraphcError(f"optimize: no pass named {sorted(unknown)}; passes: {list(PASSES)}")
    enabled = {name for name, (level, _) in PASSES.items()
               if level <= opt_level and name not in disable}
    emit = _dumper(dump)
    stats: list[PassStat] = []
    order = topo_order(outs) if order is None else order
    ctx = _Run(enabled, order)
    count, unbound = len(order), unbound_dims(order)
    collecting = pygc.isenabled()
    pygc.disable()  # graphs are acyclic: reference counting frees them; the cycle GC only costs
    try:
        for name in progress.each([n for n in PASSES if n in enabled], "optimizing: {item}, pass"):
            run = PASSES[name][1]
            t0 = time.perf_counter()
            new = run(outs, ctx)
            new_order = ctx.order if new is outs else topo_order(new)
            note = ""
            if new is not outs and unbound_dims(new_order) - unbound and not ctx.strict:
                # a rule dropped the placeholder that binds a run-time size it broadcasts
                # to: redo the pass (and the rest of the run) without such broadcasts
                ctx.strict, note = True, "strict: kept run-time shapes bound"
                new = run(outs, ctx)
                new_order = ctx.order if new is outs else topo_order(new)
            if new is not outs and unbound_dims(new_order) - unbound:
                new, new_order, note = outs, ctx.order, "reverted: lost a run-time dim's source"
            if len(new_order) > 2 * count + 64:
                # rules that feed each other can grow a graph until their step budget runs
                # out; no pass is meant to more than double one, so keep the input
                new, new_order, note = outs, ctx.order, "reverted: the graph grew too much"
            stats.append(PassStat(name, count, len(new_order), time.perf_counter() - t0, note))
            outs, count, ctx.order = new, len(new_order), new_order
            if emit is not None:
                emit(name, outs)
    finally:
        if collecting:
            pygc.enable()
    return OptimizeResult(list(outs), stats, ctx.order)


def optimize(outputs, opt_level: int = 2, disable=(), dump=None):
    """The optimized graph of ``outputs`` (same structure: a tensor or a list), uncompiled.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 3))
    >>> dx = gc.grad(gc.sum(gc.tanh(x)), x)
    >>> print(gc.show(gc.optimize([gc.tanh(x), dx])))
    graph(x: f32[None,3]) {
      t1: f32[None,3] = tanh(x)
      t2: f32[None,3] = mul(t1, t1)
      t3: f32[None,3] = sub(1.0, t2)
      return t1, t3
    }
    """
    result = run_pipeline(outputs, opt_level, disable, dump)
    return result.outputs[0] if isinstance(outputs, Tensor) else result.outputs
