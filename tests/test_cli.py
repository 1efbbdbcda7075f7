"""The ``graphc`` command line: every command, its errors (one line, exit 2) and its safety.

Derivatives printed by ``graphc grad`` are checked against ``sympy.diff`` (the oracle),
values against graphc's interpreter; ``show``/``export`` against the script's graph.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.cli import main
from graphc.formula import FUNCTIONS, FormulaError, parse_formula

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "graphc", *argv], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def derivatives(out: str) -> dict[str, sympy.Expr]:
    """Parse 'd/dNAME = FORMULA' lines back into SymPy (test-side, trusted text)."""
    res = {}
    for line in out.strip().splitlines():
        head, _, formula = line.partition(" = ")
        formula = formula.split("    (=")[0]
        res[head[3:]] = sympy.sympify(formula, locals={"Max": sympy.Max, "Min": sympy.Min})
    return res


def same(e1, e2, names) -> bool:
    """Numerically compare two SymPy expressions at a few random points."""
    rng = np.random.default_rng(0)
    syms = [sympy.Symbol(n, real=True) for n in names]
    plain = [sympy.Symbol(n) for n in names]
    f1 = sympy.lambdify(plain, e1.subs(dict(zip(syms, plain))), "numpy")
    f2 = sympy.lambdify(plain, e2.subs(dict(zip(syms, plain))), "numpy")
    for _ in range(5):
        pt = rng.uniform(0.3, 2.0, len(names))
        with np.errstate(all="ignore"):
            v1, v2 = np.float64(f1(*pt)), np.float64(f2(*pt))
        if not np.allclose(v1, v2, rtol=1e-7, atol=1e-9, equal_nan=True):
            return False
    return True


# ---- grad --------------------------------------------------------------------------------

def test_grad_tutorial(capsys):
    code, out, err = run(capsys, "grad", "3*a**3 - b**2", "--wrt", "a", "b")
    assert code == 0 and err == ""
    d = derivatives(out)
    a, b = sympy.symbols("a b")
    f = 3 * a**3 - b**2
    assert sympy.simplify(d["a"] - sympy.diff(f, a)) == 0
    assert sympy.simplify(d["b"] - sympy.diff(f, b)) == 0
    assert "d/da = 9*a**2" in out and "d/db = -2*b" in out


def test_grad_default_wrt_is_every_variable_in_order(capsys):
    code, out, _ = run(capsys, "grad", "y*exp(x) + sin(y)")
    assert code == 0
    assert list(derivatives(out)) == ["y", "x"]


def test_grad_latex(capsys):
    code, out, _ = run(capsys, "grad", "3*a**3 - b**2", "--wrt", "a", "--latex")
    assert code == 0
    a = sympy.Symbol("a", real=True)
    assert sympy.latex(sympy.diff(3 * a**3, a)) in out and "\\partial a" in out


def test_grad_at_point_matches_interpreter(capsys):
    code, out, _ = run(capsys, "grad", "x*y**2 + exp(x)", "--at", "x=0.5", "y=2")
    assert code == 0
    f = parse_formula("x*y**2 + exp(x)")
    gx, gy = gc.grad(f.output, [f.variables["x"], f.variables["y"]])
    vals = gc.evaluate([gx, gy], {"x": np.float64(0.5), "y": np.float64(2.0)})
    shown = [float(line.split("(= ")[1].split(" at")[0]) for line in out.strip().splitlines()]
    np.testing.assert_allclose(shown, [float(v) for v in vals], rtol=1e-9)


def test_grad_formula_starting_with_minus(capsys):
    code, out, _ = run(capsys, "grad", "-x**2")
    assert code == 0 and "d/dx = -2*x" in out


def test_grad_through_console_entry_point():
    res = run_process("grad", "3*a**3 - b**2", "--wrt", "a", "b")
    assert res.returncode == 0, res.stderr
    assert "9*a**2" in res.stdout and "-2*b" in res.stdout


_LEAVES = st.sampled_from(["x", "y", "z", "2", "0.5", "3"])
_UNARY = st.sampled_from(["exp", "sin", "cos", "tanh", "sigmoid", "log1p", "square", "sqrt"])


def _formulas():
    return st.recursive(
        _LEAVES,
        lambda sub: st.one_of(
            st.tuples(sub, st.sampled_from(["+", "-", "*", "/"]), sub).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(sub, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})**{t[1]}"),
            st.tuples(_UNARY, sub).map(lambda t: f"{t[0]}({t[1]})"),
            sub.map(lambda s: f"-{s}")),
        max_leaves=6)


@settings(max_examples=25, deadline=None)
@given(_formulas())
def test_grad_matches_sympy_diff(text):
    f = parse_formula(text)
    names = list(f.variables)
    if not names:
        return
    local = {n: sympy.Symbol(n, real=True) for n in names}
    local.update(sigmoid=lambda u: 1 / (1 + sympy.exp(-u)), square=lambda u: u * u,
                 log1p=lambda u: sympy.log(1 + u))
    oracle = sympy.sympify(text, locals=local)  # trusted test text
    for name, g in zip(names, gc.grad(f.output, list(f.variables.values()))):
        assert same(gc.expr(g), sympy.diff(oracle, local[name]), names)


# ---- safety: the argument is parsed, never executed -----------------------------------------

MALICIOUS = [
    "__import__('os').system('touch PWNED')",
    "exec(\"open('PWNED', 'w')\")",
    "eval(\"__import__('os').system('touch PWNED')\")",
    "open('PWNED', 'w')",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "(lambda: __import__('os').system('touch PWNED'))()",
    "[__import__('os').system('touch PWNED') for _ in 'a']",
    "exp(__import__('os').system('touch PWNED'))",
    "exp(x=__import__('os'))",
    "globals()['__builtins__']",
    "x if __import__('os').system('touch PWNED') else y",
    "f'{__import__(\"os\").system(\"touch PWNED\")}'",
    "x; import os",
    "(x := 1)",
    "x.system('touch PWNED')",
    "breakpoint()",
]


@pytest.mark.parametrize("formula", MALICIOUS)
def test_grad_never_executes_its_argument(formula, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a) or 0)
    code, out, err = run(capsys, "grad", formula)
    assert code == 2
    assert out == "" and err.startswith("graphc: error:") and err.count("\n") == 1
    assert called == [] and list(tmp_path.iterdir()) == []


def test_grad_never_executes_in_a_real_process(tmp_path):
    for formula in MALICIOUS[:3]:
        res = run_process("grad", formula, cwd=tmp_path)
        assert res.returncode == 2 and res.stdout == ""
        assert res.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab_()'\".,[]:;=+-*/ 0123456789osimprtxec", max_size=40))
def test_arbitrary_text_is_parsed_or_refused_cleanly(text):
    """``graphc grad TEXT``: derivatives on stdout (exit 0) or one error line on stderr
    (exit 1 or 2), never a traceback, never a file written; text the parser refuses is a
    usage error (2)."""
    try:
        parse_formula(text)
        parsed = True
    except FormulaError:
        parsed = False
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as d, contextlib.chdir(d), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["grad", text])
        assert os.listdir(d) == []
    out, err = out.getvalue(), err.getvalue()
    assert code in (0, 1, 2) and "Traceback" not in out + err
    if code == 0:
        assert parsed and err == "" and out.strip()
        assert all(line.startswith("d/d") and " = " in line for line in out.splitlines()), out
    else:
        assert out == "" and err.count("\n") == 1 and err.startswith("graphc: error:"), err
    if not parsed:
        assert code == 2, (text, err)


@pytest.mark.parametrize("formula, fragment", [
    ("", "empty formula"),
    ("3*a**", "syntax error"),
    ("foo(x)", "cannot call 'foo'"),
    ("exp(x, y)", "takes 1 argument"),
    ("x[0]", "Subscript"),
    ("'text'", "str literal"),
    ("9**9**9", "too large"),
    ("x ** 100000", "too large"),
    ("_secret + 1", "not allowed"),
    ("exp + 1", "is a function"),
    ("a < b", "Compare"),
    ("1j * x", "complex literal"),
    ("x" * 3000, "characters long"),
])
def test_bad_formulas_exit_2_with_one_line(formula, fragment, capsys):
    code, out, err = run(capsys, "grad", formula)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and fragment in err


def test_bad_wrt_and_at(capsys):
    assert run(capsys, "grad", "x*y", "--wrt", "z")[0] == 2
    assert run(capsys, "grad", "x*y", "--at", "x=1")[0] == 2
    assert run(capsys, "grad", "x*y", "--at", "x=1", "y=oops")[0] == 2
    code, _, err = run(capsys, "grad", "2 + 3")
    assert code == 2 and "no variables" in err


# ---- help, usage ------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--help"], ["grad", "--help"], ["show", "--help"],
                                  ["export", "--help"], ["bench", "--help"]])
def test_help_on_every_command(argv, capsys):
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "usage: graphc" in out


def test_usage_errors_are_one_line(capsys):
    for argv in (["frobnicate"], ["grad"], ["export", "x.py"],
                 ["show", "--opt-level", "9", "a.py"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and err.startswith("graphc: error:")


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and gc.__version__ in out


# ---- show / export: scripts -----------------------------------------------------------------

SCRIPT = '''
import graphc as gc

def build():
    x = gc.placeholder("x", (None, 3))
    w = gc.parameter("w", [[1., 2., 3.]])
    loss = gc.sum(gc.tanh(x * w))
    return {"outputs": [loss], "inputs": [x], "updates": {w: w - 0.1 * gc.grad(loss, w)}}

if __name__ == "__main__":
    raise SystemExit("the main block must not run under graphc show")
'''


@pytest.fixture
def script(tmp_path):
    p = tmp_path / "model.py"
    p.write_text(SCRIPT)
    return p


def expected_show(source: str, opt_level: int = 2) -> tuple[str, str, list]:
    """What ``graphc show`` must print for ``source``: gc.show of the raw graph, gc.show of
    the pipeline's result, and the pipeline's (pass, nodes before, nodes after) rows."""
    from graphc.passes import pipeline
    ns: dict = {}
    exec(compile(source, "model", "exec"), ns)
    built = ns["build"]()
    roots = built["outputs"] + list(built["updates"].values())
    result = pipeline.run_pipeline(roots, opt_level=opt_level)
    rows = [[s.name, str(s.nodes_before), str(s.nodes_after)] for s in result.stats]
    return gc.show(roots, title="raw"), gc.show(result.outputs, title="optimized"), rows


def split_show_output(out: str) -> tuple[str, str, list]:
    """(raw listing, optimized listing, stats rows without the time column)."""
    raw, optimized, table = out.rstrip("\n").split("\n\n")
    header, *rows = table.splitlines()
    assert header.split() == ["pass", "nodes", "before", "nodes", "after", "ms"], header
    return raw, optimized, [row.split()[:3] for row in rows]


def test_show_prints_raw_and_optimized_with_stats(script, capsys):
    code, out, err = run(capsys, "show", str(script))
    assert code == 0, err
    # the whole output: gc.show of the raw and of the optimized graph, then the pass table
    assert split_show_output(out) == expected_show(SCRIPT)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_show_opt_level(script, capsys, level):
    code, out, err = run(capsys, "show", str(script), "--opt-level", str(level))
    assert code == 0, err
    assert split_show_output(out) == expected_show(SCRIPT, opt_level=level)


def test_show_module_level_outputs(tmp_path, capsys):
    p = tmp_path / "plain.py"
    p.write_text("import graphc as gc\nx = gc.placeholder('x', (2,))\noutputs = gc.exp(x)\n")
    code, out, _ = run(capsys, "show", str(p), "--raw")
    assert code == 0 and "exp(x)" in out and "optimized" not in out


@pytest.mark.parametrize("content, code_expected, fragment", [
    (None, 2, "no such file"),
    ("def build(:\n", 2, "syntax error"),
    ("x = 1\n", 2, "neither build() nor"),
    ("def build():\n    return 42\n", 2, "must be a Tensor"),
    ("outputs = []\n", 2, "must be a Tensor"),
    ("def build():\n    return {'inputs': []}\n", 2, "without an 'outputs'"),
    ("import graphc as gc\ndef build():\n    return gc.placeholder('x', (2,)) + "
     "gc.placeholder('y', (3,))\n", 1, "do not broadcast"),
    ("raise RuntimeError('boom')\n", 1, "boom"),
    ("import sys\nsys.exit(3)\n", 1, "exited while building"),
])
def test_bad_scripts(tmp_path, capsys, content, code_expected, fragment):
    p = tmp_path / "bad.py"
    if content is not None:
        p.write_text(content)
    for cmd in (["show", str(p)], ["export", str(p), "-o", str(tmp_path / "out")]):
        code, out, err = run(capsys, *cmd)
        assert code == code_expected and fragment in err and err.count("\n") == 1


def test_not_a_python_file(tmp_path, capsys):
    p = tmp_path / "model.txt"
    p.write_text("x")
    code, _, err = run(capsys, "show", str(p))
    assert code == 2 and "not a Python file" in err




def test_export_numpy_module_runs_like_the_function(script, tmp_path, capsys):
    out_dir = tmp_path / "art"
    code, out, err = run(capsys, "export", str(script), "--backend", "numpy", "-o", str(out_dir))
    assert code == 0, err
    files = [q for q in out_dir.rglob("*") if q.is_file()]
    assert files and "wrote" in out
    py = [q for q in files if q.suffix == ".py"]
    assert py
    # the artefact is standalone: load it in a fresh process without graphc on the path
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    prog = (f"import sys, numpy as np; sys.modules['graphc'] = None;"
            f"sys.path.insert(0, {str(py[0].parent)!r});"
            f"import importlib; m = importlib.import_module({py[0].stem!r});"
            f"f = m.load(); x = np.load({str(tmp_path / 'x.npy')!r});"
            f"print(repr(float(f(x))), repr(float(f(x))))")
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    first, second = (float(v) for v in res.stdout.split())
    # oracle: the same step by hand in NumPy (loss, then the update w -= 0.1 * dloss/dw)
    w = np.array([[1., 2., 3.]])
    xd = x.astype(np.float64)
    assert abs(first - np.sum(np.tanh(xd * w))) < 1e-4
    w = w - 0.1 * np.sum(xd * (1 - np.tanh(xd * w) ** 2), axis=0, keepdims=True)
    assert abs(second - np.sum(np.tanh(xd * w))) < 1e-4


def test_export_bad_backend_is_usage_error(script, tmp_path, capsys):
    code, _, err = run(capsys, "export", str(script), "--backend", "fortran", "-o", str(tmp_path))
    assert code == 2 and "invalid choice" in err


# ---- bench -----------------------------------------------------------------------------------

def test_bench_runs_the_harness_from_a_checkout(tmp_path):
    res = run_process("bench", "--", "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "usage" in res.stdout.lower()


def test_formula_function_table_uses_graphc_api():
    # every whitelisted function builds a graphc node whose formula SymPy can read
    x, y = sympy.symbols("x y", real=True)
    for name, (arity, _) in FUNCTIONS.items():
        f = parse_formula(f"{name}({', '.join(['x', 'y'][:arity])})")
        assert isinstance(f.output, gc.Tensor)
        assert gc.expr(f.output).free_symbols <= {x, y}


def test_export_backend_failure_is_exit_1(script, tmp_path, capsys, monkeypatch):
    def broken(*a, **k):
        raise gc.CompileError("cc: not found\nsecond line")
    monkeypatch.setattr(gc, "compile", broken)
    code, out, err = run(capsys, "export", str(script), "--backend", "c", "-o", str(tmp_path))
    assert code == 1 and err.count("\n") == 1 and "cc: not found" in err


@pytest.mark.parametrize("example", ["springs.py", "rosenbrock.py", "logistic_newton.py",
                                     "export_walkthrough.py"])
def test_show_on_the_examples(example, capsys, monkeypatch):
    monkeypatch.setenv("GRAPHC_EXAMPLE_SMALL", "1")
    code, out, err = run(capsys, "show", str(ROOT / "examples" / example))
    assert code == 0, err
    raw, optimized = out.split("optimized graph(")
    count = lambda text: sum(1 for line in text.splitlines() if " = " in line)  # noqa: E731
    assert 0 < count(optimized) <= count(raw)
    stats = [line.split() for line in out.splitlines()[-20:] if line[:1].isalpha()
             and len(line.split()) == 4 and line.split()[1].isdigit()]
    assert stats and int(stats[0][1]) >= int(stats[-1][2])


def test_bench_tiny_run_writes_only_its_section(tmp_path):
    results = tmp_path / "RESULTS.md"
    other = "<!-- other:begin -->\nkeep me\n<!-- other:end -->"
    results.write_text(f"# results\n\n{other}\n\n<!-- run:begin -->\nold\n<!-- run:end -->\n")
    res = run_process("bench", "--cases", "tutorial,chain_bwd,softmax,compile",
                      "--impls", "graphc-numpy,numpy", "--chain", "1000", "--softmax", "8",
                      "--repeat", "1", "--compile-nodes", "10", "--output", str(results),
                      cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    text = results.read_text()
    assert other in text and "old" not in text
    section = text.split("<!-- run:begin -->")[1].split("<!-- run:end -->")[0]
    # every measured row passed its correctness check against the float64 reference
    rows = [line for line in section.splitlines() if line.startswith("| graphc-numpy")
            or line.startswith("| numpy")]
    assert len(rows) >= 6 and all("WRONG" not in r and "failed" not in r for r in rows)
    assert "| ok |" in section and "N = 10" in section


def test_show_dump_after_a_pass(script, capsys):
    code, out, _ = run(capsys, "show", str(script), "--dump", "simplify")
    assert code == 0 and "after simplify graph(" in out and "after fold" not in out
    code, out, _ = run(capsys, "show", str(script), "--dump", "all")
    assert code == 0 and "after fold graph(" in out and "after dce graph(" in out
    code, out, err = run(capsys, "show", str(script), "--dump", "nope")
    assert code == 2 and out == "" and "no pass named 'nope'" in err


@pytest.mark.parametrize("backend, extra, expected", [
    ("c", [], {"Makefile", "model.c", "model.h"}),
    ("cuda", ["--device", "emulate"], {"Makefile", "model.cu", "model.h"}),
])
def test_export_native_folders(script, tmp_path, capsys, backend, extra, expected):
    import shutil
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    out_dir = tmp_path / backend
    code, out, err = run(capsys, "export", str(script), "--backend", backend, *extra,
                         "-o", str(out_dir))
    assert code == 0, err
    names = {q.name for q in out_dir.iterdir()}
    assert expected <= names
    # every file the command says it wrote exists
    listed = [line.strip() for line in out.splitlines()[1:]]
    assert listed and all(Path(p).is_file() for p in listed)


def test_formulas_that_look_like_options(capsys):
    assert derivatives(run(capsys, "grad", "-x*y", "--wrt", "y")[1]) == {"y": -sympy.Symbol("x")}
    assert "d/dx = 1" in run(capsys, "grad", "--", "--x")[1]
    assert run(capsys, "grad", "--wrt", "x")[0] == 2  # an option, not a formula
