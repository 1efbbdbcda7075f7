"""Standalone artefacts of the C and CUDA backends (nothing here imports graphc at run time).

The executable hands over what the artefact needs (its kernel IR and source, the host
header text, the entry points' prefix, the CUDA headers to copy); this module imports
no backend.

C:    ``<name>.c``, ``<name>.h``, ``Makefile`` (cc + OpenMP when available), parameter
      values ``<name>_params.npz`` and ``<name>_loader.py``, whose ``load()`` returns a
      callable used like the compiled function (needs only numpy + ctypes).
CUDA: ``<name>.cu``, ``<name>.h``, ``graphc_cuda.h`` + ``graphc_cuda_emu.h``, ``Makefile``
      (``make`` builds with nvcc alone; ``make emulate`` builds the example on the CPU),
      ``example_main.cpp`` that loads inputs and parameters from ``data/*.bin``, runs one
      forward+backward call and prints every result, and those ``data`` files.
"""
from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from .c_family import ctype
from .kernel_types import ProgramIR
from .naming import sanitize_names


def _write(directory: str, name: str, text, mode="w") -> str:
    path = os.path.join(directory, name)
    with open(path, mode) as fh:
        fh.write(text)
    return path


def _meta(pir: ProgramIR) -> dict:
    """Plain data the loaders need: names, dtypes, shapes as size expressions."""
    dims = lambda b: [[m.coef, list(m.syms)] for m in b.dims]
    prog = pir.program
    n_out = len(prog.outputs)
    sources = []
    for kind, k in pir.root_sources:
        if kind == "value":
            sources.append(["value", np.asarray(k.value).tolist(), k.dtype.name])
        else:
            sources.append([kind, k])
    update_params = []
    for p in prog.update_params:
        idx = [k for k, q in enumerate(prog.params) if q is p]
        update_params.append(idx[0] if idx else -1)
    return {
        "inputs": [[b.name, b.dtype, dims(b)] for b in pir.inputs],
        "input_names": [n.name for n in prog.inputs],
        "input_dims": [[pir.sym_names.get(d, d) if isinstance(d, str) else d for d in n.dims]
                       for n in prog.inputs],
        "params": [[b.name, b.dtype, dims(b)] for b in pir.params],
        "results": [[b.name, b.dtype, dims(b)] for b in pir.results],
        "sizes": list(pir.sym_order),
        "sources": sources, "n_outputs": n_out, "update_params": update_params,
    }


def _sym_alias(pir: ProgramIR) -> dict:
    """Every C size name a loader may meet in an input's dims -> its canonical name."""
    out = {}
    for name in pir.sym_names.values():
        out[name] = name
    canon = pir.schedule.canon
    for n in pir.program.inputs:
        for d in n.dims:
            if isinstance(d, str):
                rep = canon.get(d, d)
                out[d] = pir.sym_names.get(rep, rep) if isinstance(rep, str) else rep
    return out


