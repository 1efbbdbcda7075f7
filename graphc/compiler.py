"""``gc.compile``: optimize a graph, hand it to a backend, wrap it in a ``Function``.

The ``Function`` owns what every backend shares: the positional order of inputs,
keyword feeds, feed validation (``graphc.interpreter.check_feed``), run-time sizes,
parameter state and atomic updates, the in-process compile cache and the stats.
"""
from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np

from .codegen.base import Program, backend_builder, check_options
from .codegen.fastcall import make_caller
from .drawing import draw
from .errors import CompileError, FeedError, GraphcError
from .graph_format import read_graph, write_graph
from .interpreter import check_feed
from .params_file import load_params, save_params
from . import progress
from .bind import OPS
from .ir import Tensor, as_list, collector_paused, dims_match, format_shape, topo_order
from .passes.pipeline import run_pipeline
from .step_commit import deferred_interrupts, holding
from .random import counter_updates
from .updates import check_parameter_names, normalize_updates
from .value_checks import check_value, has_requirements

_CACHE: "OrderedDict[tuple, Function]" = OrderedDict()
CACHE_SIZE = 64


def _structure(outputs) -> str:
    if isinstance(outputs, Tensor):
        return "single"
    return "tuple" if isinstance(outputs, tuple) else "list"


def compile(outputs, inputs=None, updates=None, backend: str = "numpy", opt_level: int = 2,
            **options) -> "Function":
    """Compile ``outputs`` (a tensor, a list or a tuple of tensors) into a callable ``Function``.

    ``inputs`` fixes the positional order of the placeholders; when it is omitted, the
    inputs are the placeholders the outputs and updates need, in order of first
    appearance in a depth-first, inputs-first walk of the outputs (then the updates)
    in the order given. Every input can also be fed by keyword (its name).
    ``updates={param: new_value}`` is applied after each call, all new values computed
    from the old ones; a new value has its parameter's shape (it is never broadcast, but
    a plain number fills the parameter) and two parameters of one function never share a
    name. Compiling the same graph again in this process returns the
    same ``Function``.

    Options every backend takes: ``name`` (used in generated code), ``check_numerics``
    (raise ``NumericsError`` naming the first node that made a NaN/Inf),
    ``disable`` (pass names to skip) and ``dump`` (``"after-all"``: print the graph
    after each pass). ``backend="c"`` also takes ``blas=False`` (generated GEMM instead
    of NumPy's BLAS); ``backend="cuda"`` takes ``device="emulate"`` (run the CUDA
    source on the CPU). Any other option is an error.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None,))
    >>> w = gc.parameter("w", [1.0])
    >>> loss = gc.mean((w * x - 2 * x) ** 2)
    >>> step = gc.compile(loss, updates={w: w - 0.1 * gc.grad(loss, w)})
    >>> for _ in range(50):
    ...     _ = step([1.0, 2.0, 3.0])
    >>> round(float(w.value[0]), 3)
    2.0
    """
    check_options(backend, options)
    if outputs is None:
        outputs = []
    structure = _structure(outputs)
    outs = as_list(outputs)
    for o in outs:
        if not isinstance(o, Tensor):
            raise CompileError(f"compile: outputs must be tensors, got {type(o).__name__}")
    pairs = normalize_updates(updates)
    with collector_paused():   # (see below)
        order = topo_order(outs + [v for _, v in pairs])
        streams = counter_updates(outs, pairs, order)   # random streams advance once per call
    pairs += streams
    if inputs is not None:
        inputs = as_list(inputs)
        for i in inputs:
            if not isinstance(i, Tensor) or i.op != "placeholder":
                raise CompileError(f"compile: inputs must be placeholders, got {i!r}")
        if len({id(i) for i in inputs}) != len(inputs):
            twice = next(i for k, i in enumerate(inputs) if any(i is j for j in inputs[:k]))
            raise CompileError(f"compile: input {twice.name!r} is listed twice in inputs")
    key = (tuple(id(o) for o in outs), structure,
           None if inputs is None else tuple(id(i) for i in inputs),
           tuple((id(p), id(v)) for p, v in pairs), backend, opt_level,
           tuple(sorted((k, repr(v)) for k, v in options.items())))
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    with collector_paused():   # ~15% of a 20,000-node compile otherwise
        with progress.phase(f"compiling {options.get('name', 'graph')} for {backend}"):  # if slow, on a tty
            f = Function(outs, structure, inputs, pairs, backend, opt_level, options,
                         order=None if streams else order)
    _CACHE[key] = f
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return f


