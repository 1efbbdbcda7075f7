"""One naming scope for generated code: no user name can collide with an identifier a
renderer emits or its headers bring in.

The corpus below is rendered on every backend (NumPy, C, CUDA) and exported (the C
folder with its header and loader, the CUDA folder with its header and example
program, the standalone NumPy module); every identifier in those sources is then used
back as a placeholder name and as a parameter name, many per graph, in graphs whose
kernels (elementwise, row and column reductions, a fused GEMM, literals NaN/Inf)
read all of them. Everything must compile and agree with the interpreter.
"""
from __future__ import annotations

import io
import re
import tokenize
import types

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import c_backend, cuda_backend, native_export, numpy_render, toolchain
from graphc.codegen.base import Program
from graphc.codegen.naming import Scope, sanitize_names
from graphc.ir import topo_order
from graphc.ops import OPS
from graphc.passes.pipeline import run_pipeline

GROUP = 100   # names per kernel (under fusion's ops-per-kernel bound): one compile per role


def program(name, outputs, inputs=(), updates=None) -> Program:
    """The Program gc.compile would hand a backend."""
    updates = updates or {}
    opt = run_pipeline(list(outputs) + list(updates.values())).outputs
    params = tuple(n for n in topo_order(opt) if n.op == "parameter")
    return Program(name, tuple(inputs), params, tuple(opt[:len(outputs)]), tuple(updates),
                   tuple(opt[len(outputs):]))


def corpus(dtype: str) -> list:
    """Graphs that between them use every kernel shape, literal and host path."""
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 3), dtype)
    labels = gc.placeholder("labels", (None,), "int64")
    W = gc.parameter("W", rng.normal(size=(3, 5)).astype(dtype))
    b = gc.parameter("b", np.zeros(5, dtype))
    loss = gc.cross_entropy(gc.relu(x @ W + b), labels)
    gW, gb = gc.grad(loss, [W, b])
    graphs = [program("mlp", [loss], [x, labels], {W: W - 0.1 * gW, b: b - 0.1 * gb})]
    unary = [gc.api.apply(n, [x] * op.arity) for n, op in sorted(OPS.items())
             if op.kind == "elementwise"
             and n not in ("where", "cast", "stop_gradient", "check_index")
             and op.dtype_out is None]
    special = [gc.where(x > 0, x, np.nan), gc.where(x < 0, np.inf, -np.inf),
               gc.cast(x, "int32"), gc.one_hot(labels, 3, dtype) * x,
               gc.one_hot(gc.check_index(labels + 1, 4), 4, dtype), gc.mean(x) * x,
               gc.sum(x, 0), gc.max(x, 0), gc.softmax(x, 1), gc.tanh(x) @ W,
               gc.reshape(x, (x.dims[0], 3, 1)) @ gc.constant(np.ones((1, 4), dtype)),
               x * gc.constant(np.arange(4200.0).reshape(1400, 3), dtype)[:1] if False else
               gc.sum(gc.constant(np.arange(4200.0, dtype=dtype)) * gc.sum(x)),
               gc.parameter("s", np.float64(2.0).astype(dtype)) * 2.0]
    graphs.append(program("ops", unary + special, [x, labels]))
    return graphs


def rendered_sources(tmp_path) -> dict:
    """file name -> text of everything the backends generate for the corpus, exports
    included (rendering only: nothing is compiled)."""
    out = {}
    for dtype in ("float32", "float64"):
        for prog in corpus(dtype):
            tag = f"{prog.name}_{dtype}"
            out[f"{tag}.py"] = numpy_render.render(prog).text
            for backend, suffix in ((c_backend, "c"), (cuda_backend, "cu")):
                pir, src = backend.render_source(prog)
                exe = types.SimpleNamespace(pir=pir, source={f"x.{suffix}": src})
                folder = tmp_path / f"{tag}_{suffix}"
                if backend is c_backend:
                    paths = native_export.export_c(exe, str(folder), tag,
                                                   header=c_backend.render_header(pir),
                                                   entry_prefix=c_backend.prefix(pir))
                else:
                    paths = native_export.export_cuda(
                        exe, str(folder), tag, header=cuda_backend.render_header(pir),
                        entry_prefix=cuda_backend.prefix(pir), headers=[])
                for p in paths:
                    if p.endswith((".c", ".cu", ".h", ".py", ".cpp")):
                        out[p] = open(p).read()
    return out


C_COMMENT_OR_TEXT = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'',
                               re.S)


