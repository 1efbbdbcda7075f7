"""Regenerate the drawings in docs/ (the README shows them): the tutorial's gradient graph,
and one training step of the MLP (as in examples/mlp_train.py) coloured by the fused
kernels that the C backend runs.

    python docs/make_drawings.py        # needs a C compiler for the kernel drawing

graphc's own layered layout is used (not Graphviz), so the files do not depend on which
Graphviz version is installed: the same graphc writes the same bytes.
"""
from __future__ import annotations

import pathlib

import numpy as np

import graphc as gc

DOCS = pathlib.Path(__file__).resolve().parent


def tutorial_gradient() -> list:
    """The DESIGN/README tutorial: E = 3a^3 - b^2, seeded with ones."""
    a = gc.parameter("a", [2., 4.])
    b = gc.parameter("b", [7., 5.])
    E = 3 * a**3 - b**2
    return gc.grad(E, [a, b], seed=gc.constant([1., 1.]))


def mlp_step(hidden: int = 64, lr: float = 0.05, momentum: float = 0.9) -> gc.Function:
    """2 -> hidden -> hidden -> 3 tanh MLP, softmax cross-entropy, SGD with momentum."""
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 2))
    labels = gc.placeholder("labels", (None,), "int64")
    sizes = [2, hidden, hidden, 3]
    params, h = [], x
    for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), 1):
        W = gc.parameter(f"W{k}", rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))
                         .astype(np.float32))
        b = gc.parameter(f"b{k}", np.zeros(fan_out, np.float32))
        params += [W, b]
        h = h @ W + b
        if k < len(sizes) - 1:
            h = gc.tanh(h)
    loss = gc.cross_entropy(h, labels)
    updates = {}
    for p, g in zip(params, gc.grad(loss, params)):
        v = gc.parameter(f"v_{p.name}", np.zeros(p.shape, np.float32))
        updates[v] = momentum * v - lr * g
        updates[p] = p + updates[v]
    return gc.compile(loss, inputs=[x, labels], updates=updates, backend="c")


def main() -> None:
    gc.draw(tutorial_gradient(), DOCS / "tutorial_gradient.svg", engine="layered")
    mlp_step().draw(DOCS / "mlp_kernels.svg", engine="layered")


if __name__ == "__main__":
    main()