def _size_constraints(order: list[Tensor]) -> list[tuple]:
    """Pairs of sizes the graph assumes equal where at least one is known only at run time
    (broadcasting a ``None`` dim against another one, a matmul's inner dims)."""
    found: dict[tuple, None] = {}

    def need(a, b):
        if a != b and (isinstance(a, str) or isinstance(b, str)) and 1 not in (a, b):
            found.setdefault((a, b) if isinstance(a, str) else (b, a), None)

    for n in order:
        op_kind = OPS[n.op].kind
        if op_kind == "leaf":
            continue
        ndim = len(n.dims)
        kind = n.op if n.op == "matmul" else ("ew" if len(n.inputs) > 1 and all(
            len(i.dims) <= ndim for i in n.inputs) and n.op not in ("reshape",)
                    and op_kind not in ("gather", "scatter", "loop") else None)
        if kind == "ew":
            for i in n.inputs:
                if i.dims == n.dims:
                    continue   # equal dims assume nothing (the common case)
                for a, b in zip(reversed(i.dims), reversed(n.dims)):
                    need(a, b)
        elif kind == "matmul":
            a, b = n.inputs
            if a.ndim and b.ndim:
                need(a.dims[-1], b.dims[0] if b.ndim == 1 else b.dims[-2])
        elif n.op == "broadcast_to":   # a run-time dim relabelled to another (the API's
            for a, b in zip(reversed(n.inputs[0].dims), reversed(n.dims)):   # broadcasting)
                need(a, b)
        elif op_kind == "linalg":   # the inputs' batch axes are the output's
            batch = n.inputs[0].ndim - 2
            for i in n.inputs:
                for a, b in zip(i.dims[:batch], n.dims[:batch]):
                    need(a, b)
    return list(found)


def _brings_dims(n: Tensor) -> bool:
    """Leaves and ops whose dims come from their attributes are the only nodes that bring
    a size into a graph: every other node's dims come from its inputs, earlier in a
    topological order."""
    op = OPS[n.op]
    return op.kind == "leaf" or op.sizes


def _check_dims_bound(order: list[Tensor], inputs: list[Tensor]) -> bool:
    """Every run-time size the graph uses must come from an input's shape (else a call
    could never know it: e.g. the gradient of ``sum(x)`` reads no ``x``). Returns
    whether the graph has run-time sizes at all."""
    bound = {d for p in inputs for d in p.dims if isinstance(d, str)}
    symbolic = False
    for n in order:
        if not _brings_dims(n):
            continue
        for d in (*n.dims, *(n.attr("shape") or ())):
            if not isinstance(d, str):
                continue
            symbolic = True
            if d not in bound:
                raise CompileError(
                    f"the size {d if not d.startswith('?') else 'None'} used by {n.op} "
                    f"(created at {n.location}) is not a dimension of any input; pass the "
                    f"placeholder that has it in inputs=[...]")
    return symbolic


