"""CUDA semantics on the CPU (graphc_cuda_emu.h), checked against NumPy.

tests/data/emu_kernels.cu holds hand-written kernels in the style graphc generates
(grid-stride elementwise, shared-memory + shuffle reductions, atomics, a tiled GEMM).
It is compiled through toolchain.build_shared_library(lang="cuda-emulate"), loaded
with ctypes and run; the same text must compile with nvcc -arch=sm_90.
"""
from __future__ import annotations

import ctypes
import pathlib

import numpy as np
import pytest

from graphc.codegen import toolchain

SOURCE = (pathlib.Path(__file__).parent / "data" / "emu_kernels.cu").read_text()
I64, F32 = ctypes.c_int64, ctypes.c_float

pytestmark = pytest.mark.skipif(not toolchain.have_cxx_compiler(),
                                reason="no C++ compiler (c++/g++/clang++) for the CUDA emulation")


def ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def _load(flags=()):
    lib = toolchain.compile_and_load(SOURCE, "cuda-emulate", flags=flags, name="emu_kernels")
    lib.gc_last_error.restype = ctypes.c_char_p
    return lib


@pytest.fixture(scope="module", params=["asm-switch", "ucontext"])
def lib(request):
    """The kernels with the default context switch and with the portable ucontext one."""
    lib = _load(() if request.param == "asm-switch" else ("-DGC_EMU_UCONTEXT",))
    lib.variant = request.param
    return lib


def check_ok(lib, rc):
    assert rc == 0, lib.gc_last_error().decode()


