"""Matching the rule book's patterns (``graphc.rules``) against nodes, and compiling a
phase's rules into one rewrite function for ``rewrite``.

``compile_rules`` checks every op a rule names against the op registry first, so a
table with a misspelt op fails when its pass module loads.

>>> import graphc as gc
>>> from graphc.rules import Rule
>>> from graphc.passes.rewrite import rewrite
>>> drop_mul_one = compile_rules([Rule("x*1", ("mul", "x", 1), "x")])
>>> x = gc.placeholder("x", (3,))
>>> rewrite([1.0 * x], drop_mul_one)[0] is x
True
"""
from __future__ import annotations

import itertools
from typing import Callable, Sequence

from ..ir import Tensor
from ..bind import OPS
from ..rules import ANY, As, Const, Rule, check_rules, seal
from .rewrite import NamedRule, build, scalar, splat_value


def matches(pat, node: Tensor, b: dict, commute: bool = True):
    """Every way ``node`` matches ``pat`` extending bindings ``b`` (a commutative op gives
    up to two), as new dicts. Patterns are a few levels deep: the recursion is bounded."""
    if isinstance(pat, str):
        bound = b.get(pat)
        if bound is None:
            yield {**b, pat: node}
        elif bound is node:
            yield b
        return
    if isinstance(pat, As):
        for b2 in matches(pat.pattern, node, b, commute):
            yield from matches(pat.name, node, b2, commute)
        return
    if isinstance(pat, Const):
        if splat_value(node) is not None:
            yield from matches(pat.name, node, b, commute)
        return
    if isinstance(pat, (int, float)):
        v = splat_value(node)
        if v is not None and v == pat:
            yield b
        return
    head, args = pat[0], pat[1:]
    if node.op != head and not (isinstance(head, frozenset) and node.op in head):
        return
    if args == (ANY,):
        yield b
        return
    if len(node.inputs) != len(args):
        return
    yield from _match_args(args, node.inputs, b, commute)
    if (commute and len(args) == 2 and OPS[node.op].commutative
            and node.inputs[0] is not node.inputs[1]):
        yield from _match_args(args, node.inputs[::-1], b, commute)


def _match_args(args: tuple, inputs: tuple, b: dict, commute: bool):
    if not args:
        yield b
        return
    for b2 in matches(args[0], inputs[0], b, commute):
        yield from _match_args(args[1:], inputs[1:], b2, commute)


def compile_pattern(pat, commute: bool = True) -> Callable[[Tensor, dict], list]:
    """``pat`` as a function ``(node, bindings) -> list of bindings``: the same bindings,
    in the same order, as ``list(matches(pat, node, b, commute))``, without a generator
    per pattern node (matching runs for every node of every rule-based pass)."""
    if isinstance(pat, str):
        name = pat

        def match_name(node, b):
            bound = b.get(name)
            if bound is None:
                b = b.copy()
                b[name] = node
                return [b]
            return [b] if bound is node else []
        return match_name
    if isinstance(pat, As):
        inner, named = compile_pattern(pat.pattern, commute), compile_pattern(pat.name, commute)

        def match_as(node, b):
            out = []
            for b2 in inner(node, b):
                out += named(node, b2)
            return out
        return match_as
    if isinstance(pat, Const):
        named = compile_pattern(pat.name, commute)

        def match_const(node, b):
            return named(node, b) if splat_value(node) is not None else []
        return match_const
    if isinstance(pat, (int, float)):
        number = pat

        def match_number(node, b):
            v = splat_value(node)
            return [b] if v is not None and v == number else []
        return match_number
    head, args = pat[0], pat[1:]
    heads = head if isinstance(head, frozenset) else frozenset((head,))
    if args == (ANY,):
        def match_any(node, b):
            return [b] if node.op in heads else []
        return match_any
    subs = tuple(compile_pattern(a, commute) for a in args)
    arity = len(args)
    swaps = commute and arity == 2 and any(OPS[op].commutative for op in heads if op in OPS)

    def match_seq(inputs, b):
        found = [b]
        for sub, node in zip(subs, inputs):
            if len(found) == 1:
                found = sub(node, found[0])
            else:
                found = [b3 for b2 in found for b3 in sub(node, b2)]
            if not found:
                break
        return found

    def match_op(node, b):
        if node.op not in heads:
            return []
        inputs = node.inputs
        if len(inputs) != arity:
            return []
        found = match_seq(inputs, b)
        if swaps and inputs[0] is not inputs[1] and OPS[node.op].commutative:
            found = found + match_seq(inputs[::-1], b)
        return found
    return match_op


