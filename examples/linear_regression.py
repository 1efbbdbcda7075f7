"""Linear regression by gradient descent, checked against NumPy's least squares.

The model is ``y = X @ w + b``; the loss is the mean squared error. ``gc.grad``
gives the gradients as graphs (printed below as formulas), ``gc.compile`` turns
loss + gradients + updates into one generated NumPy function, and each call is one
full-batch gradient step. The result is compared with ``np.linalg.lstsq``.

    python examples/linear_regression.py
    GRAPHC_EXAMPLE_SMALL=1 python examples/linear_regression.py
"""
from __future__ import annotations

import os

import numpy as np

import graphc as gc

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
N, D = (200, 3) if SMALL else (5000, 8)
STEPS, LR = 300, 0.3


def main() -> float:
    rng = np.random.default_rng(0)
    X_data = rng.normal(size=(N, D))
    w_true = rng.normal(size=D)
    y_data = X_data @ w_true + 0.5 + 0.1 * rng.normal(size=N)

    X = gc.placeholder("X", (None, D), "float64")
    y = gc.placeholder("y", (None,), "float64")
    w = gc.parameter("w", np.zeros(D))
    b = gc.parameter("b", 0.0, "float64")
    loss = gc.mean((X @ w + b - y) ** 2)
    dw, db = gc.grad(loss, [w, b])
    print("d loss / d b =", str(gc.optimize(db)).replace("\n", "; "))

    step = gc.compile(loss, inputs=[X, y], updates={w: w - LR * dw, b: b - LR * db})
    for k in range(STEPS):
        value = step(X_data, y_data)
        if k % 50 == 0 or k == STEPS - 1:
            print(f"step {k:4d}  loss {value:.6f}")

    A = np.hstack([X_data, np.ones((N, 1))])
    exact = np.linalg.lstsq(A, y_data, rcond=None)[0]
    err = float(np.max(np.abs(np.append(w.value, b.value) - exact)))
    print(f"max |graphc - lstsq| over w and b: {err:.2e}")
    return err


if __name__ == "__main__":
    main()
