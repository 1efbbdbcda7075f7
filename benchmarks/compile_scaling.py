"""End-to-end compile time of a deep chain with the NumPy backend, in a fresh process.

    python benchmarks/compile_scaling.py                 # 1k, 5k, 20k, 100k nodes; writes RESULTS.md
    python benchmarks/compile_scaling.py --sizes 1000,5000 --no-write
    python benchmarks/compile_scaling.py --profile 20000 # cProfile of one in-process run

Each size runs in a new interpreter (``python -c``) that imports graphc, builds a chain of
n unary ops (sin, tanh, cos in turn) on a float64 placeholder, differentiates its sum,
compiles forward + gradient with ``backend="numpy"`` and calls it once: the time a user
waits from ``python script.py`` to the first result, split into import, build + grad,
``gc.compile`` and the first call. Best of ``--repeats`` runs; the machine is shared, so
wall-clock numbers are noisy (CPU time is given beside them).

Only the section between ``<!-- compile-scaling:begin -->`` and
``<!-- compile-scaling:end -->`` of benchmarks/RESULTS.md is (re)written.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time, json
t0 = time.perf_counter(); c0 = time.process_time()
import numpy as np
import graphc as gc
t1 = time.perf_counter()
n = int(sys.argv[1])
X = gc.placeholder("x", (None,), "float64")
t = X
ops = (gc.sin, gc.tanh, gc.cos)
for k in range(n):
    t = ops[k % 3](t)
g = gc.grad(gc.sum(t), X)
t2 = time.perf_counter()
f = gc.compile([t, g], inputs=[X], backend="numpy")
t3 = time.perf_counter()
out = f(np.linspace(-1.0, 1.0, 5))
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "build_grad": t2 - t1, "compile": t3 - t2,
                  "first_call": t4 - t3, "total": t4 - t0,
                  "cpu": time.process_time() - c0}))
"""


def run_once(n: int, cache_dir: str | None, root: Path = ROOT) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # as an installed package: bytecode cached
    if cache_dir:
        env["GRAPHC_CACHE_DIR"] = cache_dir
    r = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True,
                       env=env, cwd=str(root), check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def profile(n: int) -> None:
    import cProfile
    import pstats
    sys.path.insert(0, str(ROOT))
    code = CHILD.replace("int(sys.argv[1])", str(n))
    cProfile.run(code, "/tmp/graphc_compile_scaling.prof")
    pstats.Stats("/tmp/graphc_compile_scaling.prof").sort_stats("cumulative").print_stats(40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,20000,100000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--cold-cache", action="store_true",
                    help="a fresh GRAPHC_CACHE_DIR per run (no cached bytecode)")
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument("--root", default=str(ROOT),
                    help="the graphc checkout to measure (another commit's copy: before/after)")
    args = ap.parse_args()
    if args.profile:
        profile(args.profile)
        return
    import tempfile
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        runs = []
        for _ in range(args.repeats if n <= 20000 else 1):
            with tempfile.TemporaryDirectory() as d:
                runs.append(run_once(n, d if args.cold_cache else None, Path(args.root)))
        best = min(runs, key=lambda r: r["total"])
        rows.append((n, best))
        print(f"{n:>7} nodes: total {best['total']:.2f} s (import {best['import']:.2f}, "
              f"build+grad {best['build_grad']:.2f}, compile {best['compile']:.2f}, "
              f"first call {best['first_call']:.3f}; cpu {best['cpu']:.2f})", flush=True)
    if args.no_write or Path(args.root) != ROOT:
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import write_section
    lines = [f"Chain of n unary ops + gradient, NumPy backend, fresh process each "
             f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared "
             f"and loaded: noisy; best of {args.repeats}, one run at 100k; "
             f"{datetime.date.today()}; `python benchmarks/compile_scaling.py`):", "",
             "| nodes | total (s) | import | build + grad | gc.compile | first call | CPU (s) |",
             "|---|---|---|---|---|---|---|"]
    for n, r in rows:
        lines.append(f"| {n:,} | {r['total']:.2f} | {r['import']:.2f} | {r['build_grad']:.2f} | "
                     f"{r['compile']:.2f} | {r['first_call']:.3f} | {r['cpu']:.2f} |")
    write_section("compile-scaling", "\n".join(lines))


if __name__ == "__main__":
    main()