LOADER = '''"""Loader of the graphc-exported C library {name!r} (needs only numpy and ctypes).

    import {module}
    f = {module}.load()        # builds nothing: run `make` in this folder first
    outputs = f(*inputs)       # same inputs, outputs and parameter updates as gc.compile
"""
import ctypes
import os

import numpy as np

META = {meta!r}
DIM_ALIAS = {alias!r}
HERE = os.path.dirname(os.path.abspath(__file__))


class Compiled:
    def __init__(self, lib_path=None):
        lib = ctypes.CDLL(lib_path or os.path.join(HERE, "lib{name}.so"))
        self._run = lib.{prefix}_run
        self._run.restype = ctypes.c_int
        self._run.argtypes = [ctypes.c_void_p] * 5
        self._wsb = lib.{prefix}_workspace_bytes
        self._wsb.restype = ctypes.c_int64
        self._wsb.argtypes = [ctypes.c_void_p]
        saved = np.load(os.path.join(HERE, "{name}_params.npz"))
        self.params = [np.ascontiguousarray(saved[p[0]]) for p in META["params"]]

    def _shape(self, dims, sizes):
        return tuple(int(c * np.prod([sizes[s] for s in syms], dtype=np.int64)) for c, syms in dims)

    def __call__(self, *args, **feeds):
        names = META["input_names"]
        args = list(args) + [None] * (len(names) - len(args))
        for key, value in feeds.items():
            if key not in names:
                raise TypeError("unknown input %r; inputs are %s" % (key, names))
            args[names.index(key)] = value
        if len(args) != len(META["inputs"]) or any(a is None for a in args):
            raise TypeError("expected %d inputs: %s" % (len(META["inputs"]),
                            [i[0] for i in META["inputs"]]))
        ins, sizes = [], {{}}
        for (name, dtype, _), dims, a in zip(META["inputs"], META["input_dims"], args):
            a = np.ascontiguousarray(a, dtype=dtype)
            if a.ndim != len(dims):
                raise ValueError("input %r: expected rank %d, got shape %s" % (name, len(dims), a.shape))
            for d, n in zip(dims, a.shape):
                key = DIM_ALIAS.get(d, d)
                if isinstance(key, str):
                    if sizes.setdefault(key, n) != n:
                        raise ValueError("input %r: size %d conflicts with %s=%d" % (name, n, key, sizes[key]))
                elif key != n:
                    raise ValueError("input %r: expected size %d, got %d" % (name, key, n))
            ins.append(a)
        order = tuple(sizes[s] for s in META["sizes"])
        c_sizes = (ctypes.c_int64 * max(len(order), 1))(*order)
        res = [np.empty(self._shape(dims, sizes), dtype) for _, dtype, dims in META["results"]]
        ws = np.empty(max(int(self._wsb(c_sizes)), 64), np.uint8)
        ptrs = lambda arrs: (ctypes.c_void_p * max(len(arrs), 1))(*[x.ctypes.data for x in arrs])
        if self._run(ptrs(ins), ptrs(self.params), ptrs(res), c_sizes, ws.ctypes.data) != 0:
            raise RuntimeError("{name}: generated code failed")
        values = []
        for src in META["sources"]:
            if src[0] == "result":
                values.append(res[src[1]].copy())
            elif src[0] == "input":
                values.append(ins[src[1]].copy())
            elif src[0] == "param":
                values.append(self.params[src[1]].copy())
            else:
                values.append(np.array(src[1], dtype=src[2]))
        n = META["n_outputs"]
        outs, new = values[:n], values[n:]
        for k, v in zip(META["update_params"], new):
            if k >= 0:
                self.params[k] = np.ascontiguousarray(v)
        return outs[0] if n == 1 else outs


def load(lib_path=None):
    return Compiled(lib_path)
'''

C_MAKEFILE = """# Builds lib{name}.so from the graphc-generated C (no graphc needed).
CC ?= cc
CFLAGS ?= -O3 -fPIC -std=c11 -fno-trapping-math -fno-math-errno
OPENMP := $(shell echo 'int main(void){{return 0;}}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
# glibc >= 2.35 libmvec: loops calling exp, tanh, sin... use its SIMD variants (<= 4 ulp)
MVEC := $(shell printf '\\043include <math.h>\\n\\043pragma omp declare simd notinbranch\\ndouble tanh(double);\\ndouble x[64], y[64];\\nint main(void) {{ for (int i = 0; i < 64; ++i) y[i] = tanh(x[i]); return (int)y[1]; }}\\n' | $(CC) $(CFLAGS) -fopenmp-simd -x c - -o /dev/null -lmvec -lm 2>/dev/null && echo yes)
ifeq ($(MVEC),yes)
VECMATH := -fopenmp-simd -DGC_VECTOR_MATH
VECLIBS := -lmvec
endif

lib{name}.so: {name}.c {name}.h
\t$(CC) $(CFLAGS) $(OPENMP) $(VECMATH) -shared -o $@ {name}.c $(VECLIBS) -lm

clean:
\trm -f lib{name}.so
"""  # noqa: E501 (the MVEC probe is one Makefile line: a C program fed to the compiler)


def export_c(exe, directory: str, name: str, header: str, entry_prefix: str) -> list:
    """Write the C folder of executable ``exe`` (its ``pir`` and ``source``); ``header``
    is the host API's text and ``entry_prefix`` its functions' prefix."""
    pir = exe.pir
    name = sanitize_names([name])[0]
    os.makedirs(directory, exist_ok=True)
    src = next(iter(exe.source.values()))
    paths = [_write(directory, f"{name}.c", f'#include "{name}.h"\n' + src),
             _write(directory, f"{name}.h", header),
             _write(directory, "Makefile", C_MAKEFILE.format(name=name))]
    values: dict[str, Any] = {b.name: np.asarray(p.value) for b, p in zip(pir.params, pir.param_nodes)}
    np.savez(os.path.join(directory, f"{name}_params.npz"), **values)
    paths.append(os.path.join(directory, f"{name}_params.npz"))
    paths.append(_write(directory, f"{name}_loader.py", LOADER.format(
        name=name, module=f"{name}_loader", prefix=entry_prefix, meta=_meta(pir),
        alias=_sym_alias(pir))))
    return paths


