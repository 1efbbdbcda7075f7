"""What runs on a Dask worker: a chunk's graph, compiled once per process, and the
combining of per-chunk partials. Imports NumPy and graphc only (never Dask).

A ``ChunkProgram`` carries its graph as graphc's data-only graph file (bytes), never a
compiled function or a ctypes/CUDA handle; a worker compiles it on first use and keeps
the ``Function`` in a per-process cache keyed by the SHA-256 of those bytes and the
compile arguments. Parameters are not in the graph: they are inputs of the chunk graph,
sent with each call (so the graph, and the cache key, stay the same across steps).

>>> import numpy as np, graphc as gc
>>> from graphc.distributed.worker import ChunkProgram, run_chunk
>>> x = gc.placeholder("x", (None,), "float64")
>>> prog = ChunkProgram([gc.sum(x * 2.0)], [x], backend="numpy", options={})
>>> run_chunk(prog, "chunk 0", [], [], [], np.arange(4.0))
[array(12.)]
"""
from __future__ import annotations

import hashlib
import io
import socket
import threading
from collections import OrderedDict

import numpy as np

from ..compiler import Function, compile
from ..errors import GraphcError, NumericsError
from ..graph_format import read_graph, write_graph

CACHE_SIZE = 64   # compiled chunk graphs kept per worker process (least recently used go)
_compiled: "OrderedDict[tuple, Function]" = OrderedDict()
_compile_counts: dict[str, int] = {}
_lock = threading.Lock()


class ChunkProgram:
    """A chunk's graph as bytes plus the compile arguments; ``function()`` compiles it
    (once per process) where it runs."""

    def __init__(self, outputs: list, inputs: list, backend: str, options: dict):
        buf = io.BytesIO()
        write_graph(buf, list(outputs), list(inputs))
        self.graph = buf.getvalue()
        self.digest = hashlib.sha256(self.graph).hexdigest()
        self.backend, self.options = backend, dict(options)

    def cache_key(self) -> tuple:
        return (self.digest, self.backend, tuple(sorted((k, repr(v))
                                                        for k, v in self.options.items())))

    def __dask_tokenize__(self):   # dask hashes the program by its digest, not its bytes
        return self.cache_key()

    def function(self) -> Function:
        """The compiled chunk graph; compiled here on first use (under a lock, so threads
        of one worker compile it once; processes share the on-disk C/CUDA cache, whose
        entries are written atomically)."""
        key = self.cache_key()
        with _lock:
            f = _compiled.get(key)
            if f is not None:
                _compiled.move_to_end(key)
            else:
                try:
                    g = read_graph(io.BytesIO(self.graph), "graphc.dask chunk graph")
                    f = compile(g.outputs, inputs=g.inputs, backend=self.backend,
                                **self.options)
                except GraphcError as e:
                    raise type(e)(f"graphc.dask: worker {worker_name()} could not compile "
                                  f"the chunk graph (backend {self.backend!r}): {e}") from None
                _compiled[key] = f
                _compile_counts[self.digest] = _compile_counts.get(self.digest, 0) + 1
                while len(_compiled) > CACHE_SIZE:
                    _compiled.popitem(last=False)
        return f


def worker_name() -> str:
    """The Dask worker's address when running in one, else this machine's host name."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return socket.gethostname()


def compile_counts() -> dict[str, int]:
    """How many times this process compiled each chunk graph (by digest): 1 each, unless
    the cache was cleared."""
    with _lock:
        return dict(_compile_counts)


def run_chunk(program: ChunkProgram, label: str, params: list, replicated: list,
              sizes: list, *blocks) -> list[np.ndarray]:
    """Run ``program`` on one chunk: ``blocks`` (the batched inputs' rows), then the
    replicated inputs, the parameters' values and the global row counts."""
    f = program.function()
    try:
        return list(f(*blocks, *replicated, *params, *sizes))
    except NumericsError as e:
        err = NumericsError(f"graphc.dask: {label} (worker {worker_name()}): {e}")
        err.__dict__.update(e.__dict__)
        raise err from None


def combine_partials(kinds: tuple, *parts: list) -> list[np.ndarray]:
    """Combine several chunks' (or groups') partials: ``"sum"`` adds, ``"max"`` takes the
    maximum, ``"logsumexp"`` is ``log(sum(exp(.)))`` of the parts (stable, -inf safe).

    >>> parts = combine_partials(("sum", "max", "logsumexp"), [1.0, 2.0, 0.0], [3.0, 1.0, 0.0])
    >>> [round(float(p), 4) for p in parts]
    [4.0, 2.0, 0.6931]
    """
    out = []
    for k, kind in enumerate(kinds):
        stacked = np.stack([np.asarray(p[k]) for p in parts])
        reduce = {"sum": np.add, "max": np.maximum, "logsumexp": np.logaddexp}[kind]
        out.append(np.asarray(reduce.reduce(stacked, axis=0), dtype=stacked.dtype))
    return out