def identifiers(name: str, text: str) -> set:
    """The identifiers of a source file (not its comments or string literals)."""
    if name.endswith(".py"):
        return {t.string for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type == tokenize.NAME}
    return set(re.findall(r"\b[A-Za-z_]\w*\b", C_COMMENT_OR_TEXT.sub(" ", text)))


@pytest.fixture(scope="module")
def harvested(tmp_path_factory) -> list:
    found = set()
    for name, text in rendered_sources(tmp_path_factory.mktemp("naming")).items():
        found |= identifiers(name, text)
    return sorted(found)


def test_corpus_uses_the_names_the_issue_lists(harvested):
    """The harvest sees the generated identifiers that once broke compiles."""
    for name in ("c0", "out0", "params", "inputs", "results", "workspace", "R", "B", "N0",
                 "i0", "r0", "v1", "a_r0", "NAN", "INFINITY", "e"):
        assert name in harvested, name


def collision_graph(names: list, role: str):
    """(outputs, inputs, feeds) with one leaf per name; the names, in groups that fit one
    kernel, are all read by an elementwise kernel (with NaN/Inf literals), a row and a
    column reduction, and a matmul's epilogue, so each meets every kernel's own names."""
    rng = np.random.default_rng(len(names))
    shape = (4, 3)
    if role == "placeholder":
        leaves = [gc.placeholder(n, (None, 3), "float64") for n in names]
        feeds = [rng.uniform(-1, 1, shape) for _ in names]
    else:
        leaves = [gc.parameter(n, rng.uniform(-1, 1, shape)) for n in names]
        feeds = []

    def chain(group, scale):   # a sum no other kernel shares (each one reads the leaves)
        total = group[0] * scale
        for leaf in group[1:]:
            total = total + leaf
        return total
    square = gc.constant(np.linspace(-1, 1, 9).reshape(3, 3))
    outputs = []
    for start in range(0, len(leaves), GROUP):
        group = leaves[start:start + GROUP]
        s = chain(group, 1.0)
        outputs += [gc.tanh(s) + gc.where(s > 50, np.inf, 0.0) + gc.where(s < -50, np.nan, 0.0),
                    gc.sum(chain(group, 2.0), axis=1) + gc.max(chain(group, 3.0), axis=1),
                    gc.sum(chain(group, 4.0), axis=0) + gc.max(chain(group, 5.0), axis=0),
                    gc.relu(group[0] @ square + chain(group, 6.0))]
    inputs = leaves if role == "placeholder" else []
    return outputs, inputs, feeds


BACKENDS = [("numpy", {}), ("c", {}), ("c", {"blas": False}), ("cuda", {"device": "emulate"})]
# the emulated CUDA build of these 600-leaf graphs takes a minute or more per role, and the
# no-BLAS C variant differs from the C one only in the GEMM host path: the default run
# checks both roles on numpy and c and one role without BLAS (every name meets every
# kernel there); ``-m slow`` adds the emulated CUDA (whose own names the harvest includes)
CASES = [pytest.param(backend, role, id=f"{bid}-{role}",
                      marks=[pytest.mark.slow] if bid == "cuda-emulate" or (
                          bid == "c-noblas" and role == "placeholder") else [])
         for backend, bid in zip(BACKENDS, ["numpy", "c", "c-noblas", "cuda-emulate"])
         for role in ("placeholder", "parameter")]


@pytest.mark.parametrize("backend, role", CASES)
def test_every_generated_identifier_is_a_safe_user_name(harvested, backend, role):
    name, options = backend
    if name == "c" and not toolchain.have_c_compiler():
        pytest.skip("no C compiler")
    if name == "cuda" and not toolchain.have_cxx_compiler():
        pytest.skip("no C++ compiler for the CUDA emulation")
    outputs, inputs, feeds = collision_graph(harvested, role)
    f = gc.compile(outputs, inputs=inputs, backend=name, **options)
    want = gc.evaluate(outputs, dict(zip(inputs, feeds)))
    for k, (g, w) in enumerate(zip(f(*feeds), want)):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, err_msg=f"{name} output {k}")


def test_a_reserved_name_whose_suffixes_are_a_family_ends():
    """A reserved ``off`` beside the family ``off_\\d+``: every ``off_k`` is taken, so the
    name becomes the user's (``u_off``) instead of counting forever (it once hung)."""
    import signal

    def stuck(*_):
        raise AssertionError("sanitize_names did not finish")
    old = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(5)
    try:
        got = sanitize_names(["off", "off", "x"], Scope(frozenset({"off"}), (r"off_\d+",)))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert got == ["u_off", "u_off_1", "x"]
