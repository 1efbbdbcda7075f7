"""Fusion: kernel counts and what each kernel fuses, checked on compiled functions
(backend="c") whose results are compared with the interpreter."""
import numpy as np

import graphc as gc
from graphc.codegen.base import Program
from graphc.codegen.kernel_ir import lower
from graphc.ir import topo_order
from graphc.passes import fusion

from helpers_backends import compile_and_compare, needs_c


def _kernels(f):
    return f.stats["kernels"], f.stats["fused"]


@needs_c
def test_tutorial_forward_backward_is_one_kernel():
    a = gc.parameter("a", [2.0, 4.0])
    b = gc.parameter("b", [7.0, 5.0])
    E = 3 * a ** 3 - b ** 2
    da, db = gc.grad(E, [a, b], seed=gc.constant([1.0, 1.0]))
    f = compile_and_compare([E, da, db], {})
    n, _ = _kernels(f)
    assert n == 1


@needs_c
def test_tanh_sigmoid_exp_with_three_gradients_is_one_kernel():
    x, y, z = (gc.placeholder(n, (None, 5)) for n in "xyz")
    seed = gc.placeholder("g", (None, 5))
    f_xyz = gc.tanh(x * y + z) * gc.sigmoid(x) - gc.exp(-z * z)
    outs = [f_xyz] + gc.grad(f_xyz, [x, y, z], seed=seed)
    rng = np.random.default_rng(0)
    vals = {k: rng.normal(size=(6, 5)).astype(np.float32) for k in "xyzg"}
    f = compile_and_compare(outs, vals)
    n, fused = _kernels(f)
    assert n == 1, fused
    assert {"tanh", "sigmoid", "exp"} <= set(fused[0]["ops"])


@needs_c
def test_softmax_cross_entropy_loss_and_gradient_at_most_four_kernels():
    logits = gc.placeholder("logits", (None, 10))
    labels = gc.placeholder("labels", (None,), "int64")
    loss = gc.cross_entropy(logits, labels)
    outs = [loss, gc.grad(loss, logits)]
    rng = np.random.default_rng(1)
    feeds = {"logits": rng.normal(size=(9, 10)).astype(np.float32),
             "labels": rng.integers(0, 10, size=9)}
    f = compile_and_compare(outs, feeds)
    n, fused = _kernels(f)
    assert n <= 4, fused


@needs_c
def test_softmax_forward_is_one_row_kernel():
    x = gc.placeholder("x", (None, 33))
    xv = np.random.default_rng(2).normal(size=(5, 33)).astype(np.float32) * 30
    f = compile_and_compare(gc.softmax(x), {x: xv})
    n, fused = _kernels(f)
    assert n == 1 and fused[0]["kind"] == "reduce"


@needs_c
def test_mlp_layer_bias_and_activation_fused_into_gemm_epilogues():
    rng = np.random.default_rng(3)
    x = gc.placeholder("x", (None, 6))
    W = gc.parameter("W", rng.normal(size=(6, 8)).astype(np.float32))
    b = gc.parameter("b", rng.normal(size=8).astype(np.float32))
    V = gc.parameter("V", rng.normal(size=(8, 3)).astype(np.float32))
    h = gc.relu(x @ W + b)
    loss = gc.sum(h @ V)
    gW, gb = gc.grad(loss, [W, b])
    f = compile_and_compare([h, loss, gW, gb], {x: rng.normal(size=(4, 6)).astype(np.float32)})
    _, fused = _kernels(f)
    gemms = [k for k in fused if k["kind"] == "matmul"]
    forward = [k for k in gemms if "add" in k["ops"] and "where" in k["ops"]]
    assert forward, f"no GEMM with bias + relu in its epilogue: {fused}"
    # the relu's backward (a mask of the pre-activation) rides on the GEMM computing dh
    backward = [k for k in gemms if k is not forward[0] and
                ("greater" in k["ops"] or "where" in k["ops"])]
    assert backward, f"no GEMM with the activation's backward in its epilogue: {fused}"


