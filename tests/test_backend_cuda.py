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


@pytest.fixture(params=[("cuda", {"device": "emulate"})], ids=lambda b: f"{b[0]}-emulate")
def backend(request):
    return request.param


def combined_translation_unit(sources: list) -> str:
    """Many generated .cu files as one (each in its own namespace, entry points renamed)
    so nvcc checks them all in one run."""
    parts = ['#include "graphc_cuda.h"', "#include <stdbool.h>"]
    for k, src in enumerate(sources):
        body = src.replace('#include "graphc_cuda.h"', "").replace("#include <stdbool.h>", "")
        body = re.sub(r"\bgraphc_(\w+?)_(run|workspace_bytes|release)\b",
                      lambda m: f"graphc_{m.group(1)}_u{k}_{m.group(2)}", body)
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
