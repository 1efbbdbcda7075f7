"""The fast call path of a compiled ``Function``: a generic CPython extension
(``include/graphc_fastcall.c``, built once per interpreter and NumPy into graphc's cache)
whose ``Caller`` checks positional feeds in C (dtype, shape, contiguity, run-time sizes),
reads the parameters, allocates the results and calls the program: the C backend's
generated ``run`` entry point directly (no ctypes), or the NumPy backend's ``compute``.

A call the fast path cannot take exactly as the Python path would (keyword feeds, lists,
other dtypes, a busy lock, value checks, ``check_numerics``, an update that is not a fresh
result...) returns None before anything changes, and ``Function.__call__`` runs the
Python path, which converts what it can and raises the clear errors. Without a C
compiler or Python headers there is no fast path (``GRAPHC_FASTCALL=0`` turns it off);
exported artefacts never use it, and neither does the CUDA backend yet (its runner tracks
which parameters are resident on the device: that bookkeeping stays in Python).

>>> import numpy as np, graphc as gc
>>> x = gc.placeholder("x", (None,))
>>> f = gc.compile(2 * x, backend="numpy")
>>> f(np.array([1.0, 2.0], np.float32))          # either path: the same answer
array([2., 4.], dtype=float32)
"""
from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import os
import signal
import sys
import sysconfig
import threading

# as graphc.step_commit: the C module's functions, not signal's enum-wrapping ones
import _signal

import numpy as np

from ..errors import GraphcError

_MODULE: list = []
_BUILD_LOCK = threading.Lock()
# above this many elements touched, the C entry point runs with the GIL released
GIL_RELEASE_ELEMENTS = 1 << 15
# reuse an unreferenced result array (as the Python path: NativeRunner.results)
REUSE_RESULTS = sys.implementation.name == "cpython" and sys.version_info < (3, 14)


def extension():
    """The loaded ``graphc_fastcall`` module, or None where it cannot be built here."""
    if _MODULE:
        return _MODULE[0]
    with _BUILD_LOCK:
        if not _MODULE:
            _MODULE.append(_build())
    return _MODULE[0]


def _build():
    if os.environ.get("GRAPHC_FASTCALL", "1") == "0" or sys.implementation.name != "cpython":
        return None
    from . import toolchain
    include = sysconfig.get_paths().get("include")
    if not include or not os.path.exists(os.path.join(include, "Python.h")) or \
            not toolchain.have_c_compiler():
        return None
    source_path = toolchain.include_dir() / "graphc_fastcall.c"
    source = source_path.read_text()
    flags = (f"-I{include}", f"-I{np.get_include()}", f"-DGC_NUMPY_VERSION=\"{np.__version__}\"",
             f"-DGC_PYTHON_ABI=\"{sysconfig.get_config_var('SOABI')}\"")
    try:
        path = toolchain.build_shared_library(source, "c", flags=flags, name="graphc_fastcall")
        loader = importlib.machinery.ExtensionFileLoader("graphc_fastcall", str(path))
        spec = importlib.util.spec_from_file_location("graphc_fastcall", str(path),
                                                      loader=loader)
        if spec is None:
            return None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module
    except (GraphcError, ImportError, OSError):
        return None   # the Python path serves every call


def _quiet_errstate() -> tuple:
    """(NumPy's error-state context variable, its value under ``np.errstate(all="ignore")``),
    or (None, None) where NumPy does not keep one: then Python mode stays off."""
    try:
        from numpy._core import umath
        var = umath._extobj_contextvar
        with np.errstate(all="ignore"):
            return var, var.get()
    except (ImportError, AttributeError):
        return None, None


def _address(cfunc) -> int:
    address = ctypes.cast(cfunc, ctypes.c_void_p).value
    assert address is not None  # a loaded function is never at NULL
    return address


