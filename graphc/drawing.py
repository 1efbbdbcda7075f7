"""Drawings of graphs as SVG: ``gc.draw(outputs)`` and, after compiling, ``f.draw()``.

Each node is a box with its op, the user's name (placeholders and parameters), a small
constant's value, and its dtype and shape; edges run from an input to the slot of its
position (left to right), so ``a - b`` reads the right way round. With Graphviz's
``dot`` installed the layout is dot's; otherwise (or for graphs past ``DOT_MAX_NODES``,
which dot lays out slowly) it is graphc's layered layout (``graphc.layout``), rendered
here, so a drawing always works. ``fused=True`` colours each node by the fused kernel
it runs in (the fusion schedule that the C and CUDA backends render; a legend gives the
kernel names) and draws the values stored to memory with a thick border.

Every user string (names, source locations) is XML-escaped, with characters XML cannot
hold written as escapes; the same graph always gives the same bytes.

>>> import graphc as gc
>>> x = gc.placeholder("x", (None, 3))
>>> svg = draw(gc.tanh(x) * 2)
>>> svg.startswith("<svg"), svg.count('class="node"')   # x, tanh, 2.0, mul
(True, 4)
"""
from __future__ import annotations

import colorsys
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Sequence

from .errors import GraphcError
from .ir import Tensor, as_list, dtype_short, format_dim, topo_order
from .layout import layered_layout
from .ops import OPS
from .passes.fusion import schedule
from .printing import const_text

DOT_MAX_NODES = 1500     # past this, dot takes minutes: use the layered layout
LABEL_CHARS = 32         # longer labels are cut (the full text is in the tooltip)
CHAR_WIDTH = 6.8         # monospace 11px
LINE_HEIGHT = 14.0
BOX_HEIGHT = 2 * LINE_HEIGHT + 10
LEAF_FILL = "#ffffff"
PLAIN_FILL = "#eeeeee"
STORED_BORDER = 3.0
V_BEND = 12.0            # least vertical pull of an edge's curve at each end
ENGINES = ("auto", "dot", "layered")


@dataclass
class NodeLook:
    """What one node's box shows."""

    lines: tuple            # label lines (printable, not yet escaped)
    title: str              # tooltip: the full description (printable lines)
    fill: str
    stored: bool            # materialized by the schedule (thick border)
    kernel: str | None      # kernel name, with fused=True


def draw(outputs, path: str | os.PathLike | None = None, *, fused: bool = False,
         kernel_names: Sequence[str] | None = None, engine: str = "auto") -> str:
    """SVG text of the graph of ``outputs``; written to ``path`` too when given.

    ``fused=True`` colours nodes by fused kernel (named ``kernel_names[k]``, else
    ``k0, k1...``) and marks stored values; ``engine`` is ``"auto"`` (Graphviz's ``dot``
    when installed, else graphc's layered layout), ``"dot"`` or ``"layered"``.

    >>> import graphc as gc
    >>> a = gc.parameter("a", [2., 4.])
    >>> svg = gc.draw(gc.grad(3 * a**3, a, seed=gc.constant([1., 1.])), engine="layered")
    >>> "parameter a" in svg and "f32[2]" in svg
    True
    """
    if engine not in ENGINES:
        raise GraphcError(f"draw: engine must be one of {ENGINES}, got {engine!r}")
    roots = as_list(outputs)
    if not roots or not all(isinstance(t, Tensor) for t in roots):
        raise GraphcError("draw: expected a Tensor or a non-empty list of Tensors")
    order = topo_order(roots)
    looks, legend = _looks(order, roots, fused, kernel_names)
    svg = None
    if engine == "dot" or (engine == "auto" and len(order) <= DOT_MAX_NODES
                           and shutil.which("dot")):
        svg = _dot_svg(order, looks, legend, required=engine == "dot")
    if svg is None:
        svg = _layered_svg(order, looks, legend)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg)
    return svg


# light, distinct colours (ColorBrewer's Set3 without its grey); later kernels get hues a
# golden angle apart
PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
           "#fccde5", "#bc80bd", "#ccebc5", "#ffed6f")


