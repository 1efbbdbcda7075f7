"""Fusion: the optimized graph -> a schedule (fused kernels + which values are stored).

The schedule is data, decided here once for every C-family backend:

* elementwise trees and chains become one kernel; independent elementwise values of
  the same shape share a kernel (several outputs, e.g. forward values and gradients);
* a reduction is a *row kernel*: its elementwise producers are its prologue; several
  reductions over the same rows chain in one kernel (``max`` then ``sum(exp(x - max))``),
  elementwise consumers over the rows (``log(s) + m``) are its epilogue and consumers
  over the full rows (``exp(x - lse)``) are row stores after the reductions;
* a ``gather`` is a load whose index on one axis is loaded data (``DataIndex``), fused
  like any load (its source stored first unless a leaf); a ``scatter`` is its own
  kernel over the updates' index space (producers inline), accumulating into its output;
* a line op (``cumsum``, ``argsort``...: ``kind="lines"``) is its own kernel over its
  output's space, serial along its axis (producers inline, the result stored); a scan's
  elementwise consumers at the same element are its epilogue, inside the line loop;
* a linear-algebra op (``kind="linalg"``) is its own kernel over its batch axes, reading
  whole stored matrices (its computed inputs are stored first) and writing its output;
* a matmul is its own kernel; elementwise consumers of its result (bias add,
  activation, the activation's backward, a parameter update) are its epilogue;
* ``broadcast_to``, ``transpose``, ``reshape``, ``slice`` and ``pad`` are index arithmetic
  in loads (``IndexTerm``: an offset, a scale per kernel axis, and for pads a validity
  condition whose failing elements take the fill value), never copies;
* a cost rule bounds recomputation: an unstored value used twice is stored once its
  inline cost passes ``COST_LIMIT``; a costly value read through a broadcast or a pad
  (which evaluates it at every padded position) is stored first;
* a size rule bounds kernels: an expression that would pass ``KERNEL_OPS`` ops inline
  stores its largest operands, and no kernel grows past ``KERNEL_OPS`` fused ops (a
  10,000-op chain becomes ~80 kernels, not one function the C compiler takes minutes
  over: its optimizer's time grows faster than linearly with a function's size); in a
  graph that large, shared values from one transcendental up are stored, since their
  users may land in different kernels that would each recompute them.

>>> import graphc as gc
>>> x = gc.placeholder("x", (None, 4))
>>> y = gc.exp(x) * 2 + 1
>>> s = schedule([y, y.sum()])
>>> [k.kind for k in s.kernels]
['elementwise', 'reduce']
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CompileError
from ..ir import Tensor, as_list, topo_order, users_of
from ..ops import OPS

COST_LIMIT = 24.0   # a shared value costing more than this (in "adds") is stored, not recomputed
BROADCAST_COST = 8.0  # a value this costly (one transcendental) is stored before a broadcast
WINDOW_OPS = ("slice", "pad")  # users that read a value at shifted places
KERNEL_OPS = 128     # at most this many fused ops per kernel (measured: gcc -O3 time stays
#                      linear in the graph's size; longer kernels gain nothing at run time)


@dataclass
class Group:
    """One fused kernel of the schedule."""

    index: int
    kind: str                                   # elementwise | reduce | matmul | scatter | lines
    space: tuple                                # index space (dims); for reduce: the rows' dims
    reduce_axes: tuple = ()
    matmul: Tensor | None = None
    reductions: list = field(default_factory=list)   # reduce nodes, in phase order
    epilogue: list = field(default_factory=list)     # stores over the outer (row) space
    stores: list = field(default_factory=list)       # stores over the full space
    ops: list = field(default_factory=list)          # op names fused here (for stats)

    @property
    def members(self) -> list:
        head = [self.matmul] if self.matmul is not None else []
        return head + self.reductions + self.epilogue + self.stores


@dataclass
class Schedule:
    """Kernels in run order plus the set of stored (materialized) nodes."""

    roots: list
    kernels: list
    materialized: set                     # ids of non-leaf nodes given a kernel home
    kernel_of: dict                       # id(node) -> kernel index (leaves: -1)
    nodes: dict                           # id -> node for every node reached
    canon: dict = field(default_factory=dict)   # run-time dim -> its class representative

    def summary(self) -> list[dict]:
        return [{"name": f"k{g.index}", "kind": g.kind, "ops": list(g.ops)} for g in self.kernels]


# ---- index maps ----------------------------------------------------------------------------
# An index map gives, for each axis of a node, the kernel axis that indexes it (None: the
# axis has size 1 / is broadcast, index 0), or an ``IndexTerm`` (an affine function of one
# kernel axis, from slices and pads).


@dataclass(frozen=True)
class IndexTerm:
    """Index ``(offset + scale * i_axis) / div`` of one axis (``axis`` None: ``i`` is 0).

    Slices make ``offset``/``scale`` (a negative scale walks backwards); a pad with interior
    padding makes ``div`` > 1 (its valid elements are where the division is exact).
    ``guarded``: under a pad, so the index may leave the axis where the pad's condition
    fails; the load clamps it into range and the pad's select discards the value."""

    axis: int | None
    scale: int
    offset: int
    div: int = 1
    guarded: bool = False

    @staticmethod
    def of(entry) -> "IndexTerm":
        """An index-map entry (kernel axis, None, or term) as a term."""
        if isinstance(entry, IndexTerm):
            return entry
        return IndexTerm(None, 0, 0) if entry is None else IndexTerm(entry, 1, 0)

    def simplified(self):
        """The plain entry (a kernel axis or None) when this term is one."""
        if self.div == 1 and self.offset == 0 and not self.guarded:
            if self.scale == 1 and self.axis is not None:
                return self.axis
            if self.scale == 0 or self.axis is None:
                return None
        return self