# ---- CUDA ------------------------------------------------------------------------------------

CUDA_MAKEFILE = """# Builds the graphc-generated CUDA code with nvcc alone (no graphc needed).
#   make            lib{name}.so and ./example (GPU)
#   make emulate    ./example_emu: the same .cu on the CPU through graphc_cuda_emu.h
NVCC ?= nvcc
ARCH ?= sm_90
CXX ?= c++

all: lib{name}.so example

lib{name}.so: {name}.cu {name}.h graphc_cuda.h
\t$(NVCC) -O3 -arch=$(ARCH) -I. -Xcompiler -fPIC -shared -o $@ {name}.cu

example: example_main.cpp {name}.cu {name}.h graphc_cuda.h
\t$(NVCC) -O3 -arch=$(ARCH) -I. -o $@ -x cu {name}.cu -x cu example_main.cpp

emulate: example_emu

example_emu: example_main.cpp {name}.cu {name}.h graphc_cuda.h graphc_cuda_emu.h
\t$(CXX) -O2 -std=c++20 -pthread -I. -include graphc_cuda.h -x c++ {name}.cu -x c++ example_main.cpp -o $@

clean:
\trm -f lib{name}.so example example_emu
"""


def _example_main(pir: ProgramIR, name: str, prefix: str, sizes: dict) -> str:
    usage = " ".join(f"[{s}]" for s in pir.sym_order)
    files = [f"data/inputs_{b.name}.bin" for b in pir.inputs] + \
        [f"data/params_{b.name}.bin" for b in pir.params]
    lines = [f"/* Example: run {name} once (outputs, then the parameter updates) and print every",
             " * result, one line each: its name, then its values in C order.",
             " *",
             f" *     ./example {usage}".rstrip(),
             " *",
             " * Inputs and parameters are read from data/ (run it in this folder): one raw file",
             " * per array, its values in C order in the array's dtype, no header:",
             *[f" *     {f}" for f in files],
             " * written by graphc's export" + (" with " + ", ".join(
                 f"{s} = {sizes[s]}" for s in pir.sym_order) if pir.sym_order else "") + ".",
             *([" * The run-time sizes can be given on the command line, in the order above: a",
                " * larger size repeats an input file's values (whole rows along a leading batch",
                " * axis), a smaller one reads its first values."] if pir.sym_order else []),
             " */",
             "#include <stdio.h>", "#include <stdlib.h>", "#include <stdint.h>",
             f'#include "{name}.h"', "",
             "/* `bytes` bytes of the file at `path`, its contents repeated if it is shorter. */",
             "static void* load(const char* path, size_t bytes) {",
             "    unsigned char* p = (unsigned char*)malloc(bytes ? bytes : 1);",
             "    FILE* f = fopen(path, \"rb\");",
             "    size_t got = f ? fread(p, 1, bytes, f) : 0;",
             "    if (f) fclose(f);",
             "    if (!f || (bytes && !got)) { fprintf(stderr, \"cannot read %s\\n\", path); exit(1); }",
             "    for (size_t k = got; k < bytes; ++k) p[k] = p[k - got];",
             "    return p;", "}", "",
             "/* A run-time size from the command line, or the exported one. */",
             "static int64_t size_arg(int argc, char** argv, int k, const char* name, int64_t dflt) {",
             "    if (k >= argc) return dflt;",
             "    char* end = NULL;",
             "    long long v = strtoll(argv[k], &end, 10);",
             "    if (end == argv[k] || *end || v < 1) {",
             f'        fprintf(stderr, "usage: %s {usage}: %s must be a positive integer, got %s\\n", '
             "argv[0], name, argv[k]);",
             "        exit(2);",
             "    }",
             "    return (int64_t)v;",
             "}", "",
             "int main(int argc, char** argv) {",
             "    (void)argc; (void)argv;"]
    for k, s in enumerate(pir.sym_order):
        lines.append(f'    const int64_t {s} = size_arg(argc, argv, {k + 1}, "{s}", {sizes[s]});')
    lines.append(f"    const int64_t sizes[{max(len(pir.sym_order), 1)}] = "
                 f"{{{', '.join(pir.sym_order) or '0'}}};")
    count = lambda b: f"(size_t)({b.size().c()})"
    for group, arr in ((pir.inputs, "inputs"), (pir.params, "params")):
        lines.append(f"    void* {arr}[{max(len(group), 1)}] = {{0}};")
        for b in group:
            lines.append(f'    {arr}[{b.index}] = load("data/{arr}_{b.name}.bin", '
                         f"{count(b)} * sizeof({ctype(b.dtype)}));")
    lines.append(f"    int dirty[{max(len(pir.params), 1)}] = {{0}};")
    lines.append(f"    void* results[{max(len(pir.results), 1)}] = {{0}};")
    for b in pir.results:
        lines.append(f"    results[{b.index}] = malloc({count(b)} * sizeof({ctype(b.dtype)}) + 1);")
    lines.append(f"    if ({prefix}_run(inputs, params, dirty, results, sizes) != 0) {{")
    lines.append('        fprintf(stderr, "error: %s\\n", gc_last_error());')
    lines.append("        return 1;")
    lines.append("    }")
    for b in pir.results:
        lines.append(f"    {{ const {ctype(b.dtype)}* r = (const {ctype(b.dtype)}*)results[{b.index}];")
        lines.append(f'      printf("{b.name}");')
        lines.append(f"      for (size_t k = 0; k < {count(b)}; ++k) printf(\" %.9g\", (double)r[k]);")
        lines.append('      printf("\\n"); }')
    lines += [f"    {prefix}_release();", "    return 0;", "}", ""]
    return "\n".join(lines)


