"""backend="c" with glibc's SIMD libm (libmvec): the probe decides, results still match.

* the generated C declares the SIMD variants only under ``GC_VECTOR_MATH``, and the
  toolchain defines it (and links -lmvec) exactly when ``vector_math_available()`` says so;
  a library built without it calls no SIMD variant, one built with it does;
* every function that may be vectorized agrees with the reference interpreter in float32
  and float64 (the tolerances of tests/test_fuzz_differential.py) on inputs spanning
  tiny to huge magnitudes, signed zeros, NaN and +-Inf, with a length that leaves a
  scalar remainder after the vector loop.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import build, c_dialect, probes, toolchain
from graphc.codegen.base import Program
from graphc.codegen.c_backend import EXTRA_FLAGS, render_source

pytestmark = pytest.mark.skipif(not toolchain.have_c_compiler(), reason="no C compiler")

UNARY = {"exp": gc.exp, "log": gc.log, "sin": gc.sin, "cos": gc.cos, "tanh": gc.tanh,
         "log1p": gc.log1p, "expm1": gc.expm1}
TOL = {"float32": 2e-4, "float64": 1e-9}


def _inputs(dtype: str) -> np.ndarray:
    """Ordinary values plus the extremes: subnormal to overflow, zeros, NaN, Inf."""
    info = np.finfo(dtype)
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, info.tiny, -info.tiny, info.tiny / 8,
               info.max, -info.max, 1e-30, -1e-30, 1e30, -1e30, 88.0, 89.0, 709.0, 710.0,
               -87.0, -104.0, -745.0, 1.0, -1.0, np.pi, 1e5, -1e5, 1e15, -0.999]
    rng = np.random.default_rng(7)
    ordinary = np.concatenate([rng.uniform(-10, 10, 300), rng.standard_normal(300) * 1e-3,
                               np.exp(rng.uniform(-40, 40, 200)) * rng.choice([-1, 1], 200)])
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(special), ordinary]).astype(dtype)   # 828: odd tail


def _check(got: np.ndarray, ref: np.ndarray, dtype: str) -> None:
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert np.array_equal(np.isnan(got), np.isnan(ref)), "NaN positions differ"
    inf = np.isinf(ref)
    assert np.array_equal(got[inf], ref[inf]), "infinities differ"
    ok = ~np.isnan(ref) & ~inf
    tol = TOL[dtype]
    # relative error, with atol scaled by the magnitude of the value (as in the fuzz test's S)
    bound = tol * np.abs(ref[ok]) + tol * np.finfo(dtype).tiny
    bad = np.abs(got[ok] - ref[ok]) > bound
    assert not bad.any(), (got[ok][bad][:5], ref[ok][bad][:5])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY) + ["pow"])
def test_vectorized_functions_match_interpreter(name, dtype):
    xv = _inputs(dtype)
    x = gc.placeholder("x", (None,), dtype=dtype)
    if name == "pow":
        # positive bases (any exponent), negative bases with integral exponents
        base = np.abs(xv)
        y = gc.placeholder("y", (None,), dtype=dtype)
        yv = np.resize(np.array([0.5, -1.5, 2.0, 3.0, -2.0, 0.0, 1e-3, 7.25], dtype), xv.size)
        xv = np.where(np.arange(xv.size) % 3 == 0, -base, base).astype(dtype)
        yv = np.where(np.arange(xv.size) % 3 == 0, np.round(yv), yv).astype(dtype)
        out, feeds = gc.pow(x, y), {x: xv, y: yv}
        f = gc.compile([out], inputs=[x, y], backend="c")
        got = f(xv, yv)[0]
    else:
        out, feeds = UNARY[name](x), {x: xv}
        f = gc.compile([out], inputs=[x], backend="c")
        got = f(xv)[0]
    with np.errstate(all="ignore"):
        ref = gc.evaluate([out], feeds)[0]
    _check(got, ref, dtype)


def test_chain_with_sin_and_cos_of_one_value_matches():
    """sin(x) and cos(x) together (a chain and its gradient): the case GCC would turn
    into one sincos call, which is why the C dialect calls cos through gc_cos."""
    for dtype in ("float32", "float64"):
        xv = _inputs(dtype)
        xv = xv[np.isfinite(xv) & (np.abs(xv) < 1e4)]    # gradients of Inf are NaN anyway
        x = gc.placeholder("x", (None,), dtype=dtype)
        y = gc.tanh(x * 1.5 + 0.5) * gc.exp(-x * x) + gc.sin(x) * 0.5
        outs = [y, gc.grad(gc.sum(y), x)]
        f = gc.compile(outs, inputs=[x], backend="c")
        got = f(xv)
        with np.errstate(all="ignore"):
            ref = gc.evaluate(outs, {x: xv})
        for g, r in zip(got, ref):
            _check(g, r, dtype)


def _source(dtype: str = "float32") -> str:
    x = gc.placeholder("x", (None,), dtype=dtype)
    out = gc.sin(x) + gc.cos(x) * gc.tanh(x) + gc.log1p(gc.exp(x))
    return render_source(Program("vm", (x,), (), (out,)))[1]


def test_simd_declarations_only_under_the_probe_macro():
    src = _source()
    head, _, rest = src.partition("#ifdef GC_VECTOR_MATH")
    assert rest, "the SIMD declarations are guarded by GC_VECTOR_MATH"
    assert "omp declare simd" not in head
    guarded = rest.partition("#endif")[0]
    for name in c_dialect.VECTOR_MATH:
        assert f" {name}(" in guarded and f" {name}f(" in guarded, name
    assert "gc_cosf(" in src.split("#endif", 1)[1]   # kernels call cos through the alias


def test_flags_follow_the_probe(monkeypatch):
    monkeypatch.setattr(probes, "vector_math_available", lambda: False)
    assert "-DGC_VECTOR_MATH" not in toolchain.default_flags("c")
    assert "-lmvec" not in build.link_flags("c")
    monkeypatch.setattr(probes, "vector_math_available", lambda: True)
    assert set(toolchain.VECTOR_MATH_CFLAGS) <= set(toolchain.default_flags("c"))
    assert "-lmvec" in build.link_flags("c")


def test_env_switch_turns_the_probe_off(monkeypatch):
    monkeypatch.setenv("GRAPHC_VECTOR_MATH", "0")
    assert toolchain.vector_math_available() is False


def test_library_calls_simd_variants_only_when_the_probe_passes(monkeypatch):
    src = _source()
    monkeypatch.setenv("GRAPHC_VECTOR_MATH", "0")
    scalar = toolchain.build_shared_library(src, "c", EXTRA_FLAGS).read_bytes()
    assert b"_ZGV" not in scalar          # fallback: today's scalar libm calls
    monkeypatch.delenv("GRAPHC_VECTOR_MATH")
    if not toolchain.vector_math_available():
        pytest.skip("no libmvec here (not glibc >= 2.35, or the probe failed)")
    vector = toolchain.build_shared_library(src, "c", EXTRA_FLAGS).read_bytes()
    assert b"_ZGV" in vector and b"sinf" in vector
