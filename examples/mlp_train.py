"""Train an MLP on 3-class spirals with Adam and dropout: one compiled call per step.

The data (three interleaved spiral arms in 2-D, with noise) is generated here. The
model is 2 -> 64 -> 64 -> 3 with tanh units, dropout after each hidden layer and softmax
cross-entropy; the whole step (forward with fresh dropout masks, gradients, Adam's moment
updates and the parameter updates) is one ``gc.compile`` call: ``gc.optim.adam`` returns
the updates, and the dropout generator's counter advances with each call. The batch size
is a ``None`` dim, so the same compiled step runs for any batch, and the prediction
function (no dropout) runs on the whole held-out set at once.

    python examples/mlp_train.py                 # reaches >= 95% held-out accuracy
    GRAPHC_EXAMPLE_SMALL=1 python examples/mlp_train.py   # a few seconds, for tests

Add ``--show`` to print the generated NumPy module of the training step.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

import graphc as gc

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
CLASSES, PER_CLASS = 3, (200 if SMALL else 1000)
HIDDEN = 64
EPOCHS = 100 if SMALL else 60
BATCH = 32
LR, DROPOUT = 0.01, 0.1


def spirals(per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three spiral arms, each turning 1.5 times round the origin, with Gaussian noise."""
    xs, ys = [], []
    for c in range(CLASSES):
        r = np.linspace(0.05, 1.0, per_class)
        theta = r * 3.0 * np.pi + c * 2 * np.pi / CLASSES + rng.normal(0, 0.12, per_class)
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        ys.append(np.full(per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def build(rng: np.random.Generator | None = None):
    """The training step (loss out, Adam updates in) and the prediction function."""
    rng = rng if rng is not None else np.random.default_rng(0)
    x = gc.placeholder("x", (None, 2))
    labels = gc.placeholder("labels", (None,), "int64")

    def layer(name, fan_in, fan_out):
        W = gc.parameter(f"W{name}", rng.normal(0, np.sqrt(2.0 / fan_in), (fan_in, fan_out))
                         .astype(np.float32))
        b = gc.parameter(f"b{name}", np.zeros(fan_out, np.float32))
        return W, b

    W1, b1 = layer("1", 2, HIDDEN)
    W2, b2 = layer("2", HIDDEN, HIDDEN)
    W3, b3 = layer("3", HIDDEN, CLASSES)
    params = [W1, b1, W2, b2, W3, b3]
    def logits(training: bool):
        h = gc.tanh(x @ W1 + b1)
        h = gc.nn.dropout(h, DROPOUT, seed=1, training=training)
        h = gc.tanh(h @ W2 + b2)
        h = gc.nn.dropout(h, DROPOUT, seed=2, training=training)
        return h @ W3 + b3

    loss = gc.cross_entropy(logits(training=True), labels)
    step = gc.compile(loss, inputs=[x, labels], updates=gc.optim.adam(loss, params, lr=LR))
    predict = gc.compile(logits(training=False), inputs=[x])
    return step, predict


def main() -> float:
    rng = np.random.default_rng(0)
    X, y = spirals(PER_CLASS, rng)
    order = rng.permutation(len(X))
    split = int(0.8 * len(X))
    train, test = order[:split], order[split:]
    step, predict = build(rng)
    if "--show" in sys.argv:
        print(next(iter(step.source.values())))
    print(step)
    t0 = time.perf_counter()
    for epoch in range(EPOCHS):
        perm = rng.permutation(train)
        losses = [step(X[b], y[b]) for b in np.array_split(perm, max(1, len(perm) // BATCH))]
        if epoch % 10 == 0 or epoch == EPOCHS - 1:
            acc = np.mean(predict(X[test]).argmax(1) == y[test])
            print(f"epoch {epoch:4d}  loss {np.mean(losses):.4f}  held-out accuracy {acc:.3f}")
    acc = float(np.mean(predict(X[test]).argmax(1) == y[test]))
    print(f"trained in {time.perf_counter() - t0:.1f} s; held-out accuracy {acc:.3f} "
          f"on {len(test)} points")
    return acc


if __name__ == "__main__":
    main()
