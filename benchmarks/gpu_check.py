"""GPU check for backend="cuda": one command, under 8 minutes, prints a table last.

    python benchmarks/gpu_check.py             # on a machine with an NVIDIA GPU + nvcc
    python benchmarks/gpu_check.py --write     # also put the table in benchmarks/RESULTS.md

1. correctness: the whole backend suite (tests/backend_suite.py) on the real GPU
   (``backend="cuda"``), every result against the interpreter;
2. bandwidth: the fused forward+backward of a 3-input elementwise chain on 100M float32
   elements (kernels only, timed with CUDA events through ``<prefix>_run_device``) against
   a device-to-device copy measured in the same run;
3. training step time of an MLP 784-256-10 (batch 256) and 4096-4096-4096 (batch 4096),
   graphc vs PyTorch eager and torch.compile when importable;
4. issue 17's workloads (3-input elementwise on 10M, attention 16x256x64, softmax
   4096x4096, each with its gradients, and the tutorial's per-call time), graphc cuda
   side by side with torch eager and torch.compile, as ratios.

Without a GPU it says what is missing, runs the CUDA path under the CPU emulation on
small sizes (``device="emulate"``) as a smoke test, and exits 0.
"""
from __future__ import annotations

import argparse
import ctypes
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import graphc as gc  # noqa: E402
from graphc.codegen import toolchain  # noqa: E402
from _results import write_section  # noqa: E402  (a sibling script module)


SUITE_MODULE = '''
import sys
sys.path.insert(0, {tests!r})
import pytest
from backend_suite import *  # noqa
from conftest import *  # noqa


@pytest.fixture(params=[("cuda", {options!r})], ids=["cuda"])
def backend(request):
    return request.param
'''

HARNESS = r'''
/* ---- gpu_check harness: time the kernels alone and a device-to-device copy ---- */
#include <cuda_runtime.h>
extern "C" int gc_bench(int64_t n, int reps, double* ms_kernels, double* ms_copy) {
    void* d_in[4]; void* d_out[4];
    for (int k = 0; k < 4; ++k) {
        if (cudaMalloc(&d_in[k], n * 4) != cudaSuccess || cudaMalloc(&d_out[k], n * 4) != cudaSuccess) return -1;
        cudaMemset(d_in[k], 0, n * 4);
    }
    const int64_t sizes[1] = {n};
    void* ws = NULL;
    int64_t wsb = PREFIX_workspace_bytes(sizes);
    if (cudaMalloc(&ws, wsb > 0 ? wsb : 1) != cudaSuccess) return -1;
    void* no_params[1] = {NULL};
    cudaEvent_t a, b;
    cudaEventCreate(&a); cudaEventCreate(&b);
    if (PREFIX_run_device(d_in, no_params, d_out, sizes, ws) != 0) return -2;
    cudaEventRecord(a);
    for (int r = 0; r < reps; ++r) PREFIX_run_device(d_in, no_params, d_out, sizes, ws);
    cudaEventRecord(b); cudaEventSynchronize(b);
    float t; cudaEventElapsedTime(&t, a, b); *ms_kernels = t / reps;
    cudaMemcpy(d_out[0], d_in[0], n * 4, cudaMemcpyDeviceToDevice);
    cudaEventRecord(a);
    for (int r = 0; r < reps; ++r) cudaMemcpy(d_out[0], d_in[0], n * 4, cudaMemcpyDeviceToDevice);
    cudaEventRecord(b); cudaEventSynchronize(b);
    cudaEventElapsedTime(&t, a, b); *ms_copy = t / reps;
    for (int k = 0; k < 4; ++k) { cudaFree(d_in[k]); cudaFree(d_out[k]); }
    cudaFree(ws);
    return 0;
}
'''


