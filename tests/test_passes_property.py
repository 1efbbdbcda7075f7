"""Property: every pass, and the whole pipeline at each level, preserves values.

Random graphs come from ``tests/strategies.py`` (the whole op set, broadcasting,
``None`` dims); each is differentiated (a random cotangent makes a scalar loss) and
the outputs plus gradients are evaluated by the interpreter in float64 before and
after. Elements the reference computes as NaN/Inf are not compared: the rules assume
finite values, as documented in ``graphc.passes.simplify``.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings

import graphc as gc
from graphc.passes.canonicalize import canonicalize
from graphc.passes.dce import dce
from graphc.passes.fold import fold
from graphc.passes.pipeline import PASSES, run_pipeline
from graphc.passes.simplify import simplify
from graphc.passes.stabilize import stabilize
from graphc.passes.sympy_simplify import sympy_simplify
from strategies import feeds_for, recipes

SINGLE = {"canonicalize": canonicalize, "fold": fold, "simplify": simplify,
          "stabilize": stabilize, "sympy": sympy_simplify, "dce": dce}


def _graph(recipe):
    b = recipe.build("float64")
    feeds = b.feeds_for(b.outputs)
    rng = np.random.default_rng(7)
    loss = None
    for k, (o, v) in enumerate(zip(b.outputs, gc.evaluate(b.outputs, feeds))):
        if o.dtype.kind != "f":
            continue
        cot = gc.placeholder(f"cot{k}", o.dims, o.dtype)
        feeds[f"cot{k}"] = rng.standard_normal(np.shape(v))
        term = gc.sum(o * cot)
        loss = term if loss is None else loss + term
    outs = list(b.outputs)
    if loss is not None:
        read = {id(n) for n in gc.topo_order(loss)}
        wrt = [t for t in b.float_leaves if id(t) in read]
        outs += [loss] + (gc.grad(loss, wrt) if wrt else [])
    return outs, feeds


def _check(name, outs, new, feeds, ref):
    assert len(new) == len(outs)
    got = gc.evaluate(new, feeds_for(new, feeds))
    for k, (o, n, g, r) in enumerate(zip(outs, new, got, ref)):
        assert n.dtype == o.dtype, f"{name}: output {k} dtype changed"
        assert n.dims == o.dims or gc.ir.dims_match(n.dims, np.shape(r)), \
            f"{name}: output {k} shape {n.shape} != {o.shape}"
        g = np.asarray(g, np.float64)
        r = np.asarray(r, np.float64)
        assert g.shape == r.shape, f"{name}: output {k} shape {g.shape} != {r.shape}"
        finite = np.isfinite(r)
        scale = 1.0 + (np.max(np.abs(r[finite])) if finite.any() else 0.0)
        # a value that passes through float32 (a cast) carries its rounding: a pass that
        # reorders around it moves the result by a float32 ulp or two (6e-8 each)
        narrow = any(n.dtype == np.float32 for n in gc.topo_order(list(outs)))
        np.testing.assert_allclose(g[finite], r[finite], rtol=1e-6 if narrow else 1e-7,
                                   atol=1e-9 * scale, err_msg=f"pass {name}, output {k}")


@settings(max_examples=40, deadline=None)
@given(recipes(max_steps=7))
def test_each_pass_and_the_pipeline_preserve_values(recipe):
    outs, feeds = _graph(recipe)
    ref = gc.evaluate(outs, feeds_for(outs, feeds))
    for name, fn in SINGLE.items():
        _check(name, outs, fn(list(outs)), feeds, ref)
    for level in (1, 2):
        result = run_pipeline(outs, opt_level=level)
        _check(f"pipeline O{level}", outs, result.outputs, feeds, ref)
        assert result.stats[-1].nodes_after <= result.stats[0].nodes_before + 8


@settings(max_examples=15, deadline=None)
@given(recipes(max_steps=5))
def test_runners_compose_in_any_single_pass_order(recipe):
    """Each runner in ``PASSES`` works on its own (the others disabled) too."""
    outs, feeds = _graph(recipe)
    ref = gc.evaluate(outs, feeds_for(outs, feeds))
    for name, (_, runner) in PASSES.items():
        _check(f"{name} alone", outs, runner(list(outs), {name}), feeds, ref)
