"""Benchmark of the optimizing pass pipeline: graph sizes and pipeline time.

    python benchmarks/passes.py            # writes the "passes" section of RESULTS.md
    python benchmarks/passes.py --quick    # chains up to 1,000 nodes; prints, does not write

Measures
  * node counts of raw and optimized gradient graphs: the tutorial (E = 3a^3 - b^2),
    an MLP 784-256-10 with softmax cross-entropy, a 20-layer tanh chain;
  * pipeline time (``gc.optimize``, opt_level 2) for chained graphs of 100, 1,000 and
    10,000 forward nodes plus their gradients, with the per-pass split, to show the
    cost grows roughly linearly (target: 10,000 nodes + gradient in under 1 s).

Times are the best of ``--repeats`` runs, each on a freshly built graph (so no
pass finds the nodes it already rewrote) with the SymPy verdict cache emptied,
after a warm-up run that imports SymPy.
Wall-clock and process CPU time are both given: on a shared machine the wall
clock includes time other processes took.

Only the section between ``<!-- passes:begin -->`` and ``<!-- passes:end -->`` of
benchmarks/RESULTS.md is (re)written; other scripts own the other sections.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import graphc as gc  # noqa: E402
from graphc.passes.pipeline import run_pipeline  # noqa: E402
from _results import write_section  # noqa: E402  (a sibling script module)



def nodes(outputs) -> int:
    return len(gc.topo_order(outputs))


# ---- the graphs ------------------------------------------------------------------------------

def tutorial():
    a = gc.parameter("a", [2., 4.])
    b = gc.parameter("b", [7., 5.])
    E = 3 * a**3 - b**2
    return gc.grad(E, [a, b], seed=gc.constant([1., 1.]))


def mlp():
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 784))
    y = gc.placeholder("y", (None,), "int64")
    W1 = gc.parameter("W1", rng.standard_normal((784, 256)).astype(np.float32) * 0.05)
    b1 = gc.parameter("b1", np.zeros(256, np.float32))
    W2 = gc.parameter("W2", rng.standard_normal((256, 10)).astype(np.float32) * 0.05)
    b2 = gc.parameter("b2", np.zeros(10, np.float32))
    h = gc.relu(x @ W1 + b1)
    loss = gc.cross_entropy(h @ W2 + b2, y)
    return [loss] + gc.grad(loss, [W1, b1, W2, b2])


def tanh_chain(layers: int = 20):
    x = gc.placeholder("x", (None, 16))
    ws = [gc.parameter(f"w{k}", np.full(16, 0.9, np.float32)) for k in range(layers)]
    h = x
    for w in ws:
        h = gc.tanh(h * w + 0.1)
    loss = gc.sum(h)
    return [loss] + gc.grad(loss, ws)


def chain(n: int):
    """``n`` forward nodes, cycling mul-by-parameter, add, tanh, sin; plus the gradient of
    their sum with respect to the parameter and the input."""
    x = gc.placeholder("x", (None, 8))
    w = gc.parameter("w", np.full(8, 0.9, np.float32))
    h = x
    steps = [lambda h: h * w, lambda h: h + 0.25, gc.tanh, gc.sin]
    for k in range(n):
        h = steps[k % 4](h)
    loss = gc.sum(h)
    return [loss] + gc.grad(loss, [w, x])


# ---- measuring -------------------------------------------------------------------------------

def timed(build, repeats: int):
    from graphc.passes import sympy_simplify
    best = None
    for _ in range(repeats):
        outs = build()
        # each run pays for SymPy's verdicts, as a first compile does: none in memory,
        # none in an empty compile cache (passes/sympy_verdicts.py)
        sympy_simplify._cache.clear()
        os.environ["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp(prefix="graphc-passes-bench-")
        w0, c0 = time.perf_counter(), time.process_time()
        result = run_pipeline(outs)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or wall < best[1]:
            best = (result, wall, cpu, nodes(outs))
    return best


def check(build, feeds) -> float:
    """Largest difference between raw and optimized values (the interpreter), relative to
    the largest magnitude of each output (float32 graphs: ~1e-7 is rounding)."""
    outs = build()
    opt = gc.optimize(outs)
    worst = 0.0
    for r, o in zip(gc.evaluate(outs, feeds), gc.evaluate(opt, feeds)):
        r, o = np.asarray(r, np.float64), np.asarray(o, np.float64)
        worst = max(worst, float(np.max(np.abs(r - o)) / (1e-30 + np.max(np.abs(r)))))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="chains up to 1,000 nodes; no write")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sizes = (100, 1_000) if args.quick else (100, 1_000, 10_000)

    run_pipeline(chain(40))  # warm-up: imports SymPy, fills caches that any run would
    rng = np.random.default_rng(1)
    lines = ["## Pass pipeline: graph sizes and optimization time", ""]
    lines.append(f"{platform.machine()} / CPython {platform.python_version()}, "
                 f"{os.cpu_count()} CPUs, {datetime.date.today()}; `gc.optimize` at "
                 f"opt_level 2; best of {args.repeats} runs on freshly built graphs, SymPy's "
                 f"verdict cache emptied before each; "
                 f"values of every optimized graph checked against the raw graph with the "
                 f"interpreter.")
    lines += ["", "| gradient graph | raw nodes | optimized nodes | pipeline ms "
              "| max diff ÷ max abs value |",
              "|---|---:|---:|---:|---:|"]
    cases = [
        ("tutorial dE/da, dE/db", tutorial, {}),
        ("MLP 784-256-10, softmax CE (loss + 4 grads)", mlp,
         {"x": rng.standard_normal((8, 784)).astype(np.float32),
          "y": rng.integers(0, 10, 8)}),
        ("20-layer tanh chain (loss + 20 grads)", tanh_chain,
         {"x": rng.standard_normal((4, 16)).astype(np.float32)}),
    ]
    for name, build, feeds in cases:
        result, wall, _, raw = timed(build, args.repeats)
        after = nodes(result.outputs)
        diff = check(build, feeds)
        lines.append(f"| {name} | {raw} | {after} | {wall * 1e3:.1f} | {diff:.1e} |")
        print(lines[-1], flush=True)

    lines += ["", "Autodiff already folds constant cotangents (`9*a**2` comes out of `gc.grad`), "
              "so raw gradient graphs are close to minimal; what the pipeline still removes "
              "is broadcast plumbing, duplicate products, mask multiplies and the "
              "cross-entropy gradient's detour (it becomes `(softmax - onehot) / N`)."]
    lines += ["", "Chained graphs (forward nodes cycle `*w`, `+0.25`, `tanh`, `sin`) plus the "
              "gradient of their sum w.r.t. `w` and `x`:", "",
              "| forward nodes | total raw nodes | optimized nodes | wall s | CPU s "
              "| CPU µs / node | per pass (wall s) |",
              "|---:|---:|---:|---:|---:|---:|---|"]
    rows = {}
    for n in sizes:
        result, wall, cpu, raw = timed(lambda: chain(n), args.repeats)
        rows[n] = (wall, cpu, raw)
        split = ", ".join(f"{s.name} {s.seconds:.3f}" for s in result.stats)
        lines.append(f"| {n:,} | {raw:,} | {nodes(result.outputs):,} | {wall:.3f} | "
                     f"{cpu:.3f} | {cpu / raw * 1e6:.0f} | {split} |")
        print(lines[-1], flush=True)
    feeds = {"x": rng.standard_normal((4, 8)).astype(np.float32)}
    lines += ["", f"Chain of 1,000 nodes: max difference raw vs optimized (relative) "
              f"{check(lambda: chain(1_000), feeds):.1e}."]
    if len(rows) >= 2:
        (n0, (_, c0, r0)), (n1, (w1, c1, r1)) = list(rows.items())[-2], list(rows.items())[-1]
        lines.append(f"From {n0:,} to {n1:,} forward nodes the CPU time grows "
                     f"{c1 / c0:.1f}x for {r1 / r0:.1f}x the nodes. Target for {n1:,} nodes "
                     f"+ gradient: under 1 s; measured {c1:.2f} s of CPU, {w1:.2f} s wall "
                     f"(the wall clock includes other processes' time on this shared machine).")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines.append(f"Load average while measuring: {load:.1f} on {os.cpu_count()} CPUs.")
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_section("passes", text)



if __name__ == "__main__":
    main()
