"""Values a row kernel computes in one pass over a row and again in a later one.

A row kernel (softmax, logsumexp, layer norm, a cross-entropy) passes over each row
several times: a max, then a sum of ``exp(x - max)``, then the result ``exp(x - max) /
sum``. Each pass is its own loop and recomputes what it reads, so the exponential runs
twice per element. When the row is short enough to sit in L1, the first pass keeps such a
value in a row-long array on the stack and the later passes read it back: a store and a
load instead of an ``exp``.

Values are matched by their structure (the same op on the same operands, loads of the
same buffer at the same place), so the lowering needs no change.

>>> from graphc.codegen.kernel_types import Block, Instr, Mono
>>> load = lambda n: Instr(n, "load", "float32", buf="x", strides=(Mono(0), Mono(1)))
>>> first = Block([load("v1"), Instr("v2", "exp", "float32", args=("v1",))])
>>> later = Block([load("v3"), Instr("v4", "exp", "float32", args=("v3",))])
>>> plan = plan_row_cache([first, later], row_length=256)
>>> plan.stores, plan.loads
([{'v2': 0}, {}], [{}, {'v4': 0}])
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .kernel_types import Block, Literal

# worth a store and a load per element: transcendental and other costly operations
COSTLY = frozenset({"exp", "log", "tanh", "sin", "cos", "sigmoid", "softplus", "log1p",
                    "expm1", "erf", "erfc", "erfinv", "pow", "sqrt", "div"})
# at most this many bytes of cached rows per thread (L1 of one core, with room to spare)
MAX_BYTES = 32 * 1024


@dataclass
class RowCachePlan:
    """Per pass (block, in order): which of its values it stores into cache slot s
    (``stores``: name -> s) and which it reads from one (``loads``); ``dtypes`` per slot."""

    stores: list = field(default_factory=list)
    loads: list = field(default_factory=list)
    dtypes: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.dtypes)


def _keys(block: Block) -> dict:
    """name -> a structural key of the value (names from outside the block stand for
    themselves: row scalars and the epilogue's values are the same in every pass)."""
    keys: dict = {}

    def arg(a):
        if isinstance(a, Literal):
            return ("literal", repr(a.value), a.dtype)
        return keys.get(a, ("outer", a))

    for ins in block.instrs:
        key: tuple
        if ins.op == "load":
            key = ("load", ins.buf, ins.strides, ins.offset,
                   tuple((arg(v), s) for v, s in ins.gated))
        elif ins.op == "index":
            key = ("index", ins.axis, repr(ins.attrs.get("term")))
        elif ins.op in ("data_index", "in_range", "clamp", "size"):
            key = (ins.op, tuple(arg(a) for a in ins.args),
                   repr(sorted(ins.attrs.items(), key=lambda kv: kv[0])))
        else:
            key = (ins.op, ins.dtype, tuple(arg(a) for a in ins.args))
        keys[ins.name] = key
    return keys


def plan_row_cache(blocks: list, row_length: int, itemsize: dict | None = None) -> RowCachePlan:
    """The cache plan of a row kernel's passes ``blocks`` (in the order they run) over
    rows of ``row_length`` elements; empty when nothing is recomputed or the rows are too
    long to keep."""
    sizes = itemsize or {"float32": 4, "float64": 8}
    plan = RowCachePlan([{} for _ in blocks], [{} for _ in blocks], [])
    first_seen: dict = {}   # key -> (block index, name) of its first costly computation
    slot_of: dict = {}      # key -> cache slot
    used = 0
    for b, block in enumerate(blocks):
        keys = _keys(block)
        for ins in block.instrs:
            if ins.op not in COSTLY or ins.dtype not in sizes:
                continue
            key = keys[ins.name]
            if key not in first_seen:
                first_seen[key] = (b, ins.name)
                continue
            if first_seen[key][0] == b:   # twice in one pass: not this module's business
                continue
            if key not in slot_of:
                need = sizes[ins.dtype] * row_length
                if used + need > MAX_BYTES:
                    continue
                used += need
                slot_of[key] = len(plan.dtypes)
                plan.dtypes.append(ins.dtype)
                src_block, src_name = first_seen[key]
                plan.stores[src_block][src_name] = slot_of[key]
            plan.loads[b][ins.name] = slot_of[key]
    return plan
