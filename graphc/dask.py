"""graphc on Dask: evaluate and train a graph over data split into chunks of rows.

``gc.dask.compile(outputs, inputs=None, updates=None, backend="numpy", split_every=None,
**options)`` mirrors ``gc.compile``; the callable it returns takes ``dask.array``s chunked
along the placeholders' run-time (``None``) dimension (NumPy arrays too) and runs on the
current Dask scheduler: a ``distributed.Client`` if one is active, else Dask's default.

graphc splits the graph itself (``graphc.distributed.split``): outputs with a row per
input row come back as dask arrays chunked like the input; outputs that reduce over the
rows (``sum``, ``mean``, ``max``, ``min``, ``logsumexp``, and gradients of losses that are
sums or means over rows) are computed per chunk, combined by a tree reduction (at most
``split_every`` parts per task) and finished on the driver as NumPy arrays, with
``mean``'s count the global row count. With ``updates`` one call is one full-batch step:
the updates are applied once, on the driver, to the parameters, whose new values the next
call sends to the workers (``client.scatter(..., broadcast=True)``). Workers receive the
graph as graphc's data-only graph file and compile it once per process. An output that
needs a second pass over the data (a softmax over the rows) raises
``UnsplittableError`` naming it.

Needs ``pip install "graphc[dask]"``; ``import graphc`` never imports Dask.

>>> import numpy as np, dask.array as da, graphc as gc
>>> import graphc.dask
>>> x = gc.placeholder("x", (None, 2), "float64")
>>> w = gc.parameter("w", [0.0, 0.0], "float64")
>>> loss = gc.mean((x @ w - 1.0) ** 2)
>>> step = gc.dask.compile(loss, updates=gc.optim.sgd(loss, [w], lr=0.9))
>>> data = da.from_array(np.array([[1., 0.], [0., 1.], [1., 1.]]), chunks=2)
>>> for _ in range(60):
...     _ = step(data)
>>> np.round(w.value, 3)
array([0.667, 0.667])
"""
from __future__ import annotations

import importlib.util
import uuid

import dask
import dask.array as da
import numpy as np
from dask import delayed

from . import api
from .compiler import compile as compile_local
from .distributed.split import (UnsplittableError, split_graph, stand_ins,
                                substitute)
from .distributed.worker import ChunkProgram, combine_partials, run_chunk
from .errors import BackendUnavailable, CompileError, FeedError
from .ir import Tensor, as_list, format_shape, topo_order

__all__ = ["compile", "evaluate", "check_workers", "DaskFunction", "UnsplittableError"]

DEFAULT_SPLIT_EVERY = 8
_checked_workers: set = set()


def compile(outputs, inputs=None, updates=None, backend: str = "numpy",
            split_every: int | None = None, **options) -> "DaskFunction":
    """A callable running ``outputs`` (and ``updates``) over chunks of rows on Dask; see the
    module docstring. ``options`` are ``gc.compile``'s (``check_numerics=True`` names the
    chunk, its rows and the first node that made a NaN/Inf).

    >>> import dask.array as da, graphc as gc
    >>> import graphc.dask
    >>> x = gc.placeholder("x", (None,), "float64")
    >>> f = gc.dask.compile([gc.mean(x), x * 2.0])
    >>> mean, doubled = f(da.arange(10.0, chunks=4))
    >>> float(mean), doubled.chunks
    (4.5, ((4, 4, 2),))
    """
    return DaskFunction(outputs, inputs, updates, backend, split_every, options)


def evaluate(outputs, feeds: dict, backend: str = "numpy", **options):
    """One-shot form: ``feeds`` maps placeholders (tensors or names) to arrays, as
    ``gc.evaluate``.

    >>> import numpy as np, dask.array as da, graphc as gc
    >>> import graphc.dask
    >>> x = gc.placeholder("x", (None,), "float64")
    >>> round(float(gc.dask.evaluate(gc.logsumexp(x, axis=0), {"x": da.arange(5.0, chunks=2)})), 4)
    4.4519
    """
    needed = [n for n in topo_order(as_list(outputs)) if n.op == "placeholder"]
    by_name = {p.name: p for p in needed}
    keyed = {}
    for k, v in feeds.items():
        p = k if isinstance(k, Tensor) else by_name.get(k)
        if p is None:
            raise FeedError(f"graphc.dask.evaluate: unknown input {k!r}; the outputs read "
                            f"{[q.name for q in needed]}")
        keyed[id(p)] = (p, v)
    inputs = [p for p, _ in keyed.values()]
    return compile(outputs, inputs=inputs, backend=backend, **options)(
        *[v for _, v in keyed.values()])