class Function:
    """A compiled graph: ``f(*inputs, **feeds)`` returns NumPy arrays and applies updates.

    ``f.source`` maps file names to generated text, ``f.stats`` holds the pass table,
    node counts and the backend's facts (buffers, planned peak bytes), ``f.export(dir)``
    writes a standalone artefact, ``f.inputs`` / ``f.params`` list the placeholders
    (positional order) and parameters.
    """

    def __init__(self, outputs: list[Tensor], structure: str, inputs, pairs, backend: str,
                 opt_level: int, options: dict, order: list[Tensor] | None = None):
        """``order``: ``topo_order`` of the outputs and update values, if the caller has it."""
        t0 = time.perf_counter()
        self.backend = backend
        self._compile_args = (backend, opt_level, dict(options))  # pickling compiles again
        self.structure = structure
        self.outputs = list(outputs)
        self.update_params = [p for p, _ in pairs]
        self._key_refs = (list(pairs), inputs)  # keep the cache key's nodes alive
        update_values = [v for _, v in pairs]
        roots = self.outputs + update_values
        before = topo_order(roots) if order is None else order
        needed = [n for n in before if n.op == "placeholder"]
        if inputs is None:
            inputs = needed
        else:
            listed = {id(i) for i in inputs}
            missing = [n.name for n in needed if id(n) not in listed]
            if missing:
                raise CompileError(f"compile: the outputs need placeholder(s) {missing}, "
                                   f"which are not in inputs")
        self.inputs = list(inputs)
        check_parameter_names(before)
        self.nodes_before = len(before)
        result = run_pipeline(roots, opt_level=opt_level, disable=options.get("disable", ()),
                              dump=options.get("dump"), order=before) if roots else None
        opt = list(result.outputs) if result else []
        self.pass_stats = list(result.stats) if result else []
        opt_outs, opt_updates = opt[:len(self.outputs)], opt[len(self.outputs):]
        order = result.order if result else []
        self.nodes_after = len(order)
        self.params = [n for n in order if n.op == "parameter"]
        name = options.get("name", "graph")
        self.program = Program(
            name=name, inputs=tuple(self.inputs), params=tuple(self.params),
            outputs=tuple(opt_outs), update_params=tuple(self.update_params),
            updates=tuple(opt_updates),
            options={**options, "output_structure": structure}, order=order)
        symbolic = _check_dims_bound(order, self.inputs)  # before any backend: all alike
        with progress.phase(f"generating {backend} code"):
            self._exe = backend_builder(backend)(self.program)
        self._constraints = _size_constraints(order) if symbolic else []
        self._dim_source: dict = {}
        for p in self.inputs:
            for axis, d in enumerate(p.dims):
                if isinstance(d, str):
                    self._dim_source.setdefault(d, (p, axis))
        self._leaf_updates = [OPS[v.op].kind == "leaf" for v in opt_updates]
        self._lock = threading.Lock()  # one call at a time: a backend's buffers are shared
        self._update_states = [p.state for p in self.update_params]
        # inputs whose values the graph requires in a range: checked on the host before
        # any backend runs (cross_entropy's labels), the same for every backend
        self._checked_inputs = [(k, p) for k, p in enumerate(self.inputs)
                                if has_requirements(p)]
        self._slow_calls = 0
        # the fast path (graphc.codegen.fastcall), where this function and machine have one:
        # the C backend's at once; the NumPy backend's from its second call, so that a
        # function called once never pays for loading the extension (~0.1 s a process)
        self._fast = self._fast_call = None
        self._fast_tried, self._fast_later = False, backend == "numpy"
        if backend == "c":
            self._use_fast_path()
        self.compile_seconds = time.perf_counter() - t0

    def _use_fast_path(self) -> None:
        with self._lock:   # once, whatever the threads: calls counted on it are never lost
            if self._fast_tried:
                return
            self._fast_tried, self._fast_later = True, False
            fast = make_caller(self, self._exe)
            self._fast_exe = self._exe   # the executable the fast path runs (tests wrap _exe)
            self._fast, self._fast_call = fast, (fast.call if fast is not None else None)

    @property
    def calls(self) -> int:
        """How many calls completed (and committed their updates)."""
        return self._slow_calls + (self._fast.calls if self._fast is not None else 0)

    @calls.setter
    def calls(self, n: int) -> None:
        self._slow_calls = n - (self._fast.calls if self._fast is not None else 0)

    # ---- calling ------------------------------------------------------------------------
    def _feeds(self, args, feeds) -> tuple[list[np.ndarray], dict]:
        if len(args) > len(self.inputs):
            names = [i.name for i in self.inputs]
            raise FeedError(f"got {len(args)} positional inputs, but the function takes "
                            f"{len(self.inputs)}: {names}")
        given: dict[int, Any] = {id(p): a for p, a in zip(self.inputs, args)}
        by_name: dict[str, list[Tensor]] = {}
        for p in self.inputs:
            by_name.setdefault(p.name, []).append(p)
        for k, v in feeds.items():
            if k not in by_name:
                raise FeedError(f"unknown input {k!r}; the inputs are "
                                f"{[i.name for i in self.inputs]}")
            if len(by_name[k]) > 1:  # as gc.evaluate: never feed two inputs one array
                raise FeedError(f"input name {k!r} is ambiguous: {len(by_name[k])} inputs are "
                                f"named {k!r} (created at "
                                f"{', '.join(p.location for p in by_name[k])}); pass them "
                                f"by position")
            for p in by_name[k]:
                if id(p) in given:
                    raise FeedError(f"input {k!r} given both by position and by keyword")
                given[id(p)] = v
        arrays: list = []
        bindings: dict = {}
        for p in self.inputs:
            if id(p) not in given:
                raise FeedError(f"missing input {p.name!r} (shape {format_shape(p.dims)}, "
                                f"{p.dtype})")
            arrays.append(check_feed(p, given[id(p)], bindings))
        for a, b in self._constraints:
            na, nb = bindings.get(a, a), bindings.get(b, b)
            if isinstance(na, int) and isinstance(nb, int) and na != nb:
                raise FeedError(f"inconsistent sizes: {self._where(a)} is {na}, but the "
                                f"graph combines it with {self._where(b)}, which is {nb}")
        return arrays, bindings

    def _where(self, d) -> str:
        if not isinstance(d, str):
            return f"a dimension of size {d}"
        if d in self._dim_source:
            p, axis = self._dim_source[d]
            return f"axis {axis} of input {p.name!r} (shape {format_shape(p.dims)})"
        return f"run-time size {d}"

    def __call__(self, *args, **feeds):
        """Run once: inputs by position (``f.inputs`` order) and/or by placeholder name.

        Returns the outputs (an array, a list or a tuple, as the outputs were given);
        then applies the updates, all or none: if anything fails, no parameter changes.
        One call at a time per Function (calls from several threads are serialised), and
        every parameter the call updates is locked from reading it to writing its new
        value, so functions updating the same parameter from several threads lose no
        update. A Ctrl-C (``KeyboardInterrupt``) arriving during a call that updates
        parameters is held until the call ends: the step is committed, then the
        interrupt is raised (``graphc.step_commit``).
        """
        if self._fast_later and self._slow_calls and not feeds:
            self._use_fast_path()
        if self._fast_call is not None and not feeds and self._exe is self._fast_exe:
            out = self._fast_call(args)   # None: a call only the Python path below takes
            if out is not None:
                return out
        arrays, bindings = self._feeds(args, feeds)
        for k, p in self._checked_inputs:
            check_value(p, arrays[k])
        if not self._update_states:
            with self._lock:
                return self._run(arrays, bindings)
        with deferred_interrupts(), self._lock, holding(self._update_states):
            return self._run(arrays, bindings)

    def _run(self, arrays, bindings):
        params = [p.state.value for p in self.params]  # type: ignore[union-attr]  # (per call: no checks) parameters have a state
        with np.errstate(all="ignore"):
            outs, new = self._exe(arrays, params, bindings)
        new = list(new)
        for k, (p, v) in enumerate(zip(self.update_params, new)):
            v = np.asarray(v)
            if not dims_match(p.dims, v.shape) or v.dtype != p.dtype:
                raise GraphcError(f"backend {self.backend!r} returned a new value of shape "
                                  f"{v.shape} {v.dtype} for parameter {p.name!r} "
                                  f"{format_shape(p.dims)} {p.dtype}")
            if self._leaf_updates[k] or any(v is o for o in outs) or \
                    any(v is w for w in new[:k]):
                v = np.array(v, copy=True)  # state never aliases a feed or an output
            new[k] = v
        if self.program.options.get("check_numerics"):
            from .numerics import check_call  # names the first NaN/Inf node; raises
            check_call(outs, new, self.outputs + [v for _, v in self._key_refs[0]],
                       self.program.roots, self.inputs, arrays, bindings, self.backend)
        # commit: every new value was computed from the old ones; switch them together
        for p, v in zip(self.update_params, new):
            p.state.value = v
        self.calls += 1
        if self.structure == "single":
            return outs[0]
        return tuple(outs) if self.structure == "tuple" else list(outs)

    # ---- reading -----------------------------------------------------------------------
    @property
    def source(self) -> dict[str, str]:
        """File name -> generated text."""
        return dict(self._exe.source)

    @property
    def stats(self) -> dict:
        """Pass table, node counts and the backend's facts."""
        return {
            "backend": self.backend,
            "passes": list(self.pass_stats),
            "nodes_before": self.nodes_before,
            "nodes_after": self.nodes_after,
            "inputs": len(self.inputs),
            "params": len(self.params),
            "outputs": len(self.outputs),
            "updates": len(self.update_params),
            "compile_seconds": self.compile_seconds,
            **dict(self._exe.stats),
        }

    def draw(self, path: str | None = None, engine: str = "auto") -> str:
        """SVG of the optimized graph, each node coloured by the fused kernel it runs in
        (the legend names them as ``f.stats["fused"]`` does, for the C and CUDA
        backends), values stored to memory with a thick border; see ``gc.draw``.

        >>> import graphc as gc
        >>> x = gc.placeholder("x", (None, 3))
        >>> f = gc.compile(gc.sum(gc.exp(x) * 2))
        >>> 'class="legend"' in f.draw(engine="layered")
        True
        """
        names = [k["name"] for k in self.stats.get("fused", ())] or None
        return draw(list(self.program.outputs) + list(self.program.updates), path, fused=True,
                    kernel_names=names, engine=engine)

    def _repr_svg_(self) -> str:   # Jupyter shows a compiled function as its drawing
        return self.draw()

    def export(self, directory: str, name: str = "model") -> list[str]:
        """Write a standalone artefact to ``directory`` (created if missing); returns the
        paths written. It needs no graphc; which artefact depends on the backend:

        * ``numpy``: ``name.py`` (imports only NumPy) and ``name.npz`` (the parameters'
          current values); ``name.load()`` returns a callable used exactly like this
          function (same inputs, outputs and parameter updates).
        * ``c``: ``name.c`` and ``name.h`` (the kernels and the host entry point
          ``graphc_<graph>_run``), a ``Makefile`` (``make`` builds ``libname.so``),
          ``name_params.npz`` and ``name_loader.py``, whose ``load()`` returns a callable
          used like this function (NumPy and ctypes only).
        * ``cuda``: ``name.cu`` and ``name.h``, the headers ``graphc_cuda.h`` and
          ``graphc_cuda_emu.h``, a ``Makefile`` (``make``: nvcc builds ``libname.so`` and
          ``./example``; ``make emulate``: ``./example_emu``, the same ``.cu`` on the CPU
          with a C++20 compiler), ``example_main.cpp`` and its data: one raw file per input
          and parameter, ``data/inputs_<input>.bin`` and ``data/params_<param>.bin`` (values
          in C order, no header). The example runs one call on them and prints every
          result; ``./example 256`` runs it with run-time size 256 instead of the exported
          one (the inputs' rows repeated).

        >>> import os, tempfile
        >>> import graphc as gc
        >>> x = gc.placeholder("x", (None, 3))
        >>> f = gc.compile(gc.sum(gc.exp(x) * 2))
        >>> with tempfile.TemporaryDirectory() as d:
        ...     sorted(os.path.basename(p) for p in f.export(os.path.join(d, "out"), "model"))
        ['model.npz', 'model.py']
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise GraphcError(f"export: name must be a Python identifier, got {name!r}")
        return self._exe.export(directory, name)

    def save_params(self, path) -> None:
        """Write the current values of this function's parameters to ``path`` (.npz, by name)."""
        save_params(path, self)

    def load_params(self, path) -> None:
        """Set this function's parameters from ``path``; every name must be there with its
        shape and dtype, and no other: else ``FileFormatError`` and nothing changes."""
        load_params(path, self)

    def __reduce__(self):
        """Pickle as a graph file plus the compile arguments (never the loaded code): the
        other side rebuilds the graph and compiles it."""
        outputs = (self.outputs[0] if self.structure == "single" else
                   tuple(self.outputs) if self.structure == "tuple" else list(self.outputs))
        buf = io.BytesIO()
        leaves = write_graph(buf, outputs, self.inputs, self._key_refs[0], external_leaves=True)
        return compile_from_archive, (buf.getvalue(), tuple(leaves), *self._compile_args)

    def __repr__(self) -> str:
        ins = ", ".join(f"{p.name}: {p.dtype.name}{format_shape(p.dims)}" for p in self.inputs)
        return (f"<graphc.Function {self.backend} ({ins}) -> {len(self.outputs)} output(s), "
                f"{len(self.update_params)} update(s)>")

    def __str__(self) -> str:
        s = self.stats
        lines = [repr(self),
                 f"  nodes: {s['nodes_before']} -> {s['nodes_after']} after optimization",
                 f"  params: {', '.join(str(p.name) for p in self.params) or '-'}"]
        if s["passes"]:
            lines.append("  passes: " + ", ".join(
                f"{p.name} {p.nodes_before}->{p.nodes_after}" for p in s["passes"]))
        facts = [f"{k}={s[k]}" for k in ("steps", "kernels", "buffers", "reused",
                                          "peak_bytes", "intermediate_bytes") if k in s]
        if facts:
            lines.append("  " + ", ".join(facts))
        lines.append(f"  source: {', '.join(self.source)}")
        return "\n".join(lines)


def compile_from_archive(data: bytes, leaves: tuple, backend: str, opt_level: int,
                         options: dict) -> Function:
    """The Function pickled by ``Function.__reduce__``: rebuild its graph, compile it."""
    g = read_graph(io.BytesIO(data), "pickled Function", leaves)
    return compile(g.outputs, inputs=g.inputs, updates=g.updates, backend=backend,
                   opt_level=opt_level, **options)