@dataclass(frozen=True)
class DataIndex:
    """Index of one axis read from data: the integer ``source`` at index map ``amap`` (the
    indices of ``node``, a ``gather``). Kernels check it against the axis (C reports an
    index out of range after the call; CUDA clamps it: memory-safe)."""

    source: Tensor
    amap: tuple
    node: Tensor


def gather_maps(n: Tensor, amap: tuple) -> list:
    """(x, its map), (indices, their map) of gather node ``n`` evaluated at ``amap``."""
    x, idx = n.inputs
    axis = n.attr("axis")
    imap = amap[axis:axis + idx.ndim]
    return [(x, amap[:axis] + (DataIndex(idx, imap, n),) + amap[axis + idx.ndim:]),
            (idx, imap)]


def scatter_maps(n: Tensor) -> list:
    """(updates, map), (indices, map) of scatter node ``n`` over the updates' space."""
    u, idx = n.inputs
    ident = tuple(range(u.ndim))
    axis = n.attr("axis")
    return [(u, ident), (idx, ident[axis:axis + idx.ndim])]


def slice_entry(entry, start: int, step: int):
    """The input index of a slice's output index ``entry``: ``start + step * entry``."""
    t = IndexTerm.of(entry)
    return IndexTerm(t.axis, step * t.scale, step * t.offset + start * t.div, t.div,
                     t.guarded).simplified()


def pad_entry(entry, lo: int, interior: int):
    """The input index of a pad's output index ``entry``: ``(entry - lo) / (interior + 1)``
    (valid where ``pad_condition`` holds)."""
    t = IndexTerm.of(entry)
    return IndexTerm(t.axis, t.scale, t.offset - lo * t.div, t.div * (interior + 1), True)


def pad_checks(n: Tensor, amap: tuple) -> tuple:
    """(input term, input size) per padded axis of pad node ``n`` at ``amap``: the element
    is the input's where every term is exact and in range, else the fill value."""
    lo, hi, interior = n.attr("lo"), n.attr("hi"), n.attr("interior")
    return tuple((pad_entry(e, lo[k], interior[k]), n.inputs[0].dims[k])
                 for k, e in enumerate(amap) if lo[k] or hi[k] or interior[k])

def broadcast_map(out: Tensor, inp: Tensor, amap: tuple) -> tuple:
    r, q = out.ndim, inp.ndim
    res = []
    for k in range(q):
        kk = k + r - q
        res.append(None if inp.dims[k] == 1 and out.dims[kk] != 1 else amap[kk])
    return tuple(res)


