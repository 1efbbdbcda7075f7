"""Per-call time of small compiled functions: graphc's C and NumPy backends against NumPy by
hand, and JAX jit / PyTorch eager when they import.

    python benchmarks/call_overhead.py              # writes its section of RESULTS.md
    python benchmarks/call_overhead.py --no-write   # prints only
    python benchmarks/call_overhead.py --root DIR   # another checkout of graphc (before/after)

Cases (2-element float32 arrays: the call path, not arithmetic, is measured):
  tutorial  E = 3a^3 - b^2 with parameters a, b: dE/da and dE/db, no inputs (``f()``)
  input     loss = sum((w*x - 2)^2) and d loss/dw for an input x: ``f(x)``
  step      the same loss with the SGD update of w applied by the call: ``f(x)``

Each time is the best of 7 rounds of N calls divided by N (the machine is shared and
loaded, so the best round is the least disturbed one; numbers stay noisy). The hand-written
NumPy rows compute the same values with the fewest NumPy calls; JAX's step returns the new
w (a functional update), PyTorch's computes with autograd and updates under no_grad.

Only the section between ``<!-- call-overhead:begin -->`` and ``<!-- call-overhead:end -->``
of benchmarks/RESULTS.md is (re)written.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def graphc_cases(gc, np, backend):
    a0, b0 = np.array([2., 4.], np.float32), np.array([7., 5.], np.float32)
    xv = np.array([1., 2.], np.float32)
    a, b = gc.parameter("a", a0), gc.parameter("b", b0)
    da, db = gc.grad(3 * a**3 - b**2, [a, b], seed=gc.constant([1., 1.]))
    tut = gc.compile([da, db], backend=backend)
    x = gc.placeholder("x", (None,))
    w = gc.parameter("w", np.ones(2, np.float32))
    loss = gc.sum((w * x - 2) ** 2)
    inp = gc.compile([loss, gc.grad(loss, w)], inputs=[x], backend=backend)
    w2 = gc.parameter("w2", np.ones(2, np.float32))
    loss2 = gc.sum((w2 * x - 2) ** 2)
    step = gc.compile(loss2, inputs=[x], updates={w2: w2 - 0.01 * gc.grad(loss2, w2)},
                      backend=backend)
    fast = all(getattr(f, "_fast", None) is not None for f in (tut, inp))
    return {"tutorial": lambda: tut(), "input": lambda: inp(xv), "step": lambda: step(xv)}, fast


def numpy_cases(np):
    a0, b0 = np.array([2., 4.], np.float32), np.array([7., 5.], np.float32)
    xv = np.array([1., 2.], np.float32)
    w = [np.ones(2, np.float32)]

    def inp():
        r = w[0] * xv - 2
        return [np.sum(r * r), 2 * r * xv]

    def step():
        r = w[0] * xv - 2
        w[0] = w[0] - 0.01 * (2 * r * xv)
        return np.sum(r * r)
    return {"tutorial": lambda: [9 * a0**2, -2 * b0], "input": inp, "step": step}


def jax_cases(np):
    import jax
    import jax.numpy as jnp
    a, b = jnp.array([2., 4.], jnp.float32), jnp.array([7., 5.], jnp.float32)
    xv = jnp.array([1., 2.], jnp.float32)
    w = [jnp.ones(2, jnp.float32)]
    tut = jax.jit(lambda a, b: jax.grad(lambda a, b: jnp.sum(3 * a**3 - b**2), (0, 1))(a, b))

    def loss(w, x):
        return jnp.sum((w * x - 2) ** 2)
    inp = jax.jit(jax.value_and_grad(loss))

    @jax.jit
    def step_fn(w, x):
        v, g = jax.value_and_grad(loss)(w, x)
        return v, w - 0.01 * g

    def step():
        v, w[0] = step_fn(w[0], xv)
        return v
    cases = {"tutorial": lambda: tut(a, b), "input": lambda: inp(w[0], xv), "step": step}
    # results block until computed, as graphc's do
    return {k: (lambda f: lambda: jax.block_until_ready(f()))(f) for k, f in cases.items()}


def torch_cases(np):
    import torch
    a = torch.tensor([2., 4.], requires_grad=True)
    b = torch.tensor([7., 5.], requires_grad=True)
    xv = torch.tensor([1., 2.])
    w = torch.ones(2, requires_grad=True)

    def tut():
        return torch.autograd.grad((3 * a**3 - b**2).sum(), [a, b])

    def inp():
        v = ((w * xv - 2) ** 2).sum()
        return v, torch.autograd.grad(v, [w])

    def step():
        v = ((w * xv - 2) ** 2).sum()
        (g,) = torch.autograd.grad(v, [w])
        with torch.no_grad():
            w.sub_(0.01 * g)
        return v
    return {"tutorial": tut, "input": inp, "step": step}


def best_us(fn, number: int) -> float:
    fn()
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--number", type=int, default=2000)
    ap.add_argument("--root", default=str(ROOT))
    args = ap.parse_args()
    sys.path.insert(0, args.root)
    import numpy as np
    import graphc as gc
    from graphc.codegen import toolchain

    impls = {}
    if toolchain.have_c_compiler():
        impls["graphc-c"], c_fast = graphc_cases(gc, np, "c")
    impls["graphc-numpy"], _ = graphc_cases(gc, np, "numpy")
    impls["numpy by hand"] = numpy_cases(np)
    for name, make in (("jax jit", jax_cases), ("torch eager", torch_cases)):
        try:
            impls[name] = make(np)
        except ImportError:
            pass
    cases = ("tutorial", "input", "step")
    table = {}
    for impl, fns in impls.items():
        table[impl] = {c: best_us(fns[c], args.number) for c in cases}
        print(f"{impl:14s} " + "  ".join(f"{c} {table[impl][c]:7.2f} us" for c in cases),
              flush=True)
    if args.no_write or Path(args.root) != ROOT:
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import write_section
    lines = [f"Per-call time of small functions (2 float32 elements; best of 7 rounds of "
             f"{args.number} calls; {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, shared and loaded: noisy; Python "
             f"{platform.python_version()}, {datetime.date.today()}; "
             f"`python benchmarks/call_overhead.py`). graphc-c calls go through the fast "
             f"path (graphc.codegen.fastcall) where it is built: "
             f"{'yes' if impls.get('graphc-c') and c_fast else 'no'}.", "",
             "| implementation | " + " | ".join(f"{c} (us)" for c in cases) + " |",
             "|---|" + "---:|" * len(cases)]
    for impl, row in table.items():
        lines.append(f"| {impl} | " + " | ".join(f"{row[c]:.2f}" for c in cases) + " |")
    write_section("call-overhead", "\n".join(lines))


if __name__ == "__main__":
    main()