def export_cuda(exe, directory: str, name: str, header: str, entry_prefix: str,
                headers: list, sizes: dict | None = None, inputs: list | None = None) -> list:
    """Write the CUDA folder of executable ``exe``: ``header`` is the host API's text,
    ``entry_prefix`` its functions' prefix, ``headers`` the paths of the graphc headers
    to copy. ``inputs`` (arrays) and ``sizes`` (C size name -> int) fix the example's
    data; by default run-time dims are 4 and inputs are seeded random."""
    pir = exe.pir
    name = sanitize_names([name])[0]
    os.makedirs(os.path.join(directory, "data"), exist_ok=True)
    src = next(iter(exe.source.values()))
    pre = entry_prefix
    sizes = dict(sizes or {})
    for b, arr in zip(pir.inputs, inputs or []):
        for m, n in zip(b.dims, np.shape(arr)):
            if m.coef == 1 and len(m.syms) == 1:
                sizes.setdefault(m.syms[0], int(n))
    for s in pir.sym_order:
        sizes.setdefault(s, 4)
    paths = [_write(directory, f"{name}.cu", src),
             _write(directory, f"{name}.h", header),
             _write(directory, "Makefile", CUDA_MAKEFILE.format(name=name)),
             _write(directory, "example_main.cpp", _example_main(pir, name, pre, sizes))]
    for h in headers:
        dst = os.path.join(directory, os.path.basename(h))
        shutil.copyfile(h, dst)
        paths.append(dst)
    rng = np.random.default_rng(0)
    for k, b in enumerate(pir.inputs):
        shape = tuple(m.coef * int(np.prod([sizes[s] for s in m.syms], dtype=np.int64))
                      for m in b.dims)
        if inputs is not None:
            arr = np.ascontiguousarray(inputs[k], dtype=b.dtype)
        elif np.dtype(b.dtype).kind in "iu":
            arr = rng.integers(0, 2, size=shape).astype(b.dtype)
        elif np.dtype(b.dtype).kind == "b":
            arr = rng.uniform(size=shape) > 0.5
        else:
            arr = rng.normal(size=shape).astype(b.dtype)
        p = os.path.join(directory, "data", f"inputs_{b.name}.bin")
        arr.tofile(p)
        paths.append(p)
    for b, p_node in zip(pir.params, pir.param_nodes):
        p = os.path.join(directory, "data", f"params_{b.name}.bin")
        np.ascontiguousarray(p_node.value, dtype=b.dtype).tofile(p)
        paths.append(p)
    return paths
