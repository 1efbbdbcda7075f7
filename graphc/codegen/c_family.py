"""The C-family renderer base: kernel IR -> C-like source, shared by every dialect.

``CFamilyRenderer`` owns what is about the computation: ops spelled from the per-op C
text table (``c_text.OP_TEXT``, keyed by op name) with the per-dtype math function
names, strided loads and stores, kernel signatures and their formula comments,
constants, and the translation unit. A dialect (``c_dialect.CDialect``, ``cuda_dialect.CudaDialect``) is a
subclass that sets its qualifiers, prelude and math-name overrides and renders the
kernel shapes (loops + OpenMP vs. grid-stride threads, reductions, the GEMM). A new
dialect is one such subclass; nothing here knows C from CUDA.

Instructions carry an op name and operands, never text: ``render_op`` spells an op
for a dtype from ``OP_TEXT``, whose math calls are fields (``{exp}``) filled from the
dialect's table for that dtype (``expf`` for float32 in C...).

>>> CFamilyRenderer().render_op("sigmoid", "float32", ["v1"])
'(1 / (1 + expf(-(v1))))'
>>> CFamilyRenderer().render_op("sigmoid", "float64", ["v1"])
'(1 / (1 + exp(-(v1))))'
"""
from __future__ import annotations


import numpy as np

from .. import progress
from . import gate_split
from .kernel_types import Block, KernelIR, Literal, Mono, ProgramIR
from .naming import Scope, comment_text
from .c_text import (COMMENT_LEN, FLOAT32_MATH, GRAPHC_MATH64, LIBM_FUNCTIONS, OP_TEXT,
                     SCAN_TEXT, SORT_BEFORE, c_literal, ctype, erfinv_text, philox_text)

def offset(strides: tuple, ivars: list) -> str:
    """``sum(i_k * stride_k)`` as C (0 for a scalar)."""
    terms = []
    for s, v in zip(strides, ivars):
        if s.is_zero:
            continue
        terms.append(v if s == Mono(1) else f"{v}*{s.c()}")
    return " + ".join(terms) if terms else "0"


def load_offset(ins, ivars: list) -> str:
    """A load's address: the affine part, its constant and its gated (clamped) axes."""
    terms = [] if offset(ins.strides, ivars) == "0" else [offset(ins.strides, ivars)]
    terms += [m.c() for m in ins.offset]
    terms += [var if stride == Mono(1) else f"{var}*{stride.c()}" for var, stride in ins.gated]
    return " + ".join(terms) if terms else "0"


def term_numerator(term, ivars: list) -> str:
    """``offset + scale * i_axis`` of an index term, as C."""
    parts = []
    if term.axis is not None and term.scale:
        var = ivars[term.axis]
        parts.append(var if term.scale == 1 else f"{term.scale}*{var}")
    if term.offset or not parts:
        parts.append(str(term.offset))
    return " + ".join(parts).replace("+ -", "- ")


def in_range(checks, ivars: list) -> str:
    """The condition of a pad: every term exact and inside its input axis."""
    conds = []
    for term, size in checks:
        e = term_numerator(term, ivars)
        if term.div == 1:
            conds.append(f"({e}) >= 0 && ({e}) < {size.c()}")
        else:
            conds.append(f"({e}) >= 0 && ({e}) <= ({size.c()} - 1)*{term.div} && "
                         f"({e}) % {term.div} == 0")
    return " && ".join(f"({c})" for c in conds) if conds else "true"


def decompose(var: str, axes: list, dimnames: list, indent: str, it: str) -> list:
    """Index variables of ``axes`` from a flat index ``var`` (last axis fastest)."""
    if not axes:
        return []
    if len(axes) == 1:
        return [f"{indent}const {it} i{axes[0]} = {var};"]
    lines = [f"{indent}{it} rem_{var} = {var};"]
    for a in reversed(axes[1:]):
        lines.append(f"{indent}const {it} i{a} = rem_{var} % {dimnames[a]}; rem_{var} /= {dimnames[a]};")
    lines.append(f"{indent}const {it} i{axes[0]} = rem_{var};")
    return lines


