"""Scans and orderings benchmark: a running sum with its gradient and a top-k with its
gradient, graphc (numpy and c backends) side by side with NumPy by hand, PyTorch eager
and JAX jit when installed, measured in one run.

    python benchmarks/scans.py      # prints a table, updates benchmarks/RESULTS.md

* cumsum: ``loss = sum(cumsum(x, axis=1) * w)`` and ``dx`` (a reversed cumsum of ``w``),
  x of shape (4096, 1024), float32.
* top_k: ``loss = sum(top_k(x, 8).values * w)`` and ``dx`` (a scatter of ``w``), x of shape
  (4096, 1024), float32. graphc c selects the k best of each line in one pass (an
  argsort keeping k); NumPy by hand sorts whole lines (it has no stable partial sort).

Writes only its own section of RESULTS.md (``<!-- scans:begin/end -->``).
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
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=1024)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    shape, k = (args.rows, args.cols), args.k
    x0 = rng.standard_normal(shape).astype(np.float32)
    w0 = rng.standard_normal(shape).astype(np.float32)
    wk = rng.standard_normal((args.rows, k)).astype(np.float32)
    rows: dict[str, list] = {"cumsum": [], "top_k": []}

    def record(case, name, fn, want):
        got = fn()
        for g, e in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), e, rtol=2e-3, atol=2e-2)
        rows[case].append((name, best_time(fn, repeat=args.repeat, warmup=1, budget=30.0)))

    def numpy_cumsum():
        return np.sum(np.cumsum(x0, 1) * w0), np.cumsum(w0[:, ::-1], 1)[:, ::-1]

    def numpy_top_k():
        idx = np.argsort(-x0, 1, kind="stable")[:, :k]
        dx = np.zeros_like(x0)
        np.put_along_axis(dx, idx, wk, 1)
        return np.sum(np.take_along_axis(x0, idx, 1) * wk), dx

    want_c, want_t = numpy_cumsum(), numpy_top_k()
    record("cumsum", "NumPy by hand", numpy_cumsum, want_c)
    record("top_k", "NumPy by hand (argsort)", numpy_top_k, want_t)
    x = gc.placeholder("x", shape, "float32")
    w = gc.placeholder("w", shape, "float32")
    wkp = gc.placeholder("wk", (args.rows, k), "float32")
    loss_c = gc.sum(gc.cumsum(x, axis=1) * w)
    loss_t = gc.sum(gc.top_k(x, k)[0] * wkp)
    kernels = {}
    for backend in ("numpy", "c"):
        fc = gc.compile([loss_c, gc.grad(loss_c, x)], inputs=[x, w], backend=backend)
        ft = gc.compile([loss_t, gc.grad(loss_t, x)], inputs=[x, wkp], backend=backend)
        kernels[backend] = (fc.stats.get("kernels"), ft.stats.get("kernels"))
        record("cumsum", f"graphc {backend}", lambda f=fc: f(x0, w0), want_c)
        record("top_k", f"graphc {backend}", lambda f=ft: f(x0, wk), want_t)
    notes = [f"graphc c kernels: cumsum {kernels['c'][0]}, top_k {kernels['c'][1]}"]
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        xt = torch.from_numpy(x0).requires_grad_(True)
        wt, wkt = torch.from_numpy(w0), torch.from_numpy(wk)

        def torch_cumsum():
            lt = (torch.cumsum(xt, 1) * wt).sum()
            (g,) = torch.autograd.grad(lt, xt)
            return lt.detach().numpy(), g.numpy()

        def torch_top_k():
            lt = (torch.topk(xt, k, 1).values * wkt).sum()
            (g,) = torch.autograd.grad(lt, xt)
            return lt.detach().numpy(), g.numpy()
        record("cumsum", "torch eager", torch_cumsum, want_c)
        record("top_k", "torch eager", torch_top_k, want_t)
    except ImportError:
        notes.append("torch not installed")
    try:
        import jax
        import jax.numpy as jnp
        xj, wj, wkj = jnp.asarray(x0), jnp.asarray(w0), jnp.asarray(wk)
        step_c = jax.jit(jax.value_and_grad(lambda a, b: jnp.sum(jnp.cumsum(a, 1) * b)))
        step_t = jax.jit(jax.value_and_grad(lambda a, b: jnp.sum(jax.lax.top_k(a, k)[0] * b)))

        def jax_run(step, a, b):
            lj, gj = step(a, b)
            gj.block_until_ready()
            return lj, gj
        record("cumsum", "JAX jit", lambda: jax_run(step_c, xj, wj), want_c)
        record("top_k", "JAX jit", lambda: jax_run(step_t, xj, wkj), want_t)
    except ImportError:
        notes.append("jax not installed")

    lines = [f"Scans and orderings, x of shape {shape}, float32; one step = loss and dx. "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, shared "
             f"with other jobs (noisy); best of {args.repeat}.", ""]
    for case, title in (("cumsum", "sum(cumsum(x, 1) * w) + gradient"),
                        ("top_k", f"sum(top_k(x, {k}).values * w) + gradient")):
        lines += [f"**{title}**", "", *ratio_table(rows[case]), ""]
    lines += [f"- {n}" for n in notes]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("scans", "## Scans and orderings (cumsum, top_k)\n\n" + text)


if __name__ == "__main__":
    main()