def make_caller(function, exe):
    """A ``Caller`` for ``function`` (a ``Function``) over its executable ``exe``, or None
    where this function has no fast path (the Python path serves every call)."""
    from .c_backend import CExecutable
    from .numpy_backend import NumpyExecutable
    if function._checked_inputs or function.program.options.get("check_numerics"):
        return None
    if isinstance(exe, CExecutable):
        mode = 0
    elif isinstance(exe, NumpyExecutable):
        mode = 1
    else:
        return None
    module = extension()
    if module is None:
        return None
    xvar, xquiet = _quiet_errstate()
    if mode == 1 and xvar is None:
        return None

    slot_of: dict = {}

    def slot(d) -> int:
        return slot_of.setdefault(d, len(slot_of))

    plan = [len(function.inputs)]
    for p in function.inputs:
        plan.append(len(p.dims))
        plan += [d if isinstance(d, int) else -slot(d) - 1 for d in p.dims]
    slot_count_at = len(plan)
    plan.append(0)   # the slot count, known once every input dim has a slot
    cons = []
    for a, b in function._constraints:
        if a not in slot_of or (isinstance(b, str) and b not in slot_of):
            return None
        cons += [slot_of[a], slot_of[b], 0] if isinstance(b, str) else [slot_of[a], -1, b]
    plan.append(len(cons) // 3)
    plan += cons
    if mode == 0:
        runner = exe.runner
        pir = exe.pir
        # the entry point graphc_fastcall.c calls: int run(void* const* inputs, params,
        # results, const int64_t* sizes, void* workspace); any other shape: no fast path
        if list(getattr(runner.run, "argtypes", None) or ()) != [ctypes.c_void_p] * 5 or \
                getattr(runner.run, "restype", None) is not ctypes.c_int or \
                getattr(runner.workspace_bytes, "restype", None) is not ctypes.c_int64:
            return None
        size_names = [runner.dim_of[s] for s in pir.sym_order]
    else:
        size_names = list(exe.dim_keys)
    if any(d not in slot_of for d in size_names):
        return None
    plan.append(len(size_names))
    plan += [slot_of[d] for d in size_names]
    plan[slot_count_at] = len(slot_of)

    if mode == 0:
        param_nodes = list(pir.param_nodes)
        n_user = len(function.params)
        sources, is_state, dtypes = [], [], []
        for k, (node, buf) in enumerate(zip(param_nodes, pir.params)):
            if k < n_user:
                sources.append(function.params[k].state)
                is_state.append(True)
            else:   # a large constant passed at run time
                sources.append(np.ascontiguousarray(node.value, dtype=buf.dtype))
                is_state.append(False)
            dtypes.append(np.dtype(buf.dtype))
        plan.append(len(sources))
        plan.append(len(pir.results))
        for b in pir.results:
            plan.append(len(b.dims))
            for m in b.dims:
                if any(s not in runner.dim_of or runner.dim_of[s] not in slot_of
                       for s in m.syms):
                    return None
                plan += [m.coef, len(m.syms), *(slot_of[runner.dim_of[s]] for s in m.syms)]
        roots = []
        for kind, k in pir.root_sources:
            if kind != "result":
                return None
            roots.append(k)
        if len(set(roots)) != len(roots):
            return None
        res_dtypes = [np.dtype(b.dtype) for b in pir.results]
        run_address, wsb_address = _address(runner.run), _address(runner.workspace_bytes)
        keep = (runner.run, runner.workspace_bytes, exe)
        compute = workspace_for = None
    else:
        if exe.raises_own_errors():
            return None   # the Python path turns them into graphc's errors
        sources = [p.state for p in function.params]
        is_state = [True] * len(sources)
        dtypes = [np.dtype(p.dtype) for p in function.params]
        plan += [len(sources), 0]
        roots = list(range(len(function.outputs) + len(function.update_params)))  # unused
        res_dtypes = []
        run_address = wsb_address = 0
        keep = exe
        compute, workspace_for = exe.module.compute, exe.workspace_for
    plan.append(len(roots))
    plan += roots
    plan.append(len(function.outputs))
    plan.append({"single": 0, "tuple": 1, "list": 2}[function.structure])
    plan += [mode, int(REUSE_RESULTS), GIL_RELEASE_ELEMENTS]
    for p, leaf in zip(function.update_params, function._leaf_updates):
        if not all(isinstance(d, int) for d in p.dims):
            return None
        plan += [int(leaf), np.dtype(p.dtype).num, len(p.dims), *p.dims]
    states = [p.state for p in function.update_params]
    locks = [s.lock for s in sorted(set(states), key=id)]   # step_commit.holding's order
    if len(function.inputs) + len(sources) + len(res_dtypes) > 256 or len(slot_of) > 64:
        return None
    return module.Caller(plan, [np.dtype(p.dtype) for p in function.inputs], sources,
                         is_state, dtypes, res_dtypes, states, locks, function._lock,
                         run_address, wsb_address, keep, compute, workspace_for, xvar, xquiet,
                         _signal.getsignal, _signal.signal, int(signal.SIGINT),
                         threading.main_thread().ident)