def product(names: list) -> str:
    return "*".join(names) if names else "1"


def dims_lines(k: KernelIR, indent: str, it: str) -> tuple[list, list]:
    """(``const <it> N<j> = <size>;`` lines, the names ``N<j>``) of a kernel's axes."""
    names = [f"N{j}" for j in range(len(k.dims))]
    lines = [f"{indent}const {it} N{j} = {m.c()};" for j, m in enumerate(k.dims)]
    return lines, names


def reduce_identity(op: str, dtype: str) -> str:
    """The start value of a ``sum`` or ``max`` accumulator (the reductions the C-family
    renderers know; KeyError for another)."""
    if op == "sum":
        return "0"
    if op != "max":
        raise KeyError(f"the C-family renderers have no accumulator for reduction {op!r}")
    if np.dtype(dtype).kind == "f":
        return "(-GC_INFINITY)"
    return f"(({ctype(dtype)}){np.iinfo(np.dtype(dtype)).min}LL)" if dtype != "bool" else "false"


def _greatest(dtype: str) -> str:
    """The start value of a running minimum: +inf, the greatest integer, or true."""
    if np.dtype(dtype).kind == "f":
        return "GC_INFINITY"
    if dtype == "bool":
        return "true"
    return f"(({ctype(dtype)}){np.iinfo(np.dtype(dtype)).max}LL)"


def is_column_reduction(k: KernelIR) -> bool:
    """The innermost axis is kept: neighbouring outputs read neighbouring addresses."""
    n = len(k.dims)
    return bool(n and k.reduce_axes and (n - 1) not in k.reduce_axes)


def mm_sizes(k: KernelIR, names: list) -> tuple:
    """(batch axes, M axis, N axis, K axis, M, N, K as C names) of a matmul kernel."""
    batch, m_ax, n_ax, k_ax = k.mm_axes
    M = names[m_ax] if m_ax is not None else "1"
    N = names[n_ax] if n_ax is not None else "1"
    return list(batch), m_ax, n_ax, k_ax, M, N, names[k_ax]


