"""``show(outputs)``: a jaxpr-like SSA listing, one line per computed node with its dtype
and shape, numbered ``t1, t2, ...`` in the order the lines appear."""
from __future__ import annotations

from ..ir import Tensor, as_list, dtype_short, topo_order
from ..ops import OPS
from ..subgraph import Body
from .naming import Namer, const_text, shape_text


def _attrs_text(n: Tensor, bodies: dict, pending: list) -> str:
    parts = []
    for k, v in n.attrs:
        if k in ("name", "uid", "value"):
            continue
        if k == "shape":
            v = shape_text(v)
        elif isinstance(v, Body) or (isinstance(v, tuple) and v and isinstance(v[0], Body)):
            labels = [_body_label(b, bodies, pending) for b in (v if isinstance(v, tuple)
                                                                  else (v,))]
            v = labels[0] if isinstance(v, Body) else f"({', '.join(labels)})"
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _body_label(body: Body, bodies: dict, pending: list) -> str:
    """``body3``: one label per sub-graph; a new one is listed after the line using it."""
    label = bodies.get(id(body))
    if label is None:
        label = bodies[id(body)] = f"{body.kind}_body{len(bodies) + 1}"
        pending.append((label, body))
    return label


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
    params, lines, rets = _listing(outs, None, "  ", {})
    head = f"{title} " if title else ""
    return "\n".join([f"{head}graph({', '.join(params)}) {{"] + lines
                     + [f"  return {rets}", "}"])


def _listing(outs: list, inputs, indent: str, bodies: dict):
    """(parameter texts, lines, return text) of one graph; bodies of loops and branches
    are listed nested under the first line that uses them, like a jaxpr."""
    order = topo_order(outs)
    if inputs is not None:   # a body: its inputs in operand order, used or not
        seen = {id(p) for p in inputs}
        order = list(inputs) + [n for n in order if id(n) not in seen]
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
        pending: list = []
        attrs = _attrs_text(n, bodies, pending)
        if n.op == "constant":
            call = f"constant(<{n.attr('value').array.size} values>)"
        else:
            call = f"{n.op}({', '.join(args + ([attrs] if attrs else []))})"
        lines.append(f"{indent}{namer(n)}: {_type_text(n)} = {call}")
        for label, body in pending:
            inner_params, inner, rets = _listing(list(body.outputs), body.inputs,
                                                 indent + "    ", bodies)
            lines.append(f"{indent}  {label} = lambda {', '.join(inner_params)} {{")
            lines += inner
            lines.append(f"{indent}    return {rets}")
            lines.append(f"{indent}  }}")
    rets = ", ".join(inline.get(id(o)) or namer(o) for o in outs)
    return params, lines, rets
