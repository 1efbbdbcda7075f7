"""Every innermost loop of the generated C vectorizes (issue 17, item 1).

The C kernels of the benchmark cases (``benchmarks/_cases.py`` and the issue's
workloads) and of a small derandomized fuzz corpus (``tests/strategies.py``) are
rendered, compiled with the C backend's own flags plus ``-fopt-info-vec-optimized``
and ``-fopt-info-vec-missed``, and every innermost ``for`` loop of the source must be
reported vectorized by GCC. The test fails listing each loop that is not (its kernel,
its line and GCC's reason), except the documented ``ALLOWED`` loops.

No -ffast-math is involved: NaN/Inf semantics are kept (tests/test_c_vector_math.py,
tests/test_numerics.py); the loops vectorize through ``#pragma omp simd``, the
branch-free ``gc_expf`` and glibc's libmvec.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.codegen import build, probes, toolchain
from graphc.codegen.base import Program
from graphc.codegen.c_backend import EXTRA_FLAGS, render_source
from graphc.passes.pipeline import run_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

pytestmark = pytest.mark.skipif(not toolchain.have_c_compiler(), reason="no C compiler")

# Innermost loops that may stay scalar, each with its reason: (pattern on the loop's
# kernel name, header or body; pattern on GCC's "missed" reason, or None for any).
# Nothing else may.
ALLOWED = {
    # scatter_add: duplicate indices add into the same element, in index order (the
    # deterministic result the backends agree on); lanes would race
    "scatter": (r"^k\d+_scatter", None, "scatter_add adds duplicate indices serially"),
    # Philox rounds: 10 dependent rounds of one counter, unrolled by GCC, not a data loop
    "philox": (r"for \(int r = 0; r < 10; \+\+r\)", None, "Philox's 10 dependent rounds"),
    # a checked data index (gather/take) records the first index out of range in a
    # global: a side effect per element, which GCC does not vectorize
    "gather": ("gc_checked_index", None, "checked data indices record the first fault"),
    # counting the CPUs of the affinity mask, once per parallel region
    "threads": (r"^gc_threads$", None, "the CPU count of the affinity mask (16 words)"),
    # the OpenMP loop of a kernel calling its step function (the rows, vectorized inside)
    "step": (r"_step\(", None, "the parallel loop over a kernel's step function"),
    # the host's workspace layout: one pass over the buffer table per call (c_host)
    "layout": (r"gc_b < \d+", None, "the host's pass over the workspace's buffer table"),
    # the host's loop over batch slices, one BLAS GEMM call each
    "blas": (r"gc_[sd]gemm\(", None, "one BLAS call per batch slice"),
    # a float clamped by maximum/minimum then cast to an integer: GCC 12 sinks the cast
    # into the select's arms and reports "control flow in loop" (seen only in fuzz graphs)
    "clamp_to_int": (r"\(\((u?int(8|16|32|64)_t)\)v\d+\)", "control flow in loop",
                     "a clamped float cast to an integer"),
    # a load strided along the innermost axis (a transposing copy, the generated GEMM's
    # transposed operand): GCC 12 builds no vectors from these strided float loads inside
    # OpenMP-outlined loops. The GEMMs run through BLAS unless blas=False.
    "strided": (r"\[[^\]]*\bi\d+\*\w+", "no vectype for stmt",
                "a load strided along the innermost axis"),
    # gc.linalg's generated factorizations and solves for small matrices (LAPACK takes the
    # large ones): their inner loops are in-order dot products (no -ffast-math, so GCC
    # does not reassociate a float sum) or walk a column
    "linalg": (r"\bla_\w+ <", None, "small-matrix factorization loops (in-order sums)"),
}

FOR = re.compile(r"\bfor\s*\(")


def innermost_loops(source: str) -> list[dict]:
    """Innermost ``for`` loops of a C source: header line, last line, enclosing function."""
    loops = []
    lines_at = np.cumsum([0] + [len(x) + 1 for x in source.split("\n")])

    def line_of(pos):
        return int(np.searchsorted(lines_at, pos, side="right"))

    for m in FOR.finditer(source):
        depth, p = 0, m.end() - 1
        while True:   # the header's parentheses
            depth += {"(": 1, ")": -1}.get(source[p], 0)
            if depth == 0:
                break
            p += 1
        q = p + 1
        while source[q].isspace():
            q += 1
        if source[q] == "{":
            depth, e = 0, q
            while True:
                depth += {"{": 1, "}": -1}.get(source[e], 0)
                if depth == 0:
                    break
                e += 1
        else:
            e = source.index(";", q)
        loops.append({"start": m.start(), "end": e, "line": line_of(m.start()),
                      "last": line_of(e), "body": source[p + 1:e],
                      "header": source[m.start():p + 1]})
    inner = [lp for lp in loops if not FOR.search(lp["body"])]
    kernels = [(line_of(m.start()), m.group(1)) for m in
               re.finditer(r"^static void (\w+)\(", source, re.M)]
    kernels += [(line_of(m.start()), m.group(1)) for m in
                re.finditer(r"^static inline \w+ (\w+)\(", source, re.M)]
    for lp in inner:
        start, lp["kernel"] = max(((line, name) for line, name in kernels
                                   if line <= lp["line"]), default=(1, "?"))
        lp["trips"] = trip_count(lp["header"], source.split("\n")[start - 1:lp["line"]])
    return inner


def trip_count(header: str, above: list) -> int | None:
    """A loop's trip count when its bound is a constant of the kernel (``N0 = 3``,
    ``R = N0*N1``...), else None."""
    piece = re.search(r"= \(?(?:ob > \d+ \? ob : )?(\d+)\)?; \w+ < \(?(?:oe < \d+ \? oe : )?"
                      r"(\d+)\)?;", header)
    if piece:   # a piece of a loop cut at pad edges (gate_split): at most hi - lo trips
        return int(piece.group(2)) - int(piece.group(1))
    m = re.search(r"< (\w+);", header)
    if not m:
        return None
    consts = {}
    for line in above:
        jn = re.match(r"\s*const int64_t jn = (\w+) - j0", line)   # a GEMM column block
        if jn and (jn.group(1) in consts or jn.group(1).isdigit()):
            consts["jn"] = min(int(consts.get(jn.group(1), jn.group(1))), 64)
        d = re.match(r"\s*const int64_t (\w+) = ([\w*]+);", line)
        if d:
            try:
                consts[d.group(1)] = int(np.prod([int(consts.get(t, t))
                                                  for t in d.group(2).split("*")]))
            except ValueError:
                consts.pop(d.group(1), None)
    bound = {"oe": "O"}.get(m.group(1), m.group(1))   # column blocks: at most O columns
    return int(bound) if bound.isdigit() else consts.get(bound)


def allowed(loop: dict, why: list) -> str | None:
    if loop["trips"] is not None and loop["trips"] < 16:
        return "tiny: a trip count below one 512-bit vector of floats"
    for key, (pattern, reason_pattern, reason) in ALLOWED.items():
        if reason_pattern is not None and not any(reason_pattern in w for w in why):
            continue
        if re.search(pattern, loop["kernel"]) or re.search(pattern, loop["header"]) \
                or re.search(pattern, loop["body"]):
            return f"{key}: {reason}"
    return None


def vector_report(source: str, extra: tuple = ()) -> list[tuple[str, int, str]]:
    """(kind, line, message) of GCC's vectorizer report for ``source``, compiled with the
    C backend's flags (to an object file: nothing is linked or loaded)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.c")
        Path(path).write_text(source)
        flags = [f for f in build.default_flags("c") if f != "-shared"]
        argv = [*toolchain_c_command(), *flags, *EXTRA_FLAGS, *extra, "-c", path, "-o",
                os.path.join(d, "k.o"), "-fopt-info-vec-optimized", "-fopt-info-vec-missed"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
    out = []
    for m in re.finditer(r"^\S*k\.c:(\d+):\d+: (optimized|missed): (.*)$", r.stderr, re.M):
        out.append((m.group(2), int(m.group(1)), m.group(3)))
    return out


def toolchain_c_command() -> tuple:
    from graphc.codegen.compilers import c_command
    return tuple(c_command())


def unvectorized(source: str, extra: tuple = ()) -> list[str]:
    """Each innermost loop of ``source`` GCC did not vectorize and ALLOWED does not name
    (compiled with the C backend's flags, then ``extra``)."""
    loops = innermost_loops(source)
    report = vector_report(source, extra)
    done = set()
    for kind, line, msg in report:
        if kind == "optimized" and "loop vectorized" in msg:
            # a loop is reported at its header or at a statement of its body
            hits = [lp for lp in loops if lp["line"] <= line <= lp["last"]]
            for lp in hits:
                done.add(lp["line"])
    missed_at = {}
    for kind, line, msg in report:
        if kind == "missed" and ("not vectorized" in msg or "couldn't vectorize" in msg):
            missed_at.setdefault(line, []).append(msg)
        if kind == "missed" and re.search(r"__builtin_mem(set|cpy|move)", msg):
            # a fill or copy loop GCC replaced by memset/memcpy (themselves vectorized)
            for lp in loops:
                if lp["line"] <= line <= lp["last"]:
                    done.add(lp["line"])
    failures = []
    src_lines = source.split("\n")
    for lp in loops:
        if lp["line"] in done:
            continue
        why = [m for line, ms in missed_at.items() if lp["line"] <= line <= lp["last"]
               for m in ms]
        if allowed(lp, why):
            continue
        failures.append(f"{lp['kernel']} line {lp['line']}: "
                        f"{src_lines[lp['line'] - 1].strip()}  -- "
                        f"{'; '.join(dict.fromkeys(why)) or 'no vectorizer report'}")
    return failures


def c_source(outputs, inputs=()) -> str:
    """The C translation unit ``gc.compile(outputs, inputs=inputs, backend="c")`` builds
    (the same pipeline and renderer), without compiling it."""
    outputs = list(outputs)
    res = run_pipeline(outputs)
    params = tuple(n for n in res.order if n.op == "parameter")
    prog = Program(name="graph", inputs=tuple(inputs), params=params,
                   outputs=tuple(res.outputs), options={})
    return render_source(prog)[1]


# ---- the benchmark workloads -----------------------------------------------------------------

def benchmark_graphs() -> dict:
    """name -> (outputs, inputs): the graphs of benchmarks/run.py's graphc cases."""
    from _cases import chain_expr
    graphs = {}
    x = gc.placeholder("x", (None,))
    y = chain_expr(gc, x)
    graphs["chain_bwd"] = ([y, gc.grad(gc.sum(y), x)], [x])
    a, b, c = (gc.placeholder(n, ("n",)) for n in "abc")
    loss = gc.sum(gc.tanh(a) * gc.sigmoid(b) * gc.exp(c))
    graphs["elementwise3"] = ([loss, *gc.grad(loss, [a, b, c])], [a, b, c])
    X, R = gc.placeholder("x", (None, 64)), gc.placeholder("r", (None, 64))
    s = gc.softmax(X, axis=-1)
    graphs["softmax"] = ([s, gc.grad(gc.sum(s * R), X)], [X, R])
    rng = np.random.default_rng(0)
    X = gc.placeholder("x", (None, 784))
    lab = gc.placeholder("labels", (None,), "int32")
    ps = [gc.parameter(n, rng.standard_normal(s).astype(np.float32) * 0.01)
          for n, s in (("W1", (784, 256)), ("b1", (256,)), ("W2", (256, 10)), ("b2", (10,)))]
    loss = gc.cross_entropy(gc.relu(X @ ps[0] + ps[1]) @ ps[2] + ps[3], lab)
    graphs["mlp"] = ([loss, *gc.grad(loss, ps)], [X, lab])
    Q, K, V = (gc.placeholder(n, (None, 256, 64)) for n in "QKV")
    att = gc.softmax(Q @ gc.swapaxes(K, -1, -2) / 8.0, axis=-1) @ V
    loss = gc.sum(att * att)
    graphs["attention"] = ([loss, *gc.grad(loss, [Q, K, V])], [Q, K, V])
    # benchmarks/slicing.py and conv.py: loops cut at the pieces' edges (gate_split)
    x, w = gc.placeholder("x", (None, 512)), gc.placeholder("w", (4 * 510,))
    feat = gc.concatenate([x[:, 2:], x[:, 1:-1], x[:, :-2], x[:, ::-1][:, 2:]], axis=1)
    h = gc.tanh(feat * w)
    loss = gc.sum(h * h)
    graphs["slicing"] = ([loss, *gc.grad(loss, [w, x])], [x, w])
    x, w = gc.placeholder("x", (None, 8, 32, 32)), gc.placeholder("w", (16, 8, 3, 3))
    y = gc.nn.conv2d(x, w, padding=1)
    graphs["conv2d"] = ([y, *gc.grad(gc.sum(y * y), [x, w])], [x, w])
    return graphs


def run_parallel(sources: dict) -> dict:
    with ThreadPoolExecutor(max_workers=max(1, len(os.sched_getaffinity(0)))) as pool:
        return dict(zip(sources, pool.map(unvectorized, sources.values())))


@pytest.mark.skipif(not probes.vector_math_available(),
                    reason="glibc's SIMD libm (libmvec) is not available here")
def test_benchmark_kernels_vectorize():
    sources = {name: c_source(*g) for name, g in benchmark_graphs().items()}
    failures = run_parallel(sources)
    bad = {n: f for n, f in failures.items() if f}
    assert not bad, "innermost loops not vectorized:\n" + "\n".join(
        f"[{n}] {x}" for n, fs in bad.items() for x in fs)


def fuzz_sources(n: int) -> dict:
    """C sources of ``n`` derandomized fuzz graphs (outputs and their gradients)."""
    from strategies import recipes
    out = {}

    @settings(max_examples=n, derandomize=True, deadline=None, database=None)
    @given(recipes(max_steps=6), st.sampled_from(["float32", "float64"]))
    def collect(recipe, dtype):
        b = recipe.build(dtype)
        outs = [o for o in b.outputs]
        floats = [o for o in outs if o.dtype.kind == "f"]
        wrt = b.float_leaves
        extra = []
        if floats and wrt:
            loss = gc.sum(floats[0]) if floats[0].ndim else floats[0]
            for o in floats[1:]:
                loss = loss + (gc.sum(o) if o.ndim else o)
            extra = list(gc.grad(loss, wrt))
        inputs = [t for t in b.leaves if t.op == "placeholder"]
        out[f"fuzz{len(out)}"] = c_source(outs + extra, inputs)
        out[f"fuzz{len(out) - 1}_recipe"] = recipe.source()

    collect()
    return out


@pytest.mark.skipif(not probes.vector_math_available(),
                    reason="glibc's SIMD libm (libmvec) is not available here")
def test_fuzz_kernels_vectorize():
    got = fuzz_sources(int(os.environ.get("GRAPHC_VECTOR_FUZZ", "12")))
    sources = {k: v for k, v in got.items() if not k.endswith("_recipe")}
    failures = run_parallel(sources)
    bad = {n: f for n, f in failures.items() if f}
    assert not bad, "innermost loops not vectorized:\n" + "\n".join(
        f"[{n}] {x}\n{got[n + '_recipe']}" for n, fs in bad.items() for x in fs)


def test_loop_finder():
    src = """static void k0_x(int n, float* a) {
    for (int64_t i0 = 0; i0 < n; ++i0) {
        for (int64_t i1 = 0; i1 < n; ++i1) a[i1] = 0;
        for (int64_t i2 = 0; i2 < n; ++i2) {
            a[i2] += 1;
        }
    }
}
"""
    loops = innermost_loops(src)
    assert [(lp["line"], lp["last"], lp["kernel"]) for lp in loops] == \
        [(3, 3, "k0_x"), (4, 6, "k0_x")]


@pytest.mark.skipif(not probes.vector_math_available(),
                    reason="glibc's SIMD libm (libmvec) is not available here")
def test_large_sources_compile_at_O1_and_still_vectorize(monkeypatch):
    """Huge translation units get -O1 (compile time); their simd loops still vectorize."""
    from graphc.codegen import c_backend
    graphs = benchmark_graphs()
    for name in ("chain_bwd", "elementwise3", "softmax"):
        bad = unvectorized(c_source(*graphs[name]), c_backend.LARGE_SOURCE_FLAGS)
        assert not bad, f"{name} at {c_backend.LARGE_SOURCE_FLAGS}:\n" + "\n".join(bad)
    seen = []
    real = c_backend.toolchain.compile_and_load

    def spy(source, lang, flags=(), name=None, units=()):
        seen.append(flags)
        return real(source, lang, flags=flags, name=name, units=units)
    monkeypatch.setattr(c_backend, "LARGE_SOURCE", 0)
    monkeypatch.setattr(c_backend.toolchain, "compile_and_load", spy)
    x = gc.placeholder("x", (None,))
    f = gc.compile([gc.tanh(x) * gc.exp(-x)], inputs=[x], backend="c")
    v = np.linspace(-3, 3, 1001, dtype=np.float32)
    np.testing.assert_allclose(f(v)[0], np.tanh(v) * np.exp(-v), rtol=2e-6, atol=1e-7)
    assert seen and seen[-1][-len(c_backend.LARGE_SOURCE_FLAGS):] == c_backend.LARGE_SOURCE_FLAGS


def test_a_reduction_over_several_axes_loops_without_dividing_its_index():
    """sum over all of an (n, 64) array: nested loops, the innermost a simd reduction; a
    flat index split by % and / per element ran 6x slower and did not vectorize."""
    x = gc.placeholder("x", (None, 64))
    f = gc.compile(gc.sum(gc.tanh(x[:, 1:]) * 2), backend="c")   # rows that do not merge
    source = "\n".join(f.source.values())
    assert "rem_r" not in source and "#pragma omp simd reduction(+:" in source
    data = np.linspace(-2, 2, 5 * 64, dtype=np.float32).reshape(5, 64)
    np.testing.assert_allclose(f(data), np.sum(np.tanh(data[:, 1:]) * 2), rtol=1e-5, atol=1e-5)


def test_kernels_on_workspace_temps_run_whole_blocks_and_vectorize():
    """A deep chain's middle kernels read and write only workspace temps: their loops run
    in whole blocks into the temps' padding (no remainder loop to compile), vectorized at
    -O3 and -O1, with results right for lengths that are no multiple of the block."""
    x = gc.placeholder("x", (None,), "float64")
    y = gc.placeholder("y", (None,), "float32")
    t, u = x, y
    for k in range(400):
        t = (gc.sin, gc.tanh, gc.cos)[k * 7 % 3](t)
        u = (gc.sin, gc.tanh, gc.cos)[k * 5 % 3](u)
    outs = [t, gc.grad(gc.sum(t), x), u]
    source = c_source(outs, [x, y])
    assert "ib += 8) {" in source and "ib += 16) {" in source   # float64, float32 blocks
    for extra in ((), c_backend_flags_large()):
        bad = unvectorized(source, extra)
        assert not bad, "\n".join(bad)
    f = gc.compile(outs, inputs=[x, y], backend="c")
    for n in (1, 7, 9, 16, 17, 1001):
        v = np.linspace(-1.5, 1.5, n)
        want_t, want_d, want_u = v, np.ones(n), v.astype(np.float32)
        for k in range(400):
            op = ("sin", "tanh", "cos")[k * 7 % 3]
            want_d = want_d * {"sin": np.cos, "tanh": lambda a: 1 - np.tanh(a) ** 2,
                               "cos": lambda a: -np.sin(a)}[op](want_t)
            want_t = getattr(np, op)(want_t)
            want_u = getattr(np, ("sin", "tanh", "cos")[k * 5 % 3])(want_u)
        got_t, got_d, got_u = f(v, v.astype(np.float32))
        np.testing.assert_allclose(got_t, want_t, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got_d, want_d, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got_u, want_u, rtol=2e-4, atol=1e-5)


def c_backend_flags_large() -> tuple:
    from graphc.codegen import c_backend
    return c_backend.LARGE_SOURCE_FLAGS
