"""Splitting a graph into per-chunk work and a finish on the driver (no Dask needed here).

Every placeholder with a run-time (``None``) dimension is *batched*: its rows are split
into chunks along that dimension. Each node of the graph gets one role:

- ``ROW``: it has the rows on one axis, and its row ``i`` depends only on row ``i`` of the
  inputs (elementwise ops, matmul not contracting the rows, reductions over other axes,
  transposes, row-keeping reshapes): computed chunk by chunk, blockwise.
- ``SAME``: it depends on no batched data (parameters, constants, other placeholders,
  the global row count ``x.shape[0]``): the same value everywhere.
- ``PARTIAL``: the first node that reduces over the rows: ``sum`` (also a matmul that
  contracts the rows, which is how the gradient of a loss reaches a weight), ``max``,
  and ``logsumexp`` (graphc's composite, recognised whole). Each chunk computes its
  partial; partials are combined by a tree reduction (added, maxed, or log-add-exp'ed).
- ``DRIVER``: computed once on the driver from combined partials (``mean``'s division by
  the global count, a loss's final arithmetic, optimizer updates).

Anything else (a softmax over the rows, centring by the batch mean, the gradient of a
``max`` over the rows) needs a second pass over the data: such an output is refused with
an ``UnsplittableError`` naming it and the node that mixes rows across chunks.

>>> import graphc as gc
>>> from graphc.distributed.split import split_graph
>>> x = gc.placeholder("x", (None, 3), "float64")
>>> w = gc.parameter("w", [1., 2., 3.], "float64")
>>> s = split_graph([gc.mean(x @ w), x * w], [x], [])
>>> [n.op for n in s.partials], s.row_outputs
(['sum'], [1])
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..api import placeholder
from ..bind import OPS
from ..errors import GraphcError
from ..ir import Tensor, topo_order
from ..passes.rewrite import remake

ROW, SAME, PARTIAL, DRIVER = "row", "same", "partial", "driver"


class UnsplittableError(GraphcError, ValueError):
    """An output that cannot be computed chunk by chunk in one pass over the rows."""


@dataclass(frozen=True)
class Poison:
    """Why a node cannot be split (kept lazily: only an output that needs it fails)."""

    reason: str


@dataclass
class SplitGraph:
    """The result of ``split_graph``.

    ``partials``/``combine_kinds``: the reducing nodes each chunk computes and how their
    per-chunk values combine (``"sum"``, ``"max"``, ``"logsumexp"``); ``row_outputs``: the
    indices of the outputs computed blockwise, with ``row_axes`` their row axis;
    ``row_symbols``: the run-time size names of the rows; ``batched``/``replicated``: the
    inputs split into chunks and the ones every chunk gets whole; ``params``: the
    parameters the chunks read; ``sizes``: the ``shape_size`` nodes that count rows (fed
    the global count, never the chunk's)."""

    partials: list
    combine_kinds: list
    row_outputs: list
    row_axes: dict
    row_symbols: frozenset
    batched: list
    replicated: list
    params: list
    sizes: list


def row_symbol(p: Tensor) -> str | None:
    """The run-time size a placeholder's rows are split along (``None`` if it has none)."""
    symbols = [d for d in p.dims if isinstance(d, str)]
    if len(symbols) > 1:
        raise UnsplittableError(f"graphc.dask splits placeholders along one run-time "
                                f"dimension; {p.name!r} (created at {p.location}) has "
                                f"{len(symbols)}: {p.shape}")
    return symbols[0] if symbols else None


def _row_axes(n: Tensor, symbols) -> list[int]:
    return [k for k, d in enumerate(n.dims) if d in symbols]


def _aligned_axis(inp: Tensor, out: Tensor, out_axis: int) -> int:
    """The input axis NumPy broadcasting aligns with ``out_axis`` (negative: none)."""
    return out_axis - (out.ndim - inp.ndim)


def _shifted_max(m: Tensor) -> Tensor | None:
    """The ``max`` under logsumexp's shift ``m``: ``stop_gradient(max(..))``, made finite by
    ``where(abs(.) < inf, ., 0)`` as the composite does; else ``None``."""
    if m.op == "where" and m.inputs[0].op == "less" and m.inputs[0].inputs[0].op == "abs" \
            and m.inputs[0].inputs[0].inputs[0] is m.inputs[1]:
        m = m.inputs[1]
    return m.inputs[0] if m.op == "stop_gradient" and m.inputs[0].op == "max" else None


def _is_logsumexp_over_rows(n: Tensor, roles: dict, symbols) -> bool:
    """``log(sum(exp(X - m), A, keepdims)) + m`` with ``m = stop_gradient(max(X, A, keepdims))``
    (made finite) and ``A`` containing X's row axis: graphc's ``logsumexp`` composite over
    the rows."""
    if n.op != "add" or len(n.inputs) != 2:
        return False
    log_s, m = n.inputs
    mx = _shifted_max(m)
    if not (log_s.op == "log" and mx is not None):
        return False
    s = log_s.inputs[0]
    if not (s.op == "sum" and s.inputs[0].op == "exp" and s.inputs[0].inputs[0].op == "sub"):
        return False
    x, shift = s.inputs[0].inputs[0].inputs
    axes = mx.attr("axes")
    return (shift is m and mx.inputs[0] is x and roles[id(x)] == ROW
            and s.attr("axes") == axes and s.attr("keepdims") and mx.attr("keepdims")
            and any(a in axes for a in _row_axes(x, symbols)))


def _row_node_problem(n: Tensor, symbols, roles: dict) -> str | None:
    """Why ``n`` (which has the rows on one axis) cannot be computed chunk by chunk."""
    (axis,) = _row_axes(n, symbols)
    kind = OPS[n.op].kind
    rows_in = [i for i in n.inputs if roles[id(i)] == ROW]
    if kind == "elementwise" or n.op == "broadcast_to":
        bad = [i for i in rows_in if _row_axes(i, symbols) != [_aligned_axis(i, n, axis)]]
        return "broadcasts the rows against another axis" if bad else None
    if kind in ("reduce", "index") or n.op == "transpose":
        return None   # a reduction keeping the rows reduces within each row
    if n.op == "reshape":
        (x,) = n.inputs
        (x_axis,) = _row_axes(x, symbols)
        before_in, before_out = x.dims[:x_axis], n.dims[:axis]
        if all(isinstance(d, int) for d in before_in + before_out) and \
                prod(before_in) == prod(before_out):
            return None
        return "reshapes the rows into other axes"
    if n.op == "matmul":
        contracted = [i.dims[-1 if k == 0 else (0 if i.ndim == 1 else -2)]
                      for k, i in enumerate(n.inputs)]
        return "contracts the rows" if any(d in symbols for d in contracted) else None
    return f"graphc.dask does not know how op {n.op!r} treats the rows"


def _reduces_rows(n: Tensor, symbols, roles: dict) -> str | None:
    """The combine kind if ``n`` (which has no row axis, some input has) is a reduction
    over the rows that chunks can compute in part; else ``None``."""
    if n.op in ("sum", "max"):
        (x,) = n.inputs
        return n.op if any(a in n.attr("axes") for a in _row_axes(x, symbols)) else None
    if n.op == "matmul" and all(roles[id(i)] == ROW for i in n.inputs):
        return "sum"   # contracting the rows: a sum over rows of per-row products
    return None


def classify(order: list[Tensor], symbols: frozenset) -> dict:
    """Role of every node of ``order`` (a topological order): ``ROW``, ``SAME``,
    ``(PARTIAL, kind)``, ``DRIVER`` or a ``Poison``."""
    roles: dict = {}
    for n in order:
        roles[id(n)] = _role(n, symbols, roles)
    return roles


def _role(n: Tensor, symbols, roles: dict):
    if n.op == "placeholder":
        return ROW if _row_axes(n, symbols) else SAME
    if not n.inputs:
        return SAME  # parameters, constants, row counts (fed the global count)
    ins = [roles[id(i)] for i in n.inputs]
    if _is_logsumexp_over_rows(n, roles, symbols):
        return (PARTIAL, "logsumexp")
    poisoned = next((r for r in ins if isinstance(r, Poison)), None)
    if poisoned:
        return poisoned
    where = f"{n.op} (created at {n.location})"
    kinds = {r if isinstance(r, str) else PARTIAL for r in ins}
    axes = _row_axes(n, symbols)
    if len(axes) > 1:
        return Poison(f"{where} pairs rows with rows (its shape has the rows on "
                      f"{len(axes)} axes)")
    if axes:
        if kinds & {PARTIAL, DRIVER}:
            return Poison(f"{where} uses a value reduced over all rows inside a per-row "
                          f"computation (that needs a second pass over the data)")
        problem = _row_node_problem(n, symbols, roles)
        return Poison(f"{where} {problem}") if problem else ROW
    if ROW not in kinds:
        return DRIVER if kinds & {PARTIAL, DRIVER} else SAME
    if kinds & {PARTIAL, DRIVER}:
        return Poison(f"{where} combines rows with a value reduced over all rows")
    combine = _reduces_rows(n, symbols, roles)
    if combine is None:
        return Poison(f"{where} mixes rows across chunks in a way graphc.dask cannot split")
    return (PARTIAL, combine)


def _describe(t: Tensor, k: int, what: str) -> str:
    return f"{what} {k} ({t.op} of shape {t.shape}, created at {t.location})"


def split_graph(outputs: list[Tensor], inputs: list[Tensor], update_values: list[Tensor]
                ) -> SplitGraph:
    """Roles of the graph of ``outputs`` and ``update_values``; raises ``UnsplittableError``
    for an output or update that cannot be split (see the module docstring)."""
    batched = [p for p in inputs if row_symbol(p) is not None]
    symbols = frozenset(row_symbol(p) for p in batched)
    order = topo_order(list(outputs) + list(update_values))
    roles = classify(order, symbols)
    row_outputs, row_axes = [], {}
    for k, (t, what) in enumerate([(o, "output") for o in outputs] +
                                  [(v, "update") for v in update_values]):
        role = roles[id(t)]
        label = _describe(t, k if what == "output" else k - len(outputs), what)
        if isinstance(role, Poison):
            raise UnsplittableError(f"graphc.dask cannot split {label} across chunks of rows: "
                                    f"{role.reason}")
        if role == ROW:
            if what == "update":
                raise UnsplittableError(f"graphc.dask: {label} has a row per input row; a "
                                        f"parameter's new value must not")
            row_outputs.append(k)
            row_axes[k] = _row_axes(t, symbols)[0]
    partials = _partials_needed([t for k, t in enumerate(list(outputs) + list(update_values))
                                 if k not in row_axes], roles)
    chunk_roots = partials + [outputs[k] for k in row_outputs]
    return SplitGraph(
        partials=partials, combine_kinds=[roles[id(p)][1] for p in partials],
        row_outputs=row_outputs, row_axes=row_axes, row_symbols=symbols, batched=batched,
        replicated=[p for p in inputs if row_symbol(p) is None],
        params=[n for n in topo_order(chunk_roots) if n.op == "parameter"],
        sizes=[n for n in order if n.op == "shape_size"
               and any(d in symbols for d in n.attr("shape"))])


def _partials_needed(roots: list[Tensor], roles: dict) -> list[Tensor]:
    """The ``PARTIAL`` nodes the driver-side ``roots`` read, first-reached first."""
    found, seen, stack = [], set(), list(reversed(roots))
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(roles[id(n)], tuple):
            found.append(n)
        elif roles[id(n)] == DRIVER:
            stack.extend(reversed(n.inputs))
    return found


def substitute(roots: list[Tensor], replace: dict) -> list[Tensor]:
    """``roots`` rebuilt with each node ``n`` where ``id(n)`` is in ``replace`` replaced by
    ``replace[id(n)]`` (nodes below a replaced one are not visited)."""
    new: dict = {}
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        n, expanded = stack.pop()
        if id(n) in new:
            continue
        if id(n) in replace:
            new[id(n)] = replace[id(n)]
            continue
        if not expanded:
            stack.append((n, True))
            stack.extend((i, False) for i in reversed(n.inputs) if id(i) not in new)
            continue
        new[id(n)] = remake(n, [new[id(i)] for i in n.inputs])
    return [new[id(r)] for r in roots]


def stand_ins(nodes: list[Tensor], prefix: str) -> dict:
    """A fresh placeholder (same shape and dtype) per node, keyed by ``id(node)``."""
    return {id(n): placeholder(f"{prefix}{k}_{n.name or n.op}", n.shape, n.dtype)
            for k, n in enumerate(nodes)}
