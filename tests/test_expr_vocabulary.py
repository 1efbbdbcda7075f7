"""gc.expr speaks the user's vocabulary: sigmoid, softplus, relu and erf's constants stay
named, derivatives read like a textbook (``sigmoid(z) - y``), and every form is still the
right function: equal to ``sympy.diff`` of the elementary formula (``simplify(a - b) == 0``),
no longer than SymPy's own simplified derivative, and numerically equal to graphc's
interpreter."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.printing.functions import elementary, exact_constant, sigmoid, softplus

Z, Y, X, A, B = sympy.symbols("z y x a b", real=True)
SIG = lambda u: 1 / (1 + sympy.exp(-u))  # noqa: E731 (the elementary oracle)


def _cases():
    """name -> (graphc formula, elementary SymPy formula, variable names, wrt, expected
    simplified derivative in the user's words or None)."""
    return {
        "sigmoid_cross_entropy": (
            lambda z, y: -(y * gc.log(gc.sigmoid(z)) + (1 - y) * gc.log(1 - gc.sigmoid(z))),
            -(Y * sympy.log(SIG(Z)) + (1 - Y) * sympy.log(1 - SIG(Z))), "zy", 0,
            sigmoid(Z) - Y),
        "softplus": (lambda x: gc.softplus(x), sympy.log(1 + sympy.exp(X)), "x", 0, sigmoid(X)),
        "swish": (lambda x: x * gc.sigmoid(x), X * SIG(X), "x", 0, None),
        "logsumexp2": (lambda a, b: gc.log(gc.exp(a) + gc.exp(b)),
                       sympy.log(sympy.exp(A) + sympy.exp(B)), "ab", 0,
                       sympy.exp(A) / (sympy.exp(A) + sympy.exp(B))),
        "stable_logsumexp2": (
            lambda a, b: (lambda m: gc.log(gc.exp(a - m) + gc.exp(b - m)) + m)(
                gc.stop_gradient(gc.maximum(a, b))),
            sympy.log(sympy.exp(A) + sympy.exp(B)), "ab", 1,
            sympy.exp(B) / (sympy.exp(A) + sympy.exp(B))),
        "sine_addition_identity": (
            lambda x, y: gc.sin(x + y) - gc.sin(x) * gc.cos(y) - gc.cos(x) * gc.sin(y),
            sympy.sin(X + Y) - sympy.sin(X) * sympy.cos(Y) - sympy.cos(X) * sympy.sin(Y),
            "xy", 0, sympy.Integer(0)),
    }


CASES = _cases()


def _derivative(name):
    fn, elem, names, wrt, _ = CASES[name]
    variables = [gc.placeholder(v, (), "float64") for v in names]
    syms = [sympy.Symbol(v, real=True) for v in names]
    g = gc.grad(fn(*variables), variables[wrt])
    return variables, syms, g, sympy.diff(elem, syms[wrt])


@pytest.mark.parametrize("name", sorted(CASES))
def test_simplified_derivative_equals_sympy_diff_and_is_no_longer(name):
    _, syms, g, want = _derivative(name)
    got = gc.expr(g, simplify=True)
    assert sympy.simplify(elementary(got) - want) == 0, (got, want)
    assert sympy.count_ops(got) <= sympy.count_ops(sympy.simplify(want)), (got, want)
    expected = CASES[name][4]
    if expected is not None:
        assert sympy.simplify(got - expected) == 0 and got.free_symbols <= set(syms), got


@pytest.mark.parametrize("name", sorted(CASES))
def test_formula_evaluates_like_the_graph(name):
    variables, syms, g, want = _derivative(name)
    got = gc.expr(g)
    numeric = sympy.lambdify(syms, got, "numpy")
    rng = np.random.default_rng(len(name))
    for point in rng.uniform(-3, 3, (5, len(syms))):
        feeds = dict(zip(variables, point))
        at = dict(zip(syms, point))
        value = float(gc.evaluate(g, feeds))
        assert float(numeric(*point)) == pytest.approx(value, rel=1e-12, abs=1e-12)
        assert float(got.evalf(subs=at)) == pytest.approx(value, rel=1e-12, abs=1e-12)
        assert float(want.evalf(subs=at)) == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_sigmoid_cross_entropy_gradient_reads_sigmoid_minus_label():
    _, _, g, _ = _derivative("sigmoid_cross_entropy")
    assert str(gc.expr(g, simplify=True)) == "-y + sigmoid(z)"


def test_identically_zero_derivative_prints_0():
    _, _, g, _ = _derivative("sine_addition_identity")
    assert gc.expr(g, simplify=True) == 0
    assert gc.expr(g) != 0  # unsimplified, it is the raw chain rule


def test_named_functions_differentiate_in_their_own_words():
    assert sympy.diff(sigmoid(X), X) == sigmoid(X) * (1 - sigmoid(X))
    assert sympy.diff(softplus(X), X) == sigmoid(X)
    for f, elem in [(sigmoid, SIG(X)), (softplus, sympy.log(1 + sympy.exp(X)))]:
        assert sympy.simplify(f(X).rewrite(sympy.exp) - elem) == 0
        assert sympy.simplify(elementary(sympy.diff(f(X), X)) - sympy.diff(elem, X)) == 0
        for v in (-30.0, -1.5, 0.0, 0.7, 40.0):
            want = float(elem.subs(X, v).evalf(30))
            assert float(f(X).evalf(subs={X: v})) == pytest.approx(want, rel=1e-14)
            assert float(sympy.lambdify([X], f(X), "numpy")(v)) == pytest.approx(want, rel=1e-14)


def test_relu_is_max_and_its_derivative_heaviside():
    x = gc.placeholder("x", (), "float64")
    assert gc.expr(gc.relu(x)) == sympy.Max(X, 0)
    g = gc.grad(gc.relu(x), x)
    assert gc.expr(g) == sympy.Heaviside(X, 0)
    heaviside = sympy.lambdify([X], gc.expr(g), "numpy")
    for v in (-1.0, 0.0, 2.0):  # equal at the kink too (gradient 0 at 0, as PyTorch)
        assert float(heaviside(v)) == float(gc.evaluate(g, {x: v}))


def test_other_where_stays_piecewise():
    x = gc.placeholder("x", (), "float64")
    assert isinstance(gc.expr(gc.where(x > 1, x, 0)), sympy.Piecewise)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_derivative_constant_is_exact(dtype):
    x = gc.placeholder("x", (), dtype)
    assert gc.expr(gc.grad(gc.erf(x), x)) == 2 / sympy.sqrt(sympy.pi) * sympy.exp(-X**2)
    assert gc.expr(gc.grad(gc.erfc(x), x)) == -2 / sympy.sqrt(sympy.pi) * sympy.exp(-X**2)
    assert str(gc.expr(gc.grad(gc.erf(x), x))) == "2*exp(-x**2)/sqrt(pi)"
    gelu = gc.expr(gc.gelu(x))
    assert not gelu.atoms(sympy.Float)
    exact_gelu = X / 2 * (1 + sympy.erf(X / sympy.sqrt(2)))
    assert sympy.simplify((gelu - exact_gelu).rewrite(sympy.erf)) == 0  # graphc uses erfc


def test_exact_constant_table_is_one_ulp_and_nothing_more():
    pi = sympy.pi
    for exact in (2 / sympy.sqrt(pi), 1 / sympy.sqrt(2 * pi), sympy.sqrt(2 / pi),
                  1 / sympy.sqrt(2), sympy.sqrt(2), pi, -pi, pi / 2):
        for dtype in (np.float32, np.float64):
            v = float(dtype(float(exact)))
            assert exact_constant(v, dtype) == exact
            far = float(np.nextafter(np.nextafter(dtype(v), dtype(np.inf)), dtype(np.inf)))
            assert exact_constant(far, dtype) is None  # two ulps away: not the constant
    assert exact_constant(0.7, np.float64) is None and exact_constant(3.14, np.float64) is None


def test_plain_numbers_keep_their_forms():
    x = gc.placeholder("x", (), "float64")
    assert gc.expr(0.5 * x) == X / 2
    assert gc.expr(0.044715 * x).atoms(sympy.Float)  # no simple fraction or constant
    assert gc.expr(gc.constant(np.pi, "float64") * x) == sympy.pi * X  # not 355/113
