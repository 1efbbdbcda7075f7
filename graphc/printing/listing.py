"""``show(outputs)``: a jaxpr-like SSA listing, one line per computed node with its dtype
and shape, numbered ``t1, t2, ...`` in the order the lines appear."""
from __future__ import annotations

from ..ir import Tensor, as_list, dtype_short, topo_order
from ..ops import OPS
from .naming import Namer, const_text, shape_text


def _attrs_text(n: Tensor) -> str:
    parts = []
    for k, v in n.attrs:
        if k in ("name", "uid", "value"):
            continue
        if k == "shape":
            v = shape_text(v)
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
    namer = Namer(order)
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