def kernel_colour(k: int) -> str:
    """Fill colour of kernel ``k``.

    >>> kernel_colour(0), kernel_colour(11)
    ('#8dd3c7', '#9fc1f4')
    """
    if k < len(PALETTE):
        return PALETTE[k]
    hue = (0.6 + (k - len(PALETTE)) * 0.381966) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.79, 0.8)
    return "#" + "".join(f"{round(c * 255):02x}" for c in (r, g, b))


# ---- what each box shows ---------------------------------------------------------------

def _looks(order, roots, fused, kernel_names) -> tuple[list, list]:
    """Per node: its look; and the legend, [(kernel name, colour)]."""
    owner, stored, count = _kernel_owners(roots) if fused else ({}, set(), 0)
    names = list(kernel_names) if kernel_names is not None and len(kernel_names) == count \
        else [f"k{k}" for k in range(count)]
    looks = []
    for n in order:
        k = owner.get(id(n))
        head = n.op if n.name is None else f"{n.op} {n.name}"
        if n.op == "constant":
            head = f"const {_const_label(n)}".rstrip()
        kind = f"{dtype_short(n.dtype)}[{','.join(format_dim(d) for d in n.dims)}]"
        title = [head, kind, f"created at {n.location}"]
        if k is not None:
            title.append(f"kernel {names[k]}" + (" (stored)" if id(n) in stored else ""))
        fill = kernel_colour(k) if k is not None else \
            LEAF_FILL if OPS[n.op].kind == "leaf" else PLAIN_FILL
        looks.append(NodeLook((_cut(printable(head)), _cut(printable(kind))),
                              "\n".join(printable(line) for line in title),
                              fill, id(n) in stored, names[k] if k is not None else None))
    return looks, [(name, kernel_colour(k)) for k, name in enumerate(names)]


def _const_label(n: Tensor) -> str:
    """A scalar in its own dtype's shortest form (float32 0.1 is ``0.1``), a small array
    inline, else nothing (the box shows the shape)."""
    arr = n.attr("value").array
    return str(arr[()]) if arr.ndim == 0 else const_text(n) or ""


def _kernel_owners(roots) -> tuple[dict, set, int]:
    """(id(node) -> index of the kernel computing it, ids of stored nodes, kernel count).

    A stored node belongs to its kernel; an inline one to the first kernel that computes
    it (a cheap value may be recomputed by several). A graph with loops runs as staged
    programs (``codegen/native_loops``), not one schedule: its boxes are left uncoloured."""
    if any(OPS[n.op].kind == "loop" for n in topo_order(roots)):
        return {}, set(), 0
    sched = schedule(roots)
    owner: dict[int, int] = {}
    for g in sched.kernels:
        seen = set()
        stack = list(g.members)
        while stack:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            owner.setdefault(id(v), g.index)
            stack.extend(i for i in v.inputs if id(i) not in sched.materialized
                         and OPS[i.op].kind != "leaf")
    return owner, set(sched.materialized), len(sched.kernels)