def best_time(fn, repeat=10, warmup=2) -> float:
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run_suite(options: dict, rows: list, quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mod = pathlib.Path(tmp) / "test_gpu_suite.py"
        mod.write_text(SUITE_MODULE.format(tests=str(ROOT / "tests"), options=options))
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(mod)]
        if quick:
            cmd += ["-k", "mlp or updates or broadcasting"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=420)
        last = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        rows.append(["backend suite vs interpreter", last, f"{time.perf_counter() - t:.0f} s",
                     "ok" if proc.returncode == 0 else "FAILED"])
        if proc.returncode != 0:
            print(proc.stdout[-4000:], proc.stderr[-2000:])


def chain_program(n_hint: int):
    x, y, z, g = (gc.placeholder(k, (None,)) for k in "xyzg")
    f = x * y + z * (x - y)
    return [f] + gc.grad(f, [x, y, z], seed=g), [x, y, z, g]


def bandwidth(n: int, rows: list) -> None:
    outs, ins = chain_program(n)
    f = gc.compile(outs, inputs=ins, backend="cuda")
    exe = f._exe
    from graphc.codegen.c_backend import prefix
    pre = prefix(exe.pir)
    src = next(iter(exe.source.values())) + HARNESS.replace("PREFIX", pre)
    lib = toolchain.compile_and_load(src, "cuda", name="gpu_check_chain")
    ms_k, ms_c = ctypes.c_double(), ctypes.c_double()
    lib.gc_bench.argtypes = [ctypes.c_int64, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    rc = lib.gc_bench(n, 20, ctypes.byref(ms_k), ctypes.byref(ms_c))
    if rc != 0:
        rows.append(["chain fwd+bwd bandwidth", f"harness failed ({rc})", "", "FAILED"])
        return
    kern = 8 * 4 * n / (ms_k.value / 1e3) / 1e9
    copy = 2 * 4 * n / (ms_c.value / 1e3) / 1e9
    rows.append([f"chain fwd+bwd, {n:,} float32 ({f.stats['kernels']} kernel)",
                 f"{ms_k.value:.3f} ms", f"{kern:.0f} GB/s",
                 f"{kern / copy:.0%} of D2D copy ({copy:.0f} GB/s)"])


def mlp(sizes: tuple, batch: int, rows: list, device: str) -> None:
    rng = np.random.default_rng(0)
    d_in, d_h, d_out = sizes
    x = gc.placeholder("x", (None, d_in))
    labels = gc.placeholder("labels", (None,), "int64")
    W1 = gc.parameter("W1", rng.normal(0, d_in ** -0.5, (d_in, d_h)).astype(np.float32))
    b1 = gc.parameter("b1", np.zeros(d_h, np.float32))
    W2 = gc.parameter("W2", rng.normal(0, d_h ** -0.5, (d_h, d_out)).astype(np.float32))
    b2 = gc.parameter("b2", np.zeros(d_out, np.float32))
    params = [W1, b1, W2, b2]
    loss = gc.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, labels)
    grads = gc.grad(loss, params)
    opts = {"device": device} if device == "emulate" else {}
    step = gc.compile(loss, inputs=[x, labels], backend="cuda",
                      updates={p: p - 0.01 * g for p, g in zip(params, grads)}, **opts)
    xv = rng.normal(size=(batch, d_in)).astype(np.float32)
    yv = rng.integers(0, d_out, size=batch)
    want = gc.evaluate(loss, {x: xv, labels: yv})
    got = step(xv, yv)
    ok = abs(float(got) - float(want)) <= 1e-3 * max(1.0, abs(float(want)))
    t = best_time(lambda: step(xv, yv), repeat=5 if d_h > 1000 else 20)
    label = f"MLP {d_in}-{d_h}-{d_out} step, batch {batch}"
    rows.append([f"{label}: graphc cuda{' (emulated)' if device == 'emulate' else ''}",
                 f"{t * 1e3:.2f} ms", "incl. input upload", "ok" if ok else "MISMATCH"])
    try:
        import torch
    except Exception:  # noqa: BLE001
        rows.append([f"{label}: torch", "not installed", "", ""])
        return
    if not torch.cuda.is_available() or device == "emulate":
        return
    dev = torch.device("cuda")
    tw = [torch.tensor(p.value, device=dev, requires_grad=True) for p in params]
    tx = torch.tensor(xv, device=dev)
    ty = torch.tensor(yv, device=dev)

    def torch_step():
        h = torch.relu(tx @ tw[0] + tw[1])
        out = torch.nn.functional.cross_entropy(h @ tw[2] + tw[3], ty)
        gs = torch.autograd.grad(out, tw)
        with torch.no_grad():
            for p, g in zip(tw, gs):
                p -= 0.01 * g
        torch.cuda.synchronize()
    t = best_time(torch_step, repeat=10)
    rows.append([f"{label}: torch eager", f"{t * 1e3:.2f} ms", "", ""])
    try:
        comp = torch.compile(torch_step)
        t = best_time(comp, repeat=10, warmup=3)
        rows.append([f"{label}: torch.compile", f"{t * 1e3:.2f} ms", "", ""])
    except Exception as e:  # noqa: BLE001
        rows.append([f"{label}: torch.compile", f"failed: {type(e).__name__}", "", ""])


