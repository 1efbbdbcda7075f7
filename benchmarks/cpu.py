"""CPU benchmark: graphc backend="c" side by side with hand-written NumPy (and numexpr,
PyTorch eager, torch.compile, JAX jit when they are installed), measured in one run.

    python benchmarks/cpu.py            # prints a table, updates benchmarks/RESULTS.md

Writes only its own section of RESULTS.md (between ``<!-- cpu:begin -->`` and
``<!-- cpu:end -->``). Times are the best of several runs after a warm-up.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import graphc as gc  # noqa: E402
from _results import write_section  # noqa: E402  (a sibling script module)



def best_time(fn, repeat=7, warmup=2, budget=20.0) -> float:
    for _ in range(warmup):
        fn()
    best, start = float("inf"), time.perf_counter()
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - start > budget:
            break
    return best


def best_times(*fns, repeat=9, budget=60.0) -> list:
    """Best time of each function, runs interleaved (a busy machine slows all alike)."""
    for fn in fns:
        fn()
    best, start = [float("inf")] * len(fns), time.perf_counter()
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
        if time.perf_counter() - start > budget:
            break
    return best


def optional(name):
    try:
        return __import__(name)
    except Exception:
        return None


# ---- 1. the 3-input elementwise chain -----------------------------------------------------

def chain_case(n: int, rows: list, notes: list):
    rng = np.random.default_rng(0)
    xv, yv, zv, gv = (rng.normal(size=n).astype(np.float32) for _ in range(4))
    x, y, z = (gc.placeholder(k, (None,)) for k in "xyz")
    g = gc.placeholder("g", (None,))
    f = x * y + z * (x - y)
    fwd = gc.compile(f, backend="c")
    outs = [f] + gc.grad(f, [x, y, z], seed=g)
    both = gc.compile(outs, backend="c")
    # correctness first
    np.testing.assert_allclose(fwd(xv, yv, zv), xv * yv + zv * (xv - yv), rtol=1e-5, atol=1e-5)

    src, dst = np.empty(n, np.float32), np.empty(n, np.float32)
    src[:] = 1
    t_copy = best_time(lambda: np.copyto(dst, src))
    copy_gbs = 2 * 4 * n / t_copy / 1e9
    notes.append(f"NumPy copy of {n:,} float32: {copy_gbs:.1f} GB/s (read + write)")

    def np_fwd():
        return xv * yv + zv * (xv - yv)

    def np_both():
        d = xv - yv
        return xv * yv + zv * d, gv * (yv + zv), gv * (xv - zv), gv * d

    def record(label, t, nbytes, t_np):
        gbs = nbytes / t / 1e9
        rows.append([label, f"{t * 1e3:.2f} ms", f"{gbs:.1f} GB/s",
                     f"{gbs / copy_gbs:.0%} of copy", f"{t_np / t:.2f}x"])

    t_np_f, t_f, t_copy2 = best_times(np_fwd, lambda: fwd(xv, yv, zv),
                                      lambda: np.copyto(dst, src))
    t_np_b, t_b = best_times(np_both, lambda: both(xv, yv, zv, gv))
    if t_copy2 < t_copy:
        t_copy = t_copy2
        copy_gbs = 2 * 4 * n / t_copy / 1e9
        notes[-1] = f"NumPy copy of {n:,} float32: {copy_gbs:.1f} GB/s (read + write)"
    record("chain fwd: graphc c", t_f, 4 * 4 * n, t_np_f)
    record("chain fwd: numpy", t_np_f, 4 * 4 * n, t_np_f)
    record("chain fwd+bwd: graphc c", t_b, 8 * 4 * n, t_np_b)
    record("chain fwd+bwd: numpy", t_np_b, 8 * 4 * n, t_np_b)
    ne = optional("numexpr")
    if ne is not None:
        t = best_time(lambda: ne.evaluate("x * y + z * (x - y)",
                                          local_dict={"x": xv, "y": yv, "z": zv}))
        record("chain fwd: numexpr", t, 4 * 4 * n, t_np_f)
    torch = optional("torch")
    if torch is not None:
        tx, ty, tz = (torch.from_numpy(a) for a in (xv, yv, zv))
        fn = lambda: tx * ty + tz * (tx - ty)
        record("chain fwd: torch eager", best_time(fn), 4 * 4 * n, t_np_f)
        try:
            cf = torch.compile(fn)
            record("chain fwd: torch.compile", best_time(cf), 4 * 4 * n, t_np_f)
        except Exception as e:  # noqa: BLE001
            notes.append(f"torch.compile unavailable: {type(e).__name__}")
    if torch is not None:
        txg, tyg, tzg = (torch.from_numpy(a).requires_grad_(True) for a in (xv, yv, zv))
        tg = torch.from_numpy(gv)

        def torch_both():
            out = txg * tyg + tzg * (txg - tyg)
            return (out,) + torch.autograd.grad(out, (txg, tyg, tzg), tg)
        record("chain fwd+bwd: torch eager", best_times(torch_both, repeat=5)[0], 8 * 4 * n,
               t_np_b)
    jax = optional("jax")
    if jax is not None:
        import jax.numpy as jnp
        jfb = jax.jit(lambda a, b, c, s: jax.vjp(lambda p, q, r: p * q + r * (p - q),
                                                  a, b, c)[1](s))
        jf = jax.jit(lambda a, b, c: a * b + c * (a - b))
        ja, jb, jc = (jnp.asarray(v) for v in (xv, yv, zv))
        record("chain fwd: jax jit", best_time(lambda: jf(ja, jb, jc).block_until_ready()),
               4 * 4 * n, t_np_f)
        jg = jnp.asarray(gv)
        jboth = jax.jit(lambda a, b, c, s: (a * b + c * (a - b),) + tuple(jfb(a, b, c, s)))
        record("chain fwd+bwd: jax jit",
               best_time(lambda: jax.block_until_ready(jboth(ja, jb, jc, jg))), 8 * 4 * n, t_np_b)


# ---- 2. softmax / logsumexp rows with gradient ----------------------------------------------

def softmax_case(rows_n: int, cols: int, rows: list, notes: list):
    rng = np.random.default_rng(1)
    xv = rng.normal(size=(rows_n, cols)).astype(np.float32)
    x = gc.placeholder("x", (None, cols))
    lse = gc.logsumexp(x, -1)
    outs = [lse, gc.grad(gc.sum(lse), x)]            # the gradient is softmax(x)
    f = gc.compile(outs, backend="c")

    def np_step():
        m = xv.max(1, keepdims=True)
        e = np.exp(xv - m)
        s = e.sum(1, keepdims=True)
        return (np.log(s) + m)[:, 0], e / s

    got, want = f(xv), np_step()
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    t_np, t_c = best_times(np_step, lambda: f(xv), repeat=7)
    label = f"logsumexp+grad {rows_n}x{cols}"
    rows.append([f"{label}: graphc c", f"{t_c * 1e3:.1f} ms", "", f"{f.stats['kernels']} kernel(s)",
                 f"{t_np / t_c:.2f}x"])
    rows.append([f"{label}: numpy", f"{t_np * 1e3:.1f} ms", "", "", "1.00x"])
    torch = optional("torch")
    if torch is not None:
        tx = torch.from_numpy(xv).requires_grad_(True)

        def torch_step():
            tx.grad = None
            out = torch.logsumexp(tx, 1)
            out.sum().backward()
            return out
        t = best_time(torch_step, repeat=5)
        rows.append([f"{label}: torch eager", f"{t * 1e3:.1f} ms", "", "", f"{t_np / t:.2f}x"])
    jax = optional("jax")
    if jax is not None:
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp as jlse
        jf = jax.jit(jax.value_and_grad(lambda a: jlse(a, 1).sum()))
        ja = jnp.asarray(xv)
        t = best_time(lambda: jax.block_until_ready(jf(ja)), repeat=5)
        rows.append([f"{label}: jax jit", f"{t * 1e3:.1f} ms", "", "", f"{t_np / t:.2f}x"])


# ---- 3. MLP 784-256-10, batch 256, one SGD step -------------------------------------------

def mlp_case(batch: int, rows: list, notes: list):
    rng = np.random.default_rng(2)
    init = [rng.normal(0, 0.05, (784, 256)).astype(np.float32), np.zeros(256, np.float32),
            rng.normal(0, 0.05, (256, 10)).astype(np.float32), np.zeros(10, np.float32)]
    xv = rng.normal(size=(batch, 784)).astype(np.float32)
    yv = rng.integers(0, 10, size=batch)
    x = gc.placeholder("x", (None, 784))
    labels = gc.placeholder("labels", (None,), "int64")
    params = [gc.parameter(n, v) for n, v in zip(["W1", "b1", "W2", "b2"], init)]
    W1, b1, W2, b2 = params
    loss = gc.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, labels)
    grads = gc.grad(loss, params)
    lr = 0.01
    step = gc.compile(loss, inputs=[x, labels], backend="c",
                      updates={p: p - lr * g for p, g in zip(params, grads)})
    state = [a.copy() for a in init]
    onehot = np.eye(10, dtype=np.float32)[yv]

    def np_step():
        w1, c1, w2, c2 = state
        pre = xv @ w1 + c1
        h = np.maximum(pre, 0)
        logits = h @ w2 + c2
        m = logits.max(1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(1, keepdims=True)
        loss_v = -np.mean(np.sum(onehot * (logits - m - np.log(s)), 1))
        d = (e / s - onehot) / batch
        gw2, gc2 = h.T @ d, d.sum(0)
        dh = (d @ w2.T) * (pre > 0)
        gw1, gc1 = xv.T @ dh, dh.sum(0)
        state[:] = [w1 - lr * gw1, c1 - lr * gc1, w2 - lr * gw2, c2 - lr * gc2]
        return loss_v

    l_np, l_c = np_step(), step(xv, yv)
    np.testing.assert_allclose(l_c, l_np, rtol=1e-4)
    t_np, t_c = best_times(np_step, lambda: step(xv, yv), repeat=30)
    label = f"MLP 784-256-10 step, batch {batch}"
    rows.append([f"{label}: graphc c", f"{t_c * 1e3:.2f} ms", "", f"{step.stats['kernels']} kernels",
                 f"{t_np / t_c:.2f}x"])
    rows.append([f"{label}: numpy", f"{t_np * 1e3:.2f} ms", "", "", "1.00x"])
    torch = optional("torch")
    if torch is not None:
        tw = [torch.tensor(a, requires_grad=True) for a in init]
        tx, ty = torch.from_numpy(xv), torch.from_numpy(yv)

        def torch_step():
            h = torch.relu(tx @ tw[0] + tw[1])
            out = torch.nn.functional.cross_entropy(h @ tw[2] + tw[3], ty)
            gs = torch.autograd.grad(out, tw)
            with torch.no_grad():
                for p, g in zip(tw, gs):
                    p -= lr * g
            return out
        t = best_times(torch_step, repeat=30)[0]
        rows.append([f"{label}: torch eager", f"{t * 1e3:.2f} ms", "", "", f"{t_np / t:.2f}x"])
        try:
            comp = torch.compile(torch_step)
            t = best_times(comp, repeat=30)[0]
            rows.append([f"{label}: torch.compile", f"{t * 1e3:.2f} ms", "", "",
                         f"{t_np / t:.2f}x"])
        except Exception as e:  # noqa: BLE001
            notes.append(f"torch.compile failed on the MLP: {type(e).__name__}")
    jax = optional("jax")
    if jax is not None:
        import jax.numpy as jnp

        def jloss(ps, a, labels_):
            w1, c1, w2, c2 = ps
            logits = jnp.maximum(a @ w1 + c1, 0) @ w2 + c2
            logp = jax.nn.log_softmax(logits)
            return -jnp.mean(jnp.take_along_axis(logp, labels_[:, None], 1))

        @jax.jit
        def jstep(ps, a, labels_):
            value, gs = jax.value_and_grad(jloss)(ps, a, labels_)
            return value, [p - lr * g for p, g in zip(ps, gs)]
        jstate = [[jnp.asarray(a) for a in init]]
        ja, jy = jnp.asarray(xv), jnp.asarray(yv)

        def jax_step():
            value, jstate[0] = jstep(jstate[0], ja, jy)
            return jax.block_until_ready(value)
        t = best_times(jax_step, repeat=30)[0]
        rows.append([f"{label}: jax jit", f"{t * 1e3:.2f} ms", "", "", f"{t_np / t:.2f}x"])
    for peer in ("torch", "jax", "numexpr"):
        if optional(peer) is None:
            notes.append(f"{peer} not installed: no {peer} rows")


def table(rows: list) -> str:
    head = ["case", "time", "bandwidth", "notes", "speed-up vs NumPy"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="elements of the chain")
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    rows, notes = [], []
    env_given = {v: os.environ[v] for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                            "OMP_WAIT_POLICY") if os.environ.get(v)}
    chain_case(args.n, rows, notes)
    softmax_case(args.rows, 4096, rows, notes)
    mlp_case(256, rows, notes)
    for var, value in env_given.items():
        notes.append(f"run with {var}={value}")
    notes.append("the copy reference is NumPy's single-threaded np.copyto; graphc's fused "
                 "kernels use OpenMP (2 threads here), so they can exceed 100% of it")
    from graphc.codegen import toolchain
    peers = [f"{m} {getattr(optional(m), '__version__', '?')}" for m in ("numexpr", "torch", "jax")
             if optional(m) is not None]
    if hasattr(os, "getloadavg"):
        notes.append("load average while measuring: %.1f %.1f %.1f (a shared machine: "
                     "timings carry noise)" % os.getloadavg())
    notes.append("peers: " + (", ".join(peers) if peers else "none installed") +
                 f" (interpreter {sys.executable})")
    env = (f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
           f"NumPy {np.__version__}, OpenMP {'on' if toolchain.openmp_available() else 'off'}")
    text = "\n".join(["## CPU (backend=\"c\")", "", f"Measured by `python benchmarks/cpu.py` on "
                      f"{env}; best of several runs.", "", table(rows), ""] +
                     [f"- {n}" for n in notes])
    print(text)
    if not args.no_write:
        write_section("cpu", text)


if __name__ == "__main__":
    main()
