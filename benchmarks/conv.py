"""conv2d 3x3 (batch 64, 32 -> 64 channels, 32x32, padding 1, bias), forward + backward
(the output and the gradients for input, weights and bias from an upstream gradient):
graphc (numpy and c backends) side by side with NumPy (im2col by hand), torch eager and
JAX jit when they are installed, in one run, as ratios to NumPy.

    PYTHONPATH=. python benchmarks/conv.py     # prints a table, updates benchmarks/RESULTS.md

Writes only its own section of RESULTS.md (between ``<!-- conv:begin -->`` and
``<!-- conv:end -->``). Times are the best of several interleaved runs after a warm-up.
"""
from __future__ import annotations

import os
import pathlib
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import graphc as gc  # noqa: E402
from _results import write_section  # noqa: E402  (a sibling script module)
from cpu import best_times, optional  # noqa: E402

N, C, O, H, K = 64, 32, 64, 32, 3


def numpy_im2col_step(x, w, b, gy):
    """Forward and backward by hand: patches (N*H*W, C*9) from a sliding window, one GEMM
    each way, and the input gradient scattered back tap by tap (col2im)."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (K, K), axis=(2, 3))
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * H * H, C * K * K)
    wmat = w.reshape(O, C * K * K)
    y = (cols @ wmat.T).reshape(N, H, H, O).transpose(0, 3, 1, 2) + b[:, None, None]
    gyr = gy.transpose(0, 2, 3, 1).reshape(N * H * H, O)
    dw = (gyr.T @ cols).reshape(w.shape)
    db = gy.sum((0, 2, 3))
    dcols = (gyr @ wmat).reshape(N, H, H, C, K, K)
    dxp = np.zeros_like(xp)
    for i in range(K):
        for j in range(K):
            dxp[:, :, i:i + H, j:j + H] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return y, dxp[:, :, 1:-1, 1:-1], dw, db


def graphc_step(backend: str):
    x = gc.placeholder("x", (N, C, H, H))
    w = gc.placeholder("w", (O, C, K, K))
    b = gc.placeholder("b", (O,))
    gy = gc.placeholder("gy", (N, O, H, H))
    y = gc.nn.conv2d(x, w, b, padding=1)
    start = time.perf_counter()
    f = gc.compile([y] + gc.grad(gc.sum(y * gy), [x, w, b]), backend=backend)
    return f, time.perf_counter() - start


def torch_step(torch, data):
    x, w, b = (torch.tensor(a, requires_grad=True) for a in data[:3])
    gy = torch.tensor(data[3])

    def step():
        x.grad = w.grad = b.grad = None
        y = torch.nn.functional.conv2d(x, w, b, padding=1)
        y.backward(gy)
        return y, x.grad, w.grad, b.grad
    return step


def jax_step(jax, data):
    def conv(x, w, b):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[:, None, None]

    @jax.jit
    def both(x, w, b, gy):
        y, pull = jax.vjp(conv, x, w, b)
        return (y,) + pull(gy)
    args = [jax.numpy.asarray(a) for a in data]
    return lambda: jax.block_until_ready(both(*args))


def main() -> None:
    rng = np.random.default_rng(0)
    data = [rng.normal(size=s).astype(np.float32)
            for s in ((N, C, H, H), (O, C, K, K), (O,), (N, O, H, H))]
    want = numpy_im2col_step(*data)
    impls, notes = {"NumPy im2col (by hand)": lambda: numpy_im2col_step(*data)}, []
    for backend in ("numpy", "c"):
        f, seconds = graphc_step(backend)
        feeds = dict(zip(("x", "w", "b", "gy"), data))
        got = f(**feeds)
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, rtol=2e-3, atol=2e-2)
        impls[f"graphc {backend}"] = (lambda f=f, feeds=feeds: f(**feeds))
        notes.append(f"graphc {backend}: compiled in {seconds:.1f} s, "
                     f"{f.stats.get('kernels', f.stats.get('steps'))} kernels/steps")
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
        impls["torch eager"] = torch_step(torch, data)
    jax = optional("jax")
    if jax is not None:
        impls["JAX jit"] = jax_step(jax, data)
    times = best_times(*impls.values(), repeat=5, budget=90.0)
    base = times[0]
    rows = [f"| {name} | {t * 1e3:.1f} | {t / base:.2f} |" for name, t in zip(impls, times)]
    text = "\n".join([
        "## conv2d 3x3, forward + backward (benchmarks/conv.py)", "",
        f"Batch {N}, {C} -> {O} channels, {H}x{H}, padding 1, bias, float32; the output and "
        f"the gradients for input, weights and bias. {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}"
        + (f", torch {torch.__version__}" if torch is not None else "")
        + (f", JAX {jax.__version__}" if jax is not None else "") + ".", "",
        "| implementation | ms (best) | ratio to NumPy |", "|---|---|---|", *rows, "",
        *[f"- {n}" for n in notes]])
    print(text)
    write_section("conv", text)


if __name__ == "__main__":
    main()