def printable(text: str) -> str:
    """``text`` with control and non-printable characters written as escapes (``\\n``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "\u2026"


def _xml(text: str) -> str:
    # as xml.sax.saxutils.escape with quotes, whose import pulls in urllib and http (~40 ms)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


# ---- graphc's own rendering ------------------------------------------------------------

def _box_width(look: NodeLook) -> float:
    return max(len(line) for line in look.lines) * CHAR_WIDTH + 16


def _layered_svg(order, looks, legend) -> str:
    index = {id(n): k for k, n in enumerate(order)}
    edges = [(index[id(i)], k) for k, n in enumerate(order) for i in n.inputs]
    widths = [_box_width(look) for look in looks]
    lay = layered_layout(widths, edges, BOX_HEIGHT)
    legend_width = max((len(name) for name, _ in legend), default=0) * CHAR_WIDTH + 60 \
        if legend else 0.0
    width, height = lay.width + legend_width, max(lay.height, 40 + 20 * len(legend))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.1f} {height:.1f}" '
           f'font-family="monospace" font-size="11">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
           '</marker></defs>',
           f'<rect width="{width:.1f}" height="{height:.1f}" fill="white"/>',
           '<g class="edges" fill="none" stroke="#555" stroke-width="1">']
    for k, n in enumerate(order):
        for slot, i in enumerate(n.inputs):
            s = index[id(i)]
            x1, y1 = lay.x[s], lay.y[s] + BOX_HEIGHT
            x2 = lay.x[k] - widths[k] / 2 + widths[k] * (slot + 1) / (len(n.inputs) + 1)
            y2 = lay.y[k]
            bend = max(V_BEND, (y2 - y1) / 3)
            out.append(f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} '
                       f'{x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}" marker-end="url(#arrow)"/>')
    out.append("</g>")
    for k, look in enumerate(looks):
        out.append(_box(k, look, lay.x[k], lay.y[k], widths[k]))
    out.extend(_legend(legend, lay.width, 16.0))
    out.append("</svg>")
    return "\n".join(out) + "\n"



def _box(k: int, look: NodeLook, cx: float, top: float, width: float) -> str:
    kernel = f' data-kernel="{_xml(look.kernel)}"' if look.kernel is not None else ""
    stroke = STORED_BORDER if look.stored else 1.0
    head, kind = (_xml(line) for line in look.lines)
    return (f'<g class="node" id="n{k}"{kernel}><title>{_xml(look.title)}</title>'
            f'<rect x="{cx - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
            f'height="{BOX_HEIGHT:.1f}" rx="4" fill="{look.fill}" stroke="#333" '
            f'stroke-width="{stroke:.1f}"/>'
            f'<text x="{cx:.1f}" y="{top + 5 + LINE_HEIGHT - 3:.1f}" text-anchor="middle" '
            f'font-weight="bold">{head}</text>'
            f'<text x="{cx:.1f}" y="{top + 5 + 2 * LINE_HEIGHT - 3:.1f}" '
            f'text-anchor="middle">{kind}</text></g>')


def _legend(legend, left: float, top: float) -> list[str]:
    if not legend:
        return []
    out = ['<g class="legend">',
           f'<text x="{left:.1f}" y="{top:.1f}" font-weight="bold">fused kernels '
           f'(thick border: stored)</text>']
    for k, (name, colour) in enumerate(legend):
        y = top + 8 + 20 * k
        out.append(f'<rect x="{left:.1f}" y="{y:.1f}" width="14" height="14" fill="{colour}" '
                   f'stroke="#333"/><text x="{left + 20:.1f}" y="{y + 11:.1f}">'
                   f'{_xml(printable(name))}</text>')
    out.append("</g>")
    return out


# ---- Graphviz -------------------------------------------------------------------------

def _dot_text(order, looks, legend) -> str:
    index = {id(n): k for k, n in enumerate(order)}
    lines = ["digraph graphc {", "  rankdir=TB; fontname=monospace; fontsize=11;",
             '  node [shape=box, style="rounded,filled", fontname=monospace, fontsize=11];']
    if legend:
        rows = "".join(f'<tr><td bgcolor="{c}"> </td><td align="left">{_xml(printable(n))}'
                       f"</td></tr>" for n, c in legend)
        lines.append(f'  labelloc=t; labeljust=l; label=<<table border="0"><tr><td '
                     f'colspan="2"><b>fused kernels (thick border: stored)</b></td></tr>'
                     f"{rows}</table>>;")
    for k, look in enumerate(looks):
        label = "\\n".join(_dot_quote(line) for line in look.lines)
        lines.append(f'  n{k} [id="n{k}", label="{label}", tooltip="{_dot_quote(look.title)}",'
                     f' fillcolor="{look.fill}", penwidth={STORED_BORDER if look.stored else 1}];')
    for k, n in enumerate(order):
        for i in n.inputs:
            lines.append(f"  n{index[id(i)]} -> n{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    """Text made safe inside a DOT double-quoted string (``printable`` lines); ``&`` too,
    since dot passes ``&amp;``-like entities through to its SVG unescaped."""
    text = text.replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("\n", "\\n")


def _dot_svg(order, looks, legend, required: bool) -> str | None:
    """dot's SVG, or None when dot is missing or fails (an error if ``required``)."""
    exe = shutil.which("dot")
    try:
        if exe is None:
            raise OSError("Graphviz's dot is not installed")
        done = subprocess.run([exe, "-Tsvg"], input=_dot_text(order, looks, legend),
                              capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as err:
        if required:
            raise GraphcError(f"draw: engine='dot' failed: {err}") from err
        return None
    svg = done.stdout
    return svg[svg.index("<svg"):]  # without the XML prolog and doctype comments
