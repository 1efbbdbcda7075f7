"""The backend suite (tests/backend_suite.py) on backend="c", plus C-specific checks."""
import numpy as np
import pytest

import graphc as gc
from graphc.codegen import toolchain

from backend_suite import *  # noqa: F401,F403  (the suite's test functions)

pytestmark = pytest.mark.skipif(not toolchain.have_c_compiler(),
                                reason="no C compiler (cc/gcc/clang) found on PATH")


# blas=False: every matmul runs the generated GEMM (the default sends plain ones to BLAS).
# It changes only matmul kernels, so the suite's tests that build matmuls run it (the
# rest would compile the same C twice)
MATMUL_TESTS = ("matmul", "mlp", "random_graphs", "updates_match")


@pytest.fixture(params=[("c", {}), ("c", {"blas": False})],
                ids=lambda b: b[0] + ("-noblas" if b[1] else ""))
def backend(request):
    if request.param[1] and not any(k in request.node.name for k in MATMUL_TESTS):
        pytest.skip("blas=False changes only matmul kernels: the matmul tests run it")
    return request.param


def test_blas_false_is_honoured_after_a_blas_compile_of_the_same_graph():
    """The BLAS pointers are globals of the compiled library: a blas=False compile of a
    graph compiled before with BLAS must not share its library (it used to run BLAS)."""
    a = gc.placeholder("a", (70, 80), "float64")
    b = gc.placeholder("b", (80, 90), "float64")
    y = a @ b
    with_blas = gc.compile(y, backend="c")
    without = gc.compile(y, backend="c", blas=False)
    assert "gc_dgemm(" in next(iter(with_blas.source.values()))
    plain = next(iter(without.source.values()))
    assert "gc_dgemm" not in plain and "set_blas" not in plain
    rng = np.random.default_rng(0)
    av, bv = rng.normal(size=(70, 80)), rng.normal(size=(80, 90))
    np.testing.assert_allclose(without(av, bv), av @ bv, rtol=1e-12)
    np.testing.assert_allclose(with_blas(av, bv), av @ bv, rtol=1e-12)


def test_export_builds_with_make_and_loads_with_numpy_and_ctypes(tmp_path):
    import importlib.util
    import shutil
    import subprocess
    if shutil.which("make") is None:
        pytest.skip("make not found")
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 3))
    labels = gc.placeholder("labels", (None,), "int64")
    W = gc.parameter("W", rng.normal(size=(3, 4)).astype(np.float32))
    b = gc.parameter("b", np.zeros(4, np.float32))
    loss = gc.cross_entropy(gc.tanh(x @ W) + b, labels)
    gW, gb = gc.grad(loss, [W, b])
    f = gc.compile([loss, gW], backend="c", updates={W: W - 0.1 * gW, b: b - 0.1 * gb})
    paths = f.export(str(tmp_path), "mlp")
    assert any(p.endswith("mlp.c") for p in paths)
    subprocess.run(["make", "-s"], cwd=tmp_path, check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location("mlp_loader", tmp_path / "mlp_loader.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    g = mod.load()
    for batch in (5, 2):
        xv = rng.normal(size=(batch, 3)).astype(np.float32)
        yv = rng.integers(0, 4, size=batch)
        want = gc.evaluate([loss, gW, W - 0.1 * gW], {x: xv, labels: yv})
        got = g(x=xv, labels=yv)
        f(x=xv, labels=yv)                                 # advance the in-process function too
        np.testing.assert_allclose(got[0], want[0], rtol=2e-4, atol=1e-5)
        np.testing.assert_allclose(got[1], want[1], rtol=2e-4, atol=1e-5)
        np.testing.assert_allclose(g.params[0], want[2], rtol=2e-4, atol=1e-5)
        np.testing.assert_allclose(g.params[0], W.value, rtol=2e-4, atol=1e-5)


def test_c_source_is_deterministic_and_names_kernels():
    x = gc.placeholder("x", (None, 4))
    y = gc.softmax(gc.tanh(x) * 2)
    a = gc.compile(y, backend="c").source
    b = gc.compile(y, backend="c", name="graph").source
    assert a == b
    text = next(iter(a.values()))
    assert "restrict" in text and "#pragma omp" in text and "tanhf(" in text


# every matmul form runs through BLAS on the C backend: batched and broadcast batches (one
# GEMM per slice), transposed operands (GEMM flags, no copy), matrix-vector (GEMV), an
# epilogue; each checked against NumPy in float64, with and without BLAS
MATMUL_FORMS = {
    "batched": (((4, 5, 6), (4, 6, 7)), lambda a, b: a @ b, "gc_dgemm("),
    "broadcast_b": (((4, 5, 6), (6, 7)), lambda a, b: a @ b, "gc_dgemm("),
    "broadcast_both": (((2, 1, 5, 6), (3, 6, 7)), lambda a, b: a @ b, "gc_dgemm("),
    "transposed_b": (((4, 5, 6), (4, 7, 6)), lambda a, b: a @ swap(b), "gc_dgemm("),
    "transposed_a": (((4, 6, 5), (4, 6, 7)), lambda a, b: swap(a) @ b, "gc_dgemm("),
    "sliced": (((3, 5, 6), (3, 6, 7)), lambda a, b: a[:, 1:4] @ b, "gc_dgemm("),
    "matrix_vector": (((5, 6), (6,)), lambda a, b: a @ b, "gc_dgemv("),
    "vector_matrix": (((6,), (3, 6, 7)), lambda a, b: a @ b, "gc_dgemv("),
    "batched_matrix_vector": (((3, 5, 6), (6,)), lambda a, b: a @ b, "gc_dgemv("),
    "epilogue": (((3, 5, 6), (3, 6, 7)), lambda a, b: gc_or_np(a).tanh(a @ b) + 1, "gc_dgemm("),
}


def swap(t):
    return gc_or_np(t).swapaxes(t, -1, -2)


def gc_or_np(t):
    return np if isinstance(t, np.ndarray) else gc


@pytest.mark.parametrize("form", sorted(MATMUL_FORMS))
def test_every_matmul_form_runs_through_blas(form):
    shapes, fn, call = MATMUL_FORMS[form]
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s) for s in shapes]
    inputs = [gc.placeholder(f"m{k}", s, "float64") for k, s in enumerate(shapes)]
    with_blas = gc.compile(fn(*inputs), inputs=inputs, backend="c")
    without = gc.compile(fn(*inputs), inputs=inputs, backend="c", blas=False)
    source = next(iter(with_blas.source.values()))
    assert call in source and "gemm_i" in source, f"{form} does not call BLAS"
    want = fn(*values)
    np.testing.assert_allclose(with_blas(*values), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(without(*values), want, rtol=1e-12, atol=1e-12)