@needs_c
def test_views_are_index_arithmetic_not_copies():
    x = gc.placeholder("x", (3, 4))
    y = gc.placeholder("y", (4,))
    out = gc.transpose(x) * gc.broadcast_to(gc.reshape(y, (4, 1)), (4, 3)) + 1
    vals = {"x": np.arange(12.0, dtype=np.float32).reshape(3, 4),
            "y": np.arange(4.0, dtype=np.float32)}
    f = compile_and_compare(out, vals)
    n, fused = _kernels(f)
    assert n == 1 and fused[0]["kind"] == "elementwise"


def _program(outs):
    order = topo_order(outs)
    return Program("p", tuple(n for n in order if n.op == "placeholder"),
                   tuple(n for n in order if n.op == "parameter"), tuple(outs))


def test_cost_rule_stores_an_expensive_value_shared_by_two_kernels():
    x = gc.placeholder("x", (8, 16))
    e = x
    for _ in range(4):
        e = gc.exp(gc.sin(e))                      # cost well past COST_LIMIT
    outs = [gc.sum(e, 0), gc.sum(e, 1)]          # two reductions, different rows
    sched = fusion.schedule(outs)
    assert id(e) in sched.materialized
    cheap = x * 2 + 1
    sched = fusion.schedule([gc.sum(cheap, 0), gc.sum(cheap, 1)])
    assert id(cheap) not in sched.materialized  # cheap values are recomputed


def test_deep_chain_schedules_without_recursion_in_bounded_kernels():
    x = gc.placeholder("x", (4,))
    y = x
    for k in range(10000):
        y = y * 1.0001 + (k % 3)
    pir = lower(_program([y]))
    # the size rule splits the 20,000-op chain: no kernel passes KERNEL_OPS ops (a C
    # compiler's time grows faster than linearly with one function's size)
    assert len(pir.kernels) >= 20000 // fusion.KERNEL_OPS
    assert all(len(k.ops) <= fusion.KERNEL_OPS for k in pir.kernels)
    assert sum(len(k.body.instrs) for k in pir.kernels) >= 10000


@needs_c
def test_kernels_split_at_the_size_bound_still_match_the_interpreter():
    x = gc.placeholder("x", (None,), "float64")
    y = x
    for k in range(3 * fusion.KERNEL_OPS):   # forward chain plus its gradient
        y = (gc.sin, gc.tanh, gc.cos)[k % 3](y)
    g = gc.grad(gc.sum(y), x)
    f = compile_and_compare([y, g], {x: np.linspace(-2.0, 2.0, 7)}, rtol=1e-12, atol=1e-12)
    n, fused = _kernels(f)
    assert n > 3 and all(len(k["ops"]) <= fusion.KERNEL_OPS for k in fused)


def test_every_kernel_has_a_store_or_feeds_one():
    x = gc.placeholder("x", (None, 4))
    outs = [gc.logsumexp(x), gc.softmax(x), gc.max(x, 0)]
    pir = lower(_program(outs))
    for k in pir.kernels:
        assert k.buffers_written(), k.name


@needs_c
def test_costly_value_is_stored_before_a_broadcast_not_recomputed():
    b = gc.placeholder("b", (64,))
    x = gc.placeholder("x", (None, 64))
    e = gc.exp(gc.sin(b))                          # costly, read by every row below
    out = x * e + 1
    assert id(e) in fusion.schedule([out]).materialized
    cheap = b * 2
    assert id(cheap) not in fusion.schedule([x * cheap]).materialized
    rng = np.random.default_rng(4)
    compile_and_compare(out, {"b": rng.normal(size=64).astype(np.float32),
                              "x": rng.normal(size=(5, 64)).astype(np.float32)})


@needs_c
def test_a_transcendental_read_through_windows_is_stored_once():
    # y[:, 1:] + y[:, :-1] reads tanh(x * w) at two shifted places: recomputing it per
    # window would evaluate tanh twice per output; it is stored once instead
    x = gc.placeholder("x", (None, 8), "float64")
    w = gc.parameter("w", np.linspace(0.5, 1.5, 8))
    y = gc.tanh(x * w)
    z = y[:, 1:] + y[:, :-1]
    f = compile_and_compare([z], {"x": np.random.default_rng(0).normal(size=(3, 8))})
    n, fused = _kernels(f)
    assert n == 2
    assert sum(k["ops"].count("tanh") for k in fused) == 1