class DaskFunction:
    """``gc.dask.compile``'s result: ``f(*inputs, **feeds)`` as ``gc.Function``, over chunks.

    ``f.split`` tells how the graph was split (``graphc.distributed.split.SplitGraph``);
    ``f.driver`` is the ``gc.Function`` that finishes on the driver (``None`` if every
    output is per row)."""

    def __init__(self, outputs, inputs, updates, backend, split_every, options):
        self.structure = ("single" if isinstance(outputs, Tensor) else
                          "tuple" if isinstance(outputs, tuple) else "list")
        self.outputs = as_list(outputs)
        given_pairs = updates.items() if isinstance(updates, dict) else (updates or [])
        pairs = [(p, v if isinstance(v, Tensor) else api.constant(v, p.dtype))
                 for p, v in given_pairs]
        roots = self.outputs + [v for _, v in pairs]
        needed = [n for n in topo_order(roots) if n.op == "placeholder"]
        self.inputs = needed if inputs is None else as_list(inputs)
        if not all(isinstance(i, Tensor) and i.op == "placeholder" for i in self.inputs):
            raise CompileError(f"graphc.dask.compile: inputs must be placeholders, got "
                               f"{self.inputs!r}")
        missing = [n.name for n in needed if all(n is not i for i in self.inputs)]
        if missing:
            raise CompileError(f"graphc.dask.compile: the outputs need placeholder(s) "
                               f"{missing}, which are not in inputs")
        self.split_every = split_every or DEFAULT_SPLIT_EVERY
        if self.split_every < 2:
            raise CompileError(f"graphc.dask.compile: split_every must be at least 2, got "
                               f"{split_every}")
        s = self.split = split_graph(self.outputs, self.inputs, [v for _, v in pairs])
        # chunk graphs read parameters as inputs (sent each call) and the row counts as
        # inputs fed the global count (a chunk's own count would make mean a chunk mean)
        size_in, param_in = stand_ins(s.sizes, "rows"), stand_ins(s.params, "param")
        chunk_inputs = [*s.batched, *s.replicated, *param_in.values(), *size_in.values()]
        chunk_replace = {**param_in, **size_in}
        self.rows_program = self.partials_program = None
        if s.row_outputs:
            self.rows_program = ChunkProgram(substitute(
                [self.outputs[k] for k in s.row_outputs], chunk_replace), chunk_inputs,
                backend, options)
        if s.partials:
            self.partials_program = ChunkProgram(substitute(s.partials, chunk_replace),
                                                 chunk_inputs, backend, options)
        self.driver = self._driver_function(pairs, size_in, backend, options)

    def _driver_function(self, pairs, size_in: dict, backend: str, options: dict):
        """The finish on the driver: outputs and updates over the combined partials."""
        s = self.split
        kept = [o for k, o in enumerate(self.outputs) if k not in s.row_axes]
        if not kept and not pairs:
            return None
        partial_in = stand_ins(s.partials, "partial")
        finished = substitute(kept + [v for _, v in pairs], {**partial_in, **size_in})
        return compile_local(
            finished[:len(kept)], inputs=[*partial_in.values(), *size_in.values(),
                                          *s.replicated],
            updates={p: v for (p, _), v in zip(pairs, finished[len(kept):])},
            backend=backend, **options)

    def __repr__(self) -> str:
        s = self.split
        ins = ", ".join(f"{p.name}: {p.dtype.name}{format_shape(p.dims)}" for p in self.inputs)
        updates = len(self.driver.update_params) if self.driver else 0
        return (f"<graphc.dask function ({ins}) -> {len(self.outputs)} output(s), "
                f"{len(s.row_outputs)} per row; {len(s.partials)} partial(s) "
                f"{sorted(set(s.combine_kinds))} combined over chunks; {updates} update(s)>")

    # ---- calling ------------------------------------------------------------------------
    def __call__(self, *args, **feeds):
        """Run once over all rows; returns per-row outputs as dask arrays (lazy, with this
        call's parameter values) and the others as NumPy arrays; applies the updates."""
        given = self._given(args, feeds)
        s = self.split
        batched = _align_rows([given[id(p)] for p in s.batched], s.batched)
        nrows = batched[0].shape[_row_axis(s.batched[0])] if batched else 0
        sizes = [_global_size(n, s.row_symbols, nrows) for n in s.sizes]
        replicated = [np.asarray(given[id(p)]) for p in s.replicated]
        chunk_args = _shared_args([p.value for p in s.params], replicated)
        # unoptimized: the optimized (fused) per-block graphs broke a later slice of a
        # per-row output on a process cluster (KeyError on a fused key)
        blocks = [list(b.to_delayed(optimize_graph=False).ravel()) for b in batched]
        bounds = _chunk_bounds(batched[0], s.batched[0]) if batched else [(0, 0)]
        per_chunk = [[b[i] for b in blocks] for i in range(len(bounds))]
        results: list = [None] * len(self.outputs)
        if self.rows_program is not None:
            self._row_outputs(results, per_chunk, bounds, chunk_args, sizes)
        if self.driver is not None:
            combined = []
            if self.partials_program is not None:
                # an empty chunk has no partial (a max over no rows has no value)
                full = [k for k, (a, b) in enumerate(bounds) if b > a] or [0]
                combined = self._reduce([per_chunk[k] for k in full],
                                        [_labels(bounds)[k] for k in full], chunk_args, sizes)
            finished = self.driver(*combined, *sizes, *replicated)
            rest = iter(finished)
            for k in range(len(self.outputs)):
                if k not in s.row_axes:
                    results[k] = next(rest)
        if self.structure == "single":
            return results[0]
        return tuple(results) if self.structure == "tuple" else results

    def _given(self, args, feeds) -> dict:
        if len(args) > len(self.inputs):
            raise FeedError(f"got {len(args)} positional inputs, but the function takes "
                            f"{len(self.inputs)}: {[i.name for i in self.inputs]}")
        given = {id(p): a for p, a in zip(self.inputs, args)}
        for name, value in feeds.items():
            match = [p for p in self.inputs if p.name == name]
            if len(match) != 1:
                raise FeedError(f"input name {name!r} matches {len(match)} inputs; the inputs "
                                f"are {[i.name for i in self.inputs]}")
            given[id(match[0])] = value
        absent = [p.name for p in self.inputs if id(p) not in given]
        if absent:
            raise FeedError(f"missing input(s) {absent}")
        return given

    def _chunk_tasks(self, program, per_chunk, labels, chunk_args, sizes) -> list:
        # one graph key for the program, the same every call: shipped once, not per task
        prog = delayed(program, name=f"graphc-program-{dask.base.tokenize(program)}")
        return [delayed(run_chunk, pure=False)(prog, label, *chunk_args, sizes, *blocks)
                for label, blocks in zip(labels, per_chunk)]

    def _row_outputs(self, results, per_chunk, bounds, chunk_args, sizes):
        labels = _labels(bounds)
        s = self.split
        parts = self._chunk_tasks(self.rows_program, per_chunk, labels, chunk_args, sizes)
        for j, k in enumerate(s.row_outputs):
            out, axis = self.outputs[k], s.row_axes[k]
            pieces = [da.from_delayed(part[j], dtype=out.dtype, shape=tuple(
                b - a if isinstance(d, str) else d for d in out.dims))
                for part, (a, b) in zip(parts, bounds)]
            results[k] = da.concatenate(pieces, axis=axis)

    def _reduce(self, per_chunk, labels, chunk_args, sizes) -> list:
        """Per-chunk partials, tree-combined, computed: the combined values (NumPy)."""
        level = self._chunk_tasks(self.partials_program, per_chunk, labels, chunk_args, sizes)
        kinds = tuple(self.split.combine_kinds)
        while len(level) > 1:
            level = [delayed(combine_partials, pure=False)(kinds, *level[k:k + self.split_every])
                     for k in range(0, len(level), self.split_every)]
        (combined,) = dask.compute(level[0])
        return combined


