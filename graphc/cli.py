"""The ``graphc`` command line: read derivatives, look at graphs, export kernels, benchmark.

    graphc grad "3*a**3 - b**2" --wrt a b      # d/da = 9*a**2, d/db = -2*b
    graphc show examples/springs.py            # raw and optimized graph, pass statistics
    graphc show examples/springs.py --svg springs.svg   # ... and a drawing of the graph
    graphc export examples/springs.py --backend c -o springs_c
    graphc bench --quick
    graphc cache info                          # the compile cache; also clear, prune

Exit codes: 0 success, 1 runtime failure (a backend or a script failed), 2 bad
usage or bad input (a formula outside the grammar, a file that is not a graphc
script). Errors are printed on stderr as one line.

A script given to ``show``/``export`` defines its graph by one of:
  * a function ``build()`` returning a Tensor, a list/tuple of Tensors, or a dict
    ``{"outputs": ..., "inputs": [...], "updates": {param: new_value}}``;
  * module-level variables ``outputs`` (and optionally ``inputs`` and ``updates``).
The script is imported (its ``if __name__ == "__main__":`` block does not run).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .cli_cache import add_cache_parser

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what a C tool reports when the reader went away


class UsageError(Exception):
    """Bad input from the user: reported on one line, exit code 2."""


class RuntimeFailure(Exception):
    """The work itself failed: reported on one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse's default prints the usage block first)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# ---- grad ------------------------------------------------------------------------------------

def _parse_point(items: list[str], variables: dict) -> dict[str, float]:
    point = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--at expects NAME=VALUE, got {item!r}")
        if name not in variables:
            raise UsageError(f"--at: {name!r} is not a variable of the formula "
                             f"(variables: {', '.join(variables) or 'none'})")
        try:
            point[name] = float(value)
        except ValueError:
            raise UsageError(f"--at: {value!r} is not a number") from None
    missing = [v for v in variables if v not in point]
    if items and missing:
        raise UsageError(f"--at: give a value for every variable (missing: {', '.join(missing)})")
    return point


def cmd_grad(args) -> int:
    import numpy as np
    import sympy

    import graphc as gc
    from graphc.formula import FormulaError, parse_formula

    try:
        f = parse_formula(args.formula)
    except FormulaError as e:
        raise UsageError(f"bad formula: {e}") from None
    except Exception as e:  # a shape or dtype error of graphc while building: bad input too
        raise UsageError(f"bad formula: {_one_line(e)}") from None
    wrt = args.wrt or list(f.variables)
    for name in wrt:
        if name not in f.variables:
            raise UsageError(f"--wrt {name!r} does not appear in the formula "
                             f"(variables: {', '.join(f.variables) or 'none'})")
    if not wrt:
        raise UsageError("the formula has no variables to differentiate with respect to")
    point = _parse_point(args.at, f.variables)

    grads = gc.grad(f.output, [f.variables[n] for n in wrt])
    formulas = [gc.expr(g) for g in grads]
    if args.simplify:
        formulas = [sympy.simplify(e) for e in formulas]
    values = None
    if point:
        feeds = {f.variables[n]: np.float64(v) for n, v in point.items()}
        values = gc.evaluate(list(grads), feeds)
    for k, (name, derivative) in enumerate(zip(wrt, formulas)):
        if args.latex:
            line = f"\\frac{{\\partial f}}{{\\partial {sympy.latex(sympy.Symbol(name))}}} = " \
                   f"{sympy.latex(derivative)}"
        else:
            line = f"d/d{name} = {derivative}"
        if values is not None:
            at = ", ".join(f"{n}={v:g}" for n, v in point.items())
            line += f"    (= {float(values[k]):.10g} at {at})"
        print(line)
    return EXIT_OK


# ---- loading a script ------------------------------------------------------------------------

@dataclass
class ScriptGraph:
    """What a user's script defines: outputs, optional positional inputs and updates."""

    path: Path
    outputs: list
    inputs: list | None = None
    updates: dict = field(default_factory=dict)


def _as_tensor_list(value, what: str) -> list:
    from graphc.ir import Tensor

    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Tensor) for v in value):
        return list(value)
    raise UsageError(f"{what} must be a Tensor or a non-empty list of Tensors, got "
                     f"{type(value).__name__}")


