"""Every rewrite rule, tested alone, from the rule book itself.

The rules of every phase are read from ``graphc.rules`` (so a rule cannot be registered
without being tested here). For each rule, its witness graph is built in float32 and
float64, with operands of one shape and with operands that broadcast ((3,1) with (4,));
the rule alone must fire on it, and the rewritten graph must compute what the
interpreter computes for the original on random inputs. Stabilizing rules are also run
on their stress inputs, where the naive form overflows or loses its digits: the
rewritten graph must be finite and match an independent NumPy reference there.
"""
from __future__ import annotations

import subprocess
import sys
import zlib

import numpy as np
import pytest

import graphc as gc
import graphc.passes.pipeline  # noqa: F401  (loads every pass, so every phase is filled)
from graphc.bind import bind, constant_node
from graphc.passes.patterns import compile_pattern, compile_root_pattern, compile_rules, matches
from graphc.passes.rewrite import NamedRule, rewrite
from graphc.rules import PHASES, Rule, RuleError, register_rule, rules_of

DTYPES = ("float32", "float64")
# a variable's shape when its witness gives none: all equal, or alternating so they broadcast
PLANS = {"same": ((4,),), "broadcast": ((3, 1), (4,))}
RUNTIME_SIZE = 5  # every run-time dim of a witness, when fed
# operands are O(1): a rule that reassociates (a*s + b*s -> (a+b)*s) may cancel, so the
# absolute part is some ulps of the operands, not of the result
TOLERANCE = {"float32": dict(rtol=2e-5, atol=2e-5), "float64": dict(rtol=1e-12, atol=1e-13)}

ALL_RULES = [(phase, rule) for phase in PHASES for rule in rules_of(phase)]
STRESSED = [(phase, rule) for phase, rule in ALL_RULES if phase == "stabilize"]


def rule_id(entry) -> str:
    phase, rule = entry
    return f"{phase}:{rule.name}"


class Vars:
    """The placeholder maker a witness receives: ``v(name, dims=None, positive=False,
    labels=None)``; ``v.op`` builds a raw node (the API never makes some nodes, e.g. a
    no-op reshape), ``v.const`` a constant of the dtype under test. A witness returns one
    graph or a list of them (the rule must fire in each); run-time dims are fed as 5."""

    def __init__(self, dtype: str, plan: str):
        self.dtype = dtype
        self.shapes = PLANS[plan]
        self.made: dict[str, gc.Tensor] = {}
        self.domain: dict[str, tuple] = {}

    def __call__(self, name, dims=None, positive=False, labels=None) -> gc.Tensor:
        if name not in self.made:
            if dims is None:
                dims = self.shapes[len(self.made) % len(self.shapes)]
            dtype = "int32" if labels else self.dtype
            self.made[name] = gc.placeholder(f"w_{name}", dims, dtype)
            self.domain[name] = ("labels", labels) if labels else ("positive",) if positive \
                else ("any",)
        return self.made[name]

    def op(self, name, *inputs, **attrs) -> gc.Tensor:
        return bind(name, *inputs, **attrs)

    def const(self, value, dims=()) -> gc.Tensor:
        return constant_node(np.full(dims, value, dtype=self.dtype))

    def feeds(self, rng: np.random.Generator) -> dict:
        out = {}
        for name, node in self.made.items():
            kind = self.domain[name]
            dims = tuple(d if isinstance(d, int) else RUNTIME_SIZE for d in node.dims)
            if kind[0] == "labels":
                value = rng.integers(0, kind[1], size=dims)
            elif kind[0] == "positive":
                value = rng.uniform(0.5, 2.0, size=dims)
            else:
                value = rng.normal(size=dims)
            out[node] = np.asarray(value, dtype=node.dtype)
        return out


def rewrite_with(rule: Rule, outputs: list) -> list:
    return rewrite(outputs, NamedRule(rule.name, compile_rules([rule])))


