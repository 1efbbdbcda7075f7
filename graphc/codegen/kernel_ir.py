"""Lowering to kernel IR: the fused schedule (``passes.fusion``) becomes kernels over
index spaces with strided loads, scalar expression DAGs, reductions and stores (the
data types are in ``kernel_types``), so broadcast, transpose, reshape, slices and pads
never copy (``passes.fusion.IndexTerm``: affine indices, gated under a pad).
Shared by every C-family dialect. User names are placed after the renderer's reserved
scope and lowering's own name families.

>>> import graphc as gc
>>> from graphc.codegen.base import Program
>>> x = gc.placeholder("x", (None, 4))
>>> p = lower(Program("f", (x,), (), (gc.exp(x) + 1,)))
>>> [k.kind for k in p.kernels], p.kernels[0].body.stores[0].buf
(['elementwise'], 'out0')
"""
from __future__ import annotations

from dataclasses import replace
from typing import Union

import numpy as np

from .. import progress
from ..bind import ops_where
from ..ir import Tensor
from ..ops.gather import scatter_identity
from ..ops.linalg import FAILURES as LINALG_FAILURES
from ..passes import fusion
from ..printing.linalg import failure_message
from .kernel_types import (ONE, ZERO, Block, BufferRef, Instr, KernelIR, Literal, Mono, Phase,
                           ProgramIR, Store, dtype_name)
from .naming import Scope, sanitize_names

Operand = Union[str, Literal]  # an instruction's operand: a variable's name or a constant

# ops whose value is their operand's, read through the load's strides: the shape ops and
# stop_gradient (the identity at run time)
PASS_THROUGH = ops_where(kind="shape") | {"stop_gradient"}
# the names lowering generates (variables, index variables, constants, outputs,
# temporaries, kernels, row scalars): reserved before user names are placed
LOWERING_FAMILIES = (r"v\d+", r"ix\d+", r"in\d+", r"c\d+(_\d+)?", r"out\d+", r"t\d+_\w+",
                     r"k\d+_\w+", r"r\d+")
CONST_INLINE_MAX = 4096   # larger constants are passed at run time (like parameters), not
                          # written into the source (a big initializer slows every compiler)


# ---- lowering ------------------------------------------------------------------------------

def _contig(dims: tuple) -> list:
    strides, acc = [], ONE
    for d in reversed(dims):
        strides.append(acc)
        acc = acc * d
    return list(reversed(strides))


