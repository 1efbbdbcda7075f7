"""The optimization pipeline: named passes, opt levels, per-pass stats, dumps.

Passes, in order (each a pure function from output nodes to output nodes):

=============  =====  ==========================================================
name           level  what
=============  =====  ==========================================================
canonicalize   1      operand order, constants collected, signs, CSE beyond hash-consing
fold           1      constant subgraphs evaluated (exact dtypes)
simplify       1      algebraic pattern rules (``simplify.RULES``)
stabilize      2      numerically stable forms (``stabilize.RULES``)
sympy          2      SymPy on small elementwise clusters, budgeted, cost-checked
dce            1      dead and no-op nodes dropped
=============  =====  ==========================================================

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
  t2: f32[2] = mul(t1, 9.0)
  return t2
}
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import GraphcError
from ..ir import Tensor, as_list, topo_order
from .canonicalize import canonical_rule
from .dce import noop_rule
from .fold import fold_rule
from .rewrite import rewrite
from .simplify import chain, simplify_rule
from .stabilize import stabilize_rule


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


def _cleanup(enabled: set[str]) -> list:
    rules = []
    if "canonicalize" in enabled:
        rules.append(canonical_rule)
    if "fold" in enabled:
        rules.append(fold_rule)
    return rules


def _rule_pass(*own) -> Callable:
    def run(outs: list[Tensor], enabled: set[str]) -> list[Tensor]:
        return rewrite(outs, chain(*own, *_cleanup(enabled)))
    return run


def _sympy_pass(outs: list[Tensor], enabled: set[str]) -> list[Tensor]:
    from .sympy_simplify import sympy_simplify
    out = sympy_simplify(outs)
    rules = _cleanup(enabled)
    return rewrite(out, chain(*rules)) if rules and out is not outs else out


# name -> (lowest opt level that runs it, runner)
PASSES: dict[str, tuple[int, Callable]] = {
    "canonicalize": (1, lambda outs, en: rewrite(outs, canonical_rule)),
    "fold": (1, lambda outs, en: rewrite(outs, fold_rule)),
    "simplify": (1, _rule_pass(simplify_rule)),
    "stabilize": (2, _rule_pass(stabilize_rule, simplify_rule)),
    "sympy": (2, _sympy_pass),
    "dce": (1, lambda outs, en: rewrite(outs, noop_rule)),
}


def _unbound_dims(order: list[Tensor]) -> set:
    """Run-time dims named by nodes that no placeholder/parameter of the graph binds."""
    bound = {d for n in order if n.op in ("placeholder", "parameter")
             for d in n.dims if isinstance(d, str)}
    named = {d for n in order for d in n.dims if isinstance(d, str)}
    for n in order:
        if n.op == "shape_size":
            named.update(d for d in n.attr("shape") if isinstance(d, str))
    return named - bound


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


def run_pipeline(outputs, opt_level: int = 2, disable=(), dump=None) -> OptimizeResult:
    """Optimize ``outputs`` (a tensor or a list); return the new outputs and per-pass stats.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (3,))
    >>> r = run_pipeline([x * 1.0 + 0.0])
    >>> r.outputs[0] is x, [s.name for s in r.stats][:3]
    (True, ['canonicalize', 'fold', 'simplify'])
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
    order = topo_order(outs)
    count, unbound = len(order), _unbound_dims(order)
    for name, (_, run) in PASSES.items():
        if name not in enabled:
            continue
        t0 = time.perf_counter()
        new = run(outs, enabled)
        order = topo_order(new)
        note = ""
        if _unbound_dims(order) - unbound:  # a rewrite lost the placeholder naming a run-time size
            new, order, note = outs, None, "reverted: it dropped a run-time dimension's source"
        after = count if order is None else len(order)
        stats.append(PassStat(name, count, after, time.perf_counter() - t0, note))
        outs, count = new, after
        if emit is not None:
            emit(name, outs)
    return OptimizeResult(list(outs), stats)


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