class CFamilyRenderer:
    """What every C-family dialect shares; subclasses set the attributes below and
    implement the three kernel shapes (``elementwise``, ``reduce``, ``matmul``)."""

    name = "c-family"
    gpu = False                     # threads (CUDA) or loops (C)
    kernel_qual = "static void"     # before a kernel's return type
    restrict = "restrict"
    index_t = "int64_t"             # 64-bit index type
    sum_acc_f32 = "double"          # accumulator of float32 sums
    prelude = ""
    function_qual = "static inline"  # before the prelude's helper functions (Philox)
    host_qual = ""                  # before the host entry points
    float32_math: dict = {}         # libm name -> this dialect's float32 function
    float64_math: dict = {}         # libm name -> this dialect's float64 function
    # identifiers the shared pieces emit: the accumulator, axis indices and sizes,
    # index remainders, reduction accumulators, constant arrays; graphc's own headers
    # and runtime (gc_*, GC_*, gcMalloc..., graphc_*) and CUDA's (cuda*, cu*)
    names: frozenset = frozenset({"acc"})
    families: tuple = (r"i\d+", r"N\d+", r"a_r\d+", r"rem_\w+", r"c\d+(_\d+)?_host", r"la_\w+",
                       r"(gc|GC|graphc|GRAPHC)_\w*", r"gc[A-Z]\w*", r"(cuda|CUDA)\w*",
                       r"cu[A-Z]\w*")
    sort_prelude = ""               # what an argsort kernel needs (C: malloc's header)
    own_names: frozenset = frozenset()   # a dialect's kernel-shape locals
    own_families: tuple = ()

    def scope(self) -> Scope:
        """Every identifier this dialect's kernels emit or its headers bring in (with
        ``naming.C_RESERVED``, which every sanitized name avoids)."""
        math = {n for dtype in ("float32", "float64", "int64")
                for n in self.math_names(dtype).values()}
        return Scope(self.names | self.own_names | frozenset(math) | frozenset(LIBM_FUNCTIONS),
                     self.families + self.own_families)

    # ---- per-op text ----------------------------------------------------------------------

    def math_names(self, dtype: str) -> dict:
        """libm name -> the function this dialect calls for ``dtype`` (double names for
        integer operands: C converts them)."""
        if dtype == "float32":
            return {**FLOAT32_MATH, **self.float32_math}
        names = {**{f: f for f in LIBM_FUNCTIONS}, **GRAPHC_MATH64}
        return {**names, **self.float64_math} if dtype == "float64" else names

    def render_op(self, op: str, dtype: str, operands: list) -> str:
        """The C expression of ``op`` on ``operands`` (C texts) for a ``dtype`` result."""
        text = OP_TEXT.get(op)
        if text is None:
            raise KeyError(f"the {self.name} renderer has no C text for op {op!r}")
        return text.format(*operands, dtype=ctype(dtype), **self.math_names(dtype))

    def operand(self, x) -> str:
        """A variable name as is, a ``Literal`` as C text."""
        return c_literal(x.value, x.dtype) if isinstance(x, Literal) else x

    def instr(self, ins, ivars: list) -> str:
        t = ctype(ins.dtype)
        if ins.op == "load":
            return f"const {t} {ins.name} = {ins.buf}[{load_offset(ins, ivars)}];"
        if ins.op == "index" and "term" in ins.attrs:
            term = ins.attrs["term"]
            e = term_numerator(term, ivars)
            e = e if term.div == 1 else f"({e}) / {term.div}"
            return f"const {self.index_t} {ins.name} = {e};"
        if ins.op == "index":
            return f"const {self.index_t} {ins.name} = {ivars[ins.axis]};"
        if ins.op == "clamp":  # an index under a pad: kept inside the axis it reads
            x, last = ins.args[0], f"({ins.attrs['size'].c()} - 1)"
            return (f"const {self.index_t} {ins.name} = {x} < 0 ? 0 : "
                    f"({x} > {last} ? {last} : {x});")
        if ins.op == "data_index":
            text = self.data_index(ins.args[0], ins.attrs["size"].c(), ins.attrs["site"])
            return f"const {self.index_t} {ins.name} = {text};"
        if ins.op == "in_range":
            return f"const bool {ins.name} = {in_range(ins.attrs['checks'], ivars)};"
        if ins.op == "size":
            return f"const {t} {ins.name} = (({t})({ins.attrs['size'].c()}));"
        text = self.render_op(ins.op, ins.dtype, [self.operand(a) for a in ins.args])
        return f"const {t} {ins.name} = {text};"

    def block(self, blk: Block, ivars: list, indent: str, guard: str = "",
              piece: gate_split.Segment | None = None, roots: tuple = (),
              cached: dict | None = None) -> list:
        """C lines of ``blk``; in a ``piece`` of a loop cut at its pads' edges
        (``gate_split``), only what the piece needs for its stores and ``roots``, with
        the conditions known there written as their values; ``cached``: name -> the C
        text that holds its value already (``row_cache``)."""
        if cached is not None:
            live = gate_split.live_instructions(blk, roots=roots, given=frozenset(cached))
            lines = [indent + (f"const {ctype(i.dtype)} {i.name} = {cached[i.name]};"
                               if i.name in cached else self.instr(i, ivars))
                     for i in live]
        elif piece is None:
            lines = [indent + self.instr(i, ivars) for i in blk.instrs]
        else:
            lines = [indent + self.known_instr(i, ivars, piece)
                     for i in gate_split.live_instructions(blk, piece, roots)]
        for s in blk.stores:
            at = " + ".join([offset(s.strides, ivars)] + [
                var if stride == Mono(1) else f"{var}*{stride.c()}" for var, stride in s.gated])
            target = f"{s.buf}[{at}]"
            stmt = (self.accumulate_store(target, self.operand(s.value), s.accumulate)
                    if s.accumulate else f"{target} = {self.operand(s.value)};")
            lines.append(indent + (f"if ({guard}) {stmt}" if guard else stmt))
        return lines

    def known_instr(self, ins, ivars: list, piece: gate_split.Segment) -> str:
        """``instr``, or its value where the piece knows it: a condition (true, false or
        the checks left), an index whose clamp cannot bite, one side of a select."""
        gate = piece.gates.get(ins.name) if ins.op == "in_range" else None
        if isinstance(gate, bool):
            return f"const bool {ins.name} = {'true' if gate else 'false'};"
        if gate is not None:
            return f"const bool {ins.name} = {in_range(gate, ivars)};"
        if ins.op == "clamp" and ins.name in piece.clamps:
            return f"const {self.index_t} {ins.name} = {ins.args[0]};"
        cond = ins.args[0] if ins.op == "where" else None
        if isinstance(cond, str) and isinstance(piece.gates.get(cond), bool):
            side = ins.args[1] if piece.gates[cond] else ins.args[2]
            return f"const {ctype(ins.dtype)} {ins.name} = {self.operand(side)};"
        return self.instr(ins, ivars)

    # an index read from data (gather, scatter), checked: an index out of range is
    # recorded (the host reports the first one after the call) and the nearest element read
    data_index_helpers = """\
static int64_t gc_fault_site = -1, gc_fault_index = 0;
static inline int64_t gc_checked_index(int64_t v, int64_t n, int64_t site) {
    if (v >= 0 && v < n) return v;
    if (gc_fault_site < 0) { gc_fault_site = site; gc_fault_index = v; }
    return v < 0 ? 0 : n - 1;
}"""

    linalg_helpers = ""   # what linalg kernels need before them (C: the failure flag, LAPACK)

    def data_index(self, value: str, size: str, site: int) -> str:
        """The C expression of a checked data index (``data_index_helpers``)."""
        return f"gc_checked_index({value}, {size}, {site})"

    def accumulate_store(self, target: str, value: str, combine: str) -> str:
        """``target`` combined with ``value`` (a scatter's store; the CPU runs it serially):
        ``+=``, ``*=``, or the min/max kept (a NaN wins, as ``np.minimum.at``)."""
        if combine == "add":
            return f"{target} += {value};"
        if combine == "mul":
            return f"{target} *= {value};"
        better = "<" if combine == "min" else ">"
        return f"if ({value} {better} {target} || {value} != {value}) {target} = {value};"

    def zero_fill(self, k: KernelIR) -> list:
        """A scatter kernel's output set to its combine's identity (0, 1, +-inf) before
        its elements are combined in."""
        buf, size, fill = k.zero_fill
        return [f"    for (int64_t z = 0; z < {size.c()}; ++z) {buf}[z] = {self.operand(fill)};"]

    # ---- line kernels (cumsum, argsort...: serial along one axis) ----------------------

    def line_frame(self, k: KernelIR, it: str) -> tuple:
        """(lines naming the sizes ``N<j>`` and the number of lines ``O``; the other axes;
        the line axis; the index variables) of a line kernel."""
        n, ax = len(k.dims), k.line["axis"]
        lines, names = dims_lines(k, "    ", it)
        outer = [a for a in range(n) if a != ax]
        lines.append(f"    const {it} O = {product([names[a] for a in outer])};")
        return lines, names, outer, ax, [f"i{j}" for j in range(n)]

    def line_scan(self, k: KernelIR, ivars: list, indent: str, it: str) -> list:
        """One line of a scan, its other indices set: the accumulator walks the axis (from
        the end when ``reverse``) and every step is stored."""
        ax, dtype = k.line["axis"], k.line["dtype"]
        start, step = SCAN_TEXT[k.line["op"]]
        start = start.format(lowest=reduce_identity("max", dtype), highest=_greatest(dtype))
        step = step.format(acc="gc_acc", v=self.operand(k.line["value"]),
                           ln2=c_literal(np.log(2.0), dtype), **self.math_names(dtype))
        at = f"N{ax} - 1 - gc_step" if k.line["reverse"] else "gc_step"
        result, first, update = "gc_acc", [], f"gc_acc = {step};"
        if k.line.get("index"):   # where the extreme is: moves when the value sets or ties it
            result, first = "gc_at", [f"{indent}{self.index_t} gc_at = 0;"]
            v = self.operand(k.line["value"])
            keeps = ">=" if k.line["op"] == "cummax" else "<="
            update = (f"if (gc_step == 0 || (gc_acc == gc_acc && ({v} != {v} || "
                      f"{v} {keeps} gc_acc))) {{ gc_acc = {v}; gc_at = i{ax}; }}")
        return ([f"{indent}{ctype(dtype)} gc_acc = {start};"] + first +
                [f"{indent}for ({it} gc_step = 0; gc_step < N{ax}; ++gc_step) {{",
                 f"{indent}    const {it} i{ax} = {at};"]
                + [f"{indent}    {self.instr(i, ivars)}" for i in k.body.instrs]
                + [f"{indent}    {update}"]
                + [f"{indent}    {s.buf}[{offset(s.strides, ivars)}] = {result};"
                   for s in k.body.stores]
                + self.block(k.epilogue, ivars, indent + "    ")   # fused consumers
                + [f"{indent}}}"])

    def sort_before(self, k: KernelIR, a: str, b: str) -> str:
        """C condition: key ``a`` sorts strictly before key ``b`` (``SORT_BEFORE``)."""
        return SORT_BEFORE[k.line["descending"]].format(a=a, b=b)

    def reduction_frame(self, k: KernelIR, it: str) -> tuple:
        """What every reduction kernel starts with: (lines naming the sizes ``N<j>``, the
        outputs ``O`` and the reduced elements ``R``; the size names; the kept axes; the
        reduced axes; the index variables)."""
        n = len(k.dims)
        lines, names = dims_lines(k, "    ", it)
        outer = [a for a in range(n) if a not in k.reduce_axes]
        red = list(k.reduce_axes)
        lines.append(f"    const {it} O = {product([names[a] for a in outer])};")
        lines.append(f"    const {it} R = {product([names[a] for a in red])};")
        return lines, names, outer, red, [f"i{j}" for j in range(n)]

    def acc_type(self, op: str, dtype: str) -> str:
        """The accumulator type of a ``sum``/``max`` over ``dtype`` values."""
        if op == "sum" and dtype == "float32":
            return self.sum_acc_f32
        if op == "sum" and dtype in ("bool", "int32"):
            return "int64_t"
        return ctype(dtype)

    # ---- kernels ------------------------------------------------------------------------

    def signature(self, k: KernelIR, bufs: dict) -> tuple[list, list]:
        """(C parameter declarations, argument names) of a kernel: sizes, reads, writes."""
        decl, args = [], []
        for s in k.sizes():
            decl.append(f"const int64_t {s}")
            args.append(s)
        written = k.buffers_written()
        for name in k.buffers_read():
            if name in written:
                continue
            decl.append(f"const {ctype(bufs[name].dtype)}* {self.restrict} {name}")
            args.append(name)
        for name in written:
            decl.append(f"{ctype(bufs[name].dtype)}* {self.restrict} {name}")
            args.append(name)
        return decl, args

    def formula_of(self, k: KernelIR):
        """A function: operand -> its readable formula (generic C, double math names) for
        comments; a formula longer than COMMENT_LEN is shown as its variable."""
        text = {"acc": "acc"}
        picked = set()   # data-index variables

        def show(x):
            return c_literal(x.value, x.dtype) if isinstance(x, Literal) else text.get(x, x)

        def add(blk):
            for ins in blk.instrs:
                if ins.op == "load":   # a gather's row shown by its index: E[tokens]
                    t = ins.buf + "".join(f"[{text[v]}]" for v, _ in ins.gated if v in picked)
                elif ins.op == "data_index":
                    picked.add(ins.name)
                    t = show(ins.args[0])
                elif ins.op in ("index", "clamp", "in_range"):
                    t = ins.name if ins.op != "index" or "term" in ins.attrs else f"i{ins.axis}"
                elif ins.op == "size":
                    t = ins.attrs["size"].c()
                elif ins.op == "one_hot":
                    t = f"one_hot({show(ins.args[0])})"
                elif ins.op == "random_uniform":
                    t = f"philox({show(ins.args[0])}, {show(ins.args[1])}, {show(ins.args[2])})"
                else:
                    t = OP_TEXT[ins.op].format(*[show(a) for a in ins.args],
                                               dtype=ctype(ins.dtype),
                                               **{f: f for f in LIBM_FUNCTIONS})
                text[ins.name] = t if len(t) <= COMMENT_LEN else ins.name
        for blk in (k.a, k.b):
            if blk is not None:
                add(blk)
        for p in k.phases:
            add(p.block)
            text[p.result] = f"{p.op}({show(p.value)})"
        if k.kind == "lines":   # a scan's epilogue reads its accumulator: cumsum(...)
            add(k.body)
            text["gc_acc"] = text["gc_at"] = (f"{k.line['op']}({show(k.line['value'])}, "
                                              f"axis={k.line['axis']})")
        add(k.epilogue)
        add(k.body)
        return show

    def header_comment(self, k: KernelIR) -> list:
        show = self.formula_of(k)
        lines = [f"/* {k.name}: {k.kind} kernel fusing {len(k.ops)} ops"]
        for blk in (k.epilogue, k.body):
            for s in blk.stores:
                if k.kind == "lines" and blk is k.body:   # cumsum(x[i0, i1], axis=1)
                    text = (f"{s.buf} = {k.line['op']}({show(k.line['value'])}, "
                            f"axis={k.line['axis']})")
                    lines.append(f" *   {comment_text(text, COMMENT_LEN)}")
                    continue
                target = s.buf + "".join(f"[{show(v)}]" for v, _ in s.gated)
                assign = {"": "=", "add": "+=", "mul": "*=", "min": "min=",
                          "max": "max="}[s.accumulate]
                lines.append(f" *   {comment_text(f'{target} {assign} {show(s.value)}', COMMENT_LEN)}")
        lines.append(" */")
        return lines

    def render_kernel(self, k: KernelIR, bufs: dict) -> str:
        decl, _ = self.signature(k, bufs)
        sep = ",\n" + " " * (len(self.kernel_qual) + len(k.name) + 2)
        lines = self.header_comment(k)
        lines.append(f"{self.kernel_qual} {k.name}({sep.join(decl)}) {{")
        lines += getattr(self, k.kind)(k)
        lines.append("}")
        return "\n".join(lines)

    def kernel_companions(self, k: KernelIR, bufs: dict) -> list:
        """Extra functions rendered after a kernel (the C dialect's BLAS epilogue)."""
        return []

    def elementwise(self, k: KernelIR) -> list:
        raise NotImplementedError

    def reduce(self, k: KernelIR) -> list:
        raise NotImplementedError

    def matmul(self, k: KernelIR) -> list:
        raise NotImplementedError

    def linalg(self, k: KernelIR) -> list:
        raise NotImplementedError

    def linalg_matrix(self, k: KernelIR, indent: str) -> list:
        """One matrix of a linalg kernel (batch index ``la_bb``): its pointers, the generated
        loops (``linalg_kernels``), and on failure the matrix set to NaN (the flag CUDA
        leaves; C also records the site, ``gc_linalg_fail``)."""
        from . import linalg_kernels as lk
        spec = k.linalg
        T = ctype(spec["dtype"])
        math = self.math_names(spec["dtype"])
        ins, out = lk.in_sizes(spec), lk.out_size(spec)
        reads = spec["reads"]
        lines = [f"const {T}* la_a = {reads[0]} + la_bb * {ins[0]};"]
        if len(reads) > 1:
            lines.append(f"const {T}* la_b = {reads[1]} + la_bb * {ins[1]};")
        lines += [f"{T}* la_out = {spec['write']} + la_bb * {out};", "int64_t la_info = 0;"]
        loops = lk.matrix_code(spec, T, math["sqrt"], math["fabs"])
        lapack = self.lapack_code(spec)
        if lapack is None:
            lines += loops
        else:
            lines += [f"if ({lapack[0]}) {{"] + ["    " + x for x in lapack[1]] + ["} else {"]
            lines += ["    " + x for x in loops] + ["}"]
        lines += ["if (la_info) {   /* failed: NaN marks the matrix */",
                  f"    for (int64_t la_i = 0; la_i < {out}; ++la_i) la_out[la_i] = NAN;",
                  f"    {self.linalg_fail(spec['site'])}",
                  "}"]
        return [indent + x for x in lines]

    def lapack_code(self, spec: dict):
        """(condition, lines) of a LAPACK call for one matrix, or None (the loops)."""
        return None

    def linalg_fail(self, site: int) -> str:
        """The statement recording a failure at ``site``."""
        return "(void)0;"

    # ---- the translation unit -----------------------------------------------------------

    def const_arrays(self, pir: ProgramIR) -> list:
        lines = []
        for c in pir.consts:
            flat = np.asarray(c.value).reshape(-1)
            vals = ", ".join(c_literal(v, c.dtype) for v in flat.tolist())
            lines.append(f"static const {ctype(c.dtype)} {c.name}_host[{max(flat.size, 1)}] = "
                         f"{{{vals}}};")
        return lines

    def opening(self, pir: ProgramIR, consts: bool = True) -> list:
        """The translation unit's parts before the kernels: prelude, helpers the kernels
        call, and (with ``consts``) the constant arrays."""
        parts = [f"/* graphc: {pir.name} ({self.name}), {len(pir.kernels)} fused kernels. "
                 "Generated code: edit the graph, not this file. */", self.prelude]
        if any(i.op == "random_uniform" for k in pir.kernels for b in k.blocks()
               for i in b.instrs):   # only programs that draw carry the generator
            parts.append(philox_text(self.function_qual))
        if any(i.op == "erfinv" for k in pir.kernels for b in k.blocks() for i in b.instrs):
            parts.append(erfinv_text(self.function_qual))
        if consts:
            parts += self.const_arrays(pir)
        if pir.index_sites and self.data_index_helpers:
            parts.append(self.data_index_helpers)
        if self.sort_prelude and any(k.kind == "lines" and k.line["op"] == "argsort"
                                     for k in pir.kernels):
            parts.append(self.sort_prelude)
        if any(k.kind == "linalg" for k in pir.kernels) and self.linalg_helpers:
            parts.append(self.linalg_helpers)
        return parts

    def render(self, pir: ProgramIR, host: str, kernels: list | None = None) -> str:
        """The whole translation unit: prelude, constants, kernels (``kernels``: their
        texts, else each kernel rendered here), then ``host`` (the backend's host entry
        points)."""
        parts = self.opening(pir)
        if kernels is None:
            kernels = []
            for k in progress.each(pir.kernels, "writing kernel"):
                kernels.append(self.render_kernel(k, pir.buffers))
                kernels += self.kernel_companions(k, pir.buffers)
        parts += kernels
        parts.append(host)
        return "\n".join(parts) + "\n"