def witness_graph(rule: Rule, dtype: str, plan: str):
    if rule.witness is None:
        pytest.fail(f"rule {rule.name!r} has no witness: every rule needs a graph it rewrites")
    v = Vars(dtype, plan)
    made = rule.witness(v)
    return v, list(made) if isinstance(made, (list, tuple)) else [made]


def test_every_phase_has_rules_and_is_tested():
    assert {phase for phase, _ in ALL_RULES} == set(PHASES)
    assert len(ALL_RULES) >= 70


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("entry", ALL_RULES, ids=rule_id)
def test_rule_fires_on_its_witness_and_keeps_values(entry, dtype, plan):
    _, rule = entry
    v, outs = witness_graph(rule, dtype, plan)
    new = rewrite_with(rule, outs)
    for k, (a, b) in enumerate(zip(outs, new)):
        assert a is not b, f"rule {rule.name!r} did not fire on its witness (output {k})"
    rng = np.random.default_rng(zlib.crc32(f"{rule.name} {dtype} {plan}".encode()))
    for _ in range(3):
        feeds = v.feeds(rng)
        for want, got in zip(gc.evaluate(outs, feeds), gc.evaluate(new, feeds)):
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_allclose(got, want, **TOLERANCE[dtype],
                                       err_msg=f"rule {rule.name!r} changed the values")


GUARDED = [(phase, rule) for phase, rule in ALL_RULES if rule.near_miss is not None]


@pytest.mark.parametrize("entry", GUARDED, ids=rule_id)
def test_guard_refuses_its_near_miss(entry):
    """Where a guard keeps a rule from changing values (x/x when x may be 0), a graph the
    pattern matches but the guard must refuse: the rule must leave it alone."""
    _, rule = entry
    v = Vars("float64", "same")
    outs = [rule.near_miss(v)]
    matched = [n for n in gc.topo_order(outs)
               if next(matches(rule.pattern, n, {"_": n}, rule.commute), None) is not None]
    assert matched, f"the near miss of {rule.name!r} does not even match its pattern"
    assert rewrite_with(rule, outs)[0] is outs[0], f"rule {rule.name!r} ignored its guard"


def test_compiled_patterns_bind_as_the_matcher_does():
    """``compile_pattern`` and ``compile_root_pattern`` (what the passes run) give the same
    bindings in the same order as ``matches`` for every rule, at every node of every
    witness and near miss, both ways round for commutative ops: the first binding a guard
    accepts decides a rewrite."""
    checked = 0
    for _, rule in ALL_RULES:
        compiled = compile_pattern(rule.pattern, rule.commute)
        at_root = compile_root_pattern(rule.pattern, rule.commute)
        graphs = [witness_graph(rule, "float64", plan)[1] for plan in PLANS]
        if rule.near_miss is not None:
            graphs.append([rule.near_miss(Vars("float64", "same"))])
        for outs in graphs:
            nodes = gc.topo_order(outs)
            for n in nodes + [bind("mul", m, m) for m in nodes if m.dtype.kind == "f"]:
                want = list(matches(rule.pattern, n, {"_": n}, rule.commute))
                for got in (compiled(n, {"_": n}), at_root(n)):
                    assert len(got) == len(want), rule.name
                    for a, b in zip(got, want):
                        assert list(a) == list(b) and all(a[k] is b[k] for k in a), rule.name
                checked += bool(want)
    assert checked >= len(ALL_RULES)