def dim_classes(order: list) -> dict:
    """Run-time dims that must be equal (unified by broadcasting or a matmul's inner
    axis) -> one representative (an int when a dim is unified with a known size)."""
    parent: dict = {}

    def find(d):
        while isinstance(d, str) and parent.get(d, d) != d:
            d = parent[d]
        return d

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra == rb or ra == 1 or rb == 1:
            return
        if isinstance(ra, str) and (not isinstance(rb, str) or rb < ra):
            parent[ra] = rb
        elif isinstance(rb, str):
            parent[rb] = ra

    for n in order:
        kind = OPS[n.op].kind
        if kind == "elementwise" or n.op == "broadcast_to":
            for i in n.inputs:
                for k, d in enumerate(i.dims):
                    union(d, n.dims[k + n.ndim - i.ndim])
        elif kind == "matmul":
            a, b = n.inputs
            union(a.dims[-1], b.dims[0] if b.ndim == 1 else b.dims[-2])
        elif kind == "linalg":   # batch axes: the inputs' and the output's are one
            for i in n.inputs:
                for d, e in zip(i.dims[:n.inputs[0].ndim - 2], n.dims):
                    union(d, e)
    return {d: find(d) for d in parent}


def canon_dims(dims, canon: dict | None) -> tuple:
    if not canon:
        return tuple(dims)
    return tuple(canon.get(d, d) if isinstance(d, str) else d for d in dims)


def is_trivial_reshape(n: Tensor, canon: dict | None = None) -> bool:
    """A reshape that only adds or removes size-1 axes (pure index relabelling)."""
    src = n.inputs[0]
    return [d for d in canon_dims(src.dims, canon) if d != 1] == \
        [d for d in canon_dims(n.dims, canon) if d != 1]


def trivial_reshape_map(n: Tensor, amap: tuple) -> tuple:
    src = n.inputs[0]
    outer = [a for d, a in zip(n.dims, amap) if d != 1]
    it = iter(outer)
    return tuple(None if d == 1 else next(it) for d in src.dims)


def child_maps(n: Tensor, amap: tuple, canon: dict | None = None) -> list:
    """(input, its index map) for the inputs ``n`` reads when evaluated at ``amap``."""
    op = OPS[n.op]
    if op.kind == "elementwise":
        return [(i, broadcast_map(n, i, amap)) for i in n.inputs]
    if n.op == "broadcast_to":
        return [(n.inputs[0], broadcast_map(n, n.inputs[0], amap))]
    if n.op == "transpose":
        perm = n.attr("perm")
        m = [None] * n.ndim
        for k, p in enumerate(perm):
            m[p] = amap[k]
        return [(n.inputs[0], tuple(m))]
    if n.op == "reshape" and is_trivial_reshape(n, canon):
        return [(n.inputs[0], trivial_reshape_map(n, amap))]
    if n.op == "one_hot":
        return [(n.inputs[0], amap[:-1])]
    if n.op == "gather":
        return gather_maps(n, amap)
    if n.op == "random_uniform":  # the call counter and key: scalars
        return [(i, ()) for i in n.inputs]
    if n.op == "slice":
        return [(n.inputs[0], tuple(slice_entry(e, start, step) for e, start, step in
                                    zip(amap, n.attr("starts"), n.attr("steps"))))]
    if n.op == "pad":
        lo, hi, interior = n.attr("lo"), n.attr("hi"), n.attr("interior")
        return [(n.inputs[0], tuple(pad_entry(e, lo[k], interior[k])
                                    if lo[k] or hi[k] or interior[k] else e
                                    for k, e in enumerate(amap)))]
    return []


def outer_map(group: Group, red: Tensor) -> tuple:
    """The index map of reduction ``red`` as a row scalar of ``group``."""
    axes = group.reduce_axes
    n = len(group.space)
    if red.attr("keepdims"):
        return tuple(None if k in axes else k for k in range(n))
    return tuple(k for k in range(n) if k not in axes)


def store_map(group: Group, node: Tensor, role: str, canon: dict | None = None) -> tuple | None:
    """Index map of ``node`` stored by ``group`` in ``role`` (None if it cannot be)."""
    n = len(group.space)
    dims = canon_dims(node.dims, canon)
    if role == "epilogue":
        kept = tuple(group.space[k] for k in range(n) if k not in group.reduce_axes)
        if dims == kept:
            return tuple(k for k in range(n) if k not in group.reduce_axes)
        keep = tuple(1 if k in group.reduce_axes else group.space[k] for k in range(n))
        if dims == keep:
            return tuple(None if k in group.reduce_axes else k for k in range(n))
        return None
    return tuple(range(n)) if dims == tuple(group.space) else None


