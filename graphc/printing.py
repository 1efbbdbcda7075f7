"""Reading graphs: SSA listings (``show``), formulas (``str``, ``expr``), LaTeX.

* ``show(outputs)`` prints a jaxpr-like listing: one line per computed node with its
  dtype and shape, numbered ``t1, t2, ...`` in the order the lines appear.
* ``str(t)`` prints the formula in NumPy notation (``x.T @ (g * (1.0 - h * h))``).
  Nodes used more than once, and pieces that would make a line too long, become
  ``let`` lines ``t1 = ...``. Broadcasts that NumPy would do implicitly inside an
  elementwise op are not written out; a size known only at run time is written
  after the input it comes from (``x.shape[0]``) or by its name (``batch``).
* ``expr(t)`` converts an elementwise graph into a SymPy expression (placeholders
  and parameters become symbols of their names).
* ``latex(t)`` is SymPy's LaTeX of ``expr(t)`` for elementwise graphs, and a LaTeX
  version of the ``str`` formula (``aligned`` lets) for the others.

Every traversal is iterative (``topo_order``), so graphs thousands of nodes deep print.
"""
from __future__ import annotations

import numbers
import re
from fractions import Fraction
from typing import Callable

import numpy as np

from . import ir as _ir
from .errors import GraphcError
from .bind import constant_node
from .ir import Tensor, dtype_short, as_list, broadcast_dims, format_dim, topo_order, users_of
from .ops import OPS

LINE_LIMIT = 88  # inline formulas longer than this are split into let lines

# ---- naming --------------------------------------------------------------------------------


class _Namer:
    """Unique names: leaves keep the user's names; computed nodes get ``t1, t2, ...`` in
    the order they are *shown* (so the numbering has no gaps)."""

    def __init__(self, order: list[Tensor]):
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = 0
        for n in order:
            if n.name is not None:
                base, name, k = n.name, n.name, 1
                while name in self.used:
                    name, k = f"{base}_{k}", k + 1
                self.used.add(name)
                self.names[id(n)] = name

    def __call__(self, n: Tensor) -> str:
        if id(n) not in self.names:
            self.counter += 1
            while f"t{self.counter}" in self.used:
                self.counter += 1
            self.names[id(n)] = f"t{self.counter}"
            self.used.add(self.names[id(n)])
        return self.names[id(n)]


def _names(order: list[Tensor]) -> dict[int, str]:
    """Names for every node of ``order`` (leaves by the user's names, others t1, t2...)."""
    namer = _Namer(order)
    for n in order:
        namer(n)
    return namer.names


def _dim_texts(order: list[Tensor], namer: _Namer) -> dict[str, str]:
    """How to write each run-time size: by its name, or after a leaf that has it."""
    texts: dict[str, str] = {}
    for n in order:
        if not OPS[n.op].fed:
            continue
        for axis, d in enumerate(n.dims):
            if isinstance(d, str) and d not in texts:
                texts[d] = f"{namer(n)}.shape[{axis}]" if d.startswith("?") else d
    return texts


def _placeholder_dim_text(d: str) -> str | None:
    """``x.shape[0]`` for an anonymous dim ``?<uid>.<axis>`` of a live placeholder ``x``
    outside the graph (``d sum(x)/dx`` is a broadcast of 1 to x's shape, without x)."""
    m = re.fullmatch(r"\?(\d+)\.(\d+)", d)
    if m is None:
        return None
    uid = int(m.group(1))
    for node in list(_ir._table.values()):
        if node.op == "placeholder" and node.attr("uid") == uid:
            return f"{node.name}.shape[{m.group(2)}]"
    return None


def _dim_fn(dim_texts: dict[str, str] | None) -> Callable:
    """Writes a dim: by name, after an input that has it (``x.shape[0]``), else ``N``..."""
    texts = dict(dim_texts or {})

    def dim(d) -> str:
        if not isinstance(d, str):
            return str(d)
        if d not in texts:
            k = sum(1 for v in texts.values() if re.fullmatch(r"N\d*", v))
            texts[d] = d if not d.startswith("?") else (_placeholder_dim_text(d) or f"N{k or ''}")
        return texts[d]
    return dim


