"""gc.linalg benchmarks, graphc (numpy and c backends) side by side with NumPy by hand,
PyTorch eager and JAX jit (float64, when installed), measured in one run:

1. a Gaussian process's log marginal likelihood and its gradient in the three kernel
   hyperparameters (RBF, log scale), n = 2,000 points: Cholesky, triangular solves, and
   the Cholesky's backward pass (two n x n triangular solves);
2. batched small matrices: 4,096 SPD 32 x 32 matrices, Cholesky + solve of one right-hand
   side each (forward).

    python benchmarks/linalg.py            # prints the tables, updates benchmarks/RESULTS.md
    python benchmarks/linalg.py --n 500 --batch 512 --no-write

Every implementation's result is checked against NumPy's first. Writes only its own
section of RESULTS.md (``<!-- linalg:begin/end -->``).
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
from cpu import best_times  # noqa: E402

THETA = np.log([0.7, 1.3, 0.05])


# ---- 1. GP log marginal likelihood + gradient -------------------------------------------------

def gp_numpy(x, y):
    """By hand (Rasmussen & Williams, eq. 5.9): K^-1 explicitly for the trace terms."""
    def step(theta):
        l, s2, n2 = np.exp(theta)
        d2 = (x[:, None] - x[None, :]) ** 2
        Kf = s2 * np.exp(-0.5 * d2 / l**2)
        K = Kf + n2 * np.eye(len(x))
        C = np.linalg.cholesky(K)
        Cinv = np.linalg.inv(C)     # triangular inverse through LU: NumPy has no trsm
        Kinv = Cinv.T @ Cinv
        alpha = Kinv @ y
        lml = -0.5 * y @ alpha - np.sum(np.log(np.diag(C))) - 0.5 * len(x) * np.log(2 * np.pi)
        W = np.outer(alpha, alpha) - Kinv
        grad = np.array([0.5 * np.sum(W * Kf * d2 / l**2), 0.5 * np.sum(W * Kf),
                         0.5 * n2 * np.trace(W)])
        return lml, grad
    return step


def gp_graphc(n, backend):
    x = gc.placeholder("x", (n,), "float64")
    y = gc.placeholder("y", (n,), "float64")
    theta = gc.placeholder("theta", (3,), "float64")
    l, s2, n2 = gc.exp(theta[0]), gc.exp(theta[1]), gc.exp(theta[2])
    d = x[:, None] - x[None, :]
    K = s2 * gc.exp(-0.5 * d * d / (l * l)) + n2 * gc.constant(np.eye(n))
    L = gc.linalg.cholesky(K)
    alpha = gc.linalg.cho_solve((L, True), y)
    lml = (-0.5 * gc.sum(y * alpha) - gc.sum(gc.log(gc.linalg.diagonal(L)))
           - 0.5 * n * np.log(2 * np.pi))
    f = gc.compile([lml, gc.grad(lml, theta)], inputs=[x, y, theta], backend=backend)
    return f


def gp_torch(x, y):
    import torch
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step(theta):
        th = torch.tensor(theta, requires_grad=True)
        l, s2, n2 = torch.exp(th)
        d = xt[:, None] - xt[None, :]
        K = s2 * torch.exp(-0.5 * d * d / (l * l)) + n2 * torch.eye(len(x), dtype=xt.dtype)
        C = torch.linalg.cholesky(K)
        alpha = torch.cholesky_solve(yt[:, None], C)[:, 0]
        lml = -0.5 * (yt * alpha).sum() - torch.log(torch.diagonal(C)).sum() \
            - 0.5 * len(x) * np.log(2 * np.pi)
        (g,) = torch.autograd.grad(lml, th)
        return lml.item(), g.numpy()
    return step


def gp_jax(x, y):
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def lml_fn(th, xv, yv):
        l, s2, n2 = jnp.exp(th)
        d = xv[:, None] - xv[None, :]
        K = s2 * jnp.exp(-0.5 * d * d / (l * l)) + n2 * jnp.eye(xv.shape[0])
        C = jnp.linalg.cholesky(K)
        alpha = jsl.cho_solve((C, True), yv)
        return -0.5 * jnp.sum(yv * alpha) - jnp.sum(jnp.log(jnp.diag(C))) \
            - 0.5 * xv.shape[0] * np.log(2 * np.pi)
    vg = jax.jit(jax.value_and_grad(lml_fn))

    def step(theta):
        v, g = vg(jnp.asarray(theta), xj, yj)
        g.block_until_ready()
        return float(v), np.asarray(g)
    return step


# ---- 2. batched Cholesky + solve --------------------------------------------------------------

def batched_graphc(batch, n, backend):
    a = gc.placeholder("a", (batch, n, n), "float64")
    b = gc.placeholder("b", (batch, n), "float64")
    # NumPy's rule: a 2-D b is a stack of matrices; one column each here
    x = gc.linalg.cho_solve((gc.linalg.cholesky(a), True), b[..., None])[..., 0]
    return gc.compile(x, inputs=[a, b], backend=backend)


def batched_numpy(A, B):
    def step():
        C = np.linalg.cholesky(A)
        # NumPy has no batched triangular solve: a general solve against the factor
        y = np.linalg.solve(C, B[..., None])
        return np.linalg.solve(np.swapaxes(C, -1, -2), y)[..., 0]
    return step


def batched_torch(A, B):
    import torch
    At, Bt = torch.from_numpy(A), torch.from_numpy(B)

    def step():
        return torch.cholesky_solve(Bt[..., None], torch.linalg.cholesky(At))[..., 0].numpy()
    return step


def batched_jax(A, B):
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl
    f = jax.jit(lambda a, b: jsl.cho_solve((jnp.linalg.cholesky(a), True), b[..., None])[..., 0])
    Aj, Bj = jnp.asarray(A), jnp.asarray(B)

    def step():
        return np.asarray(f(Aj, Bj).block_until_ready())
    return step


# ---- the run ----------------------------------------------------------------------------------

def table(rows, ref_name):
    ref = dict(rows)[ref_name]
    out = ["| implementation | ms | ratio (time / graphc c) |", "|---|---:|---:|"]
    out += [f"| {name} | {t * 1e3:.2f} | {t / ref:.2f} |" for name, t in rows]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    notes = []
    peers = {}
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        peers["torch eager"] = (gp_torch, batched_torch)
    except ImportError:
        notes.append("torch not installed: not measured")
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        peers["JAX jit"] = (gp_jax, batched_jax)
    except ImportError:
        notes.append("jax not installed: not measured")

    # 1. GP
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-3, 3, args.n))
    y = np.sin(2 * x) + 0.2 * rng.standard_normal(args.n)
    want_lml, want_grad = gp_numpy(x, y)(THETA)
    impls = [("NumPy by hand", gp_numpy(x, y))]
    for backend in ("numpy", "c"):
        f = gp_graphc(args.n, backend)
        impls.append((f"graphc {backend}", lambda th, f=f: f(x, y, th)))
    impls += [(name, make[0](x, y)) for name, make in peers.items()]
    for name, fn in impls:
        lml, grad = fn(THETA)
        np.testing.assert_allclose(float(lml), want_lml, rtol=1e-8, err_msg=name)
        np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-6, atol=1e-6,
                                   err_msg=name)
    times = best_times(*[lambda fn=fn: fn(THETA) for _, fn in impls], repeat=args.repeat,
                       budget=120.0)
    gp_rows = [(name, t) for (name, _), t in zip(impls, times)]

    # 2. batched Cholesky + solve
    a = rng.standard_normal((args.batch, args.size, args.size))
    A = a @ np.swapaxes(a, -1, -2) + args.size * np.eye(args.size)
    B = rng.standard_normal((args.batch, args.size))
    want = np.linalg.solve(A, B[..., None])[..., 0]
    impls = [("NumPy (cholesky + two solves)", batched_numpy(A, B))]
    for backend in ("numpy", "c"):
        f = batched_graphc(args.batch, args.size, backend)
        impls.append((f"graphc {backend}", lambda f=f: f(A, B)))
    impls += [(name, make[1](A, B)) for name, make in peers.items()]
    for name, fn in impls:
        np.testing.assert_allclose(fn(), want, rtol=1e-8, atol=1e-10, err_msg=name)
    times = best_times(*[fn for _, fn in impls], repeat=args.repeat, budget=60.0)
    batch_rows = [(name, t) for (name, _), t in zip(impls, times)]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"{platform.machine()}, {os.cpu_count()} CPUs (load average {load:.1f}: a shared "
             f"machine, timings are noisy), NumPy {np.__version__}; float64; best of "
             f"{args.repeat}, implementations interleaved; every result checked against "
             f"NumPy first. graphc c runs LAPACK (NumPy's OpenBLAS) for matrices of "
             f"48 rows and more, generated loops below.", "",
             f"### GP log marginal likelihood + gradient (3 hyperparameters), n = {args.n:,}",
             "", *table(gp_rows, "graphc c"), "",
             f"### Batched Cholesky + solve: {args.batch:,} matrices {args.size}x{args.size}, "
             f"one right-hand side each", "", *table(batch_rows, "graphc c")]
    lines += ["", *[f"- {n}" for n in notes]] if notes else []
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("linalg", "## Linear algebra (gc.linalg)\n\n" + text)


if __name__ == "__main__":
    main()
