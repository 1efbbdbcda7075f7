"""The rule book: rewrite rules as data, grouped by phase. It knows no particular op.

A rule is a *pattern* and a *replacement* (PyTensor's ``PatternNodeRewriter``, tinygrad's
``(pattern, function)`` pairs):

* a pattern is a tuple ``(op, arg, ...)``. ``op`` is an op name or a ``frozenset`` of
  op names (a group: "any elementwise op"). An argument is a nested pattern, a variable
  name (a ``str``: binds any node; the same name twice must be the same node), a number
  (matches a constant filled with that value, also when reshaped or broadcast),
  ``Const(name)`` (binds a constant filled with any one value), or ``As(name, pattern)``
  (binds the node a sub-pattern matched). ``(op, ANY)`` matches any inputs.
  Commutative ops match either operand order unless the rule says ``commute=False``.
* a replacement is a template of the same form (variables, numbers taking the matched
  node's dtype, op tuples) or a function of the bindings ``b`` (``b["_"]`` is the matched
  node) returning a node or ``None``.
* a guard is an optional predicate on the bindings.
* a witness builds a small graph the rule rewrites, for the per-rule tests
  (``tests/test_rewrite_rules.py``): ``witness(v)`` gets a placeholder maker
  ``v(name, dims=None, positive=False, labels=None)`` (``v.op`` builds a raw node,
  ``v.const`` a constant of the dtype under test). ``stress(dtype)`` (stabilizing rules)
  returns ``(feeds, reference)``: inputs where the naive form overflows or loses its
  digits, and a NumPy function of the feeds giving the true value. ``near_miss(v)``
  (guarded rules) builds a graph the pattern matches but the guard must refuse.

Rules are registered into phases (``canonicalize``, ``simplify``, ``stabilize``, ``dce``);
the passes compile a phase's rules when they load, checking every op name a pattern
names against the op registry, so a misspelt op fails at import. An op can bring its
own rules beside its declaration by calling ``register_rule`` before the passes load.

>>> r = Rule("x*1", ("mul", "x", 1), "x")
>>> sorted(pattern_ops(r.pattern))
['mul']
>>> check_rules([Rule("x+0", ("ad", "x", 0), "x")], known_ops={"add": None})
Traceback (most recent call last):
  ...
graphc.rules.RuleError: rule 'x+0': unknown op 'ad' in pattern ('ad', 'x', 0)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import GraphcError

PHASES = ("dce", "canonicalize", "simplify", "stabilize")
ANY = "..."  # as a pattern's only argument: any number of inputs, bound to nothing


class RuleError(GraphcError):
    """A malformed rule table (unknown op, unknown phase, duplicate name, late registration)."""


@dataclass(frozen=True)
class As:
    """A sub-pattern whose matched node is also bound to ``name``."""
    name: str
    pattern: tuple


@dataclass(frozen=True)
class Const:
    """Matches a constant filled with one value (possibly reshaped or broadcast); binds it."""
    name: str


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: tuple
    replace: object
    guard: Callable[[dict], bool] | None = None
    witness: Callable | None = None
    stress: Callable | None = None
    commute: bool = True
    near_miss: Callable | None = None


_BOOK: dict[str, list[Rule]] = {phase: [] for phase in PHASES}
_sealed: set[str] = set()  # phases already compiled by their pass


def register_rule(phase: str, pattern: tuple, replace, *, name: str | None = None,
                  guard=None, witness=None, stress=None, commute: bool = True,
                  near_miss=None) -> Rule:
    """Add one rule to ``phase`` (tried after those registered before it). An op module
    calls this beside the op's declaration; once the passes have loaded it is too late:

    >>> import graphc
    >>> register_rule("simplify", ("exp", ("log", "x")), "x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    graphc.rules.RuleError: phase 'simplify' is already compiled: register its rules before ...
    """
    rule = Rule(name or repr(pattern), pattern, replace, guard, witness, stress, commute,
                near_miss)
    register_rules(phase, [rule])
    return rule


def register_rules(phase: str, rules) -> list[Rule]:
    """Add a table of rules to ``phase``, in order; names must be new in the phase."""
    if phase not in _BOOK:
        raise RuleError(f"no rewrite phase {phase!r}; phases: {list(PHASES)}")
    if phase in _sealed:
        raise RuleError(f"phase {phase!r} is already compiled: register its rules before "
                        f"the passes load (beside the op's declaration)")
    taken = {r.name for r in _BOOK[phase]}
    for r in rules:
        if r.name in taken:
            raise RuleError(f"phase {phase!r}: two rules named {r.name!r}")
        taken.add(r.name)
        _BOOK[phase].append(r)
    return list(rules)


def rules_of(phase: str) -> tuple[Rule, ...]:
    """The rules registered into ``phase``, in order."""
    return tuple(_BOOK[phase])


def seal(phase: str) -> tuple[Rule, ...]:
    """``phase``'s rules, refusing later registrations (its pass compiles them now)."""
    _sealed.add(phase)
    return rules_of(phase)


def pattern_ops(pattern) -> set[str]:
    """Every op name a pattern (or a replacement template) names."""
    if isinstance(pattern, As):
        return pattern_ops(pattern.pattern)
    if not isinstance(pattern, tuple):
        return set()
    head = pattern[0]
    names = set(head) if isinstance(head, frozenset) else {head}
    for arg in pattern[1:]:
        names |= pattern_ops(arg)
    return names


def check_rules(rules, known_ops) -> None:
    """Raise ``RuleError`` naming the rule and the op if a pattern or template names an op
    missing from ``known_ops`` (the op registry)."""
    for r in rules:
        for where, part in (("pattern", r.pattern), ("replacement", r.replace)):
            for op in sorted(pattern_ops(part)):
                if op not in known_ops:
                    raise RuleError(f"rule {r.name!r}: unknown op {op!r} in {where} {part!r}")