# ---- feeding chunks ----------------------------------------------------------------------

def _row_axis(p: Tensor) -> int:
    return next(k for k, d in enumerate(p.dims) if isinstance(d, str))


def _align_rows(values: list, placeholders: list) -> list:
    """Every batched input as a dask array with the same row chunks (those of the first
    dask array given, else Dask's automatic ones), whole along its other axes."""
    first = next((k for k, v in enumerate(values) if isinstance(v, da.Array)), None)
    row_chunks = "auto" if first is None else values[first].chunks[_row_axis(placeholders[first])]
    out = []
    for v, p in zip(values, placeholders):
        axis = _row_axis(p)
        if not isinstance(v, da.Array):
            v = np.asarray(v)
        if v.ndim != p.ndim:
            raise FeedError(f"input {p.name!r} has shape {v.shape}, the placeholder has "
                            f"{p.shape}")
        whole = {a: -1 for a in range(v.ndim) if a != axis}
        v = da.from_array(v, chunks={**whole, axis: row_chunks}) if isinstance(v, np.ndarray) \
            else v.rechunk(whole)
        if any(np.isnan(c) for c in v.chunks[axis]):
            raise FeedError(f"input {p.name!r} has chunks of unknown size; call "
                            f"x.compute_chunk_sizes() first")
        out.append(v)
    rows = {v.chunks[_row_axis(p)] for v, p in zip(out, placeholders)}
    if len(rows) > 1:
        raise FeedError("graphc.dask: the batched inputs must have the same rows in the same "
                        "chunks; got " + ", ".join(f"{p.name!r}: {v.chunks[_row_axis(p)]}"
                                                   for v, p in zip(out, placeholders)))
    return out