class _Lowerer:
    """Builds the blocks of one kernel; values are memoized per (node, index map)."""

    def __init__(self, prog: "_ProgramBuilder", group: fusion.Group, naxes: int):
        self.p, self.g, self.naxes = prog, group, naxes
        self.memo: dict = {}
        self.local: dict = {}      # (id, amap) -> variable already in registers
        self.inline: set = set()   # ids of this kernel's stores computed inline when read
        self.block = Block()
        self.counter = 0
        self.pending: list = []    # (block, node, variable, index map) stores awaiting a buffer

    def fresh(self, prefix="v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def start_block(self) -> Block:
        """A new scope (loop body): values computed in earlier blocks are not visible."""
        self.block = Block()
        self.memo = {}
        return self.block

    def emit(self, instr: Instr) -> str:
        self.block.instrs.append(instr)
        return instr.name

    def load(self, node: Tensor, amap: tuple, view_dims: tuple | None = None) -> Operand:
        """Read ``node``'s buffer at ``amap`` (seen with shape ``view_dims``, a reshape of
        it, if given): affine terms fold into the strides and the constant offset; terms
        under a pad (or dividing) index their axis gated."""
        buf = self.p.buffer_for(node)
        sizes = view_dims or buf.dims
        cs = _contig(sizes)
        ks = [ZERO] * self.naxes
        offset, gated = [], []
        for k, a in enumerate(amap):
            if isinstance(a, fusion.DataIndex):   # a gather: the index is loaded data
                gated.append((self.data_index(a.source, a.amap, sizes[k], a.node), cs[k]))
                continue
            if isinstance(a, fusion.IndexTerm):
                if sizes[k].static() == 0:  # nothing to read: only padding reaches here
                    return Literal(0, buf.dtype)
                if a.div != 1 or a.guarded:  # computed, then clamped into the axis
                    exact = self.emit(Instr(self.fresh("ix"), "index", "int64",
                                            axis=-1 if a.axis is None else a.axis,
                                            attrs={"term": a}))
                    inside = self.emit(Instr(self.fresh("ix"), "clamp", "int64", (exact,),
                                             attrs={"size": sizes[k]}))
                    gated.append((inside, cs[k]))
                    continue
                if a.offset:
                    offset.append(Mono(a.offset) * cs[k])
                if a.axis is not None and a.scale:
                    ks[a.axis] = Mono(a.scale) * cs[k]
            elif a is not None:
                ks[a] = cs[k]
        return self.emit(Instr(self.fresh(), "load", buf.dtype, buf=buf.name, strides=tuple(ks),
                               offset=tuple(offset), gated=tuple(gated)))

    def data_index(self, source: Tensor, amap: tuple, size, node: Tensor) -> str:
        """The integer ``source`` at ``amap`` as an index into an axis of ``size``, checked
        (``data_index``: the renderer reports or clamps an index out of range; ``site``
        numbers the check, ``ProgramIR.index_sites`` says which op of the graph it is)."""
        return self.checked(self.value(source, amap), size, self.p.index_site(node))

    def checked(self, raw, size, site: int) -> str:
        """``raw`` checked to lie in ``[0, size)`` by run-time check number ``site``."""
        if isinstance(raw, Literal):   # a one-element constant index: a named integer
            raw = self.emit(Instr(self.fresh("ix"), "size", "int64",
                                  attrs={"size": Mono(int(raw.value))}))  # type: ignore[call-overload]  # an int constant
        return self.emit(Instr(self.fresh("ix"), "data_index", "int64", (raw,),
                               attrs={"size": size, "site": site}))

    def terminal(self, n: Tensor, amap: tuple) -> Operand | None:
        key = (id(n), amap)
        if key in self.local:
            return self.local[key]
        if n.op == "constant":
            arr = n.value
            if arr.size == 1:
                return Literal(arr.reshape(()).item(), dtype_name(n.dtype))
            return self.load(n, amap)
        if n.op == "shape_size":
            dims = [self.p.mono(d) for d in n.attr("shape")]
            size = ONE
            for d in dims:
                size = size * d
            return self.emit(Instr(self.fresh(), "size", dtype_name(n.dtype), args=size.syms,
                                   attrs={"size": size}))
        if n.op in ops_where(fed=True):
            return self.load(n, amap)
        if id(n) in self.p.sched.materialized and id(n) not in self.inline:
            if self.p.sched.kernel_of[id(n)] == self.g.index:
                raise AssertionError(f"value {n.op} read in its own kernel at another index")
            return self.load(n, amap)
        if n.op == "reshape" and not fusion.is_trivial_reshape(n, self.p.sched.canon):
            return self.load(n.inputs[0], amap, tuple(self.p.mono(d) for d in n.dims))
        return None

    def value(self, node: Tensor, amap: tuple) -> Operand:
        """Variable holding ``node`` at index map ``amap`` (iterative)."""
        stack: list[tuple[Tensor, tuple, list | None]] = [(node, amap, None)]
        while stack:
            n, a, kids = stack.pop()
            key = (id(n), a)
            if key in self.memo:
                continue
            if kids is None:
                t = self.terminal(n, a)
                if t is not None:
                    self.memo[key] = t
                    continue
                kids = fusion.child_maps(n, a, self.p.sched.canon)
                stack.append((n, a, kids))
                for c, ca in kids:
                    if (id(c), ca) not in self.memo:
                        stack.append((c, ca, None))
            else:
                self.memo[key] = self.combine(n, a, [self.memo[(id(c), ca)] for c, ca in kids])
        return self.memo[(id(node), amap)]

    def combine(self, n: Tensor, amap: tuple, args: list) -> Operand:
        if n.op == "pad":  # the input where the element is not padding, else the fill
            checks = tuple((t, self.p.mono(size)) for t, size in fusion.pad_checks(n, amap))
            inside = self.emit(Instr(self.fresh("in"), "in_range", "bool",
                                     attrs={"checks": checks}))
            fill = Literal(n.attr("fill"), dtype_name(n.dtype))
            return self.emit(Instr(self.fresh(), "where", dtype_name(n.dtype),
                                   (inside, args[0], fill)))
        if n.op == "check_index":  # a value required in [0, size): a data index's check
            return self.checked(args[0], Mono(n.attr("size")), self.p.value_site(n))
        if n.op in PASS_THROUGH or n.op == "gather":  # a gather is its operand's indexed load
            return args[0]
        if n.op == "one_hot":
            args = [args[0], self.axis_index(amap[-1])]
        if n.op == "random_uniform":  # each element's flat index in its own (contiguous) shape
            args = [*args, self.flat_index(n, amap)]
        return self.emit(Instr(self.fresh(), n.op, dtype_name(n.dtype), tuple(args)))

    def axis_index(self, ax) -> Operand:
        """The index along one axis of a node at index-map entry ``ax``."""
        if ax is None:
            return Literal(0, "int64")
        if isinstance(ax, fusion.IndexTerm):
            axis = -1 if ax.axis is None else ax.axis
            return self.emit(Instr(self.fresh("ix"), "index", "int64", axis=axis,
                                   attrs={"term": ax}))
        return self.emit(Instr(self.fresh("ix"), "index", "int64", axis=ax))

    def flat_index(self, n: Tensor, amap: tuple) -> Operand:
        """``sum(index_k * stride_k)`` over ``n``'s axes (row-major strides of its dims)."""
        flat: Operand = Literal(0, "int64")
        for ax, stride in zip(amap, _contig(tuple(self.p.mono(d) for d in n.dims))):
            if ax is None:
                continue
            term = self.axis_index(ax)
            if stride != ONE:
                size = Literal(stride.coef, "int64") if stride.static() is not None else \
                    self.emit(Instr(self.fresh(), "size", "int64", args=stride.syms,
                                    attrs={"size": stride}))
                term = self.emit(Instr(self.fresh(), "mul", "int64", (term, size)))
            flat = term if isinstance(flat, Literal) else self.emit(
                Instr(self.fresh(), "add", "int64", (flat, term)))
        return flat

    def store(self, node: Tensor, amap: tuple) -> None:
        """Compute ``node`` here; store it now if it has a buffer, else once one is known
        (a later kernel reading it creates its temp buffer)."""
        var = self.value(node, amap)
        buf = self.p.stored_buffer(node)
        if buf is None:
            self.pending.append((self.block, node, var, amap))
            return
        self._store(buf, var, amap, node)

    def _store(self, buf: BufferRef, var: Operand, amap: tuple, node: Tensor) -> None:
        cs = _contig(buf.dims)
        ks = [ZERO] * self.naxes
        for k, a in enumerate(amap):
            if a is not None:
                ks[a] = cs[k]
        self.block.stores.append(Store(buf.name, var, tuple(ks)))


class _ProgramBuilder:
    def __init__(self, program, reserved: Scope):
        self.program = program
        roots = list(program.outputs) + list(program.updates)
        self.sched = fusion.schedule(roots)
        self.buffers: dict[str, BufferRef] = {}
        self.by_node: dict[int, BufferRef] = {}
        # run-time dims -> C names
        dims: set = set()
        for n in self.sched.nodes.values():
            dims.update(d for d in n.dims if isinstance(d, str))
            if n.op in ops_where(sizes=True):
                dims.update(d for d in n.attr("shape") if isinstance(d, str))
        dims = {self.sched.canon.get(d, d) for d in dims}
        dims = {d for d in dims if isinstance(d, str)}
        # deterministic, readable size names: a named dim keeps its name; an anonymous
        # one (None) is named after the first input axis that has it ("n_x0")
        stems: dict = {}
        for p in list(program.inputs) + list(program.params):
            for axis, d in enumerate(p.dims):
                d = self.sched.canon.get(d, d)
                if d in dims and d not in stems:
                    stems[d] = d if not d.startswith("?") else f"{p.name or 'x'}{axis}"
        rest = sorted(d for d in dims if d not in stems)
        for k, d in enumerate(rest):
            stems[d] = d.lstrip("?") if not d.startswith("?") else f"dim{k}"
        # one scope: the renderer's names and lowering's families, then the user's
        # buffers, then the sizes named after them
        scope = reserved | Scope(frozenset({"acc"}), LOWERING_FAMILIES)
        leaf_names = [p.name or "x" for p in program.inputs] + [p.name or "p" for p in program.params]
        ids = sanitize_names(leaf_names, reserved=scope)
        order = list(stems)
        names = sanitize_names(["n_" + stems[d] for d in order],
                               reserved=scope | Scope(frozenset(ids)))
        self.sym_names = dict(zip(order, names))
        self.inputs = [self._add(p, ids[k], "input", k) for k, p in enumerate(program.inputs)]
        self.params = [self._add(p, ids[len(program.inputs) + k], "param", k)
                       for k, p in enumerate(program.params)]
        self.param_nodes = list(program.params)
        self.consts: list[BufferRef] = []
        self.temps: list[BufferRef] = []
        self.results: list[BufferRef] = []
        # per run-time check: ("index", the op and where it was made) for a gather's or a
        # scatter's index, ("value", what is required) for a check_index
        self.index_sites: list[tuple] = []
        self.linalg_sites: list[str] = []  # per linalg kernel that can fail: its message
        self.root_sources = []
        for r in roots:
            if r.op in ops_where(kind="leaf"):
                if r.op == "placeholder":
                    self.root_sources.append(("input", self._index_of(program.inputs, r)))
                elif r.op == "parameter":
                    self.root_sources.append(("param", self._index_of(program.params, r)))
                else:
                    self.root_sources.append(("value", r))
                continue
            if id(r) not in self.by_node:
                self._add(r, f"out{len(self.results)}", "output", len(self.results))
                self.results.append(self.by_node[id(r)])
            self.root_sources.append(("result", self.results.index(self.by_node[id(r)])))

    @staticmethod
    def _index_of(seq, node) -> int:
        for k, n in enumerate(seq):
            if n is node:
                return k
        raise AssertionError("root leaf not among the program's inputs/params")

    def index_site(self, node: Tensor) -> int:
        """The number of the run-time index check of ``node`` (a gather or scatter)."""
        what = f"{node.op} (created at {node.location})"
        source = node.inputs[0] if node.op == "gather" else None
        if source is not None and source.name:   # the tensor indexed, when it has a name
            what += f" reading {source.name!r}"
        return self._site(("index", what))

    def value_site(self, node: Tensor) -> int:
        """The number of the run-time check of ``check_index`` node ``node``."""
        return self._site(("value", node.attr("what")))

    def _site(self, site: tuple) -> int:
        if site not in self.index_sites:
            self.index_sites.append(site)
        return self.index_sites.index(site)

    def mono(self, d) -> Mono:
        if isinstance(d, str):
            d = self.sched.canon.get(d, d)
        return Mono(1, (self.sym_names[d],)) if isinstance(d, str) else Mono(int(d))

    def _add(self, node: Tensor, name: str, kind: str, index: int, value=None) -> BufferRef:
        buf = BufferRef(name, dtype_name(node.dtype), tuple(self.mono(d) for d in node.dims), kind,
                        index, value)
        self.buffers[name] = buf
        self.by_node[id(node)] = buf
        return buf

    def stored_buffer(self, node: Tensor) -> BufferRef | None:
        """``node``'s buffer if it has one already (else None: none is made)."""
        return self.by_node.get(id(node))

    def buffer_for(self, node: Tensor) -> BufferRef:
        """``node``'s buffer, made (a temp, or a constant's) if it has none yet."""
        buf = self.by_node.get(id(node))
        if buf is not None:
            return buf
        if node.op == "constant" and node.value.size > CONST_INLINE_MAX:
            buf = self._add(node, f"c{len(self.consts)}_{len(self.params)}", "param",
                            len(self.params))
            self.params.append(buf)
            self.param_nodes.append(node)
            return buf
        if node.op == "constant":
            buf = self._add(node, f"c{len(self.consts)}", "const", len(self.consts),
                            np.ascontiguousarray(node.value))
            self.consts.append(buf)
            return buf
        if node.op in ops_where(fed=True):
            raise AssertionError(f"{node.op} {node.name!r} is not an input of the program")
        buf = self._add(node, f"t{len(self.temps)}_{node.op}", "temp", len(self.temps))
        self.temps.append(buf)
        return buf


def _kernel_name(g: fusion.Group, ops: list) -> str:
    seen = []
    for o in ops:
        if o not in seen and o not in PASS_THROUGH and o != "cast":
            seen.append(o)
    head = {"elementwise": "", "reduce": "reduce_", "matmul": "", "scatter": "",
            "lines": "", "linalg": ""}[g.kind]
    body = "_".join(seen[:4]) or "copy"
    if len(seen) > 4:
        body += f"_etc{len(seen) - 4}"
    return f"k{g.index}_{head}{body}"


def _lower_group(pb: _ProgramBuilder, g: fusion.Group) -> tuple[KernelIR, _Lowerer]:
    n = len(g.space)
    naxes = n + 1 if g.kind == "matmul" else n
    low = _Lowerer(pb, g, naxes)
    dims = [pb.mono(d) for d in g.space]
    k = KernelIR(_kernel_name(g, g.ops), g.kind, dims, tuple(g.reduce_axes), ops=list(g.ops))
    low.inline = {id(m) for m in g.epilogue + g.stores}
    if g.kind == "matmul":
        mm = g.matmul
        assert mm is not None  # a matmul group has its matmul
        a, b = mm.inputs
        K = a.dims[-1]
        k.dims = dims + [pb.mono(K)]
        kax = n
        # A: (..., M, K) or (K,);  B: (..., K, N) or (K,)
        out_nb = n - (a.ndim > 1) - (b.ndim > 1)   # batch axes of the output
        def operand_map(t, is_a):
            m: list[int | None] = [None] * t.ndim
            if t.ndim == 1:
                m[0] = kax
                return tuple(m)
            if is_a:
                m[-1] = kax
                m[-2] = out_nb if t.dims[-2] != 1 or mm.dims[out_nb] == 1 else None
            else:
                m[-2] = kax
                m[-1] = n - 1 if t.dims[-1] != 1 or mm.dims[n - 1] == 1 else None
            nb = t.ndim - 2
            for q in range(nb):
                oq = q + out_nb - nb
                m[q] = None if (t.dims[q] == 1 and mm.dims[oq] != 1) else oq
            return tuple(m)
        k.mm_axes = (tuple(range(out_nb)), out_nb if a.ndim > 1 else None,
                     n - 1 if b.ndim > 1 else None, kax)
        k.a = low.start_block()
        k.a_value = low.value(a, operand_map(a, True))
        k.b = low.start_block()
        k.b_value = low.value(b, operand_map(b, False))
        low.memo = {}
        k.body = low.start_block()
        k.acc_dtype = dtype_name(mm.dtype)
        low.local[(id(mm), tuple(range(n)))] = "acc"
        low.memo[(id(mm), tuple(range(n)))] = "acc"
        # the product itself is stored only if a root or another kernel reads it
        low.pending.append((k.body, mm, "acc", tuple(range(n))))
        for s in g.stores:
            low.store(s, tuple(range(n)))
    elif g.kind == "elementwise":
        k.body = low.start_block()
        for s in g.stores:
            low.store(s, tuple(range(n)))
    elif g.kind == "scatter":
        k.body = low.start_block()
        _lower_scatter(pb, low, g.stores[0], k)
    elif g.kind == "lines":
        k.body = low.start_block()
        _lower_lines(pb, low, g.stores[0], k)
        if len(g.stores) > 1:   # a scan's consumers: the accumulator is the value there
            k.epilogue = low.start_block()
            ident = tuple(range(n))
            low.local[(id(g.stores[0]), ident)] = \
                "gc_at" if g.stores[0].attr("index") else "gc_acc"   # cummax's index
            for s in g.stores[1:]:
                low.store(s, ident)
    elif g.kind == "linalg":
        _lower_linalg(pb, g.stores[0], k)
    else:
        for q, red in enumerate(g.reductions):
            blk = low.start_block()
            x = red.inputs[0]
            v = low.value(x, tuple(range(n)))
            res = f"r{q}"
            k.phases.append(Phase(red.op, blk, v, res, dtype_name(red.dtype)))
            om = fusion.outer_map(g, red)
            low.local[(id(red), om)] = res
            low.pending.append((None, red, res, om))
        k.epilogue = low.start_block()
        for e in g.epilogue:
            emap = fusion.store_map(g, e, "epilogue", pb.sched.canon)
            assert emap is not None  # the scheduler put e in the epilogue: it can be stored there
            low.store(e, emap)
        k.body = low.start_block()
        for s in g.stores:
            low.store(s, tuple(range(n)))
    return k, low


def _lower_scatter(pb: _ProgramBuilder, low: _Lowerer, node: Tensor, k: KernelIR) -> None:
    """A scatter over its updates' index space: each element is combined into the
    output at its index (``Store.accumulate``: add, mul, min or max); the output is set
    to the combine's identity first (``zero_fill``). Serial on the CPU, so duplicates
    combine in index order (deterministic); CUDA combines with atomics (``atomicAdd``,
    compare-and-swap loops for the others; sums and products in an unspecified order)."""
    (u, umap), (idx, imap) = fusion.scatter_maps(node)
    axis = node.attr("axis")
    value = low.value(u, umap)
    buf = pb.buffer_for(node)
    cs = _contig(buf.dims)
    at = low.data_index(idx, imap, buf.dims[axis], node)
    ks = [ZERO] * low.naxes
    for j in range(node.ndim):
        if j != axis:
            ks[j if j < axis else j + idx.ndim - 1] = cs[j]
    combine = node.attr("combine")
    k.body.stores.append(Store(buf.name, value, tuple(ks), gated=((at, cs[axis]),),
                               accumulate=combine))
    k.zero_fill = (buf.name, buf.size(),
                   Literal(scatter_identity(combine, node.dtype).item(), buf.dtype))


def _lower_lines(pb: _ProgramBuilder, low: _Lowerer, node: Tensor, k: KernelIR) -> None:
    """A line op over its output's space: the body computes the input at one element (its
    producers inline, its value ``line["value"]``); the renderer runs it serially along
    ``line["axis"]`` (a scan's accumulator, or a sort's keys) and stores at the body's
    one store address, if any. A scan's
    epilogue block (its fused consumers) runs after each step, reading ``gc_acc``."""
    x = node.inputs[0]
    ident = tuple(range(node.ndim))
    k.line = {"axis": node.attr("axis"), "op": node.op, "dtype": dtype_name(x.dtype),
              "value": low.value(x, ident), "reverse": bool(node.attr("reverse", False)),
              "descending": bool(node.attr("descending", False)), "count": node.attr("count"),
              "index": bool(node.attr("index", False))}
    # the result is stored only if a root or a later kernel reads it (a scan whose one
    # consumer is fused into its epilogue is never written)
    low.pending.append((k.body, node, "gc_acc", ident))


def _lower_linalg(pb: _ProgramBuilder, node: Tensor, k: KernelIR) -> None:
    """A linear-algebra op over its batch axes: whole contiguous matrices of its (stored)
    inputs in, its output written (``codegen.linalg_kernels`` renders one matrix)."""
    a = node.inputs[0]
    batch = a.ndim - 2
    k.dims = [pb.mono(d) for d in a.dims[:batch]]
    m, n = a.dims[-2:]
    rhs = 0
    if len(node.inputs) > 1:
        b = node.inputs[1]
        rhs = 1 if b.ndim == a.ndim - 1 else b.dims[-1]
    site = -1
    if node.op in LINALG_FAILURES:
        site = len(pb.linalg_sites)
        pb.linalg_sites.append(failure_message(node))
    k.linalg = {"op": node.op, "attrs": dict(node.attrs), "n": int(n), "m": int(m),
                "k": int(rhs), "dtype": dtype_name(a.dtype), "site": site,
                "reads": [pb.buffer_for(fusion.reshape_base(i)).name for i in node.inputs],
                "write": pb.buffer_for(node).name}


def lower(program, reserved: Scope = Scope()) -> ProgramIR:
    """Schedule ``program`` (a ``codegen.base.Program``) and lower every kernel; user
    names avoid ``reserved`` (the identifiers the target's renderer emits)."""
    pb = _ProgramBuilder(program, reserved)
    lowered = [_lower_group(pb, g) for g in progress.each(pb.sched.kernels, "lowering kernel")]
    kernels = [k for k, _ in lowered]
    # a value is stored when it is a root or some later kernel loads it
    for k, low in lowered:
        for blk, node, var, amap in low.pending:
            buf = pb.stored_buffer(node)
            if buf is None:
                continue
            if blk is None:       # a reduction: its row scalar is stored in the epilogue
                blk = k.epilogue
            low.block = blk
            low._store(buf, var, amap, node)
    for k in kernels:
        _drop_dead(k)
        _collapse(k)
    fused = [{"name": k.name, "kind": k.kind, "ops": list(k.ops)} for k in kernels]
    return ProgramIR(program.name, kernels, pb.buffers, pb.inputs, pb.params, pb.consts,
                     pb.temps, pb.results, pb.root_sources, pb.sym_names, pb.sched, fused,
                     program, pb.param_nodes, pb.index_sites, pb.linalg_sites)


def _drop_dead(k: KernelIR) -> None:
    """Remove instructions no store, reduction or GEMM operand needs (values computed
    for a store that turned out not to be needed)."""
    for blk in k.blocks():
        live = {s.value for s in blk.stores}
        live.update(var for s in blk.stores for var, _ in s.gated)
        live.update(p.value for p in k.phases if p.block is blk)
        if blk is k.body and k.kind == "lines":
            live.add(k.line["value"])
        if blk is k.a:
            live.add(k.a_value)
        if blk is k.b:
            live.add(k.b_value)
        kept = []
        for ins in reversed(blk.instrs):
            if ins.name in live:
                kept.append(ins)
                live.update(a for a in ins.args if isinstance(a, str))
                live.update(var for var, _ in ins.gated)
        blk.instrs = kept[::-1]


# ---- axis collapsing -----------------------------------------------------------------------

def _accesses(k: KernelIR) -> list:
    out = []
    for b in k.blocks():
        out += [i.strides for i in b.instrs if i.op == "load"]
        out += [s.strides for s in b.stores]
    return out


def _terms(i: Instr) -> list:
    """The index terms an instruction computes with (pad conditions, index)."""
    if i.op == "in_range":
        return [t for t, _ in i.attrs["checks"]]
    return [i.attrs["term"]] if "term" in i.attrs else []


def _shift_terms(i: Instr, j: int) -> None:
    """Renumber the kernel axes after ``j`` in ``i``'s terms (axes j and j+1 merged)."""
    def shift(t):
        return replace(t, axis=t.axis - 1) if t.axis is not None and t.axis > j else t
    if i.op == "in_range":
        i.attrs = {"checks": tuple((shift(t), size) for t, size in i.attrs["checks"])}
    elif "term" in i.attrs:
        i.attrs = {"term": shift(i.attrs["term"])}


def _collapse(k: KernelIR) -> None:
    """Merge adjacent axes that every access walks contiguously (fewer loops, no div/mod);
    axes an index is computed from (``index``, terms of gated loads and pads) stay."""
    if k.kind in ("matmul", "lines", "linalg"):   # a line kernel keeps its axis apart
        return
    pinned = {i.axis for b in k.blocks() for i in b.instrs if i.op == "index"}
    pinned |= {t.axis for b in k.blocks() for i in b.instrs for t in _terms(i)
               if t.axis is not None}   # a constant term (axis None) pins no axis
    j = 0
    while j + 1 < len(k.dims):
        same_class = (j in k.reduce_axes) == (j + 1 in k.reduce_axes)
        ok = same_class and j not in pinned and j + 1 not in pinned
        if ok:
            for st in _accesses(k):
                if st[j] != st[j + 1] * k.dims[j + 1] and not (st[j].is_zero and st[j + 1].is_zero):
                    ok = False
                    break
        if not ok:
            j += 1
            continue
        k.dims[j] = k.dims[j] * k.dims[j + 1]
        del k.dims[j + 1]
        for b in k.blocks():
            for i in b.instrs:
                if i.op == "load":
                    i.strides = i.strides[:j] + (i.strides[j + 1],) + i.strides[j + 2:]
                if i.op == "index" and i.axis > j:
                    i.axis -= 1
                _shift_terms(i, j)
            for s in b.stores:
                s.strides = s.strides[:j] + (s.strides[j + 1],) + s.strides[j + 2:]
        k.reduce_axes = tuple(a if a < j + 1 else a - 1 for a in k.reduce_axes if a != j + 1)
        pinned = {a if a <= j else a - 1 for a in pinned}
