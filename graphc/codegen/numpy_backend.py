"""The NumPy backend: the module ``numpy_render`` writes, loaded in-process and run.

``NumpyExecutable`` keeps the module's workspace per set of run-time sizes, runs its
loop bodies (``numpy_loops``), raises the graph's own errors (an index out of range, a
matrix that is not positive definite) with their op and input, and exports the module
with an ``.npz`` of the parameter values. Large modules keep their bytecode in the
compile cache.
"""
from __future__ import annotations

import contextlib
import importlib.util
import linecache
import marshal
import os
import sys
import threading
import types
from collections import OrderedDict
from typing import Any

import numpy as np

from ..bind import OPS
from ..errors import CompileError, EvalError, LinAlgError
from . import cache
from .base import Program
from .numpy_loops import LoopRunner, module_text
from .numpy_render import module_name, render


class NumpyExecutable:
    """A loaded generated module: ``exe(inputs, params, bindings) -> (outputs, new values)``."""

    def __init__(self, program: Program):
        self.program = program
        self.name = module_name(program.name)
        r = render(program)
        self.rendered = r
        self.plan = r.plan
        self.dim_keys = r.dim_keys
        self.source = {f"{self.name}.py": r.text}
        self.module = _load_module(r.text, f"<graphc:{self.name}.py>")
        self.module.CONST.update(r.consts)
        if r.loops:   # each body compiled as its own program
            self.module.LOOPS[:] = [LoopRunner(n, needed, build) for n, needed in r.loops]
        self._ws: OrderedDict = OrderedDict()
        self._last_sizes: tuple | None = None
        self._lock = threading.Lock()   # the scratch buffers serve one call at a time
        self.stats = {
            "backend": "numpy",
            "lines": r.n_lines,
            "steps": r.n_steps,
            "buffers": len(self.plan.buffers),
            "values_in_buffers": len(self.plan.buffer_of),
            "reused": self.plan.reused,
            "fresh_per_call": len(self.plan.fresh),
        }
        self._memory_stats({})

    def _memory_stats(self, bindings: dict) -> None:
        self.stats.update({
            "peak_bytes": self.plan.peak_bytes(bindings),
            "workspace_bytes": self.plan.workspace_bytes(bindings),
            "intermediate_bytes": self.plan.intermediate_bytes(bindings),
            "sizes": {k: bindings.get(k, 1) for k in self.dim_keys},
        })

    def __call__(self, inputs, params, bindings):
        with self._lock:
            return self._run(inputs, params, bindings)

    def _run(self, inputs, params, bindings):
        sizes = tuple(int(bindings[d]) for d in self.dim_keys)
        ws = self.workspace_for(sizes)
        refused = getattr(self.module, "CheckIndexError", None)   # only if check_index is used
        try:
            outs, new = self.module.compute(*inputs, *params, *sizes, ws)
        except np.linalg.LinAlgError as err:   # its message names the op and its input
            raise LinAlgError(str(err)) from None
        except Exception as err:
            if refused is not None and isinstance(err, refused):
                raise EvalError(str(err)) from None
            raise
        return list(outs), list(new)

    def raises_own_errors(self) -> bool:
        """Does ``compute`` raise errors that ``_run`` turns into graphc's (a check_index's
        refusal, a failed factorization)? Callers that bypass ``_run`` must not."""
        return any(n.op == "check_index" or OPS[n.op].kind == "linalg"
                   for n in self.program.topo_order())

    def workspace_for(self, sizes: tuple) -> list:
        """The scratch buffers for run-time ``sizes`` (dims in ``dim_keys`` order); the
        memory stats follow the last sizes used."""
        ws = self._ws.get(sizes)
        if ws is None:
            ws = self.module.workspace(*sizes)
            self._ws[sizes] = ws
            while len(self._ws) > 4:   # bounded: a few batch sizes stay warm
                self._ws.popitem(last=False)
        else:
            self._ws.move_to_end(sizes)
        if sizes != self._last_sizes:
            self._last_sizes = sizes
            self._memory_stats(dict(zip(self.dim_keys, sizes)))
        return ws

    def export(self, directory: str, name: str) -> list[str]:
        os.makedirs(directory, exist_ok=True)
        py = os.path.join(directory, f"{name}.py")
        npz = os.path.join(directory, f"{name}.npz")
        # loops: their bodies' modules embedded as text, with standalone runners
        text, loop_consts = module_text(self, build)
        with open(py, "w", encoding="utf-8") as fh:
            fh.write(text)
        keys: dict[str, Any] = {}
        names = self._param_keys()
        for p, key in names:
            keys[key] = np.asarray(p.state.value)
        keys.update(self.rendered.consts)
        keys.update(loop_consts)
        np.savez(npz, **keys)
        return [py, npz]

    def _param_keys(self):
        params = list(self.program.params)
        for p in self.program.update_params:
            if p not in params:
                params.append(p)
        keys = [row[1] for row in self.module.PARAMS]
        return list(zip(params, keys))


CODE_CACHE_MIN_CHARS = 200_000   # modules this large (~3,000 nodes) keep their bytecode


def _bytecode(text: str, filename: str) -> types.CodeType:
    """``compile(text)``; for a large module, through the on-disk cache of the native
    backends (like a ``.pyc``: keyed by the text and the interpreter's bytecode
    version), since Python compiles a 20,000-node module in about 0.3 s."""
    if len(text) < CODE_CACHE_MIN_CHARS:
        return compile(text, filename, "exec")
    key = cache.make_key("numpy-module", importlib.util.MAGIC_NUMBER, sys.version, filename,
                         text)
    try:
        data = cache.read_entry(cache.entry_path(key, ".pyc"))
        if data is not None:
            code = marshal.loads(data)
            if isinstance(code, types.CodeType):
                return code
    except (CompileError, OSError, ValueError, EOFError, TypeError):
        pass  # no usable cache: compile as usual
    code = compile(text, filename, "exec")
    with contextlib.suppress(CompileError, OSError):
        cache.store(key, ".pyc", marshal.dumps(code))
    return code


def _load_module(text: str, filename: str) -> types.ModuleType:
    module = types.ModuleType(filename)
    module.__file__ = filename
    # register the text so tracebacks through generated code show its lines
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    try:
        exec(_bytecode(text, filename), module.__dict__)
    except SyntaxError as e:  # a renderer bug: say so plainly
        raise CompileError(f"generated NumPy module does not compile: {e}") from e
    return module


def build(program: Program, **options) -> NumpyExecutable:
    """The ``Executable`` for ``program`` (the registry entry for backend="numpy")."""
    return NumpyExecutable(program)