# ---- the pass ------------------------------------------------------------------------------

def _is_broadcast(inp: Tensor, out: Tensor, canon: dict) -> bool:
    """Does ``out`` read ``inp`` through a broadcast (more elements than ``inp``)?"""
    a, b = canon_dims(inp.dims, canon), canon_dims(out.dims, canon)
    if len(a) < len(b):
        return any(d != 1 for d in b[:len(b) - len(a)])
    return any(x == 1 and y != 1 for x, y in zip(a, b[len(b) - len(a):]))


def reshape_base(t: Tensor) -> Tensor:
    """``t`` seen through reshapes: a reshape of a stored contiguous array is that memory
    (what a linalg kernel reads, without a copy)."""
    while t.op == "reshape":
        t = t.inputs[0]
    return t


def _materialize(order: list, roots: list, canon: dict) -> set:
    """Ids of nodes that get stored (a kernel home): roots, reductions, matmuls, matmul
    operands, non-trivial reshape sources, and shared values past the cost limit."""
    users = users_of(order)
    mat: set[int] = set()
    for r in roots:
        if OPS[r.op].kind != "leaf":
            mat.add(id(r))
    for n in order:
        kind = OPS[n.op].kind
        if kind in ("reduce", "matmul", "scatter", "lines", "linalg"):
            mat.add(id(n))
        if kind == "linalg":   # reads whole contiguous matrices: anything computed is stored
            mat.update(id(b) for b in map(reshape_base, n.inputs) if OPS[b.op].kind != "leaf")
        if kind == "gather" and OPS[n.inputs[0].op].kind != "leaf":
            mat.add(id(n.inputs[0]))   # its rows are read at data-dependent places
        if kind == "matmul":
            for operand in n.inputs:
                base = operand
                # views are strides in the GEMM's loads; anything computed is stored
                while base.op in ("transpose", "broadcast_to") or (
                        base.op == "reshape" and is_trivial_reshape(base, canon)):
                    base = base.inputs[0]
                if OPS[base.op].kind != "leaf":
                    mat.add(id(base))
        if n.op == "reshape" and not is_trivial_reshape(n, canon) and \
                OPS[n.inputs[0].op].kind != "leaf":
            mat.add(id(n.inputs[0]))
    icost: dict[int, float] = {}
    isize: dict[int, int] = {}   # ops the value's inline expression holds (size rule)
    # a graph the size rule will split: a shared value's users may then sit in different
    # kernels, each recomputing it, so store shared values from one transcendental up
    big = sum(1 for n in order if OPS[n.op].kind == "elementwise") > KERNEL_OPS
    shared_limit = BROADCAST_COST if big else COST_LIMIT
    for n in order:
        if OPS[n.op].kind == "leaf" or id(n) in mat:
            icost[id(n)] = 0.0
            isize[id(n)] = 0
            continue
        # a costly value read through a broadcast would be recomputed for every copy:
        # store it once at its own (smaller) shape instead
        if OPS[n.op].kind == "elementwise" or n.op in ("broadcast_to", "pad"):
            for i in n.inputs:
                # (a pad evaluates its operand, clamped, at every padded position too: a
                # concatenation's gradient would compute each costly piece once per piece)
                if icost[id(i)] >= BROADCAST_COST and id(i) not in mat and \
                        OPS[i.op].kind == "elementwise" and (
                            n.op == "pad" or _is_broadcast(i, n, canon)):
                    mat.add(id(i))
                    icost[id(i)] = 0.0
                    isize[id(i)] = 0
        size = 1 + sum(isize[id(i)] for i in n.inputs)
        if size > KERNEL_OPS:
            # the size rule: store the largest operand expressions until this one fits
            for i in sorted(n.inputs, key=lambda i: -isize[id(i)]):
                if size <= KERNEL_OPS:
                    break
                if id(i) not in mat and OPS[i.op].kind == "elementwise":
                    mat.add(id(i))
                    size -= isize[id(i)]
                    icost[id(i)], isize[id(i)] = 0.0, 0
        c = OPS[n.op].cost + sum(icost[id(i)] for i in n.inputs)
        c = min(c, 4 * COST_LIMIT)
        # a shared value that some user reads through a slice or pad is read at other
        # places than it is computed (each window recomputes it): store it from one
        # transcendental up, as for a broadcast
        limit = BROADCAST_COST if any(u.op in WINDOW_OPS for u in users[id(n)]) \
            else shared_limit
        if len(users[id(n)]) >= 2 and c > limit and OPS[n.op].kind == "elementwise":
            mat.add(id(n))
            c, size = 0.0, 0
        icost[id(n)] = c
        isize[id(n)] = size
    return mat