# ---- issue 17's workloads: graphc cuda side by side with torch eager and torch.compile ----

def _elementwise3(n):
    a, b, c = (gc.placeholder(k, (None,)) for k in "abc")
    loss = gc.sum(gc.tanh(a) * gc.sigmoid(b) + gc.exp(-c * c) * a)
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal(n).astype(np.float32) for k in "abc"}

    def torch_fn(torch, t):
        return (torch.tanh(t["a"]) * torch.sigmoid(t["b"]) + torch.exp(-t["c"] ** 2) * t["a"]).sum()
    return [loss, *gc.grad(loss, [a, b, c])], [a, b, c], feeds, torch_fn


def _attention(batch, seq, width):
    q, k, v = (gc.placeholder(n, (None, seq, width)) for n in "qkv")
    out = gc.softmax(q @ gc.swapaxes(k, -1, -2) / 8.0, axis=-1) @ v
    loss = gc.sum(out * out)
    rng = np.random.default_rng(1)
    feeds = {n: rng.standard_normal((batch, seq, width)).astype(np.float32) for n in "qkv"}

    def torch_fn(torch, t):
        o = torch.softmax(t["q"] @ t["k"].transpose(-1, -2) / 8.0, dim=-1) @ t["v"]
        return (o * o).sum()
    return [loss, *gc.grad(loss, [q, k, v])], [q, k, v], feeds, torch_fn


def _softmax(rows, cols):
    x = gc.placeholder("x", (None, cols))
    s = gc.softmax(x, axis=-1)
    loss = gc.sum(s * s)
    feeds = {"x": np.random.default_rng(2).standard_normal((rows, cols)).astype(np.float32)}

    def torch_fn(torch, t):
        st = torch.softmax(t["x"], dim=-1)
        return (st * st).sum()
    return [loss, *gc.grad(loss, [x])], [x], feeds, torch_fn


def _tutorial():
    a, b = gc.placeholder("a", (2,)), gc.placeholder("b", (2,))
    E = 3 * a ** 3 - b ** 2
    feeds = {"a": np.array([2.0, 4.0], np.float32), "b": np.array([7.0, 5.0], np.float32)}

    def torch_fn(torch, t):
        return (3 * t["a"] ** 3 - t["b"] ** 2).sum()
    return [E, *gc.grad(gc.sum(E), [a, b])], [a, b], feeds, torch_fn


