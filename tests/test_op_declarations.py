"""Every op declaration is complete, and every core consumer knows every op.

The codegen registries (NumPy spelling, C/CUDA text) are checked in
test_codegen_registries.py; this file checks what the core reads from a declaration:
rules for both autodiff modes, a SymPy form and LaTeX for elementwise ops, a public
function, the CLI's formula table, and that printing handles a node of each op.
Each check lists what is missing as "op: registry", so a failure names both.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.bind import OPS, OpDef, ops_where
from graphc.formula import FUNCTIONS

KINDS = {"leaf", "elementwise", "reduce", "shape", "matmul", "index", "gather", "scatter",
         "loop", "lines", "linalg"}


def declaration_gaps(ops: dict[str, OpDef]) -> list[str]:
    """'op: what is missing' for each gap in the declarations themselves."""
    gaps = []
    for name, op in ops.items():
        if op.kind not in KINDS:
            gaps.append(f"{name}: kind {op.kind!r} is not one of {sorted(KINDS)}")
        if not callable(op.impl):
            gaps.append(f"{name}: impl (NumPy reference)")
        if op.kind == "leaf":
            continue
        if op.shape is None:
            gaps.append(f"{name}: shape rule")
        if op.kind == "elementwise":
            if op.partials is None and op.vjp is None:
                gaps.append(f"{name}: partials (or vjp) for reverse mode")
            if op.partials is None and op.jvp is None:
                gaps.append(f"{name}: partials (or jvp) for forward mode")
            if op.sympy is None:
                gaps.append(f"{name}: sympy form (gc.expr)")
        else:
            if op.vjp is None:
                gaps.append(f"{name}: vjp (reverse mode)")
            if op.jvp is None:
                gaps.append(f"{name}: jvp (forward mode)")
    return gaps


# primitives a user reaches through Python syntax rather than a function of their name
SPELLED_BY_SYNTAX = {"slice": "x[start:stop:step] (Tensor.__getitem__)",
                     # linear algebra: halves of the pair a gc.linalg function returns
                     "det_sign": "gc.linalg.slogdet(a)[0]",
                     "eigh_vectors": "gc.linalg.eigh(a)[1]",
                     "qr_q": "gc.linalg.qr(a)[0]", "qr_r": "gc.linalg.qr(a)[1]"}


def public_api_gaps(ops: dict[str, OpDef]) -> list[str]:
    """Non-leaf primitives a user cannot reach by their own name in ``gc``."""
    return [f"{name}: gc.{name} (public function)" for name, op in ops.items()
            if op.kind != "leaf" and not callable(getattr(gc, name, None))
            and not (op.kind == "linalg" and callable(getattr(gc.linalg, name, None)))
            and name not in SPELLED_BY_SYNTAX]


def formula_gaps(ops: dict[str, OpDef]) -> list[str]:
    """Float math functions (unary elementwise, spelled as calls) the CLI cannot parse."""
    return [f"{name}: graphc.formula.FUNCTIONS (CLI formulas)" for name, op in ops.items()
            if op.kind == "elementwise" and op.arity == 1 and op.infix is None
            and op.float_only and name not in FUNCTIONS]


def test_declarations_are_complete():
    assert not declaration_gaps(OPS), "\n".join(declaration_gaps(OPS))


def test_every_primitive_has_a_public_function():
    assert not public_api_gaps(OPS), "\n".join(public_api_gaps(OPS))


def test_every_math_function_parses_in_cli_formulas():
    assert not formula_gaps(OPS), "\n".join(formula_gaps(OPS))


def test_a_half_declared_op_is_reported_by_name():
    """The checks themselves: a declaration missing its rules is named with what it lacks."""
    half = OpDef(name="frobnicate", arity=1, kind="elementwise", impl=np.sin,
                 shape=OPS["sin"].shape, float_only=True)
    gaps = (declaration_gaps({"frobnicate": half}) + public_api_gaps({"frobnicate": half})
            + formula_gaps({"frobnicate": half}))
    assert gaps == ["frobnicate: partials (or vjp) for reverse mode",
                    "frobnicate: partials (or jvp) for forward mode",
                    "frobnicate: sympy form (gc.expr)",
                    "frobnicate: gc.frobnicate (public function)",
                    "frobnicate: graphc.formula.FUNCTIONS (CLI formulas)"]


@pytest.mark.parametrize("name", sorted(ops_where(kind="elementwise")))
def test_every_elementwise_op_prints(name):
    """str, show, LaTeX and expr handle a node of every elementwise op, and name it."""
    op = OPS[name]
    x = gc.placeholder("x", (3,), "bool" if name == "where" else "float64")
    operands = [x] + [gc.placeholder(f"y{k}", (3,), "float64") for k in range(1, op.arity)]
    if name == "check_index":   # integers, with its range and who requires it
        node = gc.check_index(gc.placeholder("k", (3,), "int64"), 4)
    else:
        node = gc.cast(x, "int32") if name == "cast" else gc.api.apply(name, operands)
    assert node.op == name
    listing = gc.show(node)
    assert name in listing or (op.infix and op.infix in listing), listing
    assert str(node) and gc.latex(node)
    gc.expr(node)  # raises if the SymPy form is missing or wrong for the arity


def test_derived_op_sets_follow_declarations():
    assert ops_where(fed=True) == {"placeholder", "parameter"}
    assert ops_where(kind="leaf") >= {"placeholder", "parameter", "constant"}
    assert {"reshape", "broadcast_to"} <= ops_where(sizes=True)
