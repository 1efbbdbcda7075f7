"""OpenMP thread scaling of backend="c" on compute-bound elementwise work: each case timed
in a fresh process with OMP_NUM_THREADS=1 and then with every CPU of the process's
affinity mask (the default: graphc's kernels take as many threads as the mask allows).

    python benchmarks/threads.py      # prints a table, updates benchmarks/RESULTS.md

Writes only its own section of RESULTS.md (between ``<!-- threads:begin -->`` and
``<!-- threads:end -->``). Times are the best of several runs after a warm-up; the two
thread counts are run alternately, so a busy machine slows both alike.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
CASES = ("chain_bwd", "elementwise3")
N = 10_000_000


def child(case: str) -> None:
    """Time one case in this process; print {"case", "seconds"} as JSON."""
    sys.path[:0] = [str(HERE.parent), str(HERE)]
    import numpy as np

    import graphc as gc
    from _cases import chain_expr
    rng = np.random.default_rng(0)
    if case == "chain_bwd":
        x = rng.uniform(-2, 2, N).astype(np.float32)
        X = gc.placeholder("x", (None,))
        y = chain_expr(gc, X)
        f = gc.compile([y, gc.grad(gc.sum(y), X)], inputs=[X], backend="c")
        args = (x,)
    else:
        args = tuple(rng.uniform(-2, 2, N).astype(np.float32) for _ in range(3))
        A, B, C = (gc.placeholder(n, ("n",)) for n in "abc")
        loss = gc.sum(gc.tanh(A) * gc.sigmoid(B) * gc.exp(C))
        f = gc.compile([loss, *gc.grad(loss, [A, B, C])], inputs=[A, B, C], backend="c")
    f(*args)
    best = float("inf")
    for _ in range(7):
        t = time.perf_counter()
        f(*args)
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"case": case, "seconds": best}))


def run(case: str, threads: int | None) -> float:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, __file__, "--child", case], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def main() -> None:
    cpus = len(os.sched_getaffinity(0))
    rows = []
    for case in CASES:
        one, many = [], []
        for _ in range(3):   # alternate: a busy machine slows both alike
            one.append(run(case, 1))
            many.append(run(case, None))
        rows.append((case, min(one), min(many)))
        print(f"{case}: 1 thread {min(one) * 1e3:.1f} ms, {cpus} threads "
              f"{min(many) * 1e3:.1f} ms, {min(one) / min(many):.2f}x", flush=True)
    load = "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    lines = ["## OpenMP threads (backend=\"c\")", "",
             f"Measured by `python benchmarks/threads.py`: {N:,} float32 elements, best of 7 "
             f"calls after a warm-up, in fresh processes alternating 1 thread and the "
             f"{cpus} CPUs of the affinity mask (graphc's default). Load average "
             f"{load}: a shared machine, so the numbers are noisy.", "",
             "| case | 1 thread | all CPUs | speed-up |", "|---|---:|---:|---:|"]
    lines += [f"| {c} | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms | {a / b:.2f}x |" for c, a, b in rows]
    sys.path.insert(0, str(HERE))
    from _results import write_section
    write_section("threads", "\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