def workloads(rows: list, device: str, small: bool) -> None:
    """Each workload: graphc cuda (inputs uploaded each call), then torch eager and
    torch.compile on the GPU with resident inputs (a lower bound graphc's call includes
    the upload for), as ratios to torch eager."""
    cases = [("3-input elementwise, loss + 3 gradients", _elementwise3(10_000 if small else 10_000_000)),
             ("attention softmax(QK^T/8)V, fwd + 3 gradients",
              _attention(*((2, 16, 8) if small else (16, 256, 64)))),
             ("softmax, fwd + gradient", _softmax(*((32, 64) if small else (4096, 4096)))),
             ("tutorial (2 elements), per call", _tutorial())]
    opts = {"device": device} if device == "emulate" else {}
    for label, (outputs, inputs, feeds, torch_fn) in cases:
        f = gc.compile(outputs, inputs=inputs, backend="cuda", **opts)
        args = [feeds[p.name] for p in inputs]
        got = f(*args)
        want = gc.evaluate(outputs, {p: feeds[p.name] for p in inputs})
        ok = all(np.allclose(g, w, rtol=2e-3, atol=2e-3) for g, w in zip(got, want))
        t_graphc = best_time(lambda: f(*args), repeat=10)
        row = [f"{label}: graphc cuda{' (emulated)' if device == 'emulate' else ''}",
               f"{t_graphc * 1e3:.3f} ms", f"{f.stats['kernels']} kernels",
               "ok" if ok else "MISMATCH"]
        rows.append(row)
        try:
            import torch
        except Exception:  # noqa: BLE001
            continue
        if device == "emulate" or not torch.cuda.is_available():
            continue
        tt = {k: torch.tensor(v, device="cuda", requires_grad=True) for k, v in feeds.items()}

        def step(fn):
            loss = fn(torch, tt)
            grads = torch.autograd.grad(loss, [tt[p.name] for p in inputs])
            torch.cuda.synchronize()
            return loss, grads
        t_eager = best_time(lambda: step(torch_fn), repeat=10)
        rows.append([f"{label}: torch eager", f"{t_eager * 1e3:.3f} ms",
                     f"graphc {t_graphc / t_eager:.2f}x", ""])
        try:
            compiled = torch.compile(torch_fn)
            t_comp = best_time(lambda: step(compiled), repeat=10, warmup=3)
            rows.append([f"{label}: torch.compile", f"{t_comp * 1e3:.3f} ms",
                         f"graphc {t_graphc / t_comp:.2f}x", ""])
        except Exception as e:  # noqa: BLE001
            rows.append([f"{label}: torch.compile", f"failed: {type(e).__name__}", "", ""])


def table(rows: list) -> str:
    head = ["check", "result", "measure", "status"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="graphc GPU check")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="a subset of the suite")
    ap.add_argument("--n", type=int, default=100_000_000, help="chain elements")
    args = ap.parse_args(argv)
    rows: list = []
    missing = []
    if not toolchain.have_nvcc():
        missing.append("nvcc (the CUDA toolkit) is not on PATH")
    if not toolchain.gpu_available():
        missing.append("no NVIDIA GPU is visible (nvidia-smi / libcuda.so.1)")
    t0 = time.perf_counter()
    if missing:
        print("gpu_check: cannot run the GPU checks here: " + "; ".join(missing) + ".")
        print("Running the CUDA path under the CPU emulation (device='emulate') instead, "
              "on small sizes, as a smoke test.")
        if toolchain.have_cxx_compiler():
            mlp((64, 32, 10), 16, rows, "emulate")
            workloads(rows, "emulate", small=True)
            run_suite({"device": "emulate"}, rows, quick=True)
        rows.append(["GPU bandwidth / timings", "skipped: " + "; ".join(missing), "", "skipped"])
        header = "## GPU check (not run: no GPU in this environment)"
    else:
        run_suite({}, rows, quick=args.quick)
        bandwidth(args.n, rows)
        mlp((784, 256, 10), 256, rows, "gpu")
        mlp((4096, 4096, 4096), 4096, rows, "gpu")
        workloads(rows, "gpu", small=False)
        header = f"## GPU check ({toolchain.gpu_arch()})"
    text = "\n".join([header, "", f"`python benchmarks/gpu_check.py`, "
                      f"{time.perf_counter() - t0:.0f} s.", "", table(rows)])
    if args.write and not missing:
        write_section("gpu", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
