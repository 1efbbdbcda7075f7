"""Embedding benchmark: a lookup ``E[tokens]`` and its scatter-add gradient (vocab 50,000,
16,384 tokens, width 256, float32), graphc (numpy and c backends) side by side with NumPy
by hand, PyTorch eager and JAX jit when they are installed, measured in one run.

    python benchmarks/embedding.py      # prints a table, updates benchmarks/RESULTS.md

One step computes ``loss = sum(E[tokens] * G)`` (G: the upstream gradient of the rows) and
``dE = scatter_add(G, tokens)`` (dense, like ``torch``'s default embedding gradient).
Writes only its own section of RESULTS.md (``<!-- embedding:begin/end -->``).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import graphc as gc  # noqa: E402
from _results import ratio_table, write_section  # noqa: E402  (a sibling script module)
from cpu import best_time  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--tokens", type=int, default=16_384)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    E0 = rng.standard_normal((args.vocab, args.width)).astype(np.float32)
    t0 = rng.integers(0, args.vocab, size=args.tokens)
    G0 = rng.standard_normal((args.tokens, args.width)).astype(np.float32)

    def numpy_step():
        loss = np.sum(E0[t0] * G0)
        dE = np.zeros_like(E0)
        np.add.at(dE, t0, G0)
        return loss, dE

    want_loss, want_dE = numpy_step()
    rows = []

    def record(name, fn, check=True):
        if check:
            loss, dE = fn()
            np.testing.assert_allclose(np.asarray(dE), want_dE, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(float(loss), want_loss, rtol=1e-3)
        rows.append((name, best_time(fn, repeat=args.repeat, warmup=1, budget=30.0)))

    record("NumPy by hand (E[t], np.add.at)", numpy_step)
    E = gc.parameter("E", E0)
    tokens = gc.placeholder("tokens", (None,), "int64")
    G = gc.placeholder("G", (None, args.width), "float32")
    loss = gc.sum(E[tokens] * G)
    dE = gc.grad(loss, E)
    kernels = {}
    for backend in ("numpy", "c"):
        f = gc.compile([loss, dE], backend=backend)
        kernels[backend] = f.stats.get("kernels")
        record(f"graphc {backend}", lambda f=f: f(tokens=t0, G=G0))
    notes = [f"graphc c kernels: {kernels['c']} (gather fused into the sum; scatter_add its "
             f"own serial kernel)"]
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        Et = torch.from_numpy(E0).requires_grad_(True)
        tt, Gt = torch.from_numpy(t0), torch.from_numpy(G0)

        def torch_step():
            lt = (Et[tt] * Gt).sum()
            (g,) = torch.autograd.grad(lt, Et)
            return lt.detach(), g.numpy()
        record("torch eager", torch_step)
    except ImportError:
        notes.append("torch not installed")
    try:
        import jax
        import jax.numpy as jnp
        Ej, tj, Gj = jnp.asarray(E0), jnp.asarray(t0), jnp.asarray(G0)
        # tokens and G are arguments: closed over, XLA would constant-fold the scatter
        step = jax.jit(jax.value_and_grad(lambda e, t, g: jnp.sum(e[t] * g)))

        def jax_step():
            lj, gj = step(Ej, tj, Gj)
            gj.block_until_ready()
            return lj, gj
        record("JAX jit", jax_step)
    except ImportError:
        notes.append("jax not installed")

    lines = [f"Embedding lookup + scatter-add gradient: vocab {args.vocab:,}, "
             f"{args.tokens:,} tokens, width {args.width}, float32; one step = loss and dense "
             f"dE. {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; best "
             f"of {args.repeat}.", "", *ratio_table(rows)]
    lines += ["", *[f"- {n}" for n in notes]]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("embedding", "## Embedding (gather / scatter_add)\n\n" + text)


if __name__ == "__main__":
    main()
