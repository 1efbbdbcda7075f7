"""Liveness-based buffer planning, shared by every backend.

The input is an ordered list of ``Step``s (a node, a fused kernel...): each step
defines some values and reads some values. A value is a ``Value``: a key, a dtype,
its dims (ints, or str for sizes known at run time) and how it is stored:

* ``"buffer"``: it needs memory of its own, which the plan may take from a buffer
  whose values are all dead (same dtype, same number of elements);
* ``"view"``:   it aliases another value (``alias_of``), e.g. a reshape; the base
  stays alive as long as any view of it is read;
* ``"fresh"``:  it escapes (an output, a new parameter value): it gets new memory
  each call and never shares; a view of it makes the base fresh too;
* ``"none"``:   no memory (a scalar computed in registers).

Values read but never defined (inputs, parameters, constants) are external and
never written. A step may say ``inplace=True``: its outputs may then take the
buffer of a value it reads directly (not through a view) for the last time (an
elementwise op writing over its own operand).

>>> from graphc.passes.memory import Step, Value, plan_memory
>>> f32 = "float32"
>>> steps = [Step([Value("a", f32, ("n", 4))], ["x"]),
...          Step([Value("b", f32, ("n", 4))], ["a"], inplace=True),
...          Step([Value("c", f32, ("n", 4), "fresh")], ["b"])]
>>> plan = plan_memory(steps)
>>> plan.buffer_of["a"] == plan.buffer_of["b"], len(plan.buffers)
(True, 1)
>>> plan.workspace_bytes({"n": 10}), plan.intermediate_bytes({"n": 10})
(160, 480)
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Hashable, NamedTuple, Sequence

import numpy as np


# Values and steps are immutable records made once per node of a graph: named tuples
# (made in C) rather than frozen dataclasses, whose __init__ costs a microsecond or two
class Value(NamedTuple):
    key: Hashable
    dtype: str
    dims: tuple
    kind: str = "buffer"            # buffer | view | fresh | none
    alias_of: Hashable | None = None


class Step(NamedTuple):
    defines: Sequence[Value]
    reads: Sequence[Hashable]
    inplace: bool = False


@dataclass(frozen=True)
class Buffer:
    index: int
    dtype: str
    dims: tuple          # dims of the first value placed in it (same element count for all)


def size_key(dims: Sequence) -> tuple:
    """Equal keys mean equal element counts for every binding of the run-time sizes."""
    known = 1
    syms = []
    for d in dims:
        if isinstance(d, str):
            syms.append(d)
        else:
            known *= int(d)
    return (known, tuple(sorted(syms))) if known else (0, ())


_ITEMSIZE: dict = {}


def nbytes(dtype, dims: Sequence, bindings: dict | None = None) -> int:
    n = _ITEMSIZE.get(dtype)
    if n is None:   # np.dtype() is slow next to a dict lookup, and plans ask per value
        n = _ITEMSIZE[dtype] = np.dtype(dtype).itemsize
    for d in dims:
        n *= (bindings or {}).get(d, 1) if isinstance(d, str) else int(d)
    return n


@dataclass
class MemoryPlan:
    """Where each value lives: ``buffer_of[key]`` is a buffer index for planned values;
    ``root_of[key]`` is the value whose memory a view uses; ``fresh`` are allocated per
    call. ``last_read[key]`` is the index of the step that reads the value (or a view of
    it) last."""

    values: dict = field(default_factory=dict)       # key -> Value (defined by steps)
    buffers: list[Buffer] = field(default_factory=list)
    buffer_of: dict = field(default_factory=dict)
    root_of: dict = field(default_factory=dict)
    fresh: set = field(default_factory=set)
    last_read: dict = field(default_factory=dict)
    live_peak_step: int = -1
    _stored_shapes: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def reused(self) -> int:
        """How many planned values took a buffer an earlier value had used."""
        return len(self.buffer_of) - len(self.buffers)

    def workspace_bytes(self, bindings: dict | None = None) -> int:
        """Bytes of all scratch buffers (allocated once, reused every call)."""
        return sum(nbytes(b.dtype, b.dims, bindings) for b in self.buffers)

    def fresh_bytes(self, bindings: dict | None = None) -> int:
        return sum(nbytes(self.values[k].dtype, self.values[k].dims, bindings)
                   for k in self.fresh)

    def peak_bytes(self, bindings: dict | None = None) -> int:
        """Planned peak memory of one call: the workspace plus the escaping values."""
        return self.workspace_bytes(bindings) + self.fresh_bytes(bindings)

    def intermediate_bytes(self, bindings: dict | None = None) -> int:
        """What one buffer per value (no reuse, no views) would take."""
        # values counted per (dtype, dims) once: stats ask again for each set of run-time
        # sizes, and a big graph's values share a few shapes
        counts = self._stored_shapes
        if counts is None or counts[0] != len(self.values):
            shapes: dict = {}
            for v in self.values.values():
                if v.kind in ("buffer", "fresh", "view"):
                    shape = (v.dtype, tuple(v.dims))
                    shapes[shape] = shapes.get(shape, 0) + 1
            counts = self._stored_shapes = (len(self.values), shapes)
        return sum(nbytes(dtype, dims, bindings) * k for (dtype, dims), k in counts[1].items())


def plan_memory(steps: Sequence[Step], keep: Sequence[Hashable] = ()) -> MemoryPlan:
    """Assign buffers by a linear scan over ``steps``; ``keep`` values stay alive to the end.

    Reuse needs the same dtype and the same element count (``size_key``), so a buffer
    fits every value placed in it at any run-time size. Buffers are taken
    lowest-index first, which makes the plan deterministic.
    """
    plan = MemoryPlan()
    values = plan.values
    for defines, _, _ in steps:
        for v in defines:
            values[v.key] = v

    # roots: a view lives in its base's memory
    def root(key):
        seen = 0
        while key in values and values[key].kind == "view":
            key = values[key].alias_of
            seen += 1
            if seen > len(values):
                raise ValueError("cyclic views in memory plan")
        return key

    root_of, last_read, buffer_of = plan.root_of, plan.last_read, plan.buffer_of
    for key, v in values.items():
        # steps define bases before their views: reuse the base's root (linear, not a walk)
        known = root_of.get(v.alias_of) if v.kind == "view" else key
        root_of[key] = known if known is not None else root(key)
    # an escaping value that is a view makes its base escape too
    for key, v in values.items():
        if v.kind == "fresh":
            r = root_of[key]
            if r in values and values[r].kind == "buffer":
                values[r] = Value(r, values[r].dtype, values[r].dims, "fresh")
    for k in keep:
        if k in root_of and values.get(root_of[k]) is not None:
            r = root_of[k]
            if values[r].kind == "buffer":
                values[r] = Value(r, values[r].dtype, values[r].dims, "fresh")

    # last read of each root (a value never read dies right after its step); a value that
    # is not a view is its own root, so only views are looked up (a small table)
    view_root = {key: root_of[key] for key, v in values.items() if v.kind == "view"}
    read_roots = []                        # step -> the roots of what it reads, in order
    for i, (defines, reads, _) in enumerate(steps):
        for v in defines:
            last_read.setdefault(view_root.get(v[0], v[0]), i)
        roots = [view_root.get(key, key) for key in reads] if view_root else reads
        for r in roots:
            last_read[r] = i   # steps come in order: i is the latest
        read_roots.append(roots)
    # the roots dying at each step, and the values stored fresh: the scan below asks
    # these small tables rather than the per-value ones (a graph's worth of entries,
    # where each lookup is a cache miss)
    dies_at: list[list] = [[] for _ in steps]
    for r, i in last_read.items():
        dies_at[i].append(r)
    stored_fresh = {key for key, v in values.items() if v.kind == "fresh"}

    # free buffers per (dtype, size): min-heaps of indexes, so taking the lowest index
    # (deterministic) costs log(buffers) rather than a scan of the list
    free: dict[int, list[int]] = {}
    is_free: set[int] = set()
    holders: dict[int, set] = {}           # buffer -> live root keys in it
    # values fit the same buffers when their (dtype, size_key) are equal: each such pair
    # is numbered once, so the loop below compares and hashes small ints
    size_class: dict[tuple, int] = {}      # (dtype, size_key) -> its number
    fit_key: dict[tuple, int] = {}         # (dtype name, dims) -> the number of its class
    buffer_key: list[int] = []             # buffer index -> its class
    dtype_names: dict = {}                 # NumPy works a dtype's name out on every access
    fresh, buffers = plan.fresh, plan.buffers
    heappush, heappop = heapq.heappush, heapq.heappop
    live: dict = {}   # root -> its buffer, from its step to its last read (buffer_of, small)

    for i, (defines, reads, inplace) in enumerate(steps):
        dying = dies_at[i]
        dying_here = []
        if inplace and dying:
            for key, r in zip(reads, read_roots[i]):
                # only an operand read directly: a view may have another layout
                if r == key and r in dying and r in live:
                    dying_here.append(r)
        for key, dtype, dims, kind, _ in defines:
            if kind == "fresh" or key in stored_fresh:
                fresh.add(key)
                continue
            if kind != "buffer":
                continue
            dims = tuple(dims)
            want = fit_key.get((dtype, dims))
            if want is None:
                sized = (np.dtype(dtype).str, size_key(dims))
                want = fit_key[(dtype, dims)] = size_class.setdefault(sized, len(size_class))
            chosen = None
            for r in dying_here:   # write over an operand this step reads last
                b = live[r]
                held = holders[b]
                if buffer_key[b] == want and len(held) == 1 and r in held:
                    chosen = b
                    held.discard(r)
                    dying_here.remove(r)
                    break
            if chosen is None and free.get(want):
                chosen = heappop(free[want])
                is_free.discard(chosen)
            if chosen is None:
                chosen = len(buffers)
                name = dtype_names.get(dtype)
                if name is None:
                    name = dtype_names[dtype] = np.dtype(dtype).name
                buffers.append(Buffer(chosen, name, dims))
                buffer_key.append(want)
            buffer_of[key] = live[key] = chosen
            holding = holders.get(chosen)
            if holding is None:
                holders[chosen] = {key}
            else:
                holding.add(key)
        # release roots whose last read is this step (twice is harmless: a buffer joins
        # its free heap once, and the heap's order does not depend on release order)
        for r in dying:
            b = live.pop(r, None)
            if b is not None:
                held = holders[b]
                held.discard(r)
                if not held and b not in is_free:
                    is_free.add(b)
                    heappush(free.setdefault(buffer_key[b], []), b)
    return plan
