"""Train a small classifier with gc.optim.adam, save it, and carry on in a fresh process.

``gc.save`` writes the training step (graph, Adam's state, the parameters' values) as one
data-only file; ``f.save_params`` writes the parameter values alone, by name. A second
Python process (started here with ``subprocess``) loads the graph with ``gc.load``,
checks that the params file holds the same values (``gc.load_params``: by name,
all-or-nothing), compiles the graph and runs the next training step, whose loss must equal
the loss of the same step in the first process.

    python examples/save_and_load.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

import graphc as gc
from graphc import init

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
N, D, H, C = (64, 4, 16, 3) if SMALL else (512, 8, 64, 3)
STEPS = 20 if SMALL else 200


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    labels = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, labels


def build():
    x = gc.placeholder("x", (None, D), "float64")
    y = gc.placeholder("y", (None,), "int64")
    W1 = gc.parameter("W1", init.kaiming_uniform((D, H), seed=1, dtype="float64"))
    b1 = gc.parameter("b1", np.zeros(H))
    W2 = gc.parameter("W2", init.xavier_uniform((H, C), seed=2, dtype="float64"))
    b2 = gc.parameter("b2", np.zeros(C))
    loss = gc.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, y)
    updates = gc.optim.adam(loss, [W1, b1, W2, b2], lr=0.01)
    return loss, [x, y], updates


LOADER = """
import sys
import numpy as np
import graphc as gc

graph_path, params_path, data_path = sys.argv[1:]
g = gc.load(graph_path)                      # graph, Adam's state, parameter values
params = list(g.updates)                     # every parameter the step updates
saved = [p.value.copy() for p in params]
for p in params:
    p.value = np.zeros_like(p.value)
gc.load_params(params_path, params)          # the same values, from the params file
same = all(np.array_equal(p.value, v) for p, v in zip(params, saved))
step = gc.compile(g.outputs, inputs=g.inputs, updates=g.updates)
feeds = np.load(data_path, allow_pickle=False)
print(same, repr(float(step(feeds["x"], feeds["y"]))))
"""


def main():
    X, labels = data()
    loss, inputs, updates = build()
    step = gc.compile(loss, inputs=inputs, updates=updates)
    first = float(step(X, labels))
    for _ in range(STEPS - 1):
        last = float(step(X, labels))
    print(f"trained {STEPS} Adam steps: loss {first:.4f} -> {last:.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        graph_path = os.path.join(tmp, "model.graphc")
        params_path = os.path.join(tmp, "params.npz")
        data_path = os.path.join(tmp, "data.npz")
        gc.save(graph_path, loss, inputs=inputs, updates=updates)
        step.save_params(params_path)
        np.savez(data_path, x=X, y=labels)
        print(f"saved {os.path.getsize(graph_path)} bytes of graph, "
              f"{os.path.getsize(params_path)} bytes of parameters")
        here = float(step(X, labels))  # the next step, in this process
        out = subprocess.run([sys.executable, "-c", LOADER, graph_path, params_path, data_path],
                             capture_output=True, text=True, check=True)
    params_match, there = out.stdout.split()
    there = float(there)
    print(f"next step's loss here: {here!r}, in a fresh process: {there!r}")
    print(f"RESULT same_loss={here == there} params_file_matches={params_match} "
          f"loss_drop={first - last:.4f}")


if __name__ == "__main__":
    main()
