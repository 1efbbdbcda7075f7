"""Every declared op has an entry in every codegen registry that needs one.

The op declarations (``graphc.ops.OPS``) are the only op list; each renderer keeps its
own per-op table. Which ops need an entry follows from the declaration's ``kind``:
leaves are loads (no entry), shape ops and stop_gradient are index arithmetic, an
elementwise or index op is one instruction (C/CUDA text per result dtype), a reduction
an accumulator, and every non-leaf op a NumPy spelling. A failure names the op and the
registry that lacks it.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from graphc.codegen import c_family, c_text, numpy_spelling
from graphc.codegen.c_dialect import C
from graphc.codegen.cuda_dialect import CUDA
from graphc.codegen.kernel_ir import PASS_THROUGH
from graphc.ops import OPS

DIALECTS = {"C": C, "CUDA": CUDA}


def result_dtypes(op) -> list:
    """The result dtypes an instruction of ``op`` can have."""
    if op.dtype_out:
        return [op.dtype_out]
    return ["float32", "float64"] + ([] if op.float_only else ["int32", "int64"])


def instruction_ops() -> list:
    return sorted(name for name, op in OPS.items()
                  if op.kind in ("elementwise", "index") and name not in PASS_THROUGH)


def test_every_computed_op_has_a_numpy_spelling():
    missing = [name for name, op in OPS.items()
               if op.kind != "leaf" and name not in numpy_spelling.NUMPY_OPS]
    assert not missing, f"op(s) {missing} missing from the NumPy spelling registry (NUMPY_OPS)"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("name", instruction_ops())
def test_every_instruction_op_has_c_text_per_dtype(dialect, name):
    op = OPS[name]
    d = DIALECTS[dialect]
    # an index op (one_hot) also reads its kernel index: one operand more than inputs
    operands = [f"v{k}" for k in range(op.arity + (op.kind == "index"))]
    for dtype in result_dtypes(op):
        try:
            text = d.render_op(name, dtype, operands)
        except (KeyError, IndexError) as err:
            pytest.fail(f"op {name!r} has no {dialect} text for {dtype} in the {dialect} "
                        f"dialect's registry (c_text.OP_TEXT / math names): {err}")
        for v in operands:
            assert v in text, f"op {name!r}: {dialect} text for {dtype} drops operand {v}"


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.kind == "reduce"))
def test_every_reduction_has_a_c_accumulator(name):
    for dtype in ("float32", "float64", "int32", "int64"):
        try:
            c_family.reduce_identity(name, dtype)
        except KeyError:
            pytest.fail(f"reduction {name!r} missing from the C-family reduction registry "
                        f"(c_family.REDUCE_IDENTITY)")


def test_every_libm_function_has_a_float32_name():
    missing = sorted(set(c_text.LIBM_FUNCTIONS) - set(c_text.FLOAT32_MATH))
    assert not missing, f"libm function(s) {missing} missing from c_text.FLOAT32_MATH"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_float32_math_is_never_the_double_function(dialect):
    """A float32 operand must not silently call (and round through) the double function."""
    names = DIALECTS[dialect].math_names("float32")
    same = sorted(f for f in c_text.LIBM_FUNCTIONS if names[f] == f)
    assert not same, f"{dialect}: float32 calls the double function(s) {same}"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_math_name_a_dialect_emits_is_reserved(dialect):
    """User names avoid every function an instruction may call, in any dtype."""
    d = DIALECTS[dialect]
    scope = d.scope()
    for name in instruction_ops():
        for dtype in result_dtypes(OPS[name]):
            called = re.findall(r"\b([A-Za-z_]\w*)\(", d.render_op(name, dtype, ["v0"] * 3))
            missing = [f for f in called if f not in scope]
            assert not missing, (f"op {name!r} ({dtype}): {dialect} calls {missing}, missing "
                                 f"from the reserved names (CFamilyRenderer.scope)")


# the attributes of the elementwise ops that take some (as the NumPy renderer passes them)
ELEMENTWISE_ATTRS = {"check_index": {"size": 3, "what": "values in [0, 3)"}}


def test_numpy_spellings_of_new_elementwise_ops_run():
    """Each elementwise op's NumPy spelling agrees with its reference implementation."""
    rng = np.random.default_rng(0)
    for name, op in sorted(OPS.items()):
        if op.kind != "elementwise" or name in ("where", "cast"):
            continue
        sp = numpy_spelling.NUMPY_OPS[name]
        args = [rng.uniform(0.5, 2.0, 5) for _ in range(op.arity)]
        attrs = ELEMENTWISE_ATTRS.get(name, {})
        want = op.impl(*args, **attrs)
        out = np.empty_like(want)
        scope = {"np": np, "out": out}
        if sp.helper:
            exec(numpy_spelling.HELPERS[sp.helper], scope)
        for k, a in enumerate(args):
            scope[f"a{k}"] = a
        text = sp.template.format(*[f"a{k}" for k in range(op.arity)], out="out",
                                  **{k: repr(v) for k, v in attrs.items()})
        if sp.kind == "view":
            got = eval(text, scope)
        else:
            for stmt in text.split("; "):
                exec(stmt, scope)
            got = out
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"op {name!r}: NUMPY_OPS")
