"""Backends for tests: which ones this machine can run, markers, and compile-and-compare.

A backend is available when its tools exist (a C compiler for ``"c"``, a C++ compiler for
``"cuda"`` with ``device="emulate"``). Availability never tries a compile: a backend whose
tools are present but which is broken must fail the tests, not be skipped.

    from helpers_backends import BACKENDS, each_backend, compile_and_compare

    @each_backend
    def test_something(backend, options):
        compile_and_compare(gc.exp(x), {"x": data}, backend, options)
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import toolchain

HAVE_C = toolchain.have_c_compiler()
HAVE_CXX = toolchain.have_cxx_compiler()
HAVE_MAKE = shutil.which("make") is not None


def available_backends() -> list[tuple[str, dict]]:
    """(backend, compile options) for every backend whose tools exist here."""
    combos = [("numpy", {})]
    if HAVE_C:
        combos.append(("c", {}))
    if HAVE_CXX:
        combos.append(("cuda", {"device": "emulate"}))
    return combos


def backend_id(backend: str, options: dict) -> str:
    """A test id: ``numpy``, ``c``, ``cuda-emulate``."""
    return "-".join([backend, *map(str, options.values())])


BACKENDS = available_backends()
BACKEND_IDS = [backend_id(b, o) for b, o in BACKENDS]

each_backend = pytest.mark.parametrize("backend,options", BACKENDS, ids=BACKEND_IDS)
needs_c = pytest.mark.skipif(not HAVE_C, reason="no C compiler found")
needs_cxx = pytest.mark.skipif(not HAVE_CXX, reason="no C++ compiler found")
needs_c_and_make = pytest.mark.skipif(not (HAVE_C and HAVE_MAKE),
                                      reason="needs a C compiler and make")


def compile_and_compare(outputs, feeds: dict, backend: str = "c", options: dict | None = None,
                        rtol: float = 2e-4, atol: float = 1e-5, **compile_options):
    """Compile ``outputs`` with ``backend``, call it with ``feeds`` (placeholders or their
    names -> arrays), compare every output with the interpreter (``gc.evaluate``, the
    oracle); return the Function (for its stats and source)."""
    f = gc.compile(outputs, backend=backend, **(options or {}), **compile_options)
    got = f(**{k.name if isinstance(k, gc.Tensor) else k: v for k, v in feeds.items()})
    want = gc.evaluate(outputs, feeds)
    if isinstance(outputs, gc.Tensor):
        got, want = [got], [want]
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert np.asarray(g).dtype == np.asarray(w).dtype, f"output {k}: dtype"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {k}")
    return f
