"""Loops: compile time vs trip count, an LSTM and an RK4 integration with gradients,
graphc (numpy and c backends) side by side with torch eager and JAX (``lax.scan`` under jit).

Run: ``PYTHONPATH=. /work/benchenv/bin/python benchmarks/loops.py`` (peers that are not
installed are skipped). Writes the ``loops`` section of benchmarks/RESULTS.md. The machine
is shared: timings are noisy (median of a few calls).
"""
from __future__ import annotations

import os
import platform
import re
import statistics
import time

import numpy as np

import graphc as gc
from graphc.subgraph import graph_size

HERE = os.path.dirname(os.path.abspath(__file__))


def median_time(fn, repeat=3):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ---- compile time vs trip count --------------------------------------------------------

def compile_rows():
    warm = gc.placeholder("warm", (3, 2))   # imports (SymPy...) are not compile time
    gc.compile(gc.grad(gc.sum(gc.scan(lambda c, e: (gc.tanh(c * e), c), warm[0], warm)[1]), warm))
    rows = []
    for steps in (10, 1_000, 100_000):
        best = None
        for _ in range(2):   # best of two fresh builds (the first warms per-process caches)
            t0 = time.perf_counter()
            x = gc.placeholder("x", (steps, 8), "float64")
            w = gc.placeholder("w", (8, 8), "float64")
            hT, hs = gc.scan(lambda h, e: (gc.tanh(h @ w + e), h), gc.constant(np.zeros(8)),
                             x)
            loss = gc.sum(hT) + gc.sum(hs * hs)
            g = gc.grad(loss, w)
            gc.compile([loss, g], name=f"rnn{steps}")
            secs = time.perf_counter() - t0
            best = secs if best is None else min(best, secs)
        rows.append((steps, graph_size([loss, g]), best))
    return rows


# ---- LSTM -------------------------------------------------------------------------------

B, H, I, T = 32, 128, 32, 1000


def lstm_data():
    r = np.random.default_rng(0)
    return (r.normal(size=(T, B, I)).astype(np.float32),
            (r.normal(size=(I + H, 4 * H)) * 0.1).astype(np.float32))


def lstm_graphc(backend="numpy"):
    xs = gc.placeholder("xs", (T, B, I))
    w = gc.placeholder("w", (I + H, 4 * H))

    def cell(carry, x):
        h, c = carry
        z = gc.concatenate([x, h], axis=1) @ w
        i, f, g, o = gc.split(z, 4, axis=1)
        c = gc.sigmoid(f) * c + gc.sigmoid(i) * gc.tanh(g)
        h = gc.sigmoid(o) * gc.tanh(c)
        return (h, c), None

    zeros = gc.constant(np.zeros((B, H), np.float32))
    (h, _), _ = gc.scan(cell, (zeros, zeros), xs)
    loss = gc.sum(h * h)
    t0 = time.perf_counter()
    f = gc.compile([loss, gc.grad(loss, w)], backend=backend)
    return f, time.perf_counter() - t0


def lstm_torch(x_np, w_np):
    import torch
    torch.set_num_threads(1)
    x, w0 = torch.tensor(x_np), torch.tensor(w_np)

    def run():
        w = w0.clone().requires_grad_(True)
        h = c = torch.zeros(B, H)
        for t in range(T):
            i, f, g, o = (torch.cat([x[t], h], 1) @ w).split(H, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        loss = (h * h).sum()
        loss.backward()
        return loss.item(), w.grad.numpy()
    return run


def lstm_jax(x_np, w_np):
    import jax
    import jax.numpy as jnp

    def loss_fn(w, xs):
        def cell(carry, x):
            h, c = carry
            i, f, g, o = jnp.split(jnp.concatenate([x, h], 1) @ w, 4, 1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None
        z = jnp.zeros((B, H), jnp.float32)
        (h, _), _ = jax.lax.scan(cell, (z, z), xs)
        return jnp.sum(h * h)

    step = jax.jit(jax.value_and_grad(loss_fn))
    x, w = jnp.asarray(x_np), jnp.asarray(w_np)
    return lambda: jax.block_until_ready(step(w, x))


# ---- RK4 ----------------------------------------------------------------------------------

N_RK, DT, DIM = 100, 0.01, 64


def rk4_graphc(backend="numpy"):
    y0 = gc.placeholder("y0", (DIM,), "float64")
    k = gc.placeholder("k", (), "float64")

    def f(y):
        return -k * gc.sin(y) + 0.1 * gc.roll(y, 1)

    def step(y, _):
        a = f(y)
        b = f(y + DT / 2 * a)
        c = f(y + DT / 2 * b)
        d = f(y + DT * c)
        return y + DT / 6 * (a + 2 * b + 2 * c + d), None

    yT, _ = gc.scan(step, y0, length=N_RK)
    loss = gc.sum(yT * yT)
    return gc.compile([loss, *gc.grad(loss, [y0, k])], backend=backend)


def rk4_torch(y0_np, k_v):
    import torch

    def run():
        y0 = torch.tensor(y0_np, requires_grad=True)
        k = torch.tensor(k_v, requires_grad=True)
        f = lambda y: -k * torch.sin(y) + 0.1 * torch.roll(y, 1)  # noqa: E731
        y = y0
        for _ in range(N_RK):
            a = f(y)
            b = f(y + DT / 2 * a)
            c = f(y + DT / 2 * b)
            d = f(y + DT * c)
            y = y + DT / 6 * (a + 2 * b + 2 * c + d)
        loss = (y * y).sum()
        loss.backward()
        return loss.item()
    return run


def rk4_jax(y0_np, k_v):
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def loss_fn(y0, k):
        f = lambda y: -k * jnp.sin(y) + 0.1 * jnp.roll(y, 1)  # noqa: E731

        def step(y, _):
            a = f(y)
            b = f(y + DT / 2 * a)
            c = f(y + DT / 2 * b)
            d = f(y + DT * c)
            return y + DT / 6 * (a + 2 * b + 2 * c + d), None
        yT, _ = jax.lax.scan(step, y0, None, length=N_RK)
        return jnp.sum(yT * yT)

    step = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))
    y0, k = jnp.asarray(y0_np), jnp.asarray(k_v)
    return lambda: jax.block_until_ready(step(y0, k))


