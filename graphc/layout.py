"""A layered (Sugiyama-style) layout of a DAG, for drawing graphs without Graphviz.

Layers are networkx's topological generations, with each source (a placeholder,
parameter or constant) moved down to just above its first user so that leaves sit next
to what reads them; the order inside each layer comes from a few sweeps of the
barycentric heuristic (each node moves to the mean position of its neighbours in the
layer above, then below), which removes most edge crossings; x coordinates then pull
each node towards its neighbours while keeping boxes apart. Everything is a pure
function of the input (ties broken by node index), so the same graph always gets the
same picture; the cost is linear in nodes and edges per sweep.

>>> lay = layered_layout(widths=[40, 40, 40], edges=[(0, 2), (1, 2)], box_height=30)
>>> lay.layer, [round(x) for x in lay.x]
([0, 0, 1], [36, 96, 66])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

MARGIN = 16.0
H_GAP = 20.0   # between boxes of a layer
V_GAP = 36.0   # between layers (room for the edges' arrowheads)


@dataclass
class Layout:
    """Box centres (``x``), box tops (``y``), each node's ``layer`` and the canvas size."""

    x: list
    y: list
    layer: list
    width: float
    height: float


def layered_layout(widths: Sequence[float], edges: Sequence[tuple[int, int]],
                   box_height: float, sweeps: int = 4) -> Layout:
    """Place nodes ``0..len(widths)-1`` (in topological order) of a DAG with ``edges``
    (source, target) in layers, top to bottom; ``widths`` are the boxes' widths."""
    n = len(widths)
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, t in dict.fromkeys(edges):   # a node used twice by one op: one edge for layout
        preds[t].append(s)
        succs[s].append(t)
    layer = _layers(n, edges, succs)
    rows = _order_rows(layer, preds, succs, sweeps)
    x = _place_x(rows, widths, preds, succs)
    left = min((x[v] - widths[v] / 2 for v in range(n)), default=0.0)
    x = [xv - left + MARGIN for xv in x]
    y = [MARGIN + layer[v] * (box_height + V_GAP) for v in range(n)]
    width = max((x[v] + widths[v] / 2 for v in range(n)), default=0.0) + MARGIN
    height = MARGIN + len(rows) * (box_height + V_GAP) - V_GAP + MARGIN if rows else 2 * MARGIN
    return Layout(x, y, layer, width, height)


def _layers(n: int, edges, succs) -> list[int]:
    """Topological generations, then each source moved to just above its first user."""
    import networkx as nx   # here, not at import: ~80 ms that only a drawing needs

    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    layer = [0] * n
    for k, generation in enumerate(nx.topological_generations(graph)):
        for v in generation:
            layer[v] = k
    for v in range(n):
        if graph.in_degree(v) == 0 and succs[v]:
            layer[v] = min(layer[t] for t in succs[v]) - 1
    return layer


def _order_rows(layer, preds, succs, sweeps) -> list[list[int]]:
    """Nodes of each layer, ordered by barycentric sweeps (down, then up)."""
    rows: list[list[int]] = [[] for _ in range(max(layer, default=-1) + 1)]
    for v in range(len(layer)):       # node index order: topological, deterministic
        rows[layer[v]].append(v)
    pos = [0.0] * len(layer)

    def record(row):
        for k, v in enumerate(row):
            pos[v] = (k + 0.5) / len(row)   # relative position: layers differ in width

    for row in rows:
        record(row)
    for _ in range(sweeps):
        for neighbours, order in ((preds, range(len(rows))), (succs, range(len(rows) - 1, -1, -1))):
            for r in order:
                rows[r].sort(key=lambda v: (_mean([pos[u] for u in neighbours[v]], pos[v]), pos[v]))
                record(rows[r])
    return rows


def _place_x(rows, widths, preds, succs) -> list[float]:
    """Pack each row, then pull nodes towards their neighbours (down, then up)."""
    x = [0.0] * len(widths)
    for row in rows:   # every row centred on 0
        _pack(row, [0.0] * len(row), widths, x)
    for neighbours, order in ((preds, rows), (succs, rows[::-1]), (preds, rows)):
        for row in order:
            _pack(row, [_mean([x[u] for u in neighbours[v]], x[v]) for v in row], widths, x)
    return x


def _pack(row, wanted, widths, x) -> None:
    """Set ``x`` of ``row``'s nodes as close to ``wanted`` as the gaps allow: left to right
    no box overlaps the previous one, then the row is shifted so that its mean offset from
    ``wanted`` is zero (the pull of both sides balances)."""
    right = float("-inf")
    for v, want in zip(row, wanted):
        x[v] = max(want, right + H_GAP + widths[v] / 2)
        right = x[v] + widths[v] / 2
    if row:
        shift = _mean([want - x[v] for v, want in zip(row, wanted)], 0.0)
        for v in row:
            x[v] += shift


def _mean(values, default: float) -> float:
    return sum(values) / len(values) if values else default
