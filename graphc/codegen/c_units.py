"""The C backend's translation units: kernels whose C code repeats another's are
emitted once, and a large program is compiled as several units in parallel.

A deep graph built from repeated pieces (a chain of the same ops, a stack of identical
layers) fuses into kernels that differ only in the buffers they read and write. Their
code is the same function with other arguments, so it is emitted once and the host calls
it for each: GCC's time (register allocation per function) then follows the number of
distinct kernels, not the graph's depth. A 10,000-node chain of sin/tanh/cos and its
gradient: 319 kernels, 8 distinct.

Two kernels are the same when their text is, with the kernel's name and its parameters'
names (whole identifiers only) replaced by their positions; the header comment (the
formulas, in the kernel's own buffer names) is left out of the comparison.

>>> import graphc as gc
>>> from graphc.codegen.base import Program
>>> from graphc.codegen.kernel_ir import lower
>>> from graphc.codegen.c_dialect import C
>>> x = gc.placeholder("x", (8,))
>>> t = x
>>> for _ in range(500):                          # kernels of at most 128 fused ops
...     t = gc.sin(t)
>>> pir = lower(Program("f", (x,), (), (t,)))
>>> texts, same_as = distinct_kernels(pir, C)     # k1, k2: temp to temp, the same code
>>> [k.name for k in pir.kernels], same_as
(['k0_sin', 'k1_sin', 'k2_sin', 'k3_sin'], {'k2_sin': 'k1_sin'})
"""
from __future__ import annotations

import re

from .. import progress
from . import c_blas
from .kernel_types import ProgramIR


def code_key(code: str, name: str, args: list) -> str:
    """``code`` (a kernel's C functions) with ``name`` (and its ``_step`` function) and
    each parameter name in ``args`` replaced by its position."""
    tokens = {a: f"@{i}" for i, a in enumerate(args)}
    tokens[name] = "@kernel"
    tokens[name + "_step"] = "@step"
    return "".join([tokens.get(w, w) for w in WORDS.split(code)])


WORDS = re.compile(r"(\w+)")   # split keeps the words (odd places) and what lies between


def distinct_kernels(pir: ProgramIR, d) -> tuple[list, dict]:
    """(the kernels' C texts, kernel name -> the earlier kernel whose function it calls).
    A repeated kernel's text is one comment line naming that kernel. Kernels that run
    through BLAS (their epilogues are called by name) are never merged."""
    texts: list = []
    same_as: dict = {}
    first: dict = {}
    for k in progress.each(pir.kernels, "writing kernel"):
        code = d.render_kernel(k, pir.buffers, comment=False)
        companions = d.kernel_companions(k, pir.buffers)
        if companions or (d.blas and c_blas.blas_plan(k) is not None):
            texts += ["\n".join(d.header_comment(k) + [code])] + companions
            continue
        key = code_key(code, k.name, d.signature(k, pir.buffers)[1])
        if key in first:
            same_as[k.name] = first[key]
            texts.append(f"/* {k.name}: the code of {first[key]} (called with its own "
                         f"buffers) */")
            continue
        first[key] = k.name
        texts.append("\n".join(d.header_comment(k) + [code]))
    return texts, same_as


# Several translation units, compiled in parallel and linked into the one library: GCC
# compiles a unit on one core, and a large program's kernels are independent functions.
UNIT_BYTES = 200_000   # about this much kernel text per unit (GCC -O1: ~1.5 s)
MAX_UNITS = 16
HIDDEN = '__attribute__((visibility("hidden"))) void'   # shared between units, not exported
KERNEL_DEF = re.compile(r"^static void (\w+)\(", re.M)
KERNEL_HEAD = re.compile(r"^static void (\w+\(.*?\)) \{", re.M | re.S)


def splittable(pir: ProgramIR) -> bool:
    """Whether the kernels share no state with the host: index checks and linear algebra
    record failures in globals of their translation unit."""
    return not pir.index_sites and not any(k.kind == "linalg" for k in pir.kernels)


def translation_units(pir: ProgramIR, d, kernels: list, host: str,
                      unit_bytes: int = UNIT_BYTES) -> list:
    """The program's C as several translation units (each kernel group with the prelude;
    the first also holds the constants, the kernels' prototypes and the host), or [] when
    one unit is enough (under ``unit_bytes`` of kernels) or the program cannot be split.
    The units' kernels are the single source's, with external but hidden linkage."""
    total = sum(len(t) for t in kernels)
    n = min(MAX_UNITS, -(-total // max(unit_bytes, 1)))
    if n < 2 or not splittable(pir):
        return []
    groups: list = [[] for _ in range(n)]
    done = 0
    for text in kernels:   # contiguous groups of about total / n bytes
        groups[min(n - 1, done * n // total)].append(text)
        done += len(text)
    groups = [groups[0]] + [g for g in groups[1:] if g]
    if len(groups) < 2:
        return []
    n = len(groups)
    prototypes = [f"{HIDDEN} {head};" for text in kernels for head in KERNEL_HEAD.findall(text)]
    units = []
    for i, group in enumerate(groups):
        parts = d.opening(pir, consts=(i == 0))
        parts.insert(1, f"/* translation unit {i + 1} of {n} */")
        parts += [KERNEL_DEF.sub(HIDDEN + r" \1(", t) for t in group]
        if i == 0:
            parts += ["/* the kernels of every unit */"] + prototypes + [host]
        units.append("\n".join(parts) + "\n")
    return units