def peer(make, *args):
    try:
        return make(*args)
    except ImportError as e:
        return str(e)


def main():
    lines = ["## Loops: `gc.scan` (compile time vs trip count, LSTM, RK4)", ""]
    lines.append(f"{platform.machine()} / CPython {platform.python_version()} / NumPy "
                 f"{np.__version__}, {os.cpu_count()} CPUs (shared: noisy), "
                 f"{time.strftime('%Y-%m-%d')}. graphc's c backend runs a scan's steps "
                 f"in a C driver calling the body's compiled entry point. Median of 3 calls "
                 f"after one warm-up.")
    lines += ["", "Compile time vs trip count (tanh RNN, hidden 8, loss + gradient, numpy "
              "backend; nodes include the bodies):", "",
              "| steps | nodes | build + compile s (best of 2) |", "|---:|---:|---:|"]
    for steps, nodes, secs in compile_rows():
        lines.append(f"| {steps:,} | {nodes} | {secs:.2f} |")

    x_np, w_np = lstm_data()
    results, notes = [], []
    for backend in ("numpy", "c"):
        f, compile_s = lstm_graphc(backend)
        results.append((f"graphc {backend}", median_time(lambda: f(x_np, w_np))))
        notes.append(f"{backend} {compile_s:.2f} s")
    check = [f(x_np, w_np) for f in (lstm_graphc("numpy")[0], lstm_graphc("c")[0])]
    np.testing.assert_allclose(check[0][1], check[1][1], rtol=2e-3, atol=1e-4)
    for name, make in (("torch eager", lstm_torch), ("JAX jit lax.scan", lstm_jax)):
        run = peer(make, x_np, w_np)
        results.append((name, run if isinstance(run, str) else median_time(run)))
    lines += ["", f"LSTM batch {B}, hidden {H}, input {I}, {T} steps, float32, loss + "
              f"gradient w.r.t. the weights (graphc compile: {', '.join(notes)}; c's includes gcc "
              f"only when graphc's on-disk cache does not already hold the libraries, about "
              f"3.5 s here):", "",
              "| implementation | s / call | ratio to graphc c |", "|---|---:|---:|"]
    base = results[1][1]
    for name, t in results:
        lines.append(f"| {name} | {t:.3f} | {t / base:.2f} |" if not isinstance(t, str)
                     else f"| {name} | not run: {t} | |")

    r = np.random.default_rng(1)
    y0, kv = r.normal(size=DIM), 1.3
    results = []
    for backend in ("numpy", "c"):
        g = rk4_graphc(backend)
        results.append((f"graphc {backend}", median_time(lambda: g(y0, kv))))
    for name, make in (("torch eager", rk4_torch), ("JAX jit lax.scan", rk4_jax)):
        run = peer(make, y0, kv)
        results.append((name, run if isinstance(run, str) else median_time(run)))
    lines += ["", f"RK4, {N_RK} steps of a {DIM}-dim ODE, float64, loss + gradient w.r.t. "
              f"the initial state and a parameter:", "",
              "| implementation | ms / call | ratio to graphc c |", "|---|---:|---:|"]
    base = results[1][1]
    for name, t in results:
        lines.append(f"| {name} | {t * 1e3:.1f} | {t / base:.2f} |" if not isinstance(t, str)
                     else f"| {name} | not run: {t} | |")
    text = "\n".join(lines)
    print(text)
    path = os.path.join(HERE, "RESULTS.md")
    with open(path, encoding="utf-8") as fh:
        old = fh.read()
    block = f"<!-- loops:begin -->\n{text}\n<!-- loops:end -->"
    if "<!-- loops:begin -->" in old:
        new = re.sub(r"<!-- loops:begin -->.*?<!-- loops:end -->", lambda m: block, old,
                     flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(new)


if __name__ == "__main__":
    main()
