"""Splitting a kernel's innermost loop where the conditions of its pads change.

A value read through a pad or a concatenation is gated: ``in5 = 0 <= i1 - 12282 < 4094``
selects it, and its index is clamped so that a discarded read stays inside its buffer.
In one loop over a concatenation of four pieces, every element pays four clamped loads
(gathers, to the vectorizer) and three selects. Cut the loop at the points where a
condition on the innermost axis changes and each piece knows its conditions (true or
false) and which clamps cannot bite: the C compiler then drops the dead loads and reads
the live one contiguously.

>>> from graphc.codegen.kernel_types import Block, Instr, Mono
>>> from graphc.passes.fusion import IndexTerm
>>> first = Instr("in1", "in_range", "bool", attrs={"checks": ((IndexTerm(1, 1, 0), Mono(4)),)})
>>> second = Instr("in2", "in_range", "bool", attrs={"checks": ((IndexTerm(1, 1, -4), Mono(4)),)})
>>> [(s.lo, s.hi, s.known) for s in segments(Block([first, second]), axis=1, extent=8)]
[(0, 4, {'in1': 'true', 'in2': 'false'}), (4, 8, {'in1': 'false', 'in2': 'true'})]
"""
from __future__ import annotations

from dataclasses import dataclass

from .kernel_types import Block

# more pieces than this and the copies of the loop body cost more than they save
MAX_SEGMENTS = 8


@dataclass(frozen=True)
class Segment:
    """``lo <= i < hi`` of the innermost axis (``hi`` may be C text: the whole axis);
    ``known``: instruction name -> the C text that replaces its value there (a
    condition's ``true``/``false``, an unclamped index)."""

    lo: int
    hi: int | str
    known: dict


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _true_range(term, size: int, extent: int) -> tuple[int, int] | None:
    """[lo, hi) of the axis where ``0 <= offset + scale * i < size`` (clipped to the
    loop), or None where the term is not a plain affine function of the axis."""
    if term.div != 1:
        return None
    if term.axis is None or term.scale == 0:
        inside = 0 <= term.offset < size
        return (0, extent) if inside else (0, 0)
    s, off = term.scale, term.offset
    if s > 0:
        lo, hi = _ceil_div(-off, s), (size - 1 - off) // s + 1
    else:
        lo, hi = _ceil_div(off - (size - 1), -s), off // -s + 1
    return max(lo, 0), min(hi, extent)


def _gate_range(ins, axis: int, extent: int) -> tuple[int, int] | None:
    """Where an ``in_range`` instruction holds along ``axis``, if that is all it reads."""
    lo, hi = 0, extent
    for term, size in ins.attrs["checks"]:
        n = size.static()
        if n is None or (term.axis is not None and term.axis != axis and term.scale != 0):
            return None
        r = _true_range(term, n, extent)
        if r is None:
            return None
        lo, hi = max(lo, r[0]), min(hi, r[1])
    return (lo, hi) if lo < hi else (0, 0)


def segments(block: Block, axis: int, extent: int) -> list[Segment] | None:
    """The pieces of a loop over ``axis`` (``extent`` long) running ``block``, cut where a
    condition on that axis changes; None when nothing would change or the cut would make
    more than ``MAX_SEGMENTS`` pieces."""
    gates = {}
    for ins in block.instrs:
        if ins.op == "in_range":
            r = _gate_range(ins, axis, extent)
            if r is not None:
                gates[ins.name] = r
    points = {0, extent}
    for lo, hi in gates.values():
        points.update(p for p in (lo, hi) if 0 < p < extent)
    if not gates or extent <= 0 or len(points) - 1 > MAX_SEGMENTS:
        return None
    terms = {ins.name: ins.attrs["term"] for ins in block.instrs
             if ins.op == "index" and "term" in ins.attrs}
    bounds = sorted(points)
    pieces = []
    for lo, hi in zip(bounds, bounds[1:]):
        known = {name: "true" if g_lo <= lo and hi <= g_hi else "false"
                 for name, (g_lo, g_hi) in gates.items()}
        for ins in block.instrs:
            if ins.op == "clamp" and _clamp_is_identity(terms.get(ins.args[0]), ins, axis, lo, hi):
                known[ins.name] = ins.args[0]
        pieces.append(Segment(lo, hi, known))
    return pieces


def _clamp_is_identity(term, clamp, axis: int, lo: int, hi: int) -> bool:
    """Whether the index a clamp bounds stays inside its axis for every i in [lo, hi)."""
    size = clamp.attrs["size"].static()
    if term is None or size is None or term.div != 1:
        return False
    if term.axis is not None and term.axis != axis and term.scale != 0:
        return False
    scale = term.scale if term.axis == axis else 0
    ends = (term.offset + scale * lo, term.offset + scale * (hi - 1))
    return 0 <= min(ends) and max(ends) <= size - 1
