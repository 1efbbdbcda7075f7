"""The C backend's translation units (codegen/c_units, c_host): repeated kernels emitted
once, a large program compiled as several units in parallel into one cached library, the
host's kernel calls grouped in part functions. Each compares with NumPy."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc import compiler
from graphc.codegen import build, c_backend, c_host, c_units, toolchain
from graphc.codegen.base import Program
from graphc.errors import CompileError

pytestmark = pytest.mark.skipif(not toolchain.have_c_compiler(), reason="no C compiler")

LOCAL = {"sin": np.cos, "tanh": lambda v: 1 - np.tanh(v) ** 2, "cos": lambda v: -np.sin(v)}


def chain(ops):
    """A chain of unary ops on a run-time-length vector and its gradient, with the NumPy
    reference of both."""
    x = gc.placeholder("x", (None,), "float64")
    t = x
    for op in ops:
        t = getattr(gc, op)(t)

    def reference(v):
        d = np.ones_like(v)
        for op in ops:
            d = d * LOCAL[op](v)
            v = getattr(np, op)(v)
        return v, d
    return x, [t, gc.grad(gc.sum(t), x)], reference


def compile_afresh(outs, x):
    """gc.compile past its in-process cache of Functions (the disk cache stays)."""
    compiler._CACHE.clear()
    return gc.compile(outs, inputs=[x], backend="c")


def random_ops(n, seed=0):
    rng = np.random.default_rng(seed)
    return [("sin", "tanh", "cos")[i] for i in rng.integers(0, 3, n)]


def test_repeated_kernels_are_emitted_once_and_called_per_use():
    x = gc.placeholder("x", (None,), "float64")
    t = x
    for _ in range(500):   # kernels of at most 128 fused ops; k1 and k2 are the same code
        t = gc.sin(t)      # (k0 reads the input, k3 writes the result)
    f = gc.compile(t, inputs=[x], backend="c")
    (src,) = f.source.values()
    assert len(re.findall(r"^static void k1_sin\(", src, re.M)) == 1
    assert not re.search(r"^static void k2_sin\(", src, re.M)
    assert "/* k2_sin: the code of k1_sin" in src
    assert len(re.findall(r"^    k1_sin\(", src, re.M)) == 2   # called for k1 and k2
    for n in (1, 8, 37, 1000):
        v = np.linspace(-2, 2, n)
        want = v
        for _ in range(500):
            want = np.sin(want)
        np.testing.assert_allclose(f(v), want, rtol=1e-12, atol=1e-12)


def test_host_groups_many_kernel_calls_into_parts():
    x, outs, reference = chain(random_ops(1200, seed=1))
    f = gc.compile(outs, inputs=[x], backend="c")
    kernels = len(f._exe.pir.kernels)
    assert kernels > c_host.PART_CALLS
    (src,) = f.source.values()
    parts = re.findall(r"^GC_HOST_PART void (graphc_\w+_part\d+)\(", src, re.M)
    assert len(parts) == -(-kernels // c_host.PART_CALLS)
    for v in (np.linspace(-1, 1, 5), np.linspace(-3, 3, 1001)):   # sizes at run time
        got = f(v)
        for g, w in zip(got, reference(v)):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_a_program_split_into_units_matches_one_unit_and_caches_one_library(
        monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    x, outs, reference = chain(random_ops(700, seed=2))
    program = Program("units", (x,), (), tuple(outs))
    pir, source, units = c_backend.render_units(program, unit_bytes=20_000)
    assert len(units) > 2
    # every kernel function is defined in exactly one unit; the first unit has the host
    defined = [name for u in units for name in
               re.findall(r"^" + re.escape(c_units.HIDDEN) + r" (\w+)\([^;{]*\{", u, re.M)]
    assert sorted(defined) == sorted(re.findall(r"^static void (\w+)\(", source, re.M))
    assert "_run(" in units[0] and all("_run(" not in u for u in units[1:])

    monkeypatch.setattr(c_units, "UNIT_BYTES", 10**9)
    assert not c_backend.render_units(program)[2]
    single = compile_afresh(outs, x)   # one unit
    builds = []
    real = build.build_units
    monkeypatch.setattr(build, "build_units", lambda *a: builds.append(len(a[0])) or real(*a))
    monkeypatch.setattr(c_units, "UNIT_BYTES", 20_000)
    before = set((tmp_path / "cache").glob("*.so"))
    split = compile_afresh(outs, x)
    assert builds == [len(units)]
    libraries = set((tmp_path / "cache").glob("*.so"))
    assert len(libraries - before) == 1   # one library for the program's units
    assert split.source == single.source   # the program's source is the single unit
    for v in (np.linspace(-1, 1, 7), np.linspace(-2, 2, 500)):
        for a, b, w in zip(split(v), single(v), reference(v)):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_allclose(a, w, rtol=1e-9, atol=1e-12)
    again = compile_afresh(outs, x)   # cached on disk: nothing is compiled
    assert builds == [len(units)]
    assert set((tmp_path / "cache").glob("*.so")) == libraries
    np.testing.assert_array_equal(again(np.linspace(-1, 1, 7))[1], split(np.linspace(-1, 1, 7))[1])


def test_programs_with_shared_failure_state_stay_one_unit():
    """Index checks record the failing site in globals of their unit: no split."""
    table = gc.placeholder("table", (50, 4), "float64")
    idx = gc.placeholder("idx", (6,), "int64")
    t = gc.take(table, idx, axis=0)
    for op in random_ops(400, seed=3):
        t = getattr(gc, op)(t)
    program = Program("gather", (table, idx), (), (t,))
    pir, _, units = c_backend.render_units(program, unit_bytes=1_000)
    assert pir.index_sites and units == []
    f = gc.compile(t, inputs=[table, idx], backend="c")
    with pytest.raises(IndexError):
        f(np.zeros((50, 4)), np.array([0, 1, 2, 3, 4, 50]))


def test_parallel_build_uses_at_most_the_cpus_allowed():
    assert 1 <= build.cpu_count()


def test_a_failed_unit_build_falls_back_to_the_single_unit(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(c_units, "UNIT_BYTES", 20_000)

    tried = []

    def broken(*args):
        tried.append(len(args[0]))
        raise CompileError("a unit failed")
    monkeypatch.setattr(build, "build_units", broken)
    x, outs, reference = chain(random_ops(400, seed=4))
    f = compile_afresh(outs, x)
    assert tried and tried[0] > 1
    v = np.linspace(-1, 1, 9)
    for g, w in zip(f(v), reference(v)):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_only_kernels_on_workspace_temps_run_into_the_padding():
    """Whole blocks past the loop's end are safe only in the workspace's 64-byte padding:
    a kernel reading the caller's input or writing a result keeps its exact loop."""
    from graphc.codegen.c_dialect import padded_block
    from graphc.codegen.kernel_ir import lower
    x, outs, _ = chain(random_ops(600, seed=5))
    pir = lower(Program("pad", (x,), (), tuple(outs)))
    blocks = {k.name: padded_block(k, pir.buffers) for k in pir.kernels}
    for k in pir.kernels:
        kinds = {pir.buffers[b].kind for b in k.buffers_read() + k.buffers_written()}
        assert (blocks[k.name] == 8) == (kinds == {"temp"}), (k.name, kinds)
    assert sum(b is not None for b in blocks.values()) >= len(pir.kernels) - 3
