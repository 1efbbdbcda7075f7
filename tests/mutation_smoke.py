"""Mutation smoke check: does the test suite catch representative bugs?

Each mutation replaces one exact snippet of one source file (it must occur exactly once:
a snippet that is gone or ambiguous is an error, so the list cannot silently rot), runs
the tests named for it (``pytest -x -q``), restores the file (always: try/finally, also on
Ctrl-C) and records whether the tests failed. Not part of the default test run:

    python tests/mutation_smoke.py              # every mutation, in this checkout
    python tests/mutation_smoke.py -k simplify  # those whose name contains 'simplify'
    python tests/mutation_smoke.py --check      # only verify every snippet is found once
    python tests/mutation_smoke.py --copy       # mutate a temporary copy of the working
                                                # tree (others may edit the checkout)

First each selection of tests runs once unmutated (a baseline: a mutation "caught" by
tests that already fail would prove nothing); the mutations of a selection whose
baseline fails are not run and are reported as errors. The compile cache is
shared by all runs (entries are keyed by the generated source, so a mutated renderer
never reads a clean entry). Exit status: 0 when every mutation is caught, 1 otherwise.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    file: str           # relative to the checkout
    before: str         # exact text; must occur exactly once in ``file``
    after: str
    tests: tuple        # pytest arguments (files, node ids, -k expressions)


MUTATIONS = [
    # ---- ops and autodiff -------------------------------------------------------------------
    Mutation("ops: sin's derivative has the wrong sign", "graphc/ops/elementwise.py",
             'lambda n: [bind("cos", n.inputs[0])]', 'lambda n: [-bind("cos", n.inputs[0])]',
             ("tests/test_autodiff.py",)),
    Mutation("autodiff: the sum vjp loses keepdims", "graphc/ops/structure.py",
             "return [broadcast_node(_keep(n, g), n.inputs[0].dims)]",
             "return [broadcast_node(g, n.inputs[0].dims)]",
             ("tests/test_autodiff.py",)),
    Mutation("autodiff: several uses of a node are not summed", "graphc/passes/autodiff.py",
             "cot[id(inp)] = gi if prev is None else _add(prev, gi)", "cot[id(inp)] = gi",
             ("tests/test_autodiff_modes.py",)),
    Mutation("C-family renderer: the C text of sub swaps its operands (export walkthrough)",
             "graphc/codegen/c_text.py", '"sub": "({0} - {1})",', '"sub": "({1} - {0})",',
             ("tests/test_examples.py", "-k", "export_walkthrough")),
    # ---- passes -----------------------------------------------------------------------------
    Mutation("simplify: a*s - b*s -> (b - a)*s", "graphc/passes/simplify.py",
             '("mul", ("sub", "a", "b"), "s"), witness=lambda v: v("a") * v("s")',
             '("mul", ("sub", "b", "a"), "s"), witness=lambda v: v("a") * v("s")',
             ("tests/test_rewrite_rules.py", "tests/test_passes.py")),
    Mutation("stabilize: exp(x)+1 taken for exp(x)-1", "graphc/passes/stabilize.py",
             'Rule("exp(x)-1", ("add", ("exp", "x"), -1)',
             'Rule("exp(x)-1", ("add", ("exp", "x"), 1)',
             ("tests/test_rewrite_rules.py", "tests/test_passes.py")),
    Mutation("memory: a buffer is released before its last read", "graphc/passes/memory.py",
             "        for r in dying:\n", "        for r in read_roots[i]:\n",
             ("tests/test_memory.py",)),
    # ---- schedule and kernel IR -------------------------------------------------------------
    Mutation("fusion: broadcast index map off by one", "graphc/passes/fusion.py",
             "kk = k + r - q", "kk = k + r - q - 1",
             ("tests/test_fusion.py", "tests/test_backend_c.py")),
    Mutation("kernel IR: contiguous strides in the wrong order", "graphc/codegen/kernel_ir.py",
             "return list(reversed(strides))", "return list(strides)",
             ("tests/test_fusion.py", "tests/test_backend_c.py")),
    # ---- renderers --------------------------------------------------------------------------
    Mutation("numpy renderer: max reduction spelled np.min", "graphc/codegen/numpy_spelling.py",
             '"max": Spelling("np.max(', '"max": Spelling("np.min(',
             ("tests/test_backend_numpy.py",)),
    Mutation("C renderer: a row max keeps the smaller value", "graphc/codegen/c_dialect.py",
             'f"{inner}{acc} = {value} > {acc} ? {value} : {acc};"',
             'f"{inner}{acc} = {value} < {acc} ? {value} : {acc};"',
             ("tests/test_backend_c.py",)),
    Mutation("C renderer: GEMM column block of 63, not 64 (blas=False)",
             "graphc/codegen/c_dialect.py",
             "const int64_t jn = {N} - j0 < {W} ? {N} - j0 : {W};",
             "const int64_t jn = {N} - j0 < {W} ? {N} - j0 : {W} - 1;",
             ("tests/test_backend_c.py",)),
    Mutation("CUDA renderer: column reductions skip the first row",
             "graphc/codegen/cuda_dialect.py",
             'self.accumulate(p, acc_t, f"{it} r = 0; r < R; ++r"',
             'self.accumulate(p, acc_t, f"{it} r = 1; r < R; ++r"',
             ("tests/test_backend_cuda.py", "-k", "reductions")),
    # ---- runtime, cache, export, printing, command line ---------------------------------------
    Mutation("runtime: parameter updates are skipped", "graphc/compiler.py",
             "            p.state.value = v\n        self.calls += 1",
             "            pass\n        self.calls += 1",
             ("tests/test_compile.py",)),
    Mutation("cache: a corrupted entry is not detected", "graphc/codegen/cache.py",
             "return payload if trailer == _trailer(payload) else None", "return payload",
             ("tests/test_cache.py",)),
    Mutation("export: the C loader accepts a wrong size", "graphc/codegen/native_export.py",
             "elif key != n:", "elif False:",
             ("tests/test_bad_inputs.py", "-k", "exported_c_loader")),
    Mutation("printing: a - (b - c) printed without parentheses",
             "graphc/printing/formula.py",
             "return p < prec or (right and p == prec) or", "return p < prec or",
             ("tests/test_printing.py",)),
    Mutation("cli: show ignores --opt-level", "graphc/cli.py",
             "opt_level=args.opt_level", "opt_level=2",
             ("tests/test_cli_scripts.py", "-k", "opt_level")),
    # ---- indexing: slices and pads as index arithmetic ---------------------------------------
    Mutation("fusion: a pad reads its input one element off", "graphc/passes/fusion.py",
             "return IndexTerm(t.axis, t.scale, t.offset - lo * t.div, t.div * (interior + 1), True)",
             "return IndexTerm(t.axis, t.scale, t.offset - lo * t.div + 1, t.div * (interior + 1), "
             "True)",
             ("tests/test_indexing.py", "-k", "backends_match")),
    Mutation("ops: a strided slice's gradient loses its interior padding",
             "graphc/ops/movement.py", "interior.append(abs(step) - 1 if size else 0)",
             "interior.append(0)", ("tests/test_indexing.py", "-k", "basic_indexing")),
    # ---- C loops cut at pad edges; row kernels' cached values --------------------------------
    Mutation("gate_split: a condition held one element past its end",
             "graphc/codegen/gate_split.py", "(size - 1 - off) // s + 1", "(size - 1 - off) // s + 2",
             ("tests/test_gate_split.py",)),
    Mutation("row_cache: values of different row scalars taken for one another",
             "graphc/codegen/row_cache.py", 'return keys.get(a, ("outer", a))',
             'return keys.get(a, ("outer",))', ("tests/test_row_cache.py",)),
]


def check_snippets(root: pathlib.Path, mutations) -> list[str]:
    """One problem line per mutation whose snippet is missing or not unique."""
    problems = []
    for m in mutations:
        path = root / m.file
        if not path.is_file():
            problems.append(f"{m.name}: {m.file} does not exist")
            continue
        n = path.read_text().count(m.before)
        if n != 1:
            problems.append(f"{m.name}: snippet found {n} times in {m.file}: {m.before!r}")
    return problems


def run_tests(root: pathlib.Path, tests, env: dict, timeout: float) -> int:
    """pytest -x -q on ``tests`` in ``root``; its exit status (124 on timeout)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        return subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return 124


