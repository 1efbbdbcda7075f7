"""graphc's benchmark harness: the standard cases, every graphc backend here, and the peers.

    python benchmarks/run.py              # full sizes, writes the "run" section of RESULTS.md
    python benchmarks/run.py --quick      # small sizes, a minute or so
    python benchmarks/run.py --cases chain_fwd,mlp --impls graphc-numpy,numpy,jax-jit
    graphc bench --quick                  # the same, from the command line

Cases (the same inputs for every implementation, results checked against a float64
NumPy reference before any timing counts):
  tutorial    E = 3a^3 - b^2, dE/da and dE/db at a=[2,4], b=[7,5] (per-call overhead)
  chain_fwd   a 10M-element elementwise chain: tanh(1.5x+0.5)*exp(-x^2) + 0.5 sin(x)
  chain_bwd   the same chain, forward and gradient of its sum
  mlp         one SGD step of an MLP 784-256-10 (ReLU, softmax cross-entropy), batch 256
  softmax     softmax of a 4096x4096 matrix and the gradient of sum(softmax(x) * r)
  elementwise3  sum(tanh(a) * sigmoid(b) * exp(c)) over 10M float32 and its 3 gradients
  attention   softmax(Q K^T / 8) V, batch 16 x 256 x 64, forward and the 3 gradients
  compile     time to differentiate and compile chained graphs of 100/1,000/10,000 nodes

Implementations: graphc with each backend that works here (numpy, c, cuda under
emulation), NumPy written by hand, and the peers that import: numexpr, PyTorch
eager, torch.compile, JAX jit, PyTensor. Times are medians of repeated calls after
warm-up; ratios are time / graphc-numpy time (above 1: slower than graphc).

Only the section between ``<!-- run:begin -->`` and ``<!-- run:end -->`` of
benchmarks/RESULTS.md is (re)written; other scripts own the other sections.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


def _threads_from_argv(argv: list[str]) -> int:
    """--threads N, read before NumPy and the peers are imported (their pools size at import)."""
    for k, a in enumerate(argv):
        if a == "--threads" and k + 1 < len(argv) and argv[k + 1].isdigit():
            return int(argv[k + 1])
        if a.startswith("--threads=") and a.split("=", 1)[1].isdigit():
            return int(a.split("=", 1)[1])
    return 1


# One thread per library by default: this machine is small and shared, and a thread pool
# that spins while other processes hold the cores makes timings meaningless.
THREADS = _threads_from_argv(sys.argv[1:])
ALL_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
if THREADS > 0:
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS"):
        os.environ.setdefault(_var, str(THREADS))
    if THREADS == 1:
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                           "intra_op_parallelism_threads=1")
    # and the process itself on THREADS CPUs: JAX 0.10's XLA ignores the flags above (its
    # jitted MLP step ran on both cores of this machine: 1.9 ms of CPU per ms), so only the
    # affinity mask makes "N threads per library" true for every peer alike
    if len(ALL_CPUS) > THREADS:
        os.sched_setaffinity(0, ALL_CPUS[:THREADS])

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # a source checkout works without installing

import graphc as gc  # noqa: E402
from graphc import progress  # noqa: E402
from _results import write_section  # noqa: E402  (a sibling script module)
from _cases import (CASES, GRAPHC_BACKENDS, compile_chain_reference,  # noqa: E402
                    compile_time, mlp_reference)

SECTION = "run"
PEERS = ["numpy", "numexpr", "torch", "torch.compile", "jax-jit", "pytensor"]
ALL_IMPLS = list(GRAPHC_BACKENDS) + PEERS
BASELINE = "graphc-numpy"


@dataclass
class Sizes:
    chain: int = 10_000_000
    batch: int = 256
    softmax: int = 4096
    elementwise3: int = 10_000_000
    attention: tuple = (16, 256, 64)   # batch, sequence, head size
    compile_nodes: tuple = (100, 1_000, 10_000)
    # peers' compile times are measured up to this many nodes (torch.compile takes
    # about half a minute for 100 nodes here, and grows faster than linearly)
    peer_compile_max: dict = field(default_factory=lambda: {"jax-jit": 1_000, "pytensor": 1_000,
                                                            "torch.compile": 100})
    emulate_max: int = 1_000_000    # CUDA emulation runs on the CPU: only cases up to this size
    compile_timeout: float = 90.0   # seconds for one compile-time measurement
    repeat: int = 5
    warmup: int = 1


QUICK = Sizes(chain=1_000_000, softmax=1024, elementwise3=1_000_000,
              attention=(4, 128, 64), compile_nodes=(100, 1_000), repeat=3,
              compile_timeout=60.0)


@dataclass
class Row:
    case: str
    impl: str
    median_s: float | None = None
    setup_s: float | None = None
    check: str = ""             # "ok", "WRONG (max err ...)", "" when not run
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    compile_rows: dict = field(default_factory=dict)   # (impl, nodes) -> (seconds, check)


# ---- peers -------------------------------------------------------------------------------------

def peer_versions() -> dict[str, str | None]:
    out = {}
    for name, mod in [("numexpr", "numexpr"), ("torch", "torch"), ("jax", "jax"),
                      ("pytensor", "pytensor")]:
        try:
            out[name] = __import__(mod).__version__
        except Exception:
            out[name] = None
    return out


def impl_available(impl: str, versions: dict) -> bool:
    if impl.startswith("graphc") or impl == "numpy":
        return True
    key = {"torch.compile": "torch", "jax-jit": "jax"}.get(impl, impl)
    return versions.get(key) is not None


def graphc_backend_works(impl: str) -> str | None:
    """None when the backend compiles and runs the tutorial correctly here, else why not."""
    backend, opts = GRAPHC_BACKENDS[impl]
    try:
        a = gc.parameter("a", [2., 4.])
        b = gc.parameter("b", [7., 5.])
        # not the tutorial itself, so its timed setup still includes a cold compile
        da, db = gc.grad(2 * a**2 - b, [a, b], seed=gc.constant([1., 1.]))
        ga, gb = gc.compile([da, db], backend=backend, **opts)()
        if not (np.allclose(ga, [8, 16]) and np.allclose(gb, [-1, -1])):
            return "wrong result on a two-element test graph"
        return None
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"


# ---- timing ------------------------------------------------------------------------------------

def to_numpy(v):
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v)


def measure(make: Callable[[], Callable[[], list]], sizes: Sizes):
    """setup seconds, median call seconds, first outputs (as NumPy arrays)."""
    t0 = time.perf_counter()
    run = make()
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = [to_numpy(v) for v in run()]
    first_call = time.perf_counter() - t0
    for _ in range(sizes.warmup - 1):
        run()
    times = []
    for _ in range(sizes.repeat):
        t0 = time.perf_counter()
        outs = run()
        _ = [to_numpy(v) for v in outs]  # include the device->host copy where there is one
        times.append(time.perf_counter() - t0)
    return setup + first_call, statistics.median(times), first


def check(outputs: list, reference: list, rtol: float, atol: float) -> str:
    if len(outputs) != len(reference):
        return f"WRONG ({len(outputs)} outputs, expected {len(reference)})"
    worst = 0.0
    for o, r in zip(outputs, reference):
        o = np.asarray(o, np.float64).reshape(np.shape(r))
        if not np.all(np.isfinite(o)):
            return "WRONG (non-finite values)"
        err = np.max(np.abs(o - r) / (atol + rtol * np.abs(r)))
        worst = max(worst, float(err))
    return "ok" if worst <= 1.0 else f"WRONG (error {worst:.1f}x tolerance)"


# ---- running ----------------------------------------------------------------------------------

def make_data(sizes: Sizes):
    rng = np.random.default_rng(0)
    data = {"chain_x": rng.uniform(-2, 2, sizes.chain).astype(np.float32),
            "mlp_x": rng.standard_normal((sizes.batch, 784)).astype(np.float32),
            "mlp_labels": rng.integers(0, 10, sizes.batch),
            "sm_x": (3 * rng.standard_normal((sizes.softmax, sizes.softmax))).astype(np.float32),
            "sm_r": rng.standard_normal((sizes.softmax, sizes.softmax)).astype(np.float32)}
    for n in "abc":
        data[f"ew3_{n}"] = rng.uniform(-2, 2, sizes.elementwise3).astype(np.float32)
    for n in "qkvr":
        data[f"att_{n}"] = rng.standard_normal(sizes.attention).astype(np.float32)
    data["mlp_params"] = [
        (rng.standard_normal((784, 256)) * np.sqrt(2 / 784)).astype(np.float32),
        np.zeros(256, np.float32),
        (rng.standard_normal((256, 10)) * np.sqrt(2 / 256)).astype(np.float32),
        np.zeros(10, np.float32)]
    return data


def log(msg: str) -> None:
    print(msg, flush=True)


def run_cases(cases, impls, sizes, report: Report, data, unavailable: dict) -> None:
    for case in cases:
        make_case, make_ref, title, (rtol, atol) = CASES[case]
        if case == "mlp":
            reference = mlp_reference(data["mlp_x"], data["mlp_labels"], data["mlp_params"], 0.1)
        else:
            reference = make_ref(data)
        log(f"== {case}: {title}")
        for impl in impls:
            if impl in unavailable:
                report.rows.append(Row(case, impl, note=unavailable[impl]))
                continue
            try:
                make = make_case(impl, sizes, data)
            except ImportError as e:
                make = f"not installed ({e.name})"
            if make is None:
                report.rows.append(Row(case, impl, note="n/a"))
                continue
            if isinstance(make, str):
                report.rows.append(Row(case, impl, note=make))
                log(f"   {impl:22s} {make}")
                continue
            try:
                with progress.phase(f"benchmarking {case} with {impl}"):  # on a tty, if slow
                    setup, median, first = measure(make, sizes)
                status = check(first, reference, rtol, atol)
                report.rows.append(Row(case, impl, median, setup, status))
                log(f"   {impl:22s} {median * 1e3:10.3f} ms  (setup+first call {setup:.2f} s) "
                    f"{status}")
            except Exception as e:
                first = str(e).splitlines()[0][:100] if str(e) else ""
                msg = f"failed: {type(e).__name__}: {first}"
                report.rows.append(Row(case, impl, note=msg))
                log(f"   {impl:22s} {msg}")
                if os.environ.get("GRAPHC_BENCH_DEBUG"):
                    traceback.print_exc()


def run_compile(impls, sizes, report: Report) -> None:
    """Each measurement in a fresh process (cold caches, and a hung compiler can be stopped)."""
    log(f"== compile: differentiate and compile a chain of N unary ops "
        f"(each in its own process, {sizes.compile_timeout} s limit)")
    for n in sizes.compile_nodes:
        for impl in impls:
            if impl in ("numpy", "numexpr", "torch"):
                continue  # nothing is compiled ahead of time
            cap = sizes.peer_compile_max.get(impl, 0)
            if not impl.startswith("graphc") and n > cap:
                report.compile_rows[(impl, n)] = (None, f"not run (cap {cap:,} nodes)")
                continue
            secs, status = compile_in_subprocess(impl, n, sizes.compile_timeout)
            report.compile_rows[(impl, n)] = (secs, status)
            log(f"   N={n:6d} {impl:22s} {fmt_time(secs):>10s}  {status}")


def compile_in_subprocess(impl: str, n: int, timeout: float):
    import json
    import signal
    import subprocess

    # compiles use the whole machine, as a user's would (gcc translation units in parallel)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--compile-one", impl, str(n),
           "--threads", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,  # its own group: a compiler child dies too
                            preexec_fn=(lambda: os.sched_setaffinity(0, ALL_CPUS))
                            if ALL_CPUS else None)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, f"over {timeout:.0f} s (stopped)"
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (err.strip().splitlines() or ["?"])[-1][:100]
        return None, f"failed: {last}"
    res = json.loads(lines[-1])
    return res["secs"], res["check"]


def compile_one(impl: str, n: int) -> None:
    """The child side of ``compile_in_subprocess``: print one JSON line."""
    import json

    x = np.linspace(-1, 1, 1000)
    compile_time(impl, 3, x)  # warm-up: imports and one-time initialisation are not compile time
    secs, outs = compile_time(impl, n, x)
    status = check([to_numpy(o) for o in outs], compile_chain_reference(n, x), 1e-6, 1e-9)
    print(json.dumps({"secs": secs, "check": status}))


# ---- the report --------------------------------------------------------------------------------

def machine_info(versions: dict) -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = "load average {:.1f} {:.1f} {:.1f} (1/5/15 min; the machine is shared, so timings " \
               "carry noise)".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    peers = ", ".join(f"{k} {v}" for k, v in versions.items() if v) or "none"
    missing = ", ".join(k for k, v in versions.items() if not v)
    return [f"- machine: {cpu}, {os.cpu_count()} logical cores, {platform.system()} "
            f"{platform.release()}; {load}",
            f"- Python {platform.python_version()}, NumPy {np.__version__}, graphc "
            f"{gc.__version__}; " + (f"{THREADS} thread(s) per library, the process pinned to "
                                     f"{THREADS} CPU(s) (compiles: all CPUs)" if THREADS
                                     else "each library's default threads"),
            f"- peers installed: {peers}" + (f"; not installed: {missing}" if missing else "")]


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def render(report: Report, sizes: Sizes, versions: dict, cases, elapsed: float) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["## benchmarks/run.py", "",
           f"Produced by `python benchmarks/run.py` ({now}, {elapsed:.0f} s in all). Median of "
           f"{sizes.repeat} calls after {sizes.warmup} warm-up call(s); every result checked "
           f"against a float64 NumPy reference first. *ratio* = time / graphc-numpy time "
           f"(above 1: slower than graphc's NumPy backend). *setup* = build, differentiate, "
           f"compile and the first call, with graphc's and torch.compile's on-disk caches "
           f"empty (PyTensor keeps its per-op C cache in ~/.pytensor from earlier runs). "
           f"Compile times are measured in a fresh process each, after a 3-node warm-up "
           f"compile (imports are not compile time).", ""] + machine_info(versions) + [
           f"- sizes: chain {sizes.chain:,} float32 elements, MLP batch {sizes.batch}, "
           f"softmax {sizes.softmax}x{sizes.softmax}", ""]
    for case in cases:
        rows = [r for r in report.rows if r.case == case]
        if not rows:
            continue
        base = next((r.median_s for r in rows if r.impl == BASELINE and r.median_s), None)
        timed = sorted((r for r in rows if r.median_s and r.check == "ok"),
                       key=lambda r: r.median_s)
        fastest = f"Fastest here: {timed[0].impl}." if timed else ""
        out += [f"### {case}: {CASES[case][2]}", "", fastest, "",
                "| implementation | median | ratio | setup | check |",
                "|---|---:|---:|---:|---|"]
        for r in rows:
            if r.median_s is None:
                out.append(f"| {r.impl} | - | - | - | {r.note} |")
                continue
            ratio = f"{r.median_s / base:.2f}" if base else "-"
            out.append(f"| {r.impl} | {fmt_time(r.median_s)} | {ratio} | {fmt_time(r.setup_s)} "
                       f"| {r.check}{' ' + r.note if r.note else ''} |")
        out.append("")
    if report.compile_rows:
        impls = list(dict.fromkeys(i for i, _ in report.compile_rows))
        ns = sorted({n for _, n in report.compile_rows})
        out += ["### compile: build + differentiate + compile a chain of N unary ops "
                "(sin, tanh, cos, ...), float64", "",
                "| implementation | " + " | ".join(f"N = {n:,}" for n in ns) + " |",
                "|---|" + "---:|" * len(ns)]
        for impl in impls:
            cells = []
            for n in ns:
                secs, status = report.compile_rows.get((impl, n), (None, "-"))
                cells.append(f"{fmt_time(secs)}" + ("" if status == "ok" else f" ({status})")
                             if secs is not None else status)
            out.append(f"| {impl} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)



def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="cases: " + ", ".join(list(CASES) + ["compile"])
                                + "\nimplementations: " + ", ".join(ALL_IMPLS))
    p.add_argument("--quick", action="store_true",
                   help="small sizes (1M chain, 1024 softmax, compile up to 1,000 nodes)")
    p.add_argument("--cases", default=",".join(list(CASES) + ["compile"]),
                   help="comma-separated cases (default: all)")
    p.add_argument("--impls", default=",".join(ALL_IMPLS),
                   help="comma-separated implementations (default: all available)")
    p.add_argument("--repeat", type=int, help="timed calls per measurement")
    p.add_argument("--chain", type=int, help="elements in the chain cases")
    p.add_argument("--softmax", type=int, help="rows and columns of the softmax case")
    p.add_argument("--compile-nodes", help="comma-separated N for the compile case")
    p.add_argument("--emulate-max", type=int, help="largest case run under CUDA emulation")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per library (NumPy's BLAS, numexpr, torch, XLA); 0 leaves "
                        "each library's default (default 1)")
    p.add_argument("--output", default=str(HERE / "RESULTS.md"),
                   help="results file (its 'run' section is rewritten)")
    p.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md")
    p.add_argument("--compile-timeout", type=float, help="seconds for one compile measurement")
    p.add_argument("--warm-cache", action="store_true",
                   help="keep graphc's on-disk compile cache (default: a fresh one per run, so "
                        "setup and compile times include the C compiler)")
    p.add_argument("--compile-one", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    p.add_argument("--others", action="store_true",
                   help="afterwards run the other benchmark scripts in benchmarks/ (each "
                        "rewrites its own RESULTS.md section; --quick is passed on)")
    args = p.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    bad = [c for c in cases if c not in CASES and c != "compile"] + \
          [i for i in impls if i not in ALL_IMPLS]
    if bad:
        p.error(f"unknown case or implementation: {', '.join(bad)}")
    sizes = Sizes(**vars(QUICK)) if args.quick or os.environ.get("GRAPHC_BENCH_QUICK") == "1" \
        else Sizes()
    for name in ("repeat", "chain", "softmax", "emulate_max", "compile_timeout"):
        if getattr(args, name) is not None:
            setattr(sizes, name, getattr(args, name))
    if args.compile_nodes:
        sizes.compile_nodes = tuple(int(n) for n in args.compile_nodes.split(","))
    return args, cases, impls, sizes


def main(argv=None) -> int:
    args, cases, impls, sizes = parse_args(argv)
    if args.compile_one:
        compile_one(args.compile_one[0], int(args.compile_one[1]))
        return 0
    if not args.warm_cache:
        # cold on-disk caches, so setup and compile times include the compilers' work
        import tempfile
        for var in ("GRAPHC_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"):
            if var not in os.environ:
                os.environ[var] = tempfile.mkdtemp(prefix="graphc-bench-cache-")
    start = time.perf_counter()
    versions = peer_versions()
    if versions.get("torch") and args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    unavailable = {}
    for impl in impls:
        if not impl_available(impl, versions):
            unavailable[impl] = "not installed"
        elif impl in GRAPHC_BACKENDS:
            why = graphc_backend_works(impl)
            if why:
                unavailable[impl] = f"unavailable here: {why}"
    for line in machine_info(versions):
        log(line)
    for impl, why in unavailable.items():
        log(f"   {impl}: {why}")
    data = make_data(sizes)
    report = Report()
    run_cases([c for c in cases if c in CASES], impls, sizes, report, data, unavailable)
    if "compile" in cases:
        run_compile([i for i in impls if i not in unavailable], sizes, report)
    elapsed = time.perf_counter() - start
    text = render(report, sizes, versions, [c for c in cases if c in CASES], elapsed)
    if not args.no_write:
        write_section(SECTION, text, Path(args.output))
        log(f"wrote the '{SECTION}' section of {args.output} ({elapsed:.0f} s)")
    else:
        print(text)
    failed_others = run_others(args.quick) if args.others else []
    wrong = [r for r in report.rows if r.check.startswith("WRONG") and r.impl.startswith("graphc")]
    return 1 if wrong or failed_others else 0


def run_others(quick: bool) -> list[str]:
    """Run every other benchmarks/*.py script; return the names of those that failed."""
    import subprocess

    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name == "run.py" or script.name.startswith("_"):
            continue
        log(f"== {script.name}")
        cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
        try:
            res = subprocess.run(cmd, cwd=str(HERE.parent), timeout=900)
            if res.returncode != 0:
                failed.append(script.name)
        except subprocess.TimeoutExpired:
            failed.append(script.name)
        if script.name in failed:
            log(f"   {script.name} failed")
    return failed


if __name__ == "__main__":
    sys.exit(main())
