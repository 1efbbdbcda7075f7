"""Snapshots of the generated CUDA for two reference graphs (the tutorial and an MLP
training step), so any change to generated code shows up in review.

Regenerate after an intended change with:
    GRAPHC_UPDATE_SNAPSHOTS=1 python -m pytest -q tests/test_codegen_snapshots.py
which writes the files and fails (an update is never a pass); review the diff, commit it,
and run again. A missing snapshot fails too.
"""
import os
import pathlib

import numpy as np
import pytest

import graphc as gc
from graphc.codegen.base import Program
from graphc.codegen.cuda_backend import render_source
from graphc.ir import topo_order
from graphc.passes.pipeline import run_pipeline

SNAPSHOTS = pathlib.Path(__file__).parent / "snapshots"


def _cuda_text(name, outputs, inputs=(), updates=None):
    """The .cu gc.compile(..., backend="cuda") would build (no compiler needed)."""
    updates = updates or {}
    roots = list(outputs) + list(updates.values())
    opt = run_pipeline(roots).outputs
    outs, ups = opt[:len(outputs)], opt[len(outputs):]
    params = tuple(n for n in topo_order(opt) if n.op == "parameter")
    program = Program(name, tuple(inputs), params, tuple(outs), tuple(updates), tuple(ups))
    return render_source(program)[1]


def _check(name: str, text: str):
    path = SNAPSHOTS / f"{name}.cu"
    if os.environ.get("GRAPHC_UPDATE_SNAPSHOTS") == "1":   # an update asked for explicitly
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
        pytest.fail(f"wrote {path.name}: review the diff, commit it, and run again without "
                    f"GRAPHC_UPDATE_SNAPSHOTS (an update is never a pass)")
    assert path.exists(), (f"no snapshot {path.name}: review the generated text and write it "
                           f"with GRAPHC_UPDATE_SNAPSHOTS=1")
    expected = path.read_text()
    assert text == expected, (f"generated CUDA for {name!r} changed; review the diff and "
                              f"regenerate with GRAPHC_UPDATE_SNAPSHOTS=1")


def tutorial():
    a = gc.parameter("a", [2.0, 4.0])
    b = gc.parameter("b", [7.0, 5.0])
    E = 3 * a ** 3 - b ** 2
    da, db = gc.grad(E, [a, b], seed=gc.constant([1.0, 1.0]))
    return _cuda_text("tutorial", [da, db])


def mlp():
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 784))
    labels = gc.placeholder("labels", (None,), "int64")
    W1 = gc.parameter("W1", rng.normal(0, 0.05, (784, 256)).astype(np.float32))
    b1 = gc.parameter("b1", np.zeros(256, np.float32))
    W2 = gc.parameter("W2", rng.normal(0, 0.05, (256, 10)).astype(np.float32))
    b2 = gc.parameter("b2", np.zeros(10, np.float32))
    loss = gc.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, labels)
    params = [W1, b1, W2, b2]
    grads = gc.grad(loss, params)
    return _cuda_text("mlp", [loss], [x, labels],
                      {p: p - 0.1 * g for p, g in zip(params, grads)})


def test_tutorial_cuda_snapshot():
    _check("tutorial", tutorial())


def test_mlp_cuda_snapshot():
    _check("mlp", mlp())


def test_generation_is_deterministic():
    assert tutorial() == tutorial()
    assert mlp() == mlp()