def verdict(status: int) -> str:
    """pytest's exit status as a verdict: 1 (tests failed) or 2 (collection error: the
    mutant does not even import) is caught; 0 is a mutant that passed."""
    return {0: "NO", 1: "yes", 2: "yes (collection error)", 5: "ERROR: no tests ran",
            124: "ERROR: timeout"}.get(status, f"ERROR: pytest exit {status}")


def apply_and_test(root: pathlib.Path, m: Mutation, env: dict, timeout: float) -> tuple:
    """Mutate, test, restore (always, with the file's original time stamps). A mutant's
    time stamp differs from the original's by 2 s, so no cached bytecode of one is taken
    for the other (the runs write none: PYTHONDONTWRITEBYTECODE). (verdict, seconds)."""
    path = root / m.file
    original, stamp = path.read_text(), path.stat()
    start = time.monotonic()
    try:
        path.write_text(original.replace(m.before, m.after, 1))
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 2_000_000_000))
        status = run_tests(root, m.tests, env, timeout)
    finally:
        path.write_text(original)
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    return verdict(status), time.monotonic() - start


def copy_working_tree(dest: pathlib.Path) -> pathlib.Path:
    """The checkout's tracked and untracked-but-not-ignored files, as they are now."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only mutations whose name contains this")
    parser.add_argument("--check", action="store_true", help="only verify the snippets")
    parser.add_argument("--copy", action="store_true",
                        help="work in a temporary copy of the working tree")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per test run")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.k.lower() in m.name.lower()]
    with tempfile.TemporaryDirectory(prefix="graphc-mutation-") as tmp:
        tmp = pathlib.Path(tmp)
        root = copy_working_tree(tmp / "checkout") if args.copy else ROOT
        problems = check_snippets(root, chosen)
        if problems:
            print("snippets that no longer match the source (update the list):")
            print("\n".join(f"  {p}" for p in problems))
            return 2
        print(f"{len(chosen)} mutations, every snippet found exactly once")
        if args.check:
            return 0
        env = dict(os.environ, PYTHONPATH=str(root), GRAPHC_TEST_CACHE_DIR=str(tmp / "cache"),
                   PYTHONDONTWRITEBYTECODE="1")
        baseline = {}
        for tests in dict.fromkeys(m.tests for m in chosen):  # each selection once, in order
            baseline[tests] = run_tests(root, tests, env, args.timeout)
            if baseline[tests] != 0:
                print(f"baseline: the unmutated tests fail (pytest exit {baseline[tests]}: "
                      f"{' '.join(tests)}): their mutations are not run", flush=True)
        rows = []
        for m in chosen:
            if baseline[m.tests] != 0:
                rows.append((m.name, m.file, "ERROR: baseline fails", 0.0))
                continue
            caught, seconds = apply_and_test(root, m, env, args.timeout)
            rows.append((m.name, m.file, caught, seconds))
            print(f"  {caught:<5} {seconds:6.1f}s  {m.name}", flush=True)
    print_table(rows)
    return 0 if all(r[2].startswith("yes") for r in rows) else 1


def print_table(rows) -> None:
    """A Markdown table: mutation, file, caught, seconds."""
    print("\n| mutation | file | caught | seconds |\n| --- | --- | --- | ---: |")
    for name, file, caught, seconds in rows:
        print(f"| {name} | `{file}` | {caught} | {seconds:.1f} |")
    print(f"\n{sum(r[2].startswith('yes') for r in rows)} of {len(rows)} caught")


if __name__ == "__main__":
    sys.exit(main())
