"""``latex(t)``: SymPy's LaTeX of ``expr(t)`` for elementwise graphs, and a LaTeX version of
the ``str`` formula (``aligned`` lets, ``\\sum``, transposes, matrix products) for the others."""
from __future__ import annotations

import numpy as np

from ..errors import GraphcError
from ..ir import Tensor, format_dim
from ..ops import OPS
from .formula import ATOM, Style, needs_parens, render
from .linalg import diagonal_source, linalg_latex
from .naming import scalar_text
from .sympy_form import expr


def _latex_name(name: str) -> str:
    import sympy

    return sympy.latex(sympy.Symbol(name))


def _latex_dim(d) -> str:
    if isinstance(d, str):
        if ".shape[" in d:  # x.shape[0] -> \dim_{0} x
            leaf, axis = d[:-1].split(".shape[")
            return rf"\dim_{{{axis}}} {_latex_name(leaf)}"
        return _latex_name(d)
    return str(d)


def _latex_formula(n, args, dim=format_dim) -> tuple[str, float]:
    """LaTeX and precedence of one node given its operands' (LaTeX, precedence)."""
    op = OPS[n.op]

    def wrap(k, prec, right=False):
        text, p = args[k]
        return rf"\left({text}\right)" if needs_parens(p, prec, right) else text

    def call(fn, extra=""):
        return rf"{fn}{extra}\left({', '.join(a[0] for a in args)}\right)", ATOM

    if n.op == "neg":
        return f"-{wrap(0, 4)}", 3
    if n.op in ("add", "sub"):
        return f"{wrap(0, 1)} {op.infix} {wrap(1, 1, right=True)}", 1
    if n.op == "mul":
        return rf"{wrap(0, 2)} \cdot {wrap(1, 2, right=True)}", 2
    if n.op == "matmul":
        return rf"{wrap(0, 2.5)} \, {wrap(1, 2.5, right=True)}", 2.5
    if n.op == "div":
        return rf"\frac{{{args[0][0]}}}{{{args[1][0]}}}", ATOM
    if n.op == "pow":
        return f"{{{wrap(0, ATOM)}}}^{{{args[1][0]}}}", 4
    if op.infix:
        sym = {"<=": r"\leq", ">=": r"\geq", "!=": r"\neq", "==": "="}.get(op.infix, op.infix)
        return f"{wrap(0, 1)} {sym} {wrap(1, 1)}", 0
    if n.op == "sqrt":
        return rf"\sqrt{{{args[0][0]}}}", ATOM
    if n.op == "abs":
        return rf"\left|{args[0][0]}\right|", ATOM
    if n.op == "transpose":
        perm = n.attr("perm")
        if perm == tuple(reversed(range(len(perm)))):
            return rf"{{{wrap(0, ATOM)}}}^{{\top}}", ATOM
        return call(r"\operatorname{transpose}", f"_{{{','.join(map(str, perm))}}}")
    if n.op in ("sum", "max"):
        axes = n.attr("axes")
        fn = r"\sum" if n.op == "sum" else r"\max"
        sub = "" if len(axes) == len(n.inputs[0].dims) else \
            rf"_{{\mathrm{{axis}}={','.join(map(str, axes))}}}"
        return call(fn, sub)
    if n.op in ("reshape", "broadcast_to"):
        shape = r" \times ".join(_latex_dim(dim(d)) for d in n.attr("shape")) or "1"
        word = "reshape" if n.op == "reshape" else "broadcast"
        return rf"\operatorname{{{word}}}_{{{shape}}}\left({args[0][0]}\right)", ATOM
    if n.op == "cast":
        return args[0]
    if n.op == "one_hot":
        return call(r"\operatorname{onehot}", f"_{{{n.attr('depth')}}}")
    if op.kind == "lines":   # \operatorname{cumsum}_{axis=1}(x)
        sub = rf"_{{\mathrm{{axis}}={n.attr('axis')}}}"
        return call(rf"\operatorname{{{n.op}}}", sub)
    if n.op == "shape_size":
        return r" \cdot ".join(_latex_dim(dim(d)) for d in n.attr("shape")), 2
    if op.kind == "linalg":
        return linalg_latex(n, args, wrap)
    if diagonal_source(n) is not None:
        return call(r"\operatorname{diag}")
    if op.latex is not None:
        return call(op.latex)
    escaped = n.op.replace("_", r"\_")
    return call(rf"\operatorname{{{escaped}}}")


def _latex_const(n: Tensor) -> tuple[str, float]:
    arr = n.attr("value").array
    flat = arr.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        text = scalar_text(flat[0])
        text = text[:-2] if text.endswith(".0") else text
        return text, (3 if text.startswith("-") else ATOM)
    shape = r" \times ".join(map(str, arr.shape))
    return rf"C_{{{shape}}}", ATOM


_LATEX = Style(formula=_latex_formula, name=_latex_name, const=_latex_const,
                let=lambda name, s: f"{name} &= {s}",
                join=lambda lets, last: last if not lets else
                "\\begin{aligned}" + " \\\\ ".join(lets + [f"& {last}"]) + "\\end{aligned}")


def latex(t: Tensor) -> str:
    """LaTeX for ``t``: SymPy's rendering of ``expr(t)`` where elementwise, else the
    formula with ``\\sum``, transposes and matrix products, shared parts as lets.

    >>> import graphc as gc
    >>> a = gc.parameter("a", [2., 4.])
    >>> gc.latex(gc.grad(3*a**3, a, seed=gc.constant([1., 1.])))
    '9 a^{2}'
    >>> x = gc.placeholder("x", (None, 3))
    >>> gc.latex(gc.sum(x @ gc.parameter("W", [[1.], [2.], [3.]])))
    '\\\\sum\\\\left(x \\\\, W\\\\right)'
    """
    import sympy

    try:
        return sympy.latex(expr(t))
    except GraphcError:
        return render(t, _LATEX)
