"""Logistic regression by Newton-CG: gradients and Hessian-vector products as compiled graphs.

Newton's method needs the Hessian H of the loss, but never as a matrix: conjugate
gradients only asks for products H @ v. ``gc.hvp`` builds that product as a graph
(the gradient of ``grad(loss) . v``), graphc compiles it, and a plain NumPy loop
runs CG with it. A handful of Newton steps reach machine-precision gradients,
where gradient descent would need thousands.

    python examples/logistic_newton.py            # 20,000 samples, 50 features
    GRAPHC_EXAMPLE_SMALL=1 python examples/logistic_newton.py

``graphc show examples/logistic_newton.py`` prints the Hessian-vector-product graph.
"""
from __future__ import annotations

import os

import numpy as np

import graphc as gc

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
N, D = (400, 5) if SMALL else (20_000, 50)
L2 = 1e-3  # a little ridge keeps the problem strictly convex (a unique minimiser)


def build():
    """The graphs: loss and gradient; Hessian-vector product. Inputs: X, y, w (and v)."""
    X = gc.placeholder("X", (None, D), "float64")
    y = gc.placeholder("y", (None,), "float64")
    w = gc.placeholder("w", (D,), "float64")
    v = gc.placeholder("v", (D,), "float64")
    z = X @ w
    # mean of log(1 + exp(z)) - y*z, written with softplus so large |z| stays finite
    loss = gc.mean(gc.softplus(z) - y * z) + 0.5 * L2 * gc.sum(w * w)
    g = gc.grad(loss, w)
    hv = gc.hvp(loss, w, v)
    return {"outputs": [loss, g, hv], "inputs": [X, y, w, v]}


def make_data(rng):
    w_true = rng.standard_normal(D)
    X = rng.standard_normal((N, D))
    p = 1 / (1 + np.exp(-(X @ w_true)))
    y = (rng.uniform(size=N) < p).astype(np.float64)
    return X, y


def conjugate_gradient(hvp, b, tol=1e-10, max_iter=100):
    """Solve H x = b with only products H @ v (H symmetric positive definite)."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = r @ r
    for k in range(max_iter):
        hp = hvp(p)
        alpha = rr / (p @ hp)
        x += alpha * p
        r -= alpha * hp
        rr_new = r @ r
        if np.sqrt(rr_new) <= tol * np.sqrt(b @ b):
            return x, k + 1
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, max_iter


def main():
    rng = np.random.default_rng(0)
    X, y = make_data(rng)
    graph = build()
    loss, g, hv = graph["outputs"]
    Xp, yp, wp, vp = graph["inputs"]
    f_grad = gc.compile([loss, g], inputs=[Xp, yp, wp])
    f_hvp = gc.compile([hv], inputs=[Xp, yp, wp, vp])

    print(f"graphs: gradient {len(gc.topo_order([g]))} nodes, Hessian-vector product "
          f"{len(gc.topo_order([hv]))} nodes")

    # Newton from w = 0, where every z is 0: softplus'' = sigmoid' = 1/4 there
    w = np.zeros(D)
    # check the compiled Hessian-vector product against finite differences of the gradient
    v = rng.standard_normal(D)
    (hv0,) = f_hvp(X, y, w, v)
    eps = 1e-5
    fd = (f_grad(X, y, w + eps * v)[1] - f_grad(X, y, w - eps * v)[1]) / (2 * eps)
    hvp_err = float(np.max(np.abs(hv0 - fd)) / np.max(np.abs(fd)))
    print(f"Hessian-vector product vs finite differences: relative error {hvp_err:.2e}")

    print(f"Newton-CG on {N} samples x {D} features")
    steps = 0
    for step in range(1, 16):
        lval, gval = f_grad(X, y, w)
        gnorm = float(np.linalg.norm(gval))
        if gnorm < 1e-9:
            break
        steps = step
        p, iters = conjugate_gradient(lambda v: f_hvp(X, y, w, v)[0], -gval)
        t = 1.0  # backtracking line search (Armijo): full Newton steps once close
        while f_grad(X, y, w + t * p)[0] > lval + 1e-4 * t * (gval @ p) and t > 1e-8:
            t *= 0.5
        w = w + t * p
        print(f"  step {step:2d}: loss {float(lval):.10f}  |grad| {gnorm:.3e}  CG iterations "
              f"{iters:2d}  step size {t:g}")
    lval, gval = f_grad(X, y, w)
    gnorm = float(np.linalg.norm(gval))
    accuracy = float(np.mean((X @ w > 0) == (y > 0.5)))
    print(f"final loss {float(lval):.10f}  |grad| {gnorm:.3e}  train accuracy {accuracy:.3f}")
    print(f"RESULT hvp_rel_err={hvp_err:.3e} grad_norm={gnorm:.3e} newton_steps={steps} "
          f"accuracy={accuracy:.4f}")


if __name__ == "__main__":
    main()
