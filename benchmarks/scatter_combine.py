"""Scatter-combine benchmark: ``x.at[tokens].max(v)`` and ``.multiply(v)`` with duplicate
indices, forward + gradients (dx, dv), rows of width 64 (x: 50,000 rows, 16,384 updates,
float32), graphc (numpy and c backends) side by side with NumPy by hand (forward only:
``np.maximum.at``), PyTorch eager (``scatter_reduce``) and JAX jit when installed.

    python benchmarks/scatter_combine.py   # prints a table, updates benchmarks/RESULTS.md

JAX's scatter_mul has no gradient with duplicate indices, so its multiply row is the
forward only. Writes only its own section of RESULTS.md (``scatter_combine``).
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
from _results import write_section  # noqa: E402  (a sibling script module)
from cpu import best_time  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--updates", type=int, default=16_384)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((args.rows, args.width)).astype(np.float32)
    t0 = rng.integers(0, args.rows // 8, size=args.updates)   # many duplicates
    v0 = rng.standard_normal((args.updates, args.width)).astype(np.float32)
    w0 = rng.standard_normal((args.rows, args.width)).astype(np.float32)
    rows, notes = [], []

    def record(name, how, fn):
        rows.append((name, how, best_time(fn, repeat=args.repeat, warmup=1, budget=30.0)))

    for how, ufunc in (("max", np.maximum), ("multiply", np.multiply)):
        def numpy_forward(ufunc=ufunc):
            out = x0.copy()
            ufunc.at(out, t0, v0)
            return out
        want = numpy_forward()
        record("NumPy by hand (forward only)", how, numpy_forward)
        x, v = gc.parameter("x", x0), gc.placeholder("v", (None, args.width), "float32")
        t = gc.placeholder("t", (None,), "int64")
        y = getattr(x.at[t], how)(v)
        loss = gc.sum(y * gc.constant(w0))
        for backend in ("numpy", "c"):
            f = gc.compile([y, *gc.grad(loss, [x, v])], backend=backend)
            got = f(t=t0, v=v0)
            np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)
            record(f"graphc {backend} (forward + dx, dv)", how, lambda f=f: f(t=t0, v=v0))
            if backend == "c":
                notes.append(f"graphc c, {how}: {f.stats['kernels']} kernels")
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        xt = torch.from_numpy(x0).requires_grad_(True)
        vt = torch.from_numpy(v0).requires_grad_(True)
        index = torch.from_numpy(t0)[:, None].expand(-1, args.width)
        wt = torch.from_numpy(w0)
        for how, reduce in (("max", "amax"), ("multiply", "prod")):
            def torch_step(reduce=reduce):
                y = xt.scatter_reduce(0, index, vt, reduce=reduce, include_self=True)
                return torch.autograd.grad((y * wt).sum(), [xt, vt])
            record("torch eager (forward + dx, dv)", how, torch_step)
    except ImportError:
        notes.append("torch not installed")
    try:
        import jax
        import jax.numpy as jnp
        xj, vj, tj, wj = (jnp.asarray(a) for a in (x0, v0, t0, w0))
        step = jax.jit(jax.grad(lambda a, b, t, w: jnp.sum(a.at[t].max(b) * w), (0, 1)))

        def jax_max():
            return [g.block_until_ready() for g in step(xj, vj, tj, wj)]
        record("JAX jit (forward + dx, dv)", "max", jax_max)
        fwd = jax.jit(lambda a, b, t: a.at[t].multiply(b))
        record("JAX jit (forward only)", "multiply",
               lambda: fwd(xj, vj, tj).block_until_ready())
    except ImportError:
        notes.append("jax not installed")

    lines = [f"`x.at[t].max(v)` / `.multiply(v)`: x {args.rows:,} x {args.width} float32, "
             f"{args.updates:,} updates into the first {args.rows // 8:,} rows (duplicates), "
             f"loss = sum(y * w). {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPUs (shared with other jobs: noisy); best of {args.repeat}.",
             "", "| implementation | combine | ms |", "|---|---|---:|"]
    for name, how, t in rows:
        lines.append(f"| {name} | {how} | {t * 1e3:.1f} |")
    lines += ["", *[f"- {n}" for n in notes]]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("scatter_combine", "## Scatter combines (x.at[].max / multiply)\n\n"
                      + text)


if __name__ == "__main__":
    main()