def _walk(start: Tensor, amap: tuple, mat: set, canon: dict) -> tuple[list, list]:
    """Edges (materialized node, index map) the fused region of ``start`` reads, and the
    op names it fuses. Iterative: regions can be thousands of nodes deep."""
    edges: list[tuple[Tensor, tuple | None]] = []  # None: a flat read
    ops: list[str] = []
    seen = set()
    stack = []
    if OPS[start.op].kind == "reduce":
        ops.append(start.op)
        stack.append((start.inputs[0], tuple(range(start.inputs[0].ndim))))
    elif OPS[start.op].kind in ("matmul", "linalg"):
        ops.append(start.op)
        return edges, ops
    elif OPS[start.op].kind == "scatter":
        ops.append(start.op)
        stack.extend(scatter_maps(start))
    elif OPS[start.op].kind == "lines":   # its input at every element of the lines
        ops.append(start.op)
        stack.append((start.inputs[0], tuple(range(start.ndim))))
    else:
        stack.append((start, amap))
    while stack:
        n, m = stack.pop()
        key = (id(n), m)
        if key in seen:
            continue
        seen.add(key)
        if OPS[n.op].kind == "leaf":
            continue
        if id(n) in mat and n is not start:
            edges.append((n, m))
            continue
        if n.op == "reshape" and not is_trivial_reshape(n, canon):
            edges.append((n.inputs[0], None))   # a flat read of a stored source: never local
            ops.append("reshape")
            continue
        ops.append(n.op)
        stack.extend(child_maps(n, m, canon))
    return edges, ops


def _legal(group: Group, edges: list, kernel_of: dict, role: str, canon: dict) -> bool:
    """Can a value whose region reads ``edges`` be computed inside ``group``?"""
    for d, m in edges:
        k = kernel_of.get(id(d), -1)
        if k < group.index:
            continue
        if k > group.index or m is None:
            return False
        # a local read: only values already in registers at the same index
        if group.kind == "elementwise":
            if m != tuple(range(len(group.space))):
                return False
        elif group.kind in ("matmul", "lines"):
            if m != tuple(range(len(group.space))):
                return False
        else:
            if any(d is r for r in group.reductions):
                if m != outer_map(group, d):
                    return False
            elif any(d is e for e in group.epilogue):
                if m != store_map(group, d, "epilogue", canon):
                    return False
            elif any(d is s for s in group.stores):
                if role != "store" or m != tuple(range(len(group.space))):
                    return False
            else:
                return False
    return True


def _fits(group: Group, ops: list) -> bool:
    """The size rule: may ``group`` take a value whose region fuses ``ops``?"""
    return len(group.ops) + len(ops) <= KERNEL_OPS


def _has_local(group: Group, edges: list, kernel_of: dict) -> bool:
    return any(kernel_of.get(id(d), -1) == group.index for d, _ in edges)