def test_elementwise_grid_stride(lib):
    rng = np.random.default_rng(0)
    n = 100_003
    x, y = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    for grid, block in [(1, 1), (7, 96), (391, 256), (40, 1024)]:
        out = np.zeros(n, np.float32)
        check_ok(lib, lib.run_axpby(I64(n), F32(2.5), ptr(x), F32(-0.5), ptr(y), ptr(out),
                                    grid, block))
        np.testing.assert_allclose(out, 2.5 * x - 0.5 * np.exp(y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("grid,block", [(1, 32), (13, 64), (100, 256), (5, 1024), (4000, 128)])
def test_block_reduction_shared_and_shuffles(lib, grid, block):
    if lib.variant == "ucontext" and grid * block > 100_000:
        pytest.skip("the portable ucontext switch is slow; the default switch covers big grids")
    x = np.random.default_rng(1).standard_normal(100_000)
    partial = np.zeros(grid)
    check_ok(lib, lib.run_block_sum(I64(x.size), ptr(x), ptr(partial), grid, block))
    # each block owns the grid-stride slice of the elements it visits
    idx = np.arange(x.size)
    expected = np.bincount((idx // block) % grid, weights=x, minlength=grid)
    np.testing.assert_allclose(partial, expected, rtol=1e-12, atol=1e-9)
    assert abs(partial.sum() - x.sum()) < 1e-8


@pytest.mark.parametrize("block", [32, 128, 1024])
def test_block_helpers_row_logsumexp(lib, block):
    if lib.variant == "ucontext" and block == 1024:
        block = 256  # the slow portable switch: keep the test quick
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((37, 301)) * 20).astype(np.float32)
    x[3, 7] = np.inf
    out = np.zeros(37, np.float32)
    check_ok(lib, lib.run_row_logsumexp(37, 301, ptr(x), ptr(out), block))
    m = x.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        expected = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert np.isnan(out[3]) and np.isnan(expected[3])  # inf - inf, same as NumPy


def test_atomics(lib):
    rng = np.random.default_rng(3)
    n, nbins = 50_000, 17
    x = rng.random(n, dtype=np.float32)
    bins = rng.integers(0, nbins, n).astype(np.int32)
    fsum, dsum = np.zeros(1, np.float32), np.zeros(1)
    hist, umax, fmax_out = np.zeros(nbins, np.int32), np.zeros(1, np.uint32), np.zeros(1, np.float32)
    check_ok(lib, lib.run_atomics(I64(n), ptr(x), ptr(bins), nbins, ptr(fsum), ptr(dsum),
                                  ptr(hist), ptr(umax), ptr(fmax_out), 64, 256))
    np.testing.assert_array_equal(hist, np.bincount(bins, minlength=nbins))
    assert umax[0] == bins.max()
    assert fmax_out[0] == x.max()
    np.testing.assert_allclose(dsum[0], x.astype(np.float64).sum(), rtol=1e-12)
    np.testing.assert_allclose(fsum[0], x.sum(dtype=np.float64), rtol=1e-3)


def _warp_reference(v, width, delta, block):
    """CUDA's shuffle rules; a source lane missing from a partial warp gives the
    caller's own value (the emulation's documented choice)."""
    t = np.arange(v.size)
    local = t % block  # warps are numbered within a block
    lane = local % 32
    base = t - lane
    in_block_end = (t // block + 1) * block

    def take(ok, src_lane):
        src = base + src_lane
        ok = ok & (src >= 0) & (src < in_block_end)
        return np.where(ok, v[np.clip(src, 0, v.size - 1)], v)

    in_seg = lane & (width - 1)
    down = take(in_seg + delta < width, lane + delta)
    up = take(in_seg >= delta, lane - delta)
    xr = take((lane ^ delta) < (lane // width + 1) * width, lane ^ delta)
    idx = take(np.ones(v.size, bool), (lane & ~(width - 1)) + (delta & (width - 1)))
    bits = (v & 1).astype(np.uint64) << lane.astype(np.uint64)
    ballot = np.zeros(v.size, np.uint64)
    for k in range(v.size):
        ballot[k] = bits[(t // block == k // block) & (local // 32 == local[k] // 32)].sum()
    return down, up, xr, idx, ballot.astype(np.uint32)


@pytest.mark.parametrize("width,delta,block", [
    (32, 1, 128), (32, 16, 128), (32, 5, 128), (16, 3, 128), (8, 1, 128), (4, 2, 128),
    (32, 16, 48), (32, 3, 40), (16, 9, 40)])  # 48, 40: the last warp is partial
def test_warp_shuffles_and_ballot(lib, width, delta, block):
    nthreads = 2 * block
    v = np.random.default_rng(width * 100 + delta).integers(0, 1000, nthreads).astype(np.int32)
    outs = [np.zeros(nthreads, np.int32) for _ in range(4)] + [np.zeros(nthreads, np.uint32)]
    check_ok(lib, lib.run_warp_ops(nthreads, block, ptr(v), width, delta, *map(ptr, outs)))
    for got, want, what in zip(outs, _warp_reference(v, width, delta, block),
                               ["down", "up", "xor", "idx", "ballot"]):
        np.testing.assert_array_equal(got, want, err_msg=what)


def test_2d_grid_and_block_indices(lib):
    h, w, bx, by = 45, 70, 16, 8
    out = np.full((h, w), -1, np.int32)
    check_ok(lib, lib.run_who_wrote(h, w, bx, by, ptr(out)))
    r, c = np.mgrid[0:h, 0:w]
    gx = (w + bx - 1) // bx
    expected = ((r // by) * gx + c // bx) * 1024 + (r % by) * bx + (c % bx)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("n,block", [(1000, 128), (77, 96)])
def test_dynamic_shared_memory(lib, n, block):
    x = np.arange(n, dtype=np.float32)
    got = x.copy()
    check_ok(lib, lib.run_reverse_chunks(I64(n), ptr(got), block))
    expected = np.concatenate([x[i:i + block][::-1] for i in range(0, n, block)])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("m,n,k", [(16, 16, 16), (33, 47, 29), (128, 96, 200)])
def test_tiled_matmul(lib, m, n, k):
    rng = np.random.default_rng(m + n + k)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.zeros((m, n), np.float32)
    check_ok(lib, lib.run_matmul(m, n, k, ptr(a), ptr(b), ptr(c)))
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def test_threads_that_exit_early_do_not_block_syncthreads(lib):
    x = np.arange(1, 101, dtype=np.int32)
    out = np.zeros(100, np.int32)
    check_ok(lib, lib.run_early_exit_scan(100, ptr(x), ptr(out)))
    np.testing.assert_array_equal(out, np.cumsum(x))


def test_bad_launch_configuration_is_an_error_naming_the_kernel(lib):
    n = 1000
    x = np.ones(n, np.float32)
    out = np.zeros(n, np.float32)
    lib.gc_clear_error()
    assert lib.run_axpby(I64(n), F32(1), ptr(x), F32(1), ptr(x), ptr(out), 4, 2048) == -1
    msg = lib.gc_last_error().decode()
    assert "kernel axpby" in msg and "2048" in msg and "1024" in msg
    assert not out.any()  # nothing ran
    lib.gc_clear_error()
    assert lib.run_axpby(I64(n), F32(1), ptr(x), F32(1), ptr(x), ptr(out), 0, 64) == -1
    assert "gridDim" in lib.gc_last_error().decode()
    lib.gc_clear_error()
    # the error is consumed: the next good launch works
    check_ok(lib, lib.run_axpby(I64(n), F32(1), ptr(x), F32(1), ptr(x), ptr(out), 4, 64))
    np.testing.assert_allclose(out, 1 + np.e, rtol=1e-6)


def test_deadlock_is_reported_not_hung(lib):
    lib.gc_clear_error()
    assert lib.run_mismatched_barriers() == -1
    msg = lib.gc_last_error().decode()
    assert "mismatched_barriers" in msg and "deadlock" in msg
    lib.gc_clear_error()
    # the emulator recovers: later launches still run
    x = np.arange(1, 11, dtype=np.int32)
    out = np.zeros(10, np.int32)
    check_ok(lib, lib.run_early_exit_scan(10, ptr(x), ptr(out)))
    np.testing.assert_array_equal(out, np.cumsum(x))


def test_concurrent_host_threads_launch_safely():
    from concurrent.futures import ThreadPoolExecutor
    lib = _load()
    x = np.random.default_rng(5).standard_normal(20_000)

    def one(_):
        partial = np.zeros(8)
        rc = lib.run_block_sum(I64(x.size), ptr(x), ptr(partial), 8, 128)
        return rc, partial.sum()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(8)))
    for rc, total in results:
        assert rc == 0
        assert abs(total - x.sum()) < 1e-9


@pytest.mark.skipif(not toolchain.have_nvcc(), reason="nvcc not found (PATH, CUDA_HOME, "
                    "/usr/local/cuda/bin): cannot check that the kernels compile for sm_90")
def test_same_source_compiles_with_nvcc_sm90():
    toolchain.nvcc_compile_check(SOURCE, arch="sm_90", name="emu_kernels")
