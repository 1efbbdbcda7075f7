"""Kernel IR, the data: what lowering (``kernel_ir.lower``) produces and every C-family
renderer reads. A kernel has an index space (one size per axis, ``Mono`` products of
known sizes and run-time dims), optional reduction axes, and blocks of ``Instr``s in SSA
form. A load reads ``buf[offset + sum(i_k * stride_k)]`` with one stride per kernel axis
(0 = broadcast, negative = backwards); a load under a pad also has gated axes, indexed by
an index variable clamped into the axis, and the pad's ``in_range`` condition selects its
fill value where the element is padding (what the clamped load read is discarded). An
instruction holds its op's name and operands (variables or ``Literal`` constants), never
target text: each renderer spells it from its own per-op table.

>>> (Mono(2, ("n_x0",)) * Mono(3)).c()
'6*n_x0'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..passes import fusion

if TYPE_CHECKING:  # base imports the IR types: the annotation only
    from .base import Program


_DTYPE_NAMES: dict = {}


def dtype_name(dtype) -> str:
    """``np.dtype(dtype).name``, remembered (NumPy builds the name on every access, a
    real cost when asked once per instruction of a large graph)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = np.dtype(dtype).name
    return name


@dataclass(frozen=True)
class Mono:
    """A size or stride: ``coef * product(syms)`` (syms are C names of run-time dims)."""

    coef: int
    syms: tuple = ()

    def __mul__(self, other: "Mono") -> "Mono":
        if self.coef == 0 or other.coef == 0:
            return Mono(0)
        return Mono(self.coef * other.coef, tuple(sorted(self.syms + other.syms)))

    @property
    def is_zero(self) -> bool:
        return self.coef == 0

    def c(self) -> str:
        parts = list(self.syms)
        if self.coef != 1 or not parts:
            parts = [str(self.coef)] + parts
        return "*".join(parts)

    def static(self) -> int | None:
        return None if self.syms else self.coef


ZERO, ONE = Mono(0), Mono(1)


@dataclass
class BufferRef:
    name: str
    dtype: str
    dims: tuple           # Mono per axis
    kind: str             # input | param | const | temp | output
    index: int            # position among buffers of its kind
    value: object = None  # constants: the array

    def size(self) -> Mono:
        m = ONE
        for d in self.dims:
            m = m * d
        return m


@dataclass(frozen=True)
class Literal:
    """A scalar constant operand, written inline by each renderer in its own syntax."""

    value: object
    dtype: str


@dataclass
class Instr:
    name: str
    op: str                     # load | index | clamp | data_index | size | in_range | an op
    dtype: str
    args: tuple = ()            # operands: variable names or Literals
    buf: str = ""               # load: buffer name
    strides: tuple = ()         # load: Mono per kernel axis
    axis: int = -1              # index: the kernel axis
    attrs: dict = field(default_factory=dict)   # size, clamp: {"size": Mono}; data_index:
    #   {"size": Mono, "site": int};
    #   index: {"term": IndexTerm} (else i_axis); in_range: {"checks": ((term, size), ...)}
    offset: tuple = ()          # load: the affine part's constant, a sum of Monos
    gated: tuple = ()           # load: (index variable, stride) per axis read through a pad


@dataclass
class Store:
    buf: str
    value: object               # a variable name or a Literal
    strides: tuple
    gated: tuple = ()           # (index variable, stride) per axis indexed by data (scatter)
    accumulate: str = ""        # a scatter's combine (add, mul, min, max): the value is
                                # combined into the element instead of written over it


@dataclass
class Block:
    instrs: list = field(default_factory=list)
    stores: list = field(default_factory=list)


@dataclass
class Phase:
    """One reduction of a row kernel: accumulate ``value`` of ``block`` over the row."""

    op: str          # sum | max
    block: Block
    value: str | Literal  # a variable's name, or a constant
    result: str      # the row scalar's variable name
    dtype: str


