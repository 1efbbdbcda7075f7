"""The liveness-based buffer plan (graphc.passes.memory) and the NumPy backend's use of it."""
from __future__ import annotations

import tracemalloc

import numpy as np
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.passes.memory import Step, Value, nbytes, plan_memory, size_key


def _intervals(steps, plan):
    """Independent oracle: (first step, last step) each planned value's memory is live."""
    defined = {}
    for i, s in enumerate(steps):
        for v in s.defines:
            defined[v.key] = i
    last = {plan.root_of[k]: i for k, i in defined.items()}
    for i, s in enumerate(steps):
        for key in s.reads:
            r = plan.root_of.get(key, key)
            if r in last:
                last[r] = max(last[r], i)
    return {k: (defined[k], last[k]) for k in plan.buffer_of}


def _check_plan(steps, plan):
    spans = _intervals(steps, plan)
    by_buffer = {}
    for k, b in plan.buffer_of.items():
        by_buffer.setdefault(b, []).append(k)
    for b, keys in by_buffer.items():
        buf = plan.buffers[b]
        for k in keys:
            v = plan.values[k]
            assert np.dtype(v.dtype) == np.dtype(buf.dtype)
            assert size_key(v.dims) == size_key(buf.dims)
        for x in keys:
            for y in keys:
                if x is y or x == y:
                    continue
                (s1, e1), (s2, e2) = spans[x], spans[y]
                if e1 < s2 or e2 < s1:
                    continue
                # the one allowed overlap: one written in place over the other, which that
                # step reads directly for the last time
                assert (e1 == s2 and steps[s2].inplace and x in steps[s2].reads) or \
                    (e2 == s1 and steps[s1].inplace and y in steps[s1].reads), \
                    f"{x} {spans[x]} and {y} {spans[y]} share buffer {b}"
    for k in plan.fresh:
        assert k not in plan.buffer_of


def test_reuse_inplace_views_and_fresh():
    f32 = "float32"
    steps = [
        Step([Value("a", f32, ("n", 8))], ["x"]),
        Step([Value("b", f32, ("n", 8))], ["a"], inplace=True),          # over a
        Step([Value("bt", f32, (8, "n"), "view", alias_of="b")], ["b"]),
        Step([Value("c", f32, ("n", 8))], ["x"]),                       # b still live via bt
        Step([Value("d", f32, (8, 8))], ["bt", "c"]),
        Step([Value("e", f32, ("n", 8))], ["c"]),                       # takes b's buffer
        Step([Value("out", f32, ("n", 8), "fresh")], ["e", "d"]),
    ]
    plan = plan_memory(steps)
    _check_plan(steps, plan)
    assert plan.buffer_of["a"] == plan.buffer_of["b"]
    assert plan.buffer_of["c"] != plan.buffer_of["b"]
    assert plan.buffer_of["e"] in (plan.buffer_of["b"], plan.buffer_of["c"])
    assert "out" in plan.fresh and "bt" not in plan.buffer_of
    assert plan.root_of["bt"] == "b"
    n = {"n": 100}
    assert plan.intermediate_bytes(n) > plan.workspace_bytes(n)
    assert plan.peak_bytes(n) == plan.workspace_bytes(n) + nbytes(f32, (100, 8))
    assert plan_memory(steps).buffer_of == plan.buffer_of   # deterministic


def test_escaping_view_makes_its_base_fresh():
    steps = [Step([Value("a", "float64", (4,))], ["x"]),
             Step([Value("r", "float64", (2, 2), "view", alias_of="a")], ["a"])]
    plan = plan_memory(steps, keep=["r"])
    assert "a" in plan.fresh and not plan.buffers


def test_different_dtypes_or_sizes_never_share():
    steps = [Step([Value("a", "float32", (4,))], []),
             Step([Value("b", "float64", (4,))], ["a"], inplace=True),
             Step([Value("c", "float64", (5,))], ["b"], inplace=True),
             Step([Value("d", "float64", ("n",))], ["c"], inplace=True)]
    plan = plan_memory(steps)
    assert len(set(plan.buffer_of.values())) == 4


_DIMS = [(4,), (2, 2), ("n",), (2, "n"), ("n", 2), ()]


@st.composite
def _programs(draw):
    steps, keys = [], []
    for i in range(draw(st.integers(1, 16))):
        kind = draw(st.sampled_from(["buffer", "buffer", "buffer", "view", "fresh"]))
        reads = draw(st.lists(st.sampled_from(keys + ["ext"]), max_size=3)) if keys else ["ext"]
        dtype = draw(st.sampled_from(["float32", "float64"]))
        dims = draw(st.sampled_from(_DIMS))
        if kind == "view" and keys:
            base = draw(st.sampled_from(keys))
            v = Value(i, dtype, dims, "view", alias_of=base)
            reads = reads + [base]
        else:
            v = Value(i, dtype, dims, "fresh" if kind == "fresh" else "buffer")
        steps.append(Step([v], reads, inplace=draw(st.booleans())))
        keys.append(i)
    keep = draw(st.lists(st.sampled_from(keys), max_size=2))
    return steps, keep


@settings(max_examples=60, deadline=None)
@given(_programs())
def test_plan_never_overlaps_live_values(program):
    steps, keep = program
    plan = plan_memory(steps, keep=keep)
    _check_plan(steps, plan)
    for k in keep:
        assert plan.root_of[k] not in plan.buffer_of


# ---- the NumPy backend's MLP training step ---------------------------------------------------

def _mlp_step(rng):
    x = gc.placeholder("x", (None, 784))
    labels = gc.placeholder("labels", (None,), "int64")
    W1 = gc.parameter("W1", rng.normal(0, 0.05, (784, 64)).astype("float32"))
    b1 = gc.parameter("b1", np.zeros(64, "float32"))
    W2 = gc.parameter("W2", rng.normal(0, 0.05, (64, 10)).astype("float32"))
    b2 = gc.parameter("b2", np.zeros(10, "float32"))
    params = [W1, b1, W2, b2]
    loss = gc.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, labels)
    grads = gc.grad(loss, params)
    return gc.compile(loss, inputs=[x, labels],
                      updates={p: p - 0.1 * g for p, g in zip(params, grads)})


def test_mlp_step_planned_peak_is_well_under_sum_of_intermediates():
    rng = np.random.default_rng(0)
    step = _mlp_step(rng)
    step(rng.normal(size=(256, 784)).astype(np.float32), rng.integers(0, 10, 256))
    s = step.stats
    assert s["sizes"] and set(s["sizes"].values()) == {256}
    assert s["peak_bytes"] < 0.6 * s["intermediate_bytes"], s
    assert s["reused"] > 0 and s["buffers"] < s["values_in_buffers"]


def test_mlp_steady_state_does_not_grow_memory():
    rng = np.random.default_rng(1)
    step = _mlp_step(rng)
    xv = rng.normal(size=(128, 784)).astype(np.float32)
    yv = rng.integers(0, 10, 128)
    for _ in range(3):
        step(xv, yv)
    fresh = step._exe.plan.fresh_bytes({d: 128 for d in step._exe.dim_keys})
    tracemalloc.start()
    try:
        for _ in range(3):
            step(xv, yv)
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(20):
            step(xv, yv)
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert now - base < 64 * 1024, f"memory grew by {now - base} bytes over 20 steps"
    # one call allocates about its outputs and new parameter values, not its intermediates
    assert peak - base < 1.5 * fresh + 64 * 1024, (peak - base, fresh)