def load_script(path: str) -> ScriptGraph:
    """Import ``path`` and collect the graph it defines (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no such file: {path}")
    if p.suffix != ".py":
        raise UsageError(f"{path} is not a Python file (.py)")
    try:
        source = p.read_text(encoding="utf-8")
        compile(source, str(p), "exec")
    except SyntaxError as e:
        raise UsageError(f"{path}:{e.lineno}: syntax error: {_one_line(e.msg)}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{path}: cannot read it as Python source: {_one_line(e)}") from None

    name = "graphc_user_" + "".join(c if c.isalnum() else "_" for c in p.stem)
    spec = importlib.util.spec_from_file_location(name, str(p.resolve()))
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(p.resolve().parent))  # so the script can import its neighbours
    try:
        spec.loader.exec_module(module)
        if callable(getattr(module, "build", None)):
            built = module.build()
            where = f"{path}: build()"
        elif hasattr(module, "outputs"):
            built = {"outputs": module.outputs, "inputs": getattr(module, "inputs", None),
                     "updates": getattr(module, "updates", None)}
            where = f"{path}: outputs"
        else:
            raise UsageError(f"{path} defines neither build() nor a module-level 'outputs' "
                             f"(see 'graphc show --help')")
    except UsageError:
        raise
    except SystemExit as e:  # a script that calls sys.exit() while being imported
        raise RuntimeFailure(f"{path} exited while building its graph (exit status "
                             f"{e.code!r}); put that code under if __name__ == '__main__':") \
            from None
    except Exception as e:
        raise RuntimeFailure(f"{path} failed while building its graph: "
                             f"{type(e).__name__}: {_one_line(e)}") from None
    finally:
        sys.path.remove(str(p.resolve().parent))

    if isinstance(built, dict):
        if "outputs" not in built:
            raise UsageError(f"{where} returned a dict without an 'outputs' key")
        outputs = _as_tensor_list(built["outputs"], f"{where} outputs")
        inputs = built.get("inputs")
        inputs = None if inputs is None else _as_tensor_list(inputs, f"{where} inputs")
        updates = built.get("updates") or {}
        if not isinstance(updates, dict):
            raise UsageError(f"{where} updates must be a dict {{parameter: new value}}")
        return ScriptGraph(p, outputs, inputs, dict(updates))
    return ScriptGraph(p, _as_tensor_list(built, where))


# ---- show ------------------------------------------------------------------------------------

def cmd_show(args) -> int:
    import graphc as gc
    from graphc.passes import pipeline

    if args.dump and args.dump != "all" and args.dump not in pipeline.PASSES:
        raise UsageError(f"--dump: no pass named {args.dump!r}; passes: "
                         f"{', '.join(pipeline.PASSES)} (or 'all')")
    dumps: list = []
    dump = dumps if args.dump else None
    g = load_script(args.file)
    roots = g.outputs + list(g.updates.values())
    print(gc.show(roots, title="raw"))
    if args.raw:
        _write_svg(args.svg, roots)
        return EXIT_OK
    try:
        result = pipeline.run_pipeline(roots, opt_level=args.opt_level, dump=dump)
    except Exception as e:
        raise RuntimeFailure(f"optimizing {args.file} failed: {type(e).__name__}: "
                             f"{_one_line(e)}") from None
    for name, listing in dumps:
        if args.dump in ("all", name):
            print()
            print(listing)
    print()
    print(gc.show(result.outputs, title="optimized"))
    print()
    print(f"{'pass':<16} {'nodes before':>12} {'nodes after':>12} {'ms':>9}")
    for s in result.stats:
        print(f"{s.name:<16} {s.nodes_before:>12} {s.nodes_after:>12} {s.seconds * 1e3:>9.2f}")
    _write_svg(args.svg, list(result.outputs))
    return EXIT_OK


def _write_svg(path: str | None, roots: list) -> None:
    """``show --svg PATH``: the drawing of the graph just listed (``gc.draw``)."""
    if path is None:
        return
    import graphc as gc
    try:
        gc.draw(roots, path)
    except OSError as e:
        raise UsageError(f"--svg: cannot write {path}: {e.strerror or e}") from None
    print(f"wrote {path}", file=sys.stderr)


# ---- export ----------------------------------------------------------------------------------

def cmd_export(args) -> int:
    import graphc as gc

    g = load_script(args.file)
    options = {}
    if args.device:
        options["device"] = args.device
    try:
        f = gc.compile(g.outputs if len(g.outputs) > 1 else g.outputs[0], inputs=g.inputs,
                       updates=g.updates or None, backend=args.backend, **options)
        written = f.export(args.output, name=_artefact_name(args.name or g.path.stem))
    except Exception as e:
        raise RuntimeFailure(f"export with backend {args.backend!r} failed: "
                             f"{type(e).__name__}: {_one_line(e)}") from None
    paths = sorted(str(w) for w in (written or [])) or sorted(
        str(q) for q in Path(args.output).rglob("*") if q.is_file())
    print(f"wrote {len(paths)} file(s) to {args.output}:")
    for q in paths:
        print(f"  {q}")
    return EXIT_OK


def _artefact_name(text: str) -> str:
    """A Python/C identifier for the artefact's files, from --name or the script's name."""
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    if not name or not name.isidentifier():
        name = f"model_{name}" if name else "model"
    return name


# ---- bench -----------------------------------------------------------------------------------

def find_bench_script() -> Path | None:
    """``benchmarks/run.py`` of the source checkout graphc was imported from (or of the cwd)."""
    import graphc

    candidates = [Path(graphc.__file__).resolve().parent.parent / "benchmarks" / "run.py",
                  Path.cwd() / "benchmarks" / "run.py"]
    for c in candidates:
        if c.is_file():
            return c
    return None


def cmd_bench(args) -> int:
    script = find_bench_script()
    if script is None:
        raise RuntimeFailure("benchmarks/run.py not found: 'graphc bench' runs from a source "
                             "checkout of graphc (git clone, then pip install -e .)")
    extra = list(args.bench_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    proc = subprocess.run([sys.executable, str(script), *extra], cwd=str(script.parent.parent))
    if proc.returncode == 0:
        return EXIT_OK
    return EXIT_USAGE if proc.returncode == 2 else EXIT_FAILURE


# ---- the parser ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from .formula import FUNCTIONS  # here, not at the top: `graphc --help` stays cheap

    parser = _Parser(prog="graphc", description="graphc: a symbolic define-then-run graph "
                     "compiler. Read derivatives, look at graphs, export kernels.",
                     epilog="Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("grad", help="print the derivatives of a formula",
                       description="Differentiate a formula through graphc (parse -> graph of "
                       "placeholders -> gc.grad -> gc.expr) and print each derivative. "
                       "Formulas may use numbers, variable names, + - * / **, and the "
                       f"functions {' '.join(FUNCTIONS)}. They are parsed, never evaluated "
                       "as Python.",
                       epilog='example: graphc grad "3*a**3 - b**2" --wrt a b')
    p.add_argument("formula", help='the formula, e.g. "3*a**3 - b**2"')
    p.add_argument("--wrt", nargs="+", metavar="NAME",
                   help="variables to differentiate with respect to (default: all, in order "
                        "of appearance)")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
    p.add_argument("--simplify", action="store_true", help="run sympy.simplify on each result")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE",
                   help="also evaluate each derivative at this point (graphc's interpreter)")
    p.set_defaults(func=cmd_grad)

    script_help = ("FILE.py defines the graph with a function build() returning a Tensor, a "
                   "list of Tensors or a dict {'outputs': ..., 'inputs': [...], "
                   "'updates': {param: new}}, or with a module-level 'outputs' (and optionally "
                   "'inputs', 'updates'). The file is imported; its __main__ block does not run.")
    p = sub.add_parser("show", help="print the graph a script defines, raw and optimized",
                       description="Print the graph FILE.py defines as an SSA listing, then the "
                       "optimized graph and each pass's node counts. " + script_help,
                       epilog="example: graphc show examples/springs.py")
    p.add_argument("file", metavar="FILE.py")
    p.add_argument("--raw", action="store_true", help="print only the raw graph")
    p.add_argument("--opt-level", type=int, default=2, choices=[0, 1, 2],
                   help="optimization level (default 2)")
    p.add_argument("--dump", metavar="PASS", default=None,
                   help="also print the graph after pass PASS ('all': after every pass)")
    p.add_argument("--svg", metavar="OUT.svg", default=None,
                   help="also write a drawing of the optimized graph (the raw one with --raw) "
                   "as SVG, as gc.draw does")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="compile a script's graph and write a standalone artefact",
                       description="Compile the graph FILE.py defines with a backend and write "
                       "the standalone artefact (NumPy module, C folder or CUDA folder) to DIR. "
                       + script_help,
                       epilog="example: graphc export examples/springs.py --backend c -o out")
    p.add_argument("file", metavar="FILE.py")
    p.add_argument("--backend", choices=["numpy", "c", "cuda"], default="numpy",
                   help="code generator (default numpy)")
    p.add_argument("--device", default=None,
                   help="backend device option, e.g. 'emulate' for cuda without a GPU")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write")
    p.add_argument("--name", default=None,
                   help="base name of the artefact's files (default: the script's name)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("bench", help="run the benchmark harness (benchmarks/run.py)",
                       description="Run benchmarks/run.py from the source checkout; any further "
                       "arguments are passed to it (e.g. 'graphc bench --quick', "
                       "'graphc bench -- --help').")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="arguments for benchmarks/run.py")
    p.set_defaults(func=cmd_bench)

    add_cache_parser(sub, usage_error=UsageError)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``graphc`` console script and ``python -m graphc``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    options = ("-h", "--help", "--wrt", "--latex", "--simplify", "--at")
    if len(argv) > 1 and argv[0] == "grad" and argv[1].startswith("-") \
            and argv[1] != "--" and argv[1].split("=")[0] not in options:
        # A formula such as "-x**2" would look like an option to argparse; a leading space
        # keeps it positional (the formula parser strips it).
        argv[1] = " " + argv[1]
    parser = build_parser()
    try:
        if argv[:1] == ["bench"] and argv[1:] not in (["-h"], ["--help"]):
            # everything after 'bench' belongs to benchmarks/run.py (argparse's REMAINDER
            # would refuse leading options such as --cases)
            return cmd_bench(argparse.Namespace(bench_args=argv[1:]))
        args = parser.parse_args(argv)
        if args.version:
            import graphc
            print(f"graphc {graphc.__version__}")
            return EXIT_OK
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return args.func(args)
    except SystemExit as e:  # --help (0) and argparse's own exits
        return e.code if isinstance(e.code, int) else EXIT_FAILURE
    except UsageError as e:
        print(f"graphc: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeFailure as e:
        print(f"graphc: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("graphc: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:  # `graphc show ... | head`: the reader has all it wanted
        # point stdout at /dev/null so that Python's flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    except Exception as e:  # a bug or an unexpected failure: still one line, exit 1
        print(f"graphc: error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
