"""Cutting a kernel's loops where the conditions of its pads change.

A value read through a pad or a concatenation is gated: ``in5 = 0 <= i1 - 12282 < 4094``
selects it, and its index is clamped so that a discarded read stays inside its buffer.
In one loop over a concatenation of four pieces every element pays four clamped loads
(gathers, to the vectorizer) and three selects; an im2col of a 3x3 convolution pays nine.
Cut a loop at the points where a condition on its axis changes and, in each piece, that
part of the condition is known: the dead loads, selects and clamps go, and the live piece
is read contiguously. Loops nest, so a piece is cut again along the next axis, within a
budget of loop-body copies.

>>> from graphc.codegen.kernel_types import Block, Instr, Mono
>>> from graphc.passes.fusion import IndexTerm
>>> first = Instr("in1", "in_range", "bool", attrs={"checks": ((IndexTerm(1, 1, 0), Mono(4)),)})
>>> second = Instr("in2", "in_range", "bool", attrs={"checks": ((IndexTerm(1, 1, -4), Mono(4)),)})
>>> [(s.lo, s.hi, s.gates) for s in segments(Block([first, second]), axis=1, extent=8)]
[(0, 4, {'in1': True, 'in2': False}), (4, 8, {'in1': False, 'in2': True})]
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .kernel_types import Block

# pieces of one loop, and copies of a loop body in all: past these, the copies cost more
# (compile time, code size) than the dead loads they remove
MAX_SEGMENTS = 10
MAX_COPIES = 32


@dataclass(frozen=True)
class Segment:
    """``lo <= i < hi`` of one axis (``hi`` may be C text: the whole axis) and what is
    known there: ``gates`` maps an ``in_range`` instruction to True, False or the checks
    still to test (a tuple); ``clamps``: the clamps that cannot bite."""

    lo: int
    hi: int | str
    gates: dict = field(default_factory=dict)
    clamps: frozenset = frozenset()


WHOLE = Segment(0, "")


def initial_gates(block: Block) -> dict:
    """Every condition of ``block``, nothing known yet."""
    return {ins.name: tuple(ins.attrs["checks"]) for ins in block.instrs if ins.op == "in_range"}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _on_axis(term, size, axis: int) -> bool:
    """Whether a check is decided by ``axis`` alone (or by nothing: a constant)."""
    return (size.static() is not None and term.div == 1
            and (term.axis is None or term.scale == 0 or term.axis == axis))


def _true_range(term, size: int, extent: int) -> tuple[int, int]:
    """[lo, hi) of the axis where ``0 <= offset + scale * i < size``, clipped to the loop."""
    if term.axis is None or term.scale == 0:
        return (0, extent) if 0 <= term.offset < size else (0, 0)
    s, off = term.scale, term.offset
    if s > 0:
        lo, hi = _ceil_div(-off, s), (size - 1 - off) // s + 1
    else:
        lo, hi = _ceil_div(off - (size - 1), -s), off // -s + 1
    lo, hi = max(lo, 0), min(hi, extent)
    return (lo, hi) if lo < hi else (0, 0)


def segments(block: Block, axis: int, extent: int, gates: dict | None = None,
             clamps: frozenset = frozenset()) -> list[Segment] | None:
    """The pieces of a loop over ``axis`` (``extent`` long) running ``block``, cut where a
    condition on that axis changes, given what is already known (``gates``, ``clamps``:
    from the enclosing loops' pieces); None when no condition reads this axis or the cut
    would make more than ``MAX_SEGMENTS`` pieces."""
    gates = initial_gates(block) if gates is None else gates
    ranges, rest = {}, {}
    for name, checks in gates.items():
        if not isinstance(checks, tuple):
            continue
        mine = [(t, s) for t, s in checks if _on_axis(t, s, axis)]
        if not mine:
            continue
        lo, hi = 0, extent
        for term, size in mine:
            r = _true_range(term, size.static(), extent)
            lo, hi = max(lo, r[0]), min(hi, r[1])
        ranges[name] = (lo, hi) if lo < hi else (0, 0)
        rest[name] = tuple(c for c in checks if c not in mine)
    points = {0, extent}
    for lo, hi in ranges.values():
        points.update(p for p in (lo, hi) if 0 < p < extent)
    if not ranges or extent <= 0 or len(points) - 1 > MAX_SEGMENTS:
        return None
    terms = {ins.name: ins.attrs["term"] for ins in block.instrs
             if ins.op == "index" and "term" in ins.attrs}
    bounds = sorted(points)
    pieces = []
    for lo, hi in zip(bounds, bounds[1:]):
        known = dict(gates)
        for name, (g_lo, g_hi) in ranges.items():
            inside = g_lo <= lo and hi <= g_hi
            known[name] = (rest[name] or True) if inside else False
        bounded = {ins.name for ins in block.instrs if ins.op == "clamp"
                   and _clamp_is_identity(terms.get(ins.args[0]), ins, axis, lo, hi)}
        pieces.append(Segment(lo, hi, known, clamps | bounded))
    return pieces


def _clamp_is_identity(term, clamp, axis: int, lo: int, hi: int) -> bool:
    """Whether the index a clamp bounds stays inside its axis for every i in [lo, hi)."""
    size = clamp.attrs["size"].static()
    if term is None or size is None or not _on_axis(term, clamp.attrs["size"], axis):
        return False
    scale = term.scale if term.axis == axis else 0
    ends = (term.offset + scale * lo, term.offset + scale * (hi - 1))
    return 0 <= min(ends) and max(ends) <= size - 1


def live_instructions(block: Block, piece: Segment = WHOLE, roots=(),
                      given: frozenset = frozenset()) -> list:
    """The instructions of ``block`` a piece still needs for its stores and ``roots``
    (names): a select whose condition is known reads one side only, a clamp that cannot
    bite reads its index only, a value ``given`` from elsewhere (``row_cache``) reads
    nothing."""
    needed = {s.value for s in block.stores if isinstance(s.value, str)} | set(roots)
    needed |= {var for s in block.stores for var, _ in s.gated}
    keep = []
    for ins in reversed(block.instrs):
        if ins.name not in needed and ins.op != "data_index":   # a checked index records
            continue                                             # its fault: always kept
        keep.append(ins)
        if ins.name in given:
            continue
        args = list(ins.args)
        if ins.op == "where" and isinstance(args[0], str) and \
                isinstance(piece.gates.get(args[0]), bool):
            args = [args[1] if piece.gates[args[0]] else args[2]]
        elif ins.op == "clamp" and ins.name in piece.clamps:
            args = args[:1]
        needed.update(a for a in args if isinstance(a, str))
        needed.update(var for var, _ in ins.gated)
    return keep[::-1]
