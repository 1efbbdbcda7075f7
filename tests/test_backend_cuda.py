"""The backend suite on backend="cuda", device="emulate" (the generated CUDA run on the
CPU through graphc_cuda_emu.h), and every .cu those tests generated compiled with
``nvcc -arch=sm_90`` (compile only: no GPU needed)."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import cuda_backend, toolchain
from graphc.errors import BackendUnavailable

from backend_suite import *  # noqa: F401,F403  (the suite's test functions)

pytestmark = pytest.mark.skipif(not toolchain.have_cxx_compiler(),
                                reason="no C++20 compiler for the CUDA emulation")

GENERATED: dict = {}     # source text -> program name, every .cu built by this module


@pytest.fixture(autouse=True)
def _record_sources(monkeypatch):
    real = cuda_backend.build

    def recording(program, **options):
        exe = real(program, **options)
        GENERATED.setdefault(exe.source[f"{exe.pir.name}.cu"], exe.pir.name)
        return exe
    monkeypatch.setattr(cuda_backend, "build", recording)
    yield


HAS_GPU = toolchain.have_nvcc() and toolchain.gpu_available()


# the real GPU runs the same suite whenever one is present; the emulation covers the
# same generated code everywhere else
@pytest.fixture(params=[("cuda", {"device": "emulate"}),
                        pytest.param(("cuda", {}), marks=pytest.mark.skipif(
                            not HAS_GPU, reason="no NVIDIA GPU with nvcc on this machine "
                            "(the emulate variant runs the same CUDA code on the CPU)"))],
                ids=lambda b: f"{b[0]}-{b[1].get('device', 'gpu')}")
def backend(request):
    return request.param


def combined_translation_unit(sources: list) -> str:
    """Many generated .cu files as one (each in its own namespace, entry points renamed)
    so nvcc checks them all in one run."""
    parts = ['#include "graphc_cuda.h"', "#include <stdbool.h>"]
    for k, src in enumerate(sources):
        body = src.replace('#include "graphc_cuda.h"', "").replace("#include <stdbool.h>", "")
        # extern "C" names are global, whatever the namespace: give each unit its own
        exported = r'(?:\bGC_EXPORT\b|extern "C"\s+(?:__attribute__\(\(.*?\)\)\s+)?)'
        for name in set(re.findall(exported + r'[\w\s*]*?\b(\w+)\s*\(', body)):
            body = re.sub(rf"\b{name}\b", f"{name}_u{k}", body)
        parts.append(f"namespace gc_unit{k} {{\n{body}\n}}")
    return "\n".join(parts) + "\n"


def test_zz_every_generated_kernel_compiles_with_nvcc():
    """Runs after the suite in this module (definition order)."""
    if not toolchain.have_nvcc():
        pytest.skip("nvcc not found on PATH: cannot compile-check the generated CUDA")
    assert GENERATED, "the suite generated no CUDA source"
    toolchain.nvcc_compile_check(combined_translation_unit(sorted(GENERATED)), arch="sm_90",
                                 name="suite_all")


def test_default_device_says_what_is_missing():
    if toolchain.have_nvcc() and toolchain.gpu_available():
        pytest.skip("a GPU is present: the default device works here")
    x = gc.placeholder("x", (3,))
    with pytest.raises(BackendUnavailable) as info:
        gc.compile(gc.exp(x), backend="cuda")
    msg = str(info.value)
    assert "emulate" in msg and ("GPU" in msg or "nvcc" in msg)


def test_unknown_device_is_rejected():
    x = gc.placeholder("x", (3,))
    with pytest.raises(gc.GraphcError, match="unknown device"):
        gc.compile(gc.exp(x), backend="cuda", device="tpu")


def test_parameters_stay_resident_and_follow_updates():
    w = gc.parameter("w", np.arange(4.0, dtype=np.float32))
    x = gc.placeholder("x", (4,))
    f = gc.compile(x * w, backend="cuda", device="emulate", updates={w: w + 1})
    xs = np.ones(4, np.float32)
    for step in range(3):
        np.testing.assert_allclose(f(xs), np.arange(4.0) + step)
    w.value = np.zeros(4, np.float32)          # a new array: uploaded again
    np.testing.assert_allclose(f(xs), np.zeros(4))


def _export_case(tmp_path):
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 3))
    labels = gc.placeholder("labels", (None,), "int64")
    W = gc.parameter("W", rng.normal(size=(3, 4)).astype(np.float32))
    b = gc.parameter("b", np.zeros(4, np.float32))
    loss = gc.cross_entropy(gc.relu(x @ W + b), labels)
    gW, gb = gc.grad(loss, [W, b])
    f = gc.compile([loss, gW, gb], inputs=[x, labels], backend="cuda", device="emulate",
                   updates={W: W - 0.1 * gW, b: b - 0.1 * gb})
    xv = rng.normal(size=(5, 3)).astype(np.float32)
    yv = rng.integers(0, 4, size=5)
    want = gc.evaluate([loss, gW, gb], {x: xv, labels: yv})
    f._exe.export(str(tmp_path), "mlp", inputs=[xv, yv])
    def at_batch(n):  # with another batch size, the example repeats the exported rows
        return gc.evaluate([loss, gW, gb], {x: np.resize(xv, (n, 3)), labels: np.resize(yv, n)})
    return want, at_batch


def _parse(stdout: str) -> list:
    rows = [line.split() for line in stdout.strip().splitlines()]
    return [np.array([float(v) for v in r[1:]]) for r in rows]


def test_exported_cuda_example_runs_under_the_emulation_header(tmp_path):
    import shutil
    import subprocess
    if shutil.which("make") is None:
        pytest.skip("make not found")
    want, at_batch = _export_case(tmp_path)
    for name in ("mlp.cu", "mlp.h", "Makefile", "example_main.cpp", "graphc_cuda.h",
                 "graphc_cuda_emu.h"):
        assert (tmp_path / name).exists(), name
    subprocess.run(["make", "-s", "emulate"], cwd=tmp_path, check=True, capture_output=True)
    run = subprocess.run(["./example_emu"], cwd=tmp_path, check=True, capture_output=True,
                         text=True)
    got = _parse(run.stdout)
    assert len(got) == 5                       # 3 outputs, then the 2 updated parameters
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.ravel(w), rtol=1e-5, atol=1e-6)
    # the batch size from the command line: 8 rows (the 5 exported, then 3 again), and 2
    for n in (8, 2):
        run = subprocess.run(["./example_emu", str(n)], cwd=tmp_path, check=True,
                             capture_output=True, text=True)
        for g, w in zip(_parse(run.stdout), at_batch(n)):
            np.testing.assert_allclose(g, np.ravel(w), rtol=1e-5, atol=1e-6)
    bad = subprocess.run(["./example_emu", "zero"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "must be a positive integer, got zero" in bad.stderr


def test_exported_cuda_folder_builds_with_nvcc_alone(tmp_path):
    import shutil
    import subprocess
    if not toolchain.have_nvcc() or shutil.which("make") is None:
        pytest.skip("nvcc (or make) not found: cannot build the exported CUDA folder")
    _export_case(tmp_path)
    proc = subprocess.run(["make", "-s", "libmlp.so", "example", "ARCH=sm_90"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "libmlp.so").exists() and (tmp_path / "example").exists()


@pytest.mark.parametrize("backend_name,options", [("c", {}), ("cuda", {"device": "emulate"})])
def test_empty_batch_runs_every_kernel_kind(backend_name, options):
    rng = np.random.default_rng(6)
    x = gc.placeholder("x", (None, 3))
    W = gc.parameter("W", rng.normal(size=(3, 4)).astype(np.float32))
    h = gc.tanh(x @ W)
    outs = [h, gc.sum(h, 0), gc.sum(h), gc.max(x, 1), gc.softmax(x)] + \
        gc.grad(gc.sum(h * h), [x, W])
    f = gc.compile(outs, inputs=[x], backend=backend_name, **options)
    for batch in (0, 3):
        xv = rng.normal(size=(batch, 3)).astype(np.float32)
        for g, w in zip(f(xv), gc.evaluate(outs, {x: xv})):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend_name,options", [("c", {}), ("cuda", {"device": "emulate"})])
def test_large_constants_are_passed_at_run_time_not_written_into_the_source(
        backend_name, options):
    rng = np.random.default_rng(7)
    big = rng.normal(size=(100, 60)).astype(np.float32)        # 6000 > CONST_INLINE_MAX
    x = gc.placeholder("x", (None, 100))
    w = gc.parameter("w", np.ones(60, np.float32))
    y = gc.tanh(x @ gc.constant(big)) * w + gc.constant(np.arange(3.0, dtype=np.float32)).sum()
    loss = gc.sum(y * y)
    gw = gc.grad(loss, w)
    f = gc.compile([y, gw], inputs=[x], backend=backend_name, updates={w: w - 0.01 * gw},
                   **options)
    text = next(iter(f.source.values()))
    assert len(text) < 40000, "the large constant was written into the generated source"
    for _ in range(2):
        xv = rng.normal(size=(4, 100)).astype(np.float32)
        want = gc.evaluate([y, gw], {x: xv})
        for g, e in zip(f(xv), want):
            np.testing.assert_allclose(g, e, rtol=2e-4, atol=1e-4)
