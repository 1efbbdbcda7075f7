"""Reading graphs: SSA listings (``show``), formulas (``str``, ``expr``), LaTeX.

``show`` prints a jaxpr-like listing: one line per node with its dtype and shape.
``str(t)`` prints the formula in NumPy notation with shared parts as ``let`` lines.
``expr`` converts an elementwise graph into a SymPy expression (placeholders and
parameters become symbols of their names).
"""
from __future__ import annotations

import numbers
from fractions import Fraction

import numpy as np

from .errors import GraphcError
from .ir import Tensor, _dtype_short, as_list, format_shape, topo_order, users_of
from .ops import OPS

# ---- naming --------------------------------------------------------------------------------


def _names(order: list[Tensor]) -> dict[int, str]:
    """Readable, unique names: leaves by the user's names, other nodes t1, t2, ..."""
    names: dict[int, str] = {}
    used: set[str] = set()
    counter = 0
    for n in order:
        if n.name is not None:
            base = n.name
            name, k = base, 1
            while name in used:
                name, k = f"{base}_{k}", k + 1
        else:
            counter += 1
            name = f"t{counter}"
            while name in used:
                counter += 1
                name = f"t{counter}"
        used.add(name)
        names[id(n)] = name
    return names


def _scalar_text(v) -> str:
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:.1f}"
    return repr(v)


def _const_text(n: Tensor) -> str | None:
    """Inline text for small constants, else None."""
    arr = n.attr("value").array
    if arr.ndim == 0:
        return _scalar_text(arr)
    if arr.size <= 8:
        return np.array2string(arr, separator=", ")
    return None


def _attrs_text(n: Tensor) -> str:
    parts = []
    for k, v in n.attrs:
        if k in ("name", "uid", "value"):
            continue
        if k == "shape":
            v = format_shape(v)
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _type_text(n: Tensor) -> str:
    shape = ",".join("None" if isinstance(d, str) and d.startswith("?") else str(d)
                     for d in n.dims)
    return f"{_dtype_short(n.dtype)}[{shape}]"


def show(outputs, title: str | None = None) -> str:
    """A readable SSA listing of the graph that computes ``outputs``.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (3,))
    >>> print(gc.show(gc.exp(x) * 2))
    graph(x: f32[3]) {
      t1: f32[3] = exp(x)
      t2: f32[3] = mul(t1, 2.0)
      return t2
    }
    """
    outs = as_list(outputs)
    order = topo_order(outs)
    names = _names(order)
    inline: dict[int, str] = {}
    params, lines = [], []
    for n in order:
        if n.op == "constant":
            text = _const_text(n)
            if text is not None:
                inline[id(n)] = text
                continue
        if n.op in ("placeholder", "parameter"):
            kind = "" if n.op == "placeholder" else " param"
            params.append(f"{names[id(n)]}: {_type_text(n)}{kind}")
            continue
        args = [inline.get(id(i), names[id(i)]) for i in n.inputs]
        attrs = _attrs_text(n)
        if n.op == "constant":
            call = f"constant(<{n.attr('value').array.size} values>)"
        else:
            call = f"{n.op}({', '.join(args + ([attrs] if attrs else []))})"
        lines.append(f"  {names[id(n)]}: {_type_text(n)} = {call}")
    rets = ", ".join(inline.get(id(o), names[id(o)]) for o in outs)
    head = f"{title} " if title else ""
    return "\n".join([f"{head}graph({', '.join(params)}) {{"] + lines
                     + [f"  return {rets}", "}"])


# ---- formulas in NumPy notation ------------------------------------------------------------

_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4, "matmul": 2}
_CALLS = {"reduce": None}


def _formula(n: Tensor, args: list[tuple[str, int]]) -> tuple[str, int]:
    """Text and precedence of one node given its operands' (text, precedence)."""
    op = OPS[n.op]
    atom = 9

    def wrap(k, prec, right=False):
        text, p = args[k]
        return f"({text})" if p < prec or (right and p == prec) else text

    if n.op == "neg":
        return f"-{wrap(0, 3)}", 3
    if n.op in ("add", "sub", "mul", "div", "matmul"):
        prec = _PREC[n.op]
        return f"{wrap(0, prec)} {op.infix} {wrap(1, prec, right=True)}", prec
    if n.op == "pow":
        return f"{wrap(0, 5)}**{wrap(1, 5)}", 4
    if op.infix and n.op not in ("add", "sub"):
        return f"{wrap(0, 1)} {op.infix} {wrap(1, 1)}", 0
    if n.op == "transpose":
        perm = n.attr("perm")
        if perm == tuple(reversed(range(len(perm)))):
            return f"{wrap(0, atom)}.T", atom
        return f"{wrap(0, atom)}.transpose{perm}", atom
    if n.op in ("sum", "max"):
        axes = n.attr("axes")
        extra = "" if len(axes) == len(n.inputs[0].dims) else \
            f", axis={axes[0] if len(axes) == 1 else axes}"
        if n.attr("keepdims"):
            extra += ", keepdims=True"
        return f"{n.op}({args[0][0]}{extra})", atom
    if n.op in ("reshape", "broadcast_to"):
        return f"{n.op}({args[0][0]}, {format_shape(n.attr('shape'))})", atom
    if n.op == "cast":
        return f"{wrap(0, atom)}.astype({n.attr('dtype')})", atom
    if n.op == "one_hot":
        return f"one_hot({args[0][0]}, {n.attr('depth')})", atom
    if n.op == "shape_size":
        return f"size{format_shape(n.attr('shape'))}", atom
    return f"{n.op}({', '.join(a[0] for a in args)})", atom


