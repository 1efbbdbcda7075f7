"""Loops cut where their pads' conditions change (codegen/gate_split.py) on the C backend.

Unit tests of the cut points, then whole graphs (slices, flips, pads, concatenations and
their gradients, row and column reductions over them) compiled for C and compared with
NumPy, with a check that the kernels really were cut.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.codegen.gate_split import MAX_SEGMENTS, segments
from graphc.codegen.kernel_types import Block, Instr, Mono
from graphc.passes.fusion import IndexTerm


def gate(name, *checks):
    return Instr(name, "in_range", "bool",
                 attrs={"checks": tuple((term, Mono(size)) for term, size in checks)})


def pieces(block, extent, axis=1):
    cut = segments(block, axis=axis, extent=extent)
    return None if cut is None else [(s.lo, s.hi, s.gates) for s in cut]


def test_a_reversed_piece_and_a_shifted_one():
    # x[::-1] at [0, 4) (index 3 - i), x shifted at [4, 8) (index i - 4), from 4 elements
    back = gate("in1", (IndexTerm(1, -1, 3), 4))
    ahead = gate("in2", (IndexTerm(1, 1, -4), 4))
    assert pieces(Block([back, ahead]), 8) == [
        (0, 4, {"in1": True, "in2": False}), (4, 8, {"in1": False, "in2": True})]


def test_a_clamp_is_dropped_only_where_its_index_stays_inside():
    index = Instr("ix1", "index", "int64", attrs={"term": IndexTerm(1, 1, -2)})
    clamp = Instr("ix2", "clamp", "int64", args=("ix1",), attrs={"size": Mono(4)})
    inside = gate("in3", (IndexTerm(1, 1, -2), 4))   # i - 2 in [0, 4): i in [2, 6)
    got = segments(Block([index, clamp, inside]), axis=1, extent=8)
    assert [(s.lo, s.hi) for s in got] == [(0, 2), (2, 6), (6, 8)]
    assert [s.clamps for s in got] == [frozenset(), {"ix2"}, frozenset()]
    assert [s.gates["in3"] for s in got] == [False, True, False]


def test_conditions_on_other_axes_or_run_time_sizes_stay_in_the_loop():
    other_axis = gate("in1", (IndexTerm(0, 1, -1), 4))
    run_time = Instr("in2", "in_range", "bool",
                     attrs={"checks": ((IndexTerm(1, 1, 0), Mono(1, ("n",))),)})
    interior = gate("in3", (IndexTerm(1, 1, 0, div=2), 4))
    assert pieces(Block([other_axis, run_time, interior]), 8) is None


def test_a_condition_on_two_axes_keeps_the_other_axis_check():
    rows, cols = (IndexTerm(0, 1, -1), Mono(4)), (IndexTerm(1, 1, -1), Mono(4))
    both = Instr("in1", "in_range", "bool", attrs={"checks": (rows, cols)})
    got = segments(Block([both]), axis=1, extent=6)
    assert [(s.lo, s.hi, s.gates["in1"]) for s in got] == [
        (0, 1, False), (1, 5, (rows,)), (5, 6, False)]
    # cut again along the other axis with what is known: the rows' check decides
    inner = segments(Block([both]), axis=0, extent=6, gates=got[1].gates)
    assert [(s.lo, s.hi, s.gates["in1"]) for s in inner] == [
        (0, 1, False), (1, 5, True), (5, 6, False)]


def test_too_many_pieces_leave_the_loop_whole():
    many = [gate(f"in{k}", (IndexTerm(1, 1, -2 * k), 2)) for k in range(MAX_SEGMENTS + 1)]
    assert pieces(Block(many), 2 * (MAX_SEGMENTS + 1)) is None
    assert len(pieces(Block(many[:MAX_SEGMENTS - 1]), 2 * (MAX_SEGMENTS + 1))) == MAX_SEGMENTS


def test_a_condition_true_or_false_everywhere_is_known_without_a_cut():
    always = gate("in1", (IndexTerm(1, 1, 0), 16))
    never = gate("in2", (IndexTerm(1, 1, 100), 16))
    assert pieces(Block([always, never]), 8) == [(0, 8, {"in1": True, "in2": False})]


# ---- whole graphs on the C backend ------------------------------------------------------

def _windows(x):
    return [x[:, 2:], x[:, 1:-1], x[:, :-2], x[:, ::-1][:, 2:]]


@pytest.mark.parametrize("length", [9, 64])
def test_concatenated_windows_and_their_gradients_match_numpy(length):
    rng = np.random.default_rng(length)
    x0 = rng.standard_normal((5, length))
    w0 = rng.standard_normal(4 * (length - 2))
    x = gc.placeholder("x", (None, length), "float64")
    w = gc.parameter("w", w0)
    feat = gc.concatenate(_windows(x), axis=1)
    h = gc.tanh(feat * w)
    loss = gc.sum(h * h)
    outs = [feat, loss, *gc.grad(loss, [w, x]), gc.sum(gc.pad(x, ((0, 0), (3, 1))) ** 2, 0)]
    f = gc.compile(outs, inputs=[x], backend="c")
    got = f(x0)
    want = gc.evaluate(outs, {x: x0})
    np.testing.assert_array_equal(got[0], np.concatenate(_windows(x0), axis=1))
    for g, e in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    source = f.source["graph.c"]
    # the forward kernel's column loop runs in four pieces, one per window, each reading x
    # once, contiguously (no clamp)
    n = length - 2
    for start in (0, n, 2 * n, 3 * n):
        body = _loop_body(source, f"for (int64_t i1 = {start}; i1 < {start + n}; ++i1) {{")
        assert body.count(" = x[") == 1 and " ? " not in body, body


def _loop_body(source: str, head: str) -> str:
    """The lines of the first loop opened by ``head``, to its closing brace."""
    at = source.index(head)
    indent = source.rfind("\n", 0, at) + 1
    close = "\n" + " " * (at - indent) + "}"
    return source[at:source.index(close, at)]


def test_a_3x3_convolution_reads_each_tap_once():
    rng = np.random.default_rng(1)
    x0, w0 = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    x = gc.placeholder("x", (2, 3, 8, 8), "float64")
    w = gc.placeholder("w", (4, 3, 3, 3), "float64")
    y = gc.nn.conv2d(x, w, padding=1)
    outs = [y, *gc.grad(gc.sum(gc.sin(y)), [x, w])]
    f = gc.compile(outs, inputs=[x, w], backend="c", blas=False)
    for g, e in zip(f(x0, w0), gc.evaluate(outs, {x: x0, w: w0})):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    # the patch kernel: cut along the taps (9) and the columns (3), so each innermost loop
    # reads x once, unclamped along the columns
    source = f.source["graph.c"]
    assert "for (int64_t i1 = 8; i1 < 9; ++i1) {" in source
    inner = re.findall(r"#pragma omp simd\n\s*for \(int64_t i3 = \d+; i3 < \d+; \+\+i3\) "
                       r"\{\n(.*?)\n\s*\}", source, re.S)
    assert len(inner) >= 27 and max(b.count(" = x[") for b in inner) <= 1


def test_a_column_sum_over_padded_columns_is_cut_too():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((700, 6))
    x = gc.placeholder("x", (None, 6), "float64")
    y = gc.sum(gc.exp(gc.concatenate([x, x[:, ::-1]], axis=1)), axis=0)
    f = gc.compile(y, inputs=[x], backend="c")
    np.testing.assert_allclose(f(x0), np.exp(np.concatenate([x0, x0[:, ::-1]], 1)).sum(0),
                               rtol=1e-12)
    assert "(ob > 6 ? ob : 6)" in f.source["graph.c"]
