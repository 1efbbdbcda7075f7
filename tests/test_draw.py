"""Drawings: gc.draw and f.draw give valid SVG with one box per graph node and one edge per
input, boxes that do not overlap and edges that run downward, kernel colours that match
f.stats' fused kernels, hostile names escaped, the same bytes in every process, and a
2,000-node graph in seconds."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphc as gc
from graphc.errors import GraphcError

SVG = "{http://www.w3.org/2000/svg}"


def tutorial_gradient():
    a = gc.parameter("a", [2., 4.])
    b = gc.parameter("b", [7., 5.])
    E = 3 * a**3 - b**2
    return gc.grad(E, [a, b], seed=gc.constant([1., 1.]))


def mlp_step(backend):
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 2))
    labels = gc.placeholder("labels", (None,), "int64")
    W1 = gc.parameter("W1", rng.normal(size=(2, 8)).astype(np.float32))
    b1 = gc.parameter("b1", np.zeros(8, np.float32))
    W2 = gc.parameter("W2", rng.normal(size=(8, 3)).astype(np.float32))
    params = [W1, b1, W2]
    loss = gc.cross_entropy(gc.tanh(x @ W1 + b1) @ W2, labels)
    grads = gc.grad(loss, params)
    return gc.compile(loss, inputs=[x, labels],
                      updates={p: p - 0.1 * g for p, g in zip(params, grads)}, backend=backend)


def nodes_of(root):
    return [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]


def test_one_box_per_node_and_one_edge_per_input():
    outputs = tutorial_gradient()
    svg = gc.draw(outputs, engine="layered")
    root = ET.fromstring(svg)
    order = gc.topo_order(outputs)
    boxes = nodes_of(root)
    assert len(boxes) == len(order)
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(edges) == sum(len(n.inputs) for n in order)
    labels = [" ".join(t.text for t in box.iter(f"{SVG}text")) for box in boxes]
    for n, label in zip(order, labels):
        assert label.startswith("const" if n.op == "constant" else n.op), (n.op, label)
        if n.name is not None:
            assert n.name in label
    assert any("f32[2]" in label for label in labels)


def test_boxes_do_not_overlap_and_edges_run_downward():
    f = mlp_step("numpy")
    root = ET.fromstring(f.draw(engine="layered"))
    rects = [next(box.iter(f"{SVG}rect")) for box in nodes_of(root)]
    spans = sorted((float(r.get("y")), float(r.get("x")), float(r.get("x")) + float(r.get("width")))
                   for r in rects)
    for (y0, _, right), (y1, left, _) in zip(spans, spans[1:]):
        assert y0 != y1 or right <= left, "boxes of one layer overlap"
    for p in root.iter(f"{SVG}path"):
        if p.get("class") == "edge":
            ys = [float(v) for v in re.findall(r",(-?[\d.]+)", p.get("d"))]
            assert ys[-1] > ys[0], p.get("d")


@pytest.mark.parametrize("engine", ["layered", "dot"])
def test_kernel_colours_are_f_stats_kernels(engine):
    if engine == "dot" and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (the layered engine is tested)")
    f = mlp_step("c")
    fused = f.stats["fused"]
    names = [k["name"] for k in fused]
    svg = f.draw(engine=engine)
    root = ET.fromstring(svg)
    legend = [t.text for g in root.iter(f"{SVG}g") if g.get("class") == "legend"
              for t in g.iter(f"{SVG}text")][1:]
    if engine == "dot":   # dot writes the legend as the graph's label
        legend = [t.text for t in root.iter(f"{SVG}text") if t.text in names]
    assert legend == names
    if engine == "layered":
        colour_of, ops_of = {}, {}
        for box in nodes_of(root):
            k = box.get("data-kernel")
            if k is None:
                continue
            colour_of.setdefault(k, set()).add(next(box.iter(f"{SVG}rect")).get("fill"))
            ops_of.setdefault(k, set()).add(next(box.iter(f"{SVG}text")).text.split()[0])
        assert sorted(colour_of) == sorted(names)      # every kernel drawn, no other
        assert all(len(c) == 1 for c in colour_of.values())
        assert len({c.pop() for c in colour_of.values()}) == len(names)  # distinct colours
        for k in fused:   # each kernel's boxes are the ops f.stats says it fused
            assert set(k["ops"]) <= ops_of[k["name"]] | {"cast"}, (k, ops_of[k["name"]])
    fills = set(re.findall(r'fill="(#[0-9a-f]{6})"', svg))
    assert len(fills) >= len(names)


def test_outputs_and_updates_are_marked_stored():
    f = mlp_step("c")
    root = ET.fromstring(f.draw(engine="layered"))
    boxes = nodes_of(root)
    order = gc.topo_order(list(f.program.outputs) + list(f.program.updates))
    width = {id(n): float(next(b.iter(f"{SVG}rect")).get("stroke-width"))
             for n, b in zip(order, boxes)}
    for n in list(f.program.outputs) + list(f.program.updates):
        assert width[id(n)] > 1, n.op
    assert min(width.values()) == 1


HOSTILE = "</text><script>alert(1)</script>&amp;\"'\x1b]0;x\x07\n<!--"


@pytest.mark.parametrize("engine", ["layered", "dot"])
def test_hostile_names_are_escaped(engine):
    if engine == "dot" and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (the layered engine is tested)")
    x = gc.placeholder(HOSTILE, (3,))
    p = gc.parameter('a"b\\c', np.ones(3, np.float32))
    svg = gc.draw(gc.exp(x) * p, engine=engine)
    root = ET.fromstring(svg)   # well-formed despite the names
    assert not any(e.tag.endswith("script") for e in root.iter())
    assert "\x1b" not in svg and "\x07" not in svg
    titles = " ".join([t.text or "" for t in root.iter(f"{SVG}title")] + [  # dot: tooltips
        e.get("{http://www.w3.org/1999/xlink}title", "") for e in root.iter()])
    assert "</text><script>alert(1)</script>&amp;\"'\\x1b]0;x\\x07\\n<!--" in titles
    assert 'a"b\\c' in titles


def test_same_bytes_in_every_process(tmp_path):
    script = ("import graphc as gc, sys\n"
              "x = gc.placeholder('x', (None, 3))\n"
              "y = gc.sum(gc.tanh(x) * gc.sigmoid(x))\n"
              "f = gc.compile([y, gc.grad(y, x)], backend='c')\n"
              "sys.stdout.write(gc.draw(gc.grad(y, x), engine='layered') + f.draw(engine='layered'))\n")
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, cwd=tmp_path, check=True, timeout=300)
        outs.append(done.stdout)
    assert outs[0] == outs[1] and outs[0].count("<svg") == 2


def test_two_thousand_nodes_draw_in_seconds():
    x = gc.placeholder("x", (4,))
    h = x
    for k in range(700):
        h = gc.sin(h) * (1.0 + k) + x
    order = gc.topo_order([h])
    assert len(order) >= 2000
    start = time.perf_counter()
    svg = gc.draw(h, engine="layered")
    assert time.perf_counter() - start < 30
    assert len(nodes_of(ET.fromstring(svg))) == len(order)


def test_path_is_written_and_bad_arguments_are_refused(tmp_path):
    path = tmp_path / "g.svg"
    svg = gc.draw(tutorial_gradient(), str(path), engine="layered")
    assert path.read_text(encoding="utf-8") == svg
    with pytest.raises(GraphcError, match="engine"):
        gc.draw(tutorial_gradient(), engine="neato")
    with pytest.raises(GraphcError, match="Tensor"):
        gc.draw([])