def show_expression(t: Tensor) -> str:
    """The formula of ``t`` in NumPy notation; nodes used more than once become lets."""
    order = topo_order([t])
    users = users_of(order)
    names = _names(order)
    text: dict[int, tuple[str, int]] = {}
    lets = []
    for n in order:
        if n.op in ("placeholder", "parameter"):
            text[id(n)] = (names[id(n)], 9)
            continue
        if n.op == "constant":
            inline = _const_text(n)
            text[id(n)] = (inline if inline is not None else
                           f"const{format_shape(n.dims)}", 9)
            if inline is not None and inline.startswith("-"):
                text[id(n)] = (inline, 3)
            continue
        s, p = _formula(n, [text[id(i)] for i in n.inputs])
        if len(users[id(n)]) > 1 and n is not t:
            lets.append(f"{names[id(n)]} = {s}")
            text[id(n)] = (names[id(n)], 9)
        else:
            text[id(n)] = (s, p)
    return "\n".join(lets + [text[id(t)][0]])


def tensor_repr(t: Tensor) -> str:
    dtype = t.dtype.name
    if t.op == "constant":
        values = np.array2string(t.attr("value").array, separator=", ", threshold=20,
                                 max_line_width=10**6)
        return f"Tensor(constant {values}, shape={t.shape}, dtype={dtype})"
    if t.name is not None:
        return f"Tensor({t.op} {t.name!r}, shape={t.shape}, dtype={dtype})"
    return f"Tensor({t.op}, shape={t.shape}, dtype={dtype}, created at {t.location})"


# ---- SymPy ---------------------------------------------------------------------------------

def _sympy_number(v):
    import sympy

    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, (bool, np.bool_)):
        return sympy.true if v else sympy.false
    if isinstance(v, numbers.Integral):
        return sympy.Integer(int(v))
    f = float(v)
    if np.isfinite(f):
        if f.is_integer():
            return sympy.Integer(int(f))
        frac = Fraction(f).limit_denominator(1000)
        if float(frac) == f or abs(float(frac) - f) <= 1e-7 * abs(f):
            return sympy.Rational(frac.numerator, frac.denominator)
    return sympy.Float(f)


_TRANSPARENT = ("reshape", "transpose", "broadcast_to", "stop_gradient")


def expr(t: Tensor):
    """The SymPy expression of an elementwise graph.

    Placeholders and parameters become SymPy symbols of their names; constants whose
    elements are all equal become numbers; reshapes, transposes and broadcasts are
    transparent (they do not change an element's formula). Reductions and matmul
    have no elementwise formula: use ``gc.show`` for those.

    >>> import graphc as gc
    >>> b = gc.parameter("b", [7., 5.])
    >>> gc.expr(gc.grad(gc.sum(-b**2), b))
    -2*b
    """
    import sympy

    if not isinstance(t, Tensor):
        raise GraphcError(f"expr: expected a Tensor, got {type(t).__name__}")
    order = topo_order([t])
    names = _names(order)
    env = {}
    for n in order:
        op = OPS[n.op]
        if n.op in ("placeholder", "parameter"):
            env[id(n)] = sympy.Symbol(names[id(n)], real=True)
        elif n.op == "constant":
            arr = n.attr("value").array
            flat = arr.reshape(-1)
            if flat.size and np.all(flat == flat[0]):
                env[id(n)] = _sympy_number(flat[0])
            else:
                env[id(n)] = sympy.Symbol(f"const{names[id(n)][1:]}")
        elif n.op in _TRANSPARENT:
            env[id(n)] = env[id(n.inputs[0])]
        elif n.op == "cast":
            env[id(n)] = op.sympy(env[id(n.inputs[0])], n.attr("dtype"))
        elif n.op == "shape_size":
            env[id(n)] = sympy.Symbol(f"size_{names[id(n)]}", positive=True)
        elif op.kind == "elementwise" and op.sympy is not None:
            env[id(n)] = op.sympy(*(env[id(i)] for i in n.inputs))
        else:
            raise GraphcError(f"expr: {n.op} (created at {n.location}) is not elementwise, so "
                              f"the graph has no elementwise formula; use gc.show(t) or str(t)")
    return env[id(t)]


def latex(t: Tensor) -> str:
    """LaTeX for ``t``: SymPy's rendering of ``expr(t)`` where elementwise, else the formula text."""
    import sympy

    try:
        return sympy.latex(expr(t))
    except GraphcError:
        body = show_expression(t).replace("\\", "\\\\").replace("_", "\\_")
        lines = [f"\\texttt{{{line}}}" for line in body.split("\n")]
        return " \\\\ ".join(lines)
