"""Formulas in NumPy notation (what ``str(t)`` prints) and the machinery every formula
style shares (``Style``, ``render``): nodes used more than once, and pieces that would
make a line too long, become ``let`` lines ``t1 = ...``; broadcasts NumPy would do
implicitly inside an elementwise op are not written out."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..bind import constant_node
from ..ir import Tensor, broadcast_dims, format_dim, topo_order
from ..ops import OPS
from ..subgraph import Body
from .linalg import diagonal_source, linalg_text
from .naming import Namer, const_text, dim_fn, dim_texts, shape_text


LINE_LIMIT = 88  # inline formulas longer than this are split into let lines
ATOM = 9
# matmul binds like * and / in Python; 2.5 marks it so that a mix of the two is
# always parenthesised for the reader ((a * b) @ c, (a @ b) * c)
_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4, "matmul": 2.5}
_BINARY = {name: _PREC[name] for name in ("add", "sub", "mul", "div", "matmul")}


def needs_parens(p: float, prec: float, right: bool) -> bool:
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


def formula_text(n: Tensor, args: list[tuple[str, float]],
             dim: Callable = format_dim) -> tuple[str, float]:
    """Text and precedence of one node given its operands' (text, precedence).

    ``dim`` writes a dimension (a run-time size as ``x.shape[0]``, say)."""
    if not n.attrs and n.op in _CALLS:   # the common cases first: ``tanh(x)``, ``a * b``
        return f"{n.op}({', '.join(a[0] for a in args)})", ATOM
    prec = _BINARY.get(n.op)
    if prec is not None:
        (a, pa), (b, pb) = args
        a = f"({a})" if needs_parens(pa, prec, False) else a
        b = f"({b})" if needs_parens(pb, prec, True) else b
        return f"{a} {OPS[n.op].infix} {b}", prec
    op = OPS[n.op]

    def wrap(k, prec, right=False):
        text, p = args[k]
        return f"({text})" if needs_parens(p, prec, right) else text

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
        shape = shape_text(n.attr("shape"), dim) if n.ndim else "(())"
        return f"{wrap(0, ATOM)}.reshape{shape}", ATOM
    if n.op == "broadcast_to":
        return f"broadcast_to({args[0][0]}, {shape_text(n.attr('shape'), dim)})", ATOM
    if n.op == "cast":
        return f"{wrap(0, ATOM)}.astype({n.attr('dtype')})", ATOM
    if n.op == "one_hot":
        return f"one_hot({args[0][0]}, {n.attr('depth')})", ATOM
    if n.op == "slice" and diagonal_source(n) is not None:
        return f"diagonal({args[0][0]})", ATOM
    if n.op == "slice":
        index = [_slice_text(*axis) for axis in
                 zip(n.attr("starts"), n.attr("steps"), n.dims, n.inputs[0].dims)]
        while len(index) > 1 and index[-1] == ":":
            index.pop()
        return f"{wrap(0, ATOM)}[{', '.join(index)}]", ATOM
    if n.op == "pad":
        widths = ", ".join(f"({lo}, {hi})" for lo, hi in zip(n.attr("lo"), n.attr("hi")))
        extra = f", interior={n.attr('interior')}" if any(n.attr("interior")) else ""
        extra += f", fill={n.attr('fill')!r}" if n.attr("fill") else ""
        return f"pad({args[0][0]}, ({widths}{',' if n.ndim == 1 else ''}){extra})", ATOM
    if op.kind == "lines":   # cumsum(x, axis=1), argsort(x, axis=0, descending=True)
        extra = "".join(f", {k}=True" for k in ("reverse", "descending", "index")
                        if n.attr(k))
        extra += f", count={n.attr('count')}" if n.attr("count") is not None else ""
        return f"{n.op}({args[0][0]}, axis={n.attr('axis')}{extra})", ATOM
    if n.op == "shape_size":
        dims = n.attr("shape")
        if len(dims) == 1:
            return dim(dims[0]), ATOM
        return " * ".join(dim(d) for d in dims), 2
    if n.attr("output") is not None and isinstance(n.attr("output"), int):
        # one result of a loop or branch (graphc.control): say which
        return f"{n.op}({', '.join(a[0] for a in args)})[{n.attr('output')}]", ATOM
    if op.kind == "linalg":
        return linalg_text(n, args)
    return f"{n.op}({', '.join(a[0] for a in args)})", ATOM


# ops written as a plain call of their operands when they have no attributes (what the
# last line of formula_text does): every op the cases above it do not spell otherwise
_SPELLED = {"neg", "add", "sub", "mul", "div", "matmul", "pow", "transpose", "sum", "max",
            "reshape", "broadcast_to", "cast", "one_hot", "slice", "pad", "shape_size"}
_CALLS = frozenset(name for name, op in OPS.items()
                   if name not in _SPELLED and not op.infix and op.kind not in ("lines", "linalg"))


def _slice_text(start, step, size, dim) -> str:
    """One axis of a slice in NumPy's notation (``:``, ``::-1``, ``1:5:2``)."""
    if size == dim and (start, step) == (0, 1):
        return ":"
    if size == dim and step == -1 and start == size - 1:
        return "::-1"
    stop = start + size * step
    text = f"{start}:{stop if stop >= 0 else ''}"
    return text if step == 1 else f"{text}:{step}"


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


class Style:
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
        elif (source := diagonal_source(n)) is not None:   # diagonal(L): the matrix itself
            shown_inputs[id(n)] = [source]
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


def render(t: Tensor, style: Style) -> str:
    full, order, shown_inputs, uses, src = _display_graph(t)
    namer = Namer(full)  # every input keeps its name, shown or not
    dims = dim_fn(dim_texts(full, namer))

    text: dict[int, tuple[str, float]] = {}
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


def _text_const(n: Tensor) -> tuple[str, float]:
    inline = const_text(n)
    if inline is None:
        return f"const{shape_text(n.dims)}", ATOM
    if n.ndim:
        return f"array({inline})", ATOM
    if inline.endswith(".0"):  # formulas read 3 * a**3 (NumPy keeps the array's float dtype)
        inline = inline[:-2]
    return inline, (3 if inline.startswith("-") else ATOM)


_TEXT = Style(formula=formula_text, name=lambda s: s, const=_text_const,
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
    text = render(t, _TEXT)
    bodies: list = []
    for n in topo_order([t]):
        for _, v in n.attrs:
            for b in (v if isinstance(v, tuple) else (v,)):
                if isinstance(b, Body) and not any(b is c for c in bodies):
                    bodies.append(b)
    for b in bodies:   # loops and branches: each body's results as lets, like a jaxpr
        params = ", ".join(p.name or "?" for p in b.inputs)
        text += f"\nwhere {b.kind} body ({params}) ->"
        for k, o in enumerate(b.outputs):
            lines = show_expression(o).splitlines()
            text += f"\n  out{k} = {lines[0]}" if len(lines) == 1 else \
                f"\n  out{k} =" + "".join(f"\n    {line}" for line in lines)
    return text


def tensor_repr(t: Tensor) -> str:
    dtype = t.dtype.name
    if t.op == "constant":
        values = " ".join(np.array2string(t.attr("value").array, separator=", ",
                                          threshold=20, max_line_width=10**6).split())
        return f"Tensor(constant {values}, shape={t.shape}, dtype={dtype})"
    if t.name is not None:
        return f"Tensor({t.op} {t.name!r}, shape={t.shape}, dtype={dtype})"
    return f"Tensor({t.op}, shape={t.shape}, dtype={dtype}, created at {t.location})"