@dataclass
class KernelIR:
    name: str
    kind: str                                   # elementwise | reduce | matmul | scatter | lines
    dims: list                                  # Mono per axis
    reduce_axes: tuple = ()
    body: Block = field(default_factory=Block)  # per element (matmul: the epilogue)
    phases: list = field(default_factory=list)
    epilogue: Block = field(default_factory=Block)
    a: Block | None = None                      # matmul: A at (batch, i, k)
    b: Block | None = None                      # matmul: B at (batch, k, j)
    a_value: str | Literal = ""  # matmul: A's operand (a variable's name, or a constant)
    b_value: str | Literal = ""
    acc: str = "acc"
    acc_dtype: str = "float32"
    mm_axes: tuple = ()                         # matmul: (batch axes, M axis|None, N axis|None, K axis)
    zero_fill: tuple = ()                       # scatter: (buffer, its size, its fill: the
                                                # combine's identity, a Literal) set before
    line: dict = field(default_factory=dict)    # lines: {"axis", "op", "reverse",
    #   "descending", "dtype" and "value" (the values along the line)}; body: computes
    #   the value at each element; its store (if any) is the result's address
    ops: list = field(default_factory=list)
    linalg: dict = field(default_factory=dict)  # linalg: {"op", "attrs", "reads", "write",
    #   "n", "m", "k", "dtype", "site"}: one op over the batch axes (``dims``), whole
    #   contiguous matrices in and out (``codegen.linalg_kernels``)

    def blocks(self) -> list:
        out = [self.body, self.epilogue] + [p.block for p in self.phases]
        return out + [b for b in (self.a, self.b) if b is not None]

    def buffers_read(self) -> list:
        seen = list(self.linalg["reads"]) if self.linalg else []
        for b in self.blocks():
            for i in b.instrs:
                if i.op == "load" and i.buf not in seen:
                    seen.append(i.buf)
        return seen

    def buffers_written(self) -> list:
        seen = [self.linalg["write"]] if self.linalg else []
        for b in self.blocks():
            for s in b.stores:
                if s.buf not in seen:
                    seen.append(s.buf)
        return seen

    def sizes(self) -> list:
        """Run-time dim names the kernel needs as arguments."""
        names = set()
        for d in self.dims:
            names.update(d.syms)
        for b in self.blocks():
            for i in b.instrs:
                for s in i.strides:
                    names.update(s.syms)
                for m in i.offset:
                    names.update(m.syms)
                for _, stride in i.gated:
                    names.update(stride.syms)
                if i.op in ("clamp", "data_index"):
                    names.update(i.attrs["size"].syms)
                if i.op == "in_range":
                    for _, size in i.attrs["checks"]:
                        names.update(size.syms)
                if i.op == "size":
                    names.update(i.args)
            for s in b.stores:
                for m in s.strides:
                    names.update(m.syms)
                for _, stride in s.gated:
                    names.update(stride.syms)
        if self.zero_fill:
            names.update(self.zero_fill[1].syms)
        return sorted(names)


@dataclass
class ProgramIR:
    name: str
    kernels: list
    buffers: dict                 # name -> BufferRef
    inputs: list                  # BufferRef per program input
    params: list                  # BufferRef per program param
    consts: list
    temps: list
    results: list                 # BufferRef per unique non-leaf root
    root_sources: list            # per root (outputs then updates): ("result", k) or (kind, k)
    sym_names: dict               # graph dim -> C name
    schedule: fusion.Schedule
    fused: list                   # per kernel: ops fused
    program: Program = None  # type: ignore[assignment]  # set by lower(): the Program lowered
    param_nodes: list = field(default_factory=list)  # per params entry: its node (program
                                                      # params, then large constants)
    index_sites: list = field(default_factory=list)  # per run-time check: ("index", "op
                                                      # (created at ...)") of a gather or
                                                      # scatter, ("value", what) of a
                                                      # check_index
    linalg_sites: list = field(default_factory=list)  # per linalg kernel that can fail:
                                                       # its error message

    @property
    def sym_order(self) -> list:
        return sorted(self.sym_names.values())
