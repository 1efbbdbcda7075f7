"""Train a small Elman RNN written with ``gc.scan``: the loop is in the graph, not unrolled.

The task: read a noisy sine wave one value at a time and predict the next value. The cell
``h = tanh(x W + h U + b)`` is traced once by ``gc.scan``, so the graph (and the compile
time) is the same for 50 steps or 50,000; its gradient is a reverse scan over the saved
hidden states, built and optimized like any other graph. One compiled call runs the
forward loop, the backward loop and the Adam update (on the C backend when a compiler is
available; the scan's steps then run in C). The gradient is checked against central
differences before training.

    python examples/rnn_scan.py
    GRAPHC_EXAMPLE_SMALL=1 python examples/rnn_scan.py
"""
from __future__ import annotations

import os

import numpy as np

import graphc as gc

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
T, BATCH, HIDDEN = (30, 16, 16) if SMALL else (100, 64, 32)
STEPS = 150 if SMALL else 600


def data(rng, batch):
    """Sine waves of random phase and frequency, with noise: (T + 1, batch, 1)."""
    t = np.arange(T + 1)[:, None]
    phase = rng.uniform(0, 2 * np.pi, batch)
    freq = rng.uniform(0.1, 0.3, batch)
    wave = np.sin(freq * t + phase) + 0.05 * rng.normal(size=(T + 1, batch))
    return wave[:, :, None].astype(np.float64)


def build():
    rng = np.random.default_rng(0)
    seq = gc.placeholder("seq", (T + 1, None, 1), "float64")
    W = gc.parameter("W", rng.normal(size=(1, HIDDEN)) * 0.5)
    U = gc.parameter("U", rng.normal(size=(HIDDEN, HIDDEN)) / np.sqrt(HIDDEN))
    b = gc.parameter("b", np.zeros(HIDDEN))
    V = gc.parameter("V", rng.normal(size=(HIDDEN, 1)) / np.sqrt(HIDDEN))

    def cell(h, x):
        h = gc.tanh(x @ W + h @ U + b)
        return h, h @ V                      # carry, per-step prediction

    h0 = seq[0] * gc.constant(np.zeros(HIDDEN))   # zeros of shape (batch, HIDDEN)
    _, predictions = gc.scan(cell, h0, seq[:-1])
    loss = gc.mean((predictions - seq[1:]) ** 2)
    return loss, seq, [W, U, b, V]


def main():
    loss, seq, params = build()
    rng = np.random.default_rng(1)
    check = data(rng, 4)

    # the scan's gradient against central differences of the loss, for U
    grad_U = gc.compile(gc.grad(loss, params[1]))(check)
    value = gc.compile(loss)
    U0, eps, worst = params[1].value.copy(), 1e-6, 0.0
    for i, j in [(0, 0), (1, 2), (3, 1)]:
        params[1].value = U0 + eps * (np.arange(U0.size).reshape(U0.shape) == i * HIDDEN + j)
        up = float(value(check))
        params[1].value = U0 - eps * (np.arange(U0.size).reshape(U0.shape) == i * HIDDEN + j)
        down = float(value(check))
        worst = max(worst, abs((up - down) / (2 * eps) - grad_U[i, j]) / abs(grad_U[i, j]))
    params[1].value = U0
    print(f"gradient vs central differences: max relative error {worst:.1e}")

    updates = gc.optim.adam(loss, params, lr=0.01)
    try:
        backend = "c"
        step = gc.compile(loss, inputs=[seq], updates=updates, backend=backend)
    except gc.BackendUnavailable:   # no C compiler here: the NumPy backend runs the same loop
        backend = "numpy"
        step = gc.compile(loss, inputs=[seq], updates=updates, backend=backend)
    print(f"compiled for {backend} in {step.compile_seconds:.2f} s "
          f"({T} steps per sequence, the loop is one node)")
    held_out = data(np.random.default_rng(2), 256)
    before = float(value(held_out))
    for k in range(STEPS):
        train_loss = float(step(data(rng, BATCH)))
        if k % max(STEPS // 5, 1) == 0:
            print(f"step {k:4d}  train loss {train_loss:.4f}")
    after = float(value(held_out))
    print(f"held-out loss: {before:.4f} -> {after:.4f}")
    print(f"RESULT grad_rel_err={worst:.3e} loss_before={before:.6f} loss_after={after:.6f}")


if __name__ == "__main__":
    main()