def schedule(outputs) -> Schedule:
    """Fuse the graph of ``outputs`` (outputs + updates) into kernels."""
    roots = as_list(outputs)
    order = topo_order(roots)
    for n in order:
        if OPS[n.op].kind == "loop":
            raise CompileError(
                f"{n.op} (created at {n.location}) has no fused kernel: the native backends "
                f"run loops and branches as staged programs (codegen/native_loops)")
    canon = dim_classes(order)
    mat = _materialize(order, roots, canon)
    kernels: list[Group] = []
    kernel_of: dict[int, int] = {}
    for n in order:
        if OPS[n.op].kind == "leaf":
            kernel_of[id(n)] = -1
            continue
        if id(n) not in mat:
            continue
        kind = OPS[n.op].kind
        placed = None
        if kind == "matmul":
            placed = Group(len(kernels), "matmul", canon_dims(n.dims, canon), matmul=n)
            kernels.append(placed)
            _, ops = _walk(n, (), mat, canon)
            placed.ops.extend(ops)
        elif kind == "linalg":   # its own kernel over the batch axes, inputs stored
            placed = Group(len(kernels), "linalg", canon_dims(n.dims, canon))
            kernels.append(placed)
            placed.stores.append(n)
            placed.ops.append(n.op)
        elif kind == "scatter":  # its own kernel over the updates; producers inline
            placed = Group(len(kernels), "scatter", canon_dims(n.inputs[0].dims, canon))
            kernels.append(placed)
            _, ops = _walk(n, (), mat, canon)
            placed.stores.append(n)
            placed.ops.extend(ops)
        elif kind == "lines":  # its own kernel, serial along the axis; producers inline
            # over the input's space: argsort's output may keep only part of each line
            placed = Group(len(kernels), "lines", canon_dims(n.inputs[0].dims, canon),
                           (n.attr("axis"),))
            kernels.append(placed)
            _, ops = _walk(n, (), mat, canon)
            placed.stores.append(n)
            placed.ops.extend(ops)
        elif kind == "reduce":
            space, axes = canon_dims(n.inputs[0].dims, canon), tuple(n.attr("axes"))
            edges, ops = _walk(n, (), mat, canon)
            for g in reversed(kernels):
                if g.kind == "reduce" and g.space == space and g.reduce_axes == axes \
                        and not g.stores and _fits(g, ops) \
                        and _legal(g, edges, kernel_of, "reduction", canon):
                    placed = g
                    break
            if placed is None:
                placed = Group(len(kernels), "reduce", space, axes)
                kernels.append(placed)
            placed.reductions.append(n)
            placed.ops.extend(ops)
        else:
            placed = _place_elementwise(n, kernels, kernel_of, mat, canon)
        kernel_of[id(n)] = placed.index
    nodes = {id(n): n for n in order}
    return Schedule(roots, kernels, mat, kernel_of, nodes, canon)


def _place_elementwise(n: Tensor, kernels: list, kernel_of: dict, mat: set,
                       canon: dict) -> Group:
    """Join the producer kernel (epilogue / row store), else a same-shape elementwise
    kernel, else open a new one."""
    walks: dict = {}

    def walk(amap):
        if amap not in walks:
            walks[amap] = _walk(n, amap, mat, canon)
        return walks[amap]

    ident = tuple(range(n.ndim))
    edges, _ = walk(ident)
    producers = sorted({kernel_of.get(id(d), -1) for d, _ in edges}, reverse=True)
    for k in producers:
        if k < 0:
            continue
        g = kernels[k]
        if g.kind == "reduce":
            for role in ("epilogue", "store"):
                amap = store_map(g, n, role, canon)
                if amap is None:
                    continue
                e, ops = walk(amap)
                if _fits(g, ops) and _has_local(g, e, kernel_of) \
                        and _legal(g, e, kernel_of, role, canon):
                    (g.epilogue if role == "epilogue" else g.stores).append(n)
                    g.ops.extend(ops)
                    return g
        elif g.kind in ("matmul", "elementwise") or (g.kind == "lines"
                                                     and g.stores[0].op != "argsort"):
            # a scan's consumers at the same element run inside its line loop
            amap = store_map(g, n, "store", canon)
            if amap is None:
                continue
            e, ops = walk(amap)
            if _fits(g, ops) and _legal(g, e, kernel_of, "store", canon):
                g.stores.append(n)
                g.ops.extend(ops)
                return g
    # horizontal: the latest same-shape elementwise kernel after all producers
    for g in reversed(kernels):
        if g.kind == "elementwise" and tuple(g.space) == canon_dims(n.dims, canon):
            e, ops = walk(ident)
            if _fits(g, ops) and _legal(g, e, kernel_of, "store", canon):
                g.stores.append(n)
                g.ops.extend(ops)
                return g
    g = Group(len(kernels), "elementwise", canon_dims(n.dims, canon))
    kernels.append(g)
    _, ops = walk(ident)
    g.stores.append(n)
    g.ops.extend(ops)
    return g
