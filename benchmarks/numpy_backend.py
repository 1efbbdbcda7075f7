"""The NumPy backend against hand-written NumPy (and PyTorch eager / JAX jit if installed).

Case: one SGD training step of an MLP 784-256-10 (ReLU, softmax cross-entropy),
batch 256, float32: forward, backward and parameter update. Every implementation
starts from the same parameters and data, and its first-step loss is checked against
graphc's before any timing counts. Times are medians of repeated calls after warm-up;
ratios are (time / graphc-numpy time), so above 1 means slower than graphc.

    python benchmarks/numpy_backend.py            # writes its section of RESULTS.md
    python benchmarks/numpy_backend.py --quick    # fewer repeats, prints only

BLAS runs single-threaded unless ``GRAPHC_BENCH_THREADS`` says otherwise (set before
NumPy loads): on a shared machine, multi-threaded BLAS timings swing by 3x from run to
run, and every implementation here calls the same BLAS anyway.

Only the section between ``<!-- numpy_backend:begin -->`` and
``<!-- numpy_backend:end -->`` of benchmarks/RESULTS.md is (re)written.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

THREADS = os.environ.get("GRAPHC_BENCH_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)

import numpy as np  # noqa: E402  (after the thread settings)

import graphc as gc  # noqa: E402
from _results import RESULTS, write_section  # noqa: E402  (a sibling script module)

BATCH, IN, HIDDEN, OUT, LR = 256, 784, 256, 10, 0.1


def initial(rng):
    return {
        "W1": rng.normal(0, np.sqrt(2 / IN), (IN, HIDDEN)).astype(np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "W2": rng.normal(0, np.sqrt(2 / HIDDEN), (HIDDEN, OUT)).astype(np.float32),
        "b2": np.zeros(OUT, np.float32),
    }


def graphc_step(init):
    x = gc.placeholder("x", (None, IN))
    labels = gc.placeholder("labels", (None,), "int64")
    P = {k: gc.parameter(k, v) for k, v in init.items()}
    logits = gc.relu(x @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
    loss = gc.cross_entropy(logits, labels)
    grads = gc.grad(loss, list(P.values()))
    import sympy  # noqa: F401  (the pipeline's one-time import is not compile work)
    t0 = time.perf_counter()
    f = gc.compile(loss, inputs=[x, labels],
                   updates={p: p - LR * g for p, g in zip(P.values(), grads)})
    return f, time.perf_counter() - t0


def numpy_step(init):
    """The same math written by hand, updating the parameters in place."""
    W1, b1, W2, b2 = (init[k].copy() for k in ("W1", "b1", "W2", "b2"))

    def step(x, y):
        n = x.shape[0]
        pre = x @ W1
        pre += b1
        h = np.maximum(pre, 0)
        logits = h @ W2
        logits += b2
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = -(logits[rows, y] - np.log(s[:, 0])).mean()
        g = e / s
        g[rows, y] -= 1
        g /= n
        gW2 = h.T @ g
        gb2 = g.sum(axis=0)
        gh = g @ W2.T
        gh *= pre > 0
        gW1 = x.T @ gh
        gb1 = gh.sum(axis=0)
        for p, g in ((W1, gW1), (b1, gb1), (W2, gW2), (b2, gb2)):
            g *= LR
            p -= g
        return loss
    return step


def torch_step(init):
    import torch

    P = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}

    def step(x, y):
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        logits = torch.relu(x @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
        loss = torch.nn.functional.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, list(P.values()))
        with torch.no_grad():
            for p, g in zip(P.values(), grads):
                p -= LR * g
        return float(loss)
    return step


def jax_step(init):
    import jax
    import jax.numpy as jnp

    def loss_fn(P, x, y):
        logits = jax.nn.relu(x @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    @jax.jit
    def update(P, x, y):
        loss, g = jax.value_and_grad(loss_fn)(P, x, y)
        return loss, {k: P[k] - LR * g[k] for k in P}

    state = {"P": {k: jnp.asarray(v) for k, v in init.items()}}

    def step(x, y):
        loss, state["P"] = update(state["P"], x, y)
        return float(loss)
    return step


def median_ms(impls: dict, x, y, repeats: int) -> dict[str, float]:
    """Median time per call of each implementation, calls interleaved round-robin so
    that a busy machine slows every implementation alike."""
    for fn in impls.values():
        for _ in range(3):
            fn(x, y)
    times: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(repeats):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn(x, y)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats; do not write")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    repeats = args.repeats or (5 if args.quick else 30)

    rng = np.random.default_rng(0)
    init = initial(rng)
    x = rng.normal(size=(BATCH, IN)).astype(np.float32)
    y = rng.integers(0, OUT, BATCH).astype(np.int64)

    f, compile_s = graphc_step(init)
    impls = {"graphc numpy": f, "hand-written NumPy": numpy_step(init)}
    for name, make in (("PyTorch eager (CPU)", torch_step), ("JAX jit (CPU)", jax_step)):
        try:
            impls[name] = make(init)
        except ImportError:
            pass

    # correctness first: same first-step loss from the same start
    ref = float(impls["graphc numpy"](x, y))
    for name, fn in impls.items():
        if name != "graphc numpy":
            loss = float(fn(x, y))
            assert abs(loss - ref) < 1e-4 * max(1.0, abs(ref)), (name, loss, ref)

    times = median_ms(impls, x, y, repeats)
    base = times["graphc numpy"]
    s = f.stats
    lines = [
        "## NumPy backend: MLP training step",
        "",
        f"MLP {IN}-{HIDDEN}-{OUT} (ReLU, softmax cross-entropy), batch {BATCH}, float32: "
        "forward + backward + SGD update, one call. Median of "
        f"{repeats} calls after warm-up (implementations interleaved), measured in one run on "
        f"{platform.machine()} / {platform.python_implementation()} "
        f"{platform.python_version()} / NumPy {np.__version__}, "
        f"{os.cpu_count()} CPUs, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}, "
        f"{datetime.date.today().isoformat()}. Ratio = time / graphc time "
        "(above 1: slower than graphc).",
        "",
        "| implementation | ms / step | ratio |",
        "|---|---:|---:|",
    ]
    for name, ms in times.items():
        lines.append(f"| {name} | {ms:.2f} | {ms / base:.2f} |")
    missing = [n for n in ("PyTorch eager (CPU)", "JAX jit (CPU)") if n not in times]
    lines += [
        "",
        f"graphc: compile {compile_s * 1e3:.0f} ms (SymPy already imported); "
        f"{s['nodes_before']} -> "
        f"{s['nodes_after']} nodes; {s['steps']} NumPy calls; {s['buffers']} scratch buffers "
        f"reused by {s['values_in_buffers']} values; planned peak {s['peak_bytes'] / 1e6:.2f} MB "
        f"vs {s['intermediate_bytes'] / 1e6:.2f} MB with one buffer per intermediate.",
    ]
    if missing:
        lines.append(f"Not installed here, so not measured: {', '.join(missing)}.")
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_section("numpy_backend", text)
        print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