def test_correctness_guards_have_near_misses():
    assert len(GUARDED) >= 15


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("entry", STRESSED, ids=rule_id)
def test_stabilizing_rule_is_finite_where_the_naive_form_fails(entry, dtype):
    _, rule = entry
    if rule.stress is None:
        pytest.fail(f"stabilizing rule {rule.name!r} has no stress inputs")
    v, outs = witness_graph(rule, dtype, "same")
    new = rewrite_with(rule, outs)
    values, reference = rule.stress(np.dtype(dtype))
    feeds = {v.made[name]: np.broadcast_to(np.asarray(x, dtype), v.made[name].dims).copy()
             for name, x in values.items()}
    want = reference({name: feeds[v.made[name]].astype(np.float64) for name in values})
    with np.errstate(all="ignore"):
        naive = gc.evaluate(outs, feeds)[0]
    stable = gc.evaluate(new, feeds)[0]
    assert np.all(np.isfinite(stable)), f"{rule.name}: {stable}"
    np.testing.assert_allclose(stable, want, rtol=TOLERANCE[dtype]["rtol"] * 10, atol=0)
    assert not np.allclose(naive, want, rtol=TOLERANCE[dtype]["rtol"] * 10, atol=0), \
        f"{rule.name}: the stress inputs do not break the naive form ({naive})"


# ---- the rule book refuses bad tables ------------------------------------------------------

@pytest.mark.parametrize("pattern, replace, bad", [
    (("ad", "x", 0), "x", "'ad'"),                                   # a typo in a pattern
    (("add", ("eхp", "x"), 0), "x", "'eхp'"),                        # nested, Cyrillic х
    (("add", "x", 0), ("mull", "x", 1), "'mull'"),                   # in a replacement
    ((frozenset({"reshape", "transpos"}), "x"), "x", "'transpos'"),  # in an op group
])
def test_an_unknown_op_in_a_rule_fails_naming_the_rule_and_the_op(pattern, replace, bad):
    with pytest.raises(RuleError, match=rf"rule 'my rule': unknown op {bad}"):
        compile_rules([Rule("my rule", pattern, replace)])


def test_a_known_op_table_compiles():
    assert callable(compile_rules([Rule("x+0", ("add", "x", 0), "x")]))


def run_python_registering(registration: str, then: str) -> subprocess.CompletedProcess:
    """Run ``then`` in a fresh interpreter where ``registration`` runs the way an op module
    would run it: after the ops are declared, before the passes load."""
    code = (
        "import importlib.abc, sys\n"
        "class BeforePasses(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'graphc.passes':\n"
        "            sys.meta_path.remove(self)\n"
        "            from graphc.rules import register_rule\n"
        f"            {registration}\n"
        "        return None\n"
        "sys.meta_path.insert(0, BeforePasses())\n"
        f"{then}\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_a_typo_registered_beside_an_op_fails_at_import():
    """What an op module registering a misspelt rule sees: ``import graphc`` fails."""
    r = run_python_registering(
        "register_rule('simplify', ('lgo', ('exp', 'x')), 'x', name='log(exp x) v2')",
        "import graphc")
    assert r.returncode != 0
    assert "RuleError: rule 'log(exp x) v2': unknown op 'lgo'" in r.stderr, r.stderr


def test_a_rule_registered_beside_an_op_is_applied():
    r = run_python_registering(
        "register_rule('simplify', ('sqrt', ('exp', 'x')), ('exp', ('mul', 'x', 0.5)), "
        "name='sqrt(exp x)')",
        "import graphc as gc\n"
        "x = gc.placeholder('x', (3,))\n"
        "print(gc.show(gc.optimize(gc.sqrt(gc.exp(x)), disable=('sympy',))))")
    assert r.returncode == 0, r.stderr
    x = gc.placeholder("x", (3,))  # without the rule, the sqrt stays
    assert "sqrt" in gc.show(gc.optimize(gc.sqrt(gc.exp(x)), disable=("sympy",)))
    assert "sqrt" not in r.stdout and "exp(" in r.stdout and "0.5" in r.stdout, r.stdout


def test_rules_cannot_join_a_phase_after_its_pass_compiled_it():
    with pytest.raises(RuleError, match="already compiled"):
        register_rule("simplify", ("exp", ("log", "x")), "x", name="late")


def test_rule_names_are_unique_in_a_phase_and_phases_are_known():
    from graphc.rules import register_rules
    with pytest.raises(RuleError, match="no rewrite phase 'simplfy'"):
        register_rules("simplfy", [])
    assert len({r.name for r in rules_of("simplify")}) == len(rules_of("simplify"))