def compile_root_pattern(pat, commute: bool = True) -> Callable[[Tensor], list]:
    """``pat`` matched at a rule's root: ``match(n)`` is ``compile_pattern(pat,
    commute)(n, {"_": n})``, written out as one Python function (nested tests, one branch
    per way a commutative op may match; names bound as locals, a dict built per match),
    since this runs for every node of every rule-based pass."""
    consts: dict[str, object] = {}   # names the generated code reads: op sets, numbers
    counter = itertools.count()       # numbers the generated code's own variables

    def const(value) -> str:
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    def emit(pat, node: str, bound: dict, cont, depth: int) -> list[str]:
        pad = "    " * depth
        if isinstance(pat, str):
            if pat in bound:
                return [f"{pad}if {node} is {bound[pat]}:", *cont(bound, depth + 1)]
            return cont({**bound, pat: node}, depth)
        if isinstance(pat, As):
            return emit(pat.pattern, node, bound,
                        lambda bd, d: emit(pat.name, node, bd, cont, d), depth)
        if isinstance(pat, Const):
            return [f"{pad}if splat_value({node}) is not None:",
                    *emit(pat.name, node, bound, cont, depth + 1)]
        if isinstance(pat, (int, float)):
            v = f"v{next(counter)}"
            return [f"{pad}{v} = splat_value({node})",
                    f"{pad}if {v} is not None and {v} == {const(pat)}:",
                    *cont(bound, depth + 1)]
        head, args = pat[0], pat[1:]
        heads = const(head if isinstance(head, frozenset) else frozenset((head,)))
        lines = [f"{pad}if {node}.op in {heads}:"]
        if args == (ANY,):
            return lines + cont(bound, depth + 1)
        k = next(counter)
        ins = f"i{k}"
        inner = "    " * (depth + 1)
        lines += [f"{inner}{ins} = {node}.inputs", f"{inner}if len({ins}) == {len(args)}:"]
        names = [f"x{k}_{j}" for j in range(len(args))]
        if names:
            lines += [f"{inner}    {', '.join(names)}{',' if len(names) == 1 else ''} = {ins}"]

        def in_order(order):
            def seq(j, bd, d):
                if j == len(args):
                    return cont(bd, d)
                return emit(args[j], order[j], bd, lambda b2, d2: seq(j + 1, b2, d2), d)
            return seq
        lines += in_order(names)(0, bound, depth + 2)
        swaps = commute and len(args) == 2 and any(
            OPS[op].commutative for op in (head if isinstance(head, frozenset) else (head,))
            if op in OPS)
        if swaps:
            lines += [f"{inner}    if {names[0]} is not {names[1]} and "
                      f"OPS[{node}.op].commutative:",
                      *in_order(names[::-1])(0, bound, depth + 3)]
        return lines

    def found(bound, depth):
        items = ", ".join(f"{name!r}: {var}" for name, var in bound.items())
        return ["    " * depth + f"out.append({{{items}}})"]

    body = emit(pat, "n", {"_": "n"}, found, 1)
    source = "\n".join(["def match(n):", "    out = []", *body, "    return out", ""])
    namespace = {"splat_value": splat_value, "OPS": OPS, **consts}
    exec(compile(source, f"<pattern {pat!r}>", "exec"), namespace)
    match: Callable[[Tensor], list] = namespace["match"]   # type: ignore[assignment]
    match.source = source   # type: ignore[attr-defined]
    return match


