"""Row kernels keep a value of one pass for the next (codegen/row_cache.py) on the C backend:
softmax's ``exp`` is computed once per element, results unchanged."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.codegen.kernel_types import Block, Instr, Literal, Mono
from graphc.codegen.row_cache import MAX_BYTES, plan_row_cache


def load(name, buf="x"):
    return Instr(name, "load", "float32", buf=buf, strides=(Mono(0), Mono(1)))


def test_only_costly_values_seen_in_an_earlier_pass_are_kept():
    first = Block([load("v1"), Instr("v2", "exp", "float32", args=("v1",)),
                   Instr("v3", "add", "float32", args=("v1", Literal(1.0, "float32")))])
    later = Block([load("v4"), Instr("v5", "exp", "float32", args=("v4",)),
                   Instr("v6", "add", "float32", args=("v4", Literal(1.0, "float32"))),
                   load("v7", buf="y"), Instr("v8", "exp", "float32", args=("v7",))])
    plan = plan_row_cache([first, later], row_length=64)
    assert plan.stores == [{"v2": 0}, {}] and plan.loads == [{}, {"v5": 0}]
    assert plan.dtypes == ["float32"]


def test_a_value_of_a_row_scalar_matches_only_the_same_scalar():
    first = Block([load("v1"), Instr("v2", "sub", "float32", args=("v1", "r0")),
                   Instr("v3", "exp", "float32", args=("v2",))])
    same = Block([load("v4"), Instr("v5", "sub", "float32", args=("v4", "r0")),
                  Instr("v6", "exp", "float32", args=("v5",))])
    other = Block([load("v7"), Instr("v8", "sub", "float32", args=("v7", "r1")),
                   Instr("v9", "exp", "float32", args=("v8",))])
    plan = plan_row_cache([first, same, other], row_length=64)
    assert plan.loads == [{}, {"v6": 0}, {}]


def test_rows_too_long_to_keep_are_recomputed():
    first = Block([load("v1"), Instr("v2", "exp", "float32", args=("v1",))])
    later = Block([load("v3"), Instr("v4", "exp", "float32", args=("v3",))])
    assert not plan_row_cache([first, later], row_length=MAX_BYTES // 4 + 1)
    assert plan_row_cache([first, later], row_length=MAX_BYTES // 4)


def _softmax_kernel(source: str) -> str:
    start = source.index("static void k")   # the first kernel's step function
    return source[start:source.index("\n}\n", start)]


@pytest.mark.parametrize("width", [256, 8192 + 1])   # kept / too long to keep
def test_softmax_and_friends_match_the_interpreter(width):
    rng = np.random.default_rng(width)
    x0 = rng.standard_normal((3, width)) * 10
    x0[1, 5] = np.inf
    x0[2, :] = -np.inf        # a row of -inf: softmax is NaN there, as in NumPy
    r0 = rng.standard_normal((3, width))
    x, r = gc.placeholder("x", (None, width), "float64"), gc.placeholder("r", (None, width),
                                                                      "float64")
    s = gc.softmax(x, axis=-1)
    outs = [s, gc.grad(gc.sum(s * r), x), gc.logsumexp(x, axis=-1),
            gc.nn.layer_norm(x, (width,))]
    f = gc.compile(outs, inputs=[x, r], backend="c")
    for k, (g, w) in enumerate(zip(f(x0, r0), gc.evaluate(outs, {x: x0, r: r0}))):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=f"output {k}")
    kernel = _softmax_kernel(f.source["graph.c"])
    kept = width * 8 <= 32 * 1024
    assert len(re.findall(r"\bexp\(", kernel)) == (1 if kept else 2), kernel
    assert ("rc_0[" in kernel) == kept
