"""Rosenbrock minimisation with second derivatives: gradient and Hessian as graphs.

f(x, y) = (1 - x)**2 + 100*(y - x**2)**2 has its minimum at (1, 1) at the bottom of
a long curved valley, where gradient descent crawls. Newton's method uses the
Hessian. graphc derives both symbolically (the Hessian is the gradient of the
gradient), prints them as formulas, and compiles them into one function that
runs elementwise over a whole batch of starting points: every point takes its own
damped Newton steps at once.

    python examples/rosenbrock.py              # 100,000 starting points
    GRAPHC_EXAMPLE_SMALL=1 python examples/rosenbrock.py
"""
from __future__ import annotations

import os

import numpy as np

import graphc as gc

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
BATCH = 64 if SMALL else 100_000


def build():
    """f, its gradient (fx, fy) and Hessian (fxx, fxy, fyy), elementwise over a batch."""
    x = gc.placeholder("x", ("n",), "float64")
    y = gc.placeholder("y", ("n",), "float64")  # same run-time size "n"
    f = (1 - x) ** 2 + 100 * (y - x ** 2) ** 2
    # f is elementwise, so the gradient of sum(f) holds each point's own gradient
    fx, fy = gc.grad(gc.sum(f), [x, y])
    fxx, fxy = gc.grad(gc.sum(fx), [x, y])
    _, fyy = gc.grad(gc.sum(fy), [x, y])
    return {"outputs": [f, fx, fy, fxx, fxy, fyy], "inputs": [x, y]}


def main():
    graph = build()
    f, fx, fy, fxx, fxy, fyy = graph["outputs"]
    print("f   =", gc.expr(f))
    for name, t in [("df/dx", fx), ("df/dy", fy), ("d2f/dx2", fxx), ("d2f/dxdy", fxy),
                    ("d2f/dy2", fyy)]:
        print(f"{name:9s}=", gc.expr(t))
    step = gc.compile(graph["outputs"], inputs=graph["inputs"])

    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, BATCH)
    y = rng.uniform(-1.0, 3.0, BATCH)
    x[0], y[0] = -1.2, 1.0  # the classic start
    lam = np.full(BATCH, 1e-3)  # per-point Levenberg damping: Newton near the minimum
    print(f"damped Newton from {BATCH} starting points at once")
    for it in range(1, 101):
        fv, gx, gy, hxx, hxy, hyy = step(x, y)
        # solve (H + lam I) d = -g for every point (2x2 systems, closed form)
        a, b, c = hxx + lam, hxy, hyy + lam
        det = a * c - b * b
        dx = -(c * gx - b * gy) / det
        dy = -(a * gy - b * gx) / det
        f_new = step(x + dx, y + dy)[0]
        better = np.isfinite(f_new) & (f_new < fv) & (det > 0)
        x = np.where(better, x + dx, x)
        y = np.where(better, y + dy, y)
        lam = np.where(better, lam * 0.3, lam * 10.0)
        err = np.maximum(np.abs(x - 1), np.abs(y - 1))
        if it % 10 == 0 or it == 1:
            print(f"  iteration {it:3d}: converged {np.mean(err < 1e-8) * 100:6.2f}%  "
                  f"median f {np.median(fv):.3e}  classic start at ({x[0]:.6f}, {y[0]:.6f})")
        if np.all(err < 1e-8):
            break
    err = np.maximum(np.abs(x - 1), np.abs(y - 1))
    print(f"after {it} iterations: {np.sum(err < 1e-8)} of {BATCH} points at (1, 1) "
          f"(max error {err.max():.2e})")

    # oracle: the compiled Hessian against SymPy's hessian of the same formula
    import sympy
    X, Y = sympy.symbols("x y", real=True)
    H = sympy.hessian((1 - X) ** 2 + 100 * (Y - X ** 2) ** 2, (X, Y))
    px, py = rng.uniform(-2, 2, 5), rng.uniform(-2, 2, 5)
    _, _, _, hxx, hxy, hyy = step(px, py)
    ref = [[float(H[i, j].subs({X: a, Y: b})) for (i, j) in [(0, 0), (0, 1), (1, 1)]]
           for a, b in zip(px, py)]
    hess_err = float(np.max(np.abs(np.stack([hxx, hxy, hyy], 1) - np.array(ref))))
    print(f"Hessian vs sympy.hessian at 5 random points: max abs error {hess_err:.2e}")
    print(f"RESULT converged={np.sum(err < 1e-8)}/{BATCH} iterations={it} "
          f"max_err={err.max():.3e} hessian_err={hess_err:.3e}")


if __name__ == "__main__":
    main()
