"""Names in printed graphs: leaves by their names, other nodes ``t1, t2...`` in order,
run-time sizes after the input they come from (``x.shape[0]``), constants inline."""
from __future__ import annotations

import re
from typing import Callable

import numpy as np

from ..ir import Tensor, format_dim
from ..ops import OPS
from .. import ir as _ir


def visible(name: str) -> str:
    """A user's name with control characters written as escapes (``new\\nline``), so a
    printed graph keeps one line per node whatever the names hold."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in name)


class Namer:
    """Unique names: leaves keep the user's names; computed nodes get ``t1, t2, ...`` in
    the order they are *shown* (so the numbering has no gaps)."""

    def __init__(self, order: list[Tensor]):
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = 0
        for n in order:
            if n.name is not None:
                base = name = visible(n.name)
                k = 1
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
    namer = Namer(order)
    for n in order:
        namer(n)
    return namer.names


def dim_texts(order: list[Tensor], namer: Namer) -> dict[str, str]:
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


def dim_fn(dim_texts: dict[str, str] | None) -> Callable:
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


def shape_text(dims, fmt=format_dim) -> str:
    inner = ", ".join(fmt(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def scalar_text(v) -> str:
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
        return scalar_text(arr)
    if arr.size <= 8:
        return " ".join(np.array2string(arr, separator=", ", max_line_width=10**6).split())
    return None