def _labels(bounds: list) -> list[str]:
    return [f"chunk {i} (rows {a}:{b})" for i, (a, b) in enumerate(bounds)]


def _chunk_bounds(v, p) -> list[tuple[int, int]]:
    ends = np.cumsum((0,) + v.chunks[_row_axis(p)])
    return [(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:])]


def _global_size(n: Tensor, symbols, nrows: int) -> np.ndarray:
    """A ``shape_size`` node's value over all rows (never one chunk's)."""
    count = 1
    for d in n.attr("shape"):
        count *= nrows if d in symbols else d
    return np.asarray(count, dtype=n.dtype)


def _shared_args(params: list, replicated: list) -> tuple:
    """Parameter values and replicated inputs as the chunk tasks receive them: scattered
    to every worker by the active ``distributed`` client, else one graph key each."""
    client = _active_client()
    if client is not None:
        check_workers(client)
        return (client.scatter(params, broadcast=True, hash=False) if params else [],
                client.scatter(replicated, broadcast=True, hash=False) if replicated else [])
    token = uuid.uuid4().hex   # named, so Dask does not hash the arrays
    return (delayed(params, name=f"graphc-params-{token}", traverse=False),
            delayed(replicated, name=f"graphc-replicated-{token}", traverse=False))


def _active_client():
    """The ``distributed.Client`` that ``dask.compute`` would use now, or ``None``."""
    try:
        from distributed import Client
    except ImportError:
        return None
    scheduler = dask.base.get_scheduler()
    owner = getattr(scheduler, "__self__", None)
    return owner if isinstance(owner, Client) else None


def check_workers(client, module: str = "graphc") -> None:
    """Raise ``BackendUnavailable`` naming every worker of ``client`` that cannot import
    ``module`` (checked once per set of workers; called before each distributed run).

    A worker lacking graphc would otherwise fail deep inside Dask's deserialization."""
    workers = frozenset(client.scheduler_info()["workers"])
    if (client.id, workers, module) in _checked_workers:
        return
    found = client.run(importlib.util.find_spec, module, on_error="return")
    lacking = {w: r for w, r in found.items() if r is None or isinstance(r, BaseException)}
    if lacking:
        raise BackendUnavailable(
            f"graphc.dask: {module} is not importable on worker(s) " + ", ".join(
                f"{w}" + (f" ({type(r).__name__}: {r})" if r is not None else "")
                for w, r in lacking.items()) +
            "; install it in every worker's environment (for graphc: pip install graphc, or "
            "the same checkout with pip install -e .)")
    _checked_workers.add((client.id, workers, module))