def _shape_text(dims, fmt=format_dim) -> str:
    inner = ", ".join(fmt(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def _scalar_text(v) -> str:
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:.1f}"
    return repr(v)


def const_text(n: Tensor) -> str | None:
    """Inline text for small constants, else None."""
    arr = n.attr("value").array
    if arr.ndim == 0:
        return _scalar_text(arr)
    if arr.size <= 8:
        return " ".join(np.array2string(arr, separator=", ", max_line_width=10**6).split())
    return None


def _attrs_text(n: Tensor) -> str:
    parts = []
    for k, v in n.attrs:
        if k in ("name", "uid", "value"):
            continue
        if k == "shape":
            v = _shape_text(v)
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _type_text(n: Tensor) -> str:
    shape = ",".join("None" if isinstance(d, str) and d.startswith("?") else str(d)
                     for d in n.dims)
    return f"{dtype_short(n.dtype)}[{shape}]"


def show(outputs, title: str | None = None) -> str:
    """A readable SSA listing of the graph that computes ``outputs``.

    Small constants are written inline; computed nodes are numbered in order.

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
    namer = _Namer(order)
    inline: dict[int, str] = {}
    params, lines = [], []
    for n in order:
        if n.op == "constant":
            text = const_text(n)
            if text is not None:
                inline[id(n)] = text
                continue
        if OPS[n.op].fed:
            kind = "" if n.op == "placeholder" else " param"
            params.append(f"{namer(n)}: {_type_text(n)}{kind}")
            continue
        args = [inline.get(id(i)) or namer(i) for i in n.inputs]
        attrs = _attrs_text(n)
        if n.op == "constant":
            call = f"constant(<{n.attr('value').array.size} values>)"
        else:
            call = f"{n.op}({', '.join(args + ([attrs] if attrs else []))})"
        lines.append(f"  {namer(n)}: {_type_text(n)} = {call}")
    rets = ", ".join(inline.get(id(o)) or namer(o) for o in outs)
    head = f"{title} " if title else ""
    return "\n".join([f"{head}graph({', '.join(params)}) {{"] + lines
                     + [f"  return {rets}", "}"])


# ---- formulas in NumPy notation ------------------------------------------------------------

ATOM = 9
# matmul binds like * and / in Python; 2.5 marks it so that a mix of the two is
# always parenthesised for the reader ((a * b) @ c, (a @ b) * c)
_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4, "matmul": 2.5}


def _needs_parens(p: float, prec: float, right: bool) -> bool:
    return p < prec or (right and p == prec) or (p != prec and int(p) == int(prec))


def _insert_unit_axes(src, dst) -> list | None:
    """If reshape ``src -> dst`` only inserts size-1 axes, the index (``None``/``:``) per axis."""
    if 1 in src:
        return None
    index, k = [], 0
    for d in dst:
        if k < len(src) and d == src[k]:
            index.append(":")
            k += 1
        elif d == 1:
            index.append("None")
        else:
            return None
    if k != len(src):
        return None
    while index and index[-1] == ":":
        index.pop()
    return index


def formula_text(n: Tensor, args: list[tuple[str, int]],
             dim: Callable = format_dim) -> tuple[str, int]:
    """Text and precedence of one node given its operands' (text, precedence).

    ``dim`` writes a dimension (a run-time size as ``x.shape[0]``, say)."""
    op = OPS[n.op]

    def wrap(k, prec, right=False):
        text, p = args[k]
        return f"({text})" if _needs_parens(p, prec, right) else text

    if n.op == "neg":
        return f"-{wrap(0, 4)}", 3
    if n.op in ("add", "sub", "mul", "div", "matmul"):
        prec = _PREC[n.op]
        return f"{wrap(0, prec)} {op.infix} {wrap(1, prec, right=True)}", prec
    if n.op == "pow":
        return f"{wrap(0, 5)}**{wrap(1, 4)}", 4
    if op.infix:  # comparisons
        return f"{wrap(0, 1)} {op.infix} {wrap(1, 1)}", 0
    if n.op == "transpose":
        perm = n.attr("perm")
        if perm == tuple(reversed(range(len(perm)))):
            return f"{wrap(0, ATOM)}.T", ATOM
        return f"{wrap(0, ATOM)}.transpose{perm}", ATOM
    if n.op in ("sum", "max"):
        axes = n.attr("axes")
        extra = "" if len(axes) == len(n.inputs[0].dims) else \
            f", axis={axes[0] if len(axes) == 1 else axes}"
        if n.attr("keepdims"):
            extra += ", keepdims=True"
        return f"{n.op}({args[0][0]}{extra})", ATOM
    if n.op == "reshape":
        index = _insert_unit_axes(n.inputs[0].dims, n.dims)
        if index:
            return f"{wrap(0, ATOM)}[{', '.join(index)}]", ATOM
        shape = _shape_text(n.attr("shape"), dim) if n.ndim else "(())"
        return f"{wrap(0, ATOM)}.reshape{shape}", ATOM
    if n.op == "broadcast_to":
        return f"broadcast_to({args[0][0]}, {_shape_text(n.attr('shape'), dim)})", ATOM
    if n.op == "cast":
        return f"{wrap(0, ATOM)}.astype({n.attr('dtype')})", ATOM
    if n.op == "one_hot":
        return f"one_hot({args[0][0]}, {n.attr('depth')})", ATOM
    if n.op == "shape_size":
        dims = n.attr("shape")
        if len(dims) == 1:
            return dim(dims[0]), ATOM
        return " * ".join(dim(d) for d in dims), 2
    return f"{n.op}({', '.join(a[0] for a in args)})", ATOM


def _broadcast_sources(order: list[Tensor]) -> dict[int, Tensor]:
    """For nodes that only broadcast another node ``z`` (chains of broadcast_to, and
    reshapes of size-1 values or that only prepend unit axes): node id -> ``z``, so
    that the node equals ``broadcast_to(z, node.shape)`` under NumPy's rules."""
    src: dict[int, Tensor] = {}
    for n in order:
        if n.op == "constant" and n.ndim:  # all elements equal: a broadcast scalar
            flat = n.attr("value").array.reshape(-1)
            if flat.size and (flat == flat[0]).all():
                src[id(n)] = constant_node(flat[0], n.dtype)
            continue
        if n.op not in ("broadcast_to", "reshape"):
            continue
        inp = n.inputs[0]
        z = src.get(id(inp), inp)
        if n.op == "broadcast_to" or (all(d == 1 for d in z.dims) and n.ndim >= z.ndim):
            src[id(n)] = z
        else:
            lead = n.ndim - inp.ndim  # a reshape that only prepends unit axes
            if lead >= 0 and n.dims[lead:] == inp.dims and all(d == 1 for d in n.dims[:lead]):
                src[id(n)] = z
    return src


def _same_dims(a, b) -> bool:
    """Equal shapes, counting any two run-time sizes as equal (a broadcast between them
    asserts they are at run time, so the formula need not write it)."""
    return len(a) == len(b) and all(x == y or (isinstance(x, str) and isinstance(y, str))
                                    for x, y in zip(a, b))


def _elide_broadcasts(n: Tensor, src: dict[int, Tensor]) -> list[Tensor]:
    """Operands of elementwise ``n`` with explicit broadcasts dropped where NumPy's
    implicit broadcasting gives the same result shape."""
    ins = list(n.inputs)
    for k, i in enumerate(ins):
        z = src.get(id(i))
        if z is None:
            continue
        trial = ins[:k] + [z] + ins[k + 1:]
        dims = broadcast_dims([t.dims for t in trial])
        if dims is not None and _same_dims(dims, n.dims):
            ins = trial
    return ins


class _Style:
    """How one target (NumPy text, LaTeX) writes leaves, constants, nodes and lets."""

    def __init__(self, formula, name, const, let, join):
        self.formula, self.name, self.const, self.let, self.join = formula, name, const, let, join


def _display_graph(t: Tensor):
    """All nodes of ``t``'s graph; the nodes its formula shows, in order; the operands
    shown for each (broadcast chains collapsed, implicit broadcasts dropped); the use
    counts of shown nodes; and the broadcast sources."""
    order = topo_order([t])
    src = _broadcast_sources(order)
    shown_inputs: dict[int, list[Tensor]] = {}
    for n in order:
        if id(n) in src:
            shown_inputs[id(n)] = [src[id(n)]]
        elif OPS[n.op].kind == "elementwise":
            shown_inputs[id(n)] = _elide_broadcasts(n, src)
        else:
            shown_inputs[id(n)] = list(n.inputs)
    for z in src.values():
        shown_inputs.setdefault(id(z), [])
    uses: dict[int, int] = {id(t): 0}
    stack = [t]
    while stack:  # iterative reachability over the shown operands
        n = stack.pop()
        for i in shown_inputs[id(n)]:
            if id(i) not in uses:
                uses[id(i)] = 0
                stack.append(i)
            uses[id(i)] += 1
    shown, placed = [], set()
    for n in order:
        if n.op == "constant" and id(n) in src and id(src[id(n)]) in uses:
            z = src[id(n)]  # a scalar made for the formula: place it before its user
            if id(z) not in placed:
                placed.add(id(z))
                shown.append(z)
        if id(n) in uses:
            shown.append(n)
    return order, shown, shown_inputs, uses, src


def _render(t: Tensor, style: _Style) -> str:
    full, order, shown_inputs, uses, src = _display_graph(t)
    namer = _Namer(full)  # every input keeps its name, shown or not
    dims = _dim_fn(_dim_texts(full, namer))

    text: dict[int, tuple[str, int]] = {}
    lets = []
    for n in order:
        if OPS[n.op].fed:
            text[id(n)] = (style.name(namer(n)), ATOM)
            continue
        if n.op == "constant" and id(n) not in src:
            text[id(n)] = style.const(n)
            continue
        view = _BroadcastView(n, src) if id(n) in src and n.op != "broadcast_to" else n
        s, p = style.formula(view, [text[id(i)] for i in shown_inputs[id(n)]], dims)
        if n is not t and (uses[id(n)] > 1 or len(s) > LINE_LIMIT) and n.op != "shape_size":
            name = namer(n)
            lets.append(style.let(style.name(name), s))
            text[id(n)] = (style.name(name), ATOM)
        else:
            text[id(n)] = (s, p)
    return style.join(lets, text[id(t)][0])


class _BroadcastView:
    """A reshape that only broadcasts (or a constant of equal elements), presented to
    the formula writers as ``broadcast_to`` of its source."""

    op = "broadcast_to"

    def __init__(self, n: Tensor, src: dict):
        self.inputs, self.dims, self.ndim, self.dtype = (src[id(n)],), n.dims, n.ndim, n.dtype
        self.attrs = (("shape", n.dims),)

    def attr(self, name, default=None):
        return self.dims if name == "shape" else default


def _text_const(n: Tensor) -> tuple[str, int]:
    inline = const_text(n)
    if inline is None:
        return f"const{_shape_text(n.dims)}", ATOM
    if n.ndim:
        return f"array({inline})", ATOM
    if inline.endswith(".0"):  # formulas read 3 * a**3 (NumPy keeps the array's float dtype)
        inline = inline[:-2]
    return inline, (3 if inline.startswith("-") else ATOM)


_TEXT = _Style(formula=formula_text, name=lambda s: s, const=_text_const,
               let=lambda name, s: f"{name} = {s}",
               join=lambda lets, last: "\n".join(lets + [last]))


def show_expression(t: Tensor) -> str:
    """The formula of ``t`` in NumPy notation (what ``str(t)`` prints).

    Shared nodes (and pieces too long for one line) become ``t1 = ...`` lines first.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 3))
    >>> W = gc.parameter("W", [[1., 2.], [3., 4.], [5., 6.]])
    >>> h = gc.tanh(x @ W)
    >>> print(gc.grad(gc.mean(h), W))
    t1 = tanh(x @ W)
    x.T @ (1 / (x.shape[0] * 2) * (1 - t1 * t1))
    """
    return _render(t, _TEXT)


def tensor_repr(t: Tensor) -> str:
    dtype = t.dtype.name
    if t.op == "constant":
        values = " ".join(np.array2string(t.attr("value").array, separator=", ",
                                          threshold=20, max_line_width=10**6).split())
        return f"Tensor(constant {values}, shape={t.shape}, dtype={dtype})"
    if t.name is not None:
        return f"Tensor({t.op} {t.name!r}, shape={t.shape}, dtype={dtype})"
    return f"Tensor({t.op}, shape={t.shape}, dtype={dtype}, created at {t.location})"


# ---- LaTeX of any graph ----------------------------------------------------------------------

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


def _latex_formula(n, args, dim=format_dim) -> tuple[str, int]:
    """LaTeX and precedence of one node given its operands' (LaTeX, precedence)."""
    op = OPS[n.op]

    def wrap(k, prec, right=False):
        text, p = args[k]
        return rf"\left({text}\right)" if _needs_parens(p, prec, right) else text

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
    if n.op == "shape_size":
        return r" \cdot ".join(_latex_dim(dim(d)) for d in n.attr("shape")), 2
    if op.latex is not None:
        return call(op.latex)
    escaped = n.op.replace("_", r"\_")
    return call(rf"\operatorname{{{escaped}}}")


def _latex_const(n: Tensor) -> tuple[str, int]:
    arr = n.attr("value").array
    flat = arr.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        text = _scalar_text(flat[0])
        text = text[:-2] if text.endswith(".0") else text
        return text, (3 if text.startswith("-") else ATOM)
    shape = r" \times ".join(map(str, arr.shape))
    return rf"C_{{{shape}}}", ATOM


_LATEX = _Style(formula=_latex_formula, name=_latex_name, const=_latex_const,
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
        return _render(t, _LATEX)


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
    transparent (they do not change an element's formula); a run-time size is a
    positive symbol named like ``x.shape[0]``. Reductions and matmul have no
    elementwise formula: use ``gc.show`` or ``str(t)`` for those.

    >>> import graphc as gc
    >>> b = gc.parameter("b", [7., 5.])
    >>> gc.expr(gc.grad(gc.sum(-b**2), b))
    -2*b
    >>> x = gc.placeholder("x", (None,))
    >>> gc.expr(gc.grad(gc.mean(x * x), x))
    2*x/x.shape[0]
    """
    import sympy

    if not isinstance(t, Tensor):
        raise GraphcError(f"expr: expected a Tensor, got {type(t).__name__}")
    order = topo_order([t])
    namer = _Namer(order)
    dims = _dim_fn(_dim_texts(order, namer))
    env = {}
    for n in order:
        op = OPS[n.op]
        if op.fed:
            env[id(n)] = sympy.Symbol(namer(n), real=True)
        elif n.op == "constant":
            arr = n.attr("value").array
            flat = arr.reshape(-1)
            if flat.size and np.all(flat == flat[0]):
                env[id(n)] = _sympy_number(flat[0])
            else:
                env[id(n)] = sympy.Symbol(f"const{_shape_text(n.dims)}")
        elif n.op in _TRANSPARENT:
            env[id(n)] = env[id(n.inputs[0])]
        elif n.op == "cast":
            env[id(n)] = op.sympy(env[id(n.inputs[0])], n.attr("dtype"))
        elif n.op == "shape_size":
            env[id(n)] = sympy.Mul(*(sympy.Symbol(dims(d), positive=True, integer=True)
                                     if isinstance(d, str) else sympy.Integer(d)
                                     for d in n.attr("shape")))
        elif op.kind == "elementwise" and op.sympy is not None:
            env[id(n)] = op.sympy(*(env[id(i)] for i in n.inputs))
        else:
            raise GraphcError(f"expr: {n.op} (created at {n.location}) is not elementwise, so "
                              f"the graph has no elementwise formula; use gc.show(t) or str(t)")
    return env[id(t)]


# ---- how a Tensor shows itself (attached here: the IR knows nothing of printing) -------------
Tensor.__repr__ = tensor_repr
Tensor.__str__ = show_expression
Tensor._repr_latex_ = lambda t: f"$${latex(t)}$$"
