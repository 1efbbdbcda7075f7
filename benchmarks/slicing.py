"""Slice/concat benchmark: shifted and reversed windows of a signal joined into one feature
matrix, a gated product and its gradients. graphc (numpy and c backends) side by side with
NumPy by hand (hand-written gradient), torch eager, torch.compile and JAX jit, in one run.

    python benchmarks/slicing.py      # prints a table, updates benchmarks/RESULTS.md

One step: ``feat = concat([x[:, 2:], x[:, 1:-1], x[:, :-2], x[:, ::-1][:, 2:]], axis=1)``,
``h = tanh(feat * w)``, ``loss = sum(h * h)``, and the gradients with respect to ``w`` and
``x`` (the slices' gradients are pads that add up in ``dx``). In graphc the slices and the
concatenation are index arithmetic inside the fused kernels (no copies).
Writes only its own section of RESULTS.md (``<!-- slicing:begin/end -->``).
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


def numpy_step(x, w):
    """Forward and hand-written backward of the benchmark's graph."""
    n = x.shape[1] - 2
    feat = np.concatenate([x[:, 2:], x[:, 1:-1], x[:, :-2], x[:, ::-1][:, 2:]], axis=1)
    h = np.tanh(feat * w)
    loss = np.sum(h * h)
    dz = 2 * h * (1 - h * h)
    dw = np.sum(dz * feat, axis=0)
    dfeat = dz * w
    dx = np.zeros_like(x)
    dx[:, 2:] += dfeat[:, :n]
    dx[:, 1:-1] += dfeat[:, n:2 * n]
    dx[:, :-2] += dfeat[:, 2 * n:3 * n]
    dx[:, :n] += dfeat[:, 3 * n:][:, ::-1]
    return loss, dw, dx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((args.batch, args.length)).astype(np.float32)
    w0 = (0.5 * rng.standard_normal(4 * (args.length - 2))).astype(np.float32)
    want = numpy_step(x0, w0)
    rows, notes = [], []

    def record(name, fn):
        got = fn()
        for g, w_ in zip(got, want):
            np.testing.assert_allclose(np.asarray(g, np.float64), w_, rtol=2e-3, atol=2e-3)
        rows.append((name, best_time(fn, repeat=args.repeat, warmup=1, budget=30.0)))

    record("NumPy by hand", lambda: numpy_step(x0, w0))
    x = gc.placeholder("x", (None, args.length))
    w = gc.parameter("w", w0)
    feat = gc.concatenate([x[:, 2:], x[:, 1:-1], x[:, :-2], x[:, ::-1][:, 2:]], axis=1)
    h = gc.tanh(feat * w)
    loss = gc.sum(h * h)
    dw, dx = gc.grad(loss, [w, x])
    for backend in ("numpy", "c"):
        f = gc.compile([loss, dw, dx], backend=backend)
        notes.append(f"graphc {backend}: {f.stats.get('kernels')} kernels")
        record(f"graphc {backend}", lambda f=f: f(x=x0))

    def torch_fn(torch, xt, wt):
        ft = torch.cat([xt[:, 2:], xt[:, 1:-1], xt[:, :-2], xt.flip(1)[:, 2:]], dim=1)
        ht = torch.tanh(ft * wt)
        return (ht * ht).sum()
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)

        def torch_step(fn):
            xt = torch.from_numpy(x0).requires_grad_(True)
            wt = torch.from_numpy(w0).requires_grad_(True)
            lt = fn(torch, xt, wt)
            gw, gx = torch.autograd.grad(lt, [wt, xt])
            return lt.detach().numpy(), gw.numpy(), gx.numpy()
        record("torch eager", lambda: torch_step(torch_fn))
        try:
            compiled = torch.compile(torch_fn)
            record("torch.compile", lambda: torch_step(compiled))
        except Exception as e:  # no C++ toolchain for inductor, etc.: say so, go on
            notes.append(f"torch.compile failed: {type(e).__name__}: {str(e)[:80]}")
    except ImportError:
        notes.append("torch not installed")
    try:
        import jax
        import jax.numpy as jnp

        def jax_loss(w_, x_):
            fj = jnp.concatenate([x_[:, 2:], x_[:, 1:-1], x_[:, :-2], x_[:, ::-1][:, 2:]],
                                 axis=1)
            hj = jnp.tanh(fj * w_)
            return jnp.sum(hj * hj)
        step = jax.jit(jax.value_and_grad(jax_loss, argnums=(0, 1)))
        xj, wj = jnp.asarray(x0), jnp.asarray(w0)

        def jax_step():
            lj, (gw, gx) = step(wj, xj)
            gx.block_until_ready()
            return lj, gw, gx
        record("JAX jit", jax_step)
    except ImportError:
        notes.append("jax not installed")

    lines = [f"Shifted/reversed windows joined by concatenate, tanh gate, loss + 2 gradients: "
             f"batch {args.batch}, length {args.length:,}, float32. "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; best of "
             f"{args.repeat}.", "", *ratio_table(rows, digits=2)]
    lines += ["", *[f"- {n}" for n in notes]]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("slicing", "## Slices and concatenation (benchmarks/slicing.py)\n\n" + text)


if __name__ == "__main__":
    main()
