"""How linear-algebra nodes print: NumPy/SciPy notation in formulas and listings
(``solve(S, x - mu)``, ``slogdet(S)[1]``), matrix notation in LaTeX (``\\Sigma^{-1} b``,
``\\log\\left|\\det \\Sigma\\right|``).

>>> import graphc as gc
>>> S = gc.placeholder("Sigma", (2, 2), "float64")
>>> x = gc.placeholder("x", (2,), "float64")
>>> str(gc.linalg.solve(S, x - 1.0))
'solve(Sigma, x - 1)'
>>> gc.latex(gc.linalg.inv(S))
'\\\\Sigma^{-1}'
"""
from __future__ import annotations

import numpy as np

from ..ir import Tensor
from ..ops.linalg import FAILURES, PUBLIC

ATOM = 9   # formula.ATOM (which imports this module): an atom, a call or a name

# op -> how the formula writes a node: a call of NumPy's, indexed where NumPy's returns a tuple
_TEXT = {"cholesky": "cholesky({0})", "solve": "solve({0}, {1})",
         "logabsdet": "slogdet({0})[1]", "det_sign": "slogdet({0})[0]",
         "eigvalsh": "eigvalsh({0})", "eigh_vectors": "eigh({0})[1]",
         "qr_q": "qr({0})[0]", "qr_r": "qr({0})[1]"}


def linalg_text(n: Tensor, args: list) -> tuple[str, int]:
    """Text and precedence of linear-algebra node ``n`` given its operands' texts."""
    texts = [a[0] for a in args]
    if n.op == "solve_triangular":
        extra = "".join([", trans=1" if n.attr("trans") else "",
                         ", lower=True" if n.attr("lower") else "",
                         ", unit_diagonal=True" if n.attr("unit_diagonal") else ""])
        return f"solve_triangular({texts[0]}, {texts[1]}{extra})", ATOM
    return _TEXT[n.op].format(*texts), ATOM


def is_identity(t: Tensor) -> bool:
    """A constant identity matrix, possibly broadcast (``inv(a)`` is ``solve(a, I)``)."""
    while t.op == "broadcast_to":
        t = t.inputs[0]
    if t.op != "constant" or t.ndim < 2 or t.dims[-1] != t.dims[-2]:
        return False
    v = t.attr("value").array
    return bool(np.array_equal(v, np.broadcast_to(np.eye(v.shape[-1]), v.shape)))


def linalg_latex(n: Tensor, args: list, wrap) -> tuple[str, float]:
    """LaTeX and precedence of linear-algebra node ``n`` (``wrap(k, prec)``: operand ``k``
    parenthesised for precedence ``prec``)."""
    if n.op in ("solve", "solve_triangular"):
        power = "-\\top" if n.op == "solve_triangular" and n.attr("trans") else "-1"
        base = wrap(0, 5)
        inverse = f"{base}^{{{power}}}" if args[0][1] >= ATOM else f"{{{base}}}^{{{power}}}"
        if is_identity(n.inputs[1]):
            return inverse, ATOM
        return f"{inverse} {wrap(1, 2.5, True)}", 2.5
    a = args[0][0]
    if n.op == "logabsdet":
        return rf"\log\left|\det {a}\right|", ATOM
    if n.op == "det_sign":
        return rf"\operatorname{{sign}}\det {a}", ATOM
    names = {"cholesky": r"\operatorname{chol}", "eigvalsh": r"\lambda",
             "eigh_vectors": r"\operatorname{eigvecs}", "qr_q": r"\operatorname{Q}",
             "qr_r": r"\operatorname{R}"}
    return rf"{names[n.op]}\left({a}\right)", ATOM


def input_label(t: Tensor) -> str:
    """How a failure message names an op's input: its name if it is a named input or
    parameter, else its formula (shortened)."""
    if t.name:
        return repr(t.name)
    text = str(t)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def failure_message(n: Tensor) -> str:
    """What a run-time failure of linear-algebra node ``n`` says:
    ``gc.linalg.cholesky: input 'Sigma' is not positive definite (created at f.py:3)``."""
    public = "inv" if n.op == "solve" and is_identity(n.inputs[1]) else PUBLIC[n.op]
    return (f"gc.linalg.{public}: input {input_label(n.inputs[0])} {FAILURES[n.op]} "
            f"(created at {n.location})")


def diagonal_source(n: Tensor) -> Tensor | None:
    """The matrix whose diagonal ``n`` is, when ``n`` is ``gc.linalg.diagonal``'s strided
    slice of a flattened square matrix (printed ``diagonal(L)``), else None."""
    if n.op != "slice" or n.inputs[0].op != "reshape":
        return None
    m = n.inputs[0].inputs[0]
    if m.ndim < 2 or not isinstance(m.dims[-1], int) or m.dims[-1] != m.dims[-2]:
        return None
    k = m.dims[-1]
    lead = m.ndim - 2
    if n.inputs[0].dims != m.dims[:-2] + (k * k,) or n.dims != m.dims[:-2] + (k,):
        return None
    if tuple(n.attr("starts")) != (0,) * (lead + 1) or \
            tuple(n.attr("steps")) != (1,) * lead + (k + 1,):
        return None
    return m
