"""Saving and loading (``gc.save``, ``gc.load``, ``gc.save_params``, ``gc.load_params``).

``gc.save(path, outputs, inputs=None, updates=None)`` writes one data-only file (a zip of
a versioned JSON description and ``.npy`` arrays: ``graphc.graph_format``); ``gc.load``
rebuilds the graph, checking every node, and returns ``.outputs``, ``.inputs`` and
``.updates`` for ``gc.compile``. Parameter values alone go by name in ``.npz`` files
(``graphc.params_file``). Tensors and compiled Functions pickle through the graph format.

>>> import os, tempfile
>>> import graphc as gc
>>> x = gc.placeholder("x", (None,), "float64")
>>> w = gc.parameter("w", [0.5], "float64")
>>> loss = gc.mean((w * x - 1.0) ** 2)
>>> path = os.path.join(tempfile.mkdtemp(), "model.graphc")
>>> gc.save(path, loss, updates=gc.optim.sgd(loss, [w], lr=0.1))
>>> g = gc.load(path)
>>> f = gc.compile(g.outputs, inputs=g.inputs, updates=g.updates)
>>> float(f([1.0, 2.0]))
0.125
"""
from __future__ import annotations

import os

from .graph_format import LoadedGraph, read_graph, write_graph
from .params_file import load_params, save_params

__all__ = ["save", "load", "save_params", "load_params", "LoadedGraph"]


def save(path, outputs, inputs=None, updates=None) -> None:
    """Write the graph of ``outputs`` and ``updates`` (with the parameters' current values)
    to ``path``; ``inputs`` fixes the placeholders' order (default: as ``gc.compile``)."""
    write_graph(os.fspath(path), outputs, inputs, updates)


def load(path) -> LoadedGraph:
    """Rebuild the graph saved at ``path`` (fresh placeholders and parameters); a file that
    is corrupt, tampered with or of another version raises ``FileFormatError``."""
    path = os.fspath(path)
    return read_graph(path, f"graph file {path!r}")