def instantiate(tpl, b: dict, like: Tensor) -> Tensor | None:
    """The replacement ``tpl`` built from bindings ``b`` (numbers take ``like``'s dtype)."""
    if callable(tpl) and not isinstance(tpl, (str, tuple)):
        return tpl(b)
    if isinstance(tpl, str):
        return b[tpl]
    if isinstance(tpl, (int, float)):
        return scalar(tpl, like.dtype)
    args = [instantiate(t, b, like) for t in tpl[1:]]
    if any(a is None for a in args):
        return None  # a callable part declined: so does the whole replacement
    return build(tpl[0], *[a for a in args if a is not None])


_CONST = "<const>"  # an operand that must be a (reshaped or broadcast) constant


def _operand_needs(pattern: tuple) -> tuple:
    """What each operand's op must be for ``pattern`` to have a chance (a cheap pre-check)."""
    out = []
    for p in pattern[1:]:
        p = p.pattern if isinstance(p, As) else p
        if isinstance(p, tuple):
            out.append(p[0] if isinstance(p[0], str) else None)
        elif isinstance(p, (int, float, Const)):
            out.append(_CONST)
        else:
            out.append(None)
    return tuple(out)


def _may_match(needs: tuple, inputs: Sequence[Tensor]) -> bool:
    for need, i in zip(needs, inputs):
        if need is None:
            continue
        if need is _CONST:
            if i.op not in ("constant", "broadcast_to", "reshape"):
                return False
        elif i.op != need:
            return False
    return True


def compile_rules(rules: Sequence[Rule]) -> Callable[[Tensor], Tensor | None]:
    """One rewrite function trying ``rules`` in order (indexed by their root op); the first
    replacement that is not ``None`` wins. Unknown op names raise ``RuleError`` here."""
    check_rules(rules, OPS)
    by_op: dict[str, list[tuple[int, Rule, tuple, bool]]] = {}
    for k, r in enumerate(rules):
        head = r.pattern[0]
        commutes = r.commute and len(r.pattern) == 3
        for op in (sorted(head) if isinstance(head, frozenset) else [head]):
            by_op.setdefault(op, []).append(
                (k, r, _operand_needs(r.pattern), commutes and OPS[op].commutative))

    # a rule's matcher is written when a node first needs it (importing graphc compiles
    # none: most rules never meet a node in a given program)
    entries: dict[int, tuple] = {}

    def entry(k: int, r: Rule) -> tuple:
        found = entries.get(k)
        if found is None:
            found = entries[k] = (compile_root_pattern(r.pattern, r.commute), r.guard, r.replace)
        return found

    # which rules may match depends only on the ops of a node and of its operands
    candidates: dict[tuple | str, list[tuple]] = {}

    def rules_for(n: Tensor) -> list[tuple]:
        ins = n.inputs
        arity = len(ins)
        key: tuple | str = ((n.op, ins[0].op) if arity == 1 else (n.op, ins[0].op, ins[1].op) if arity == 2
               else (n.op, *[i.op for i in ins]) if ins else n.op)
        found = candidates.get(key)
        if found is None:
            found = candidates[key] = [
                entry(k, r) for k, r, needs, commutes in by_op.get(n.op, ())
                if _may_match(needs, ins) or (commutes and _may_match(needs, ins[::-1]))]
        return found

    def apply_rules(n: Tensor) -> Tensor | None:
        for match, guard, replace in rules_for(n):
            for b in match(n):
                if guard is not None and not guard(b):
                    continue
                out = instantiate(replace, b, n)
                if out is not None and out is not n:
                    return out
        return None

    apply_rules.rules = tuple(rules)  # type: ignore[attr-defined]
    return apply_rules


def compile_phase(phase: str, *, before: Sequence[Rule] = (), implies=frozenset()) -> NamedRule:
    """The named rewrite rule of ``phase``: the rules of ``before`` (another phase's, shared
    rather than restated), then the phase's own; no rule may join the phase afterwards."""
    return NamedRule(phase, compile_rules([*before, *seal(phase)]), frozenset(implies))
