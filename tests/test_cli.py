"""The ``graphc grad`` command and the command line's usage errors (one line, exit 2),
help and safety. Derivatives printed by ``graphc grad`` are checked against ``sympy.diff``
(the oracle), values against graphc's interpreter. (``show``, ``export`` and ``bench``:
tests/test_cli_scripts.py.)
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile

import numpy as np
import pytest
import sympy
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.cli import main
from graphc.formula import FUNCTIONS, FormulaError, parse_formula

from helpers_cli import run, run_process


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
@example("sqrt((x - x))").via("a degenerate case CI found: graphc's nan is the chain rule's")
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
        mine = gc.expr(g)
        # sqrt of an expression that is identically 0 (sqrt(x - x)): the chain rule gives
        # 0.5/sqrt(0) * 0 = nan, as in torch and JAX, where SymPy simplifies first to 0
        assume(not ("sqrt" in text and mine.has(sympy.nan)))
        assert same(mine, sympy.diff(oracle, local[name]), names)


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


def test_grad_simplify_runs_sympy_simplify(capsys):
    formula = "(x**2 - 1)/(x - 1)"
    code, plain, _ = run(capsys, "grad", formula)
    assert code == 0 and plain != "d/dx = 1\n"          # graphc's own formula is not reduced
    code, simplified, _ = run(capsys, "grad", formula, "--simplify")
    assert code == 0 and simplified == "d/dx = 1\n"
    assert sympy.simplify(derivatives(plain)["x"] - 1) == 0   # ... but it is the same value
    code, latex, _ = run(capsys, "grad", formula, "--simplify", "--latex")
    assert code == 0 and latex.strip().endswith("= 1") and "partial" in latex


def test_formula_function_table_uses_graphc_api():
    # every whitelisted function builds a graphc node whose formula SymPy can read
    x, y = sympy.symbols("x y", real=True)
    for name, (arity, _) in FUNCTIONS.items():
        f = parse_formula(f"{name}({', '.join(['x', 'y'][:arity])})")
        assert isinstance(f.output, gc.Tensor)
        assert gc.expr(f.output).free_symbols <= {x, y}


def test_formulas_that_look_like_options(capsys):
    assert derivatives(run(capsys, "grad", "-x*y", "--wrt", "y")[1]) == {"y": -sympy.Symbol("x")}
    assert "d/dx = 1" in run(capsys, "grad", "--", "--x")[1]
    assert run(capsys, "grad", "--wrt", "x")[0] == 2  # an option, not a formula
