"""Textbook scalar functions: gc.expr of every partial derivative equals sympy.diff of the
same formula, checked numerically at random points and symbolically (simplify(a - b) == 0)
where SymPy manages quickly; the compiled-graph values agree with both."""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.printing.functions import elementary

# One formula, two vocabularies: graphc tensors and SymPy expressions.
GC = SimpleNamespace(sin=gc.sin, cos=gc.cos, tanh=gc.tanh, exp=gc.exp, log=gc.log,
                     sqrt=gc.sqrt, sigmoid=gc.sigmoid, softplus=gc.softplus, log1p=gc.log1p,
                     expm1=gc.expm1, abs=gc.abs)
SP = SimpleNamespace(sin=sympy.sin, cos=sympy.cos, tanh=sympy.tanh, exp=sympy.exp,
                     log=sympy.log, sqrt=sympy.sqrt,
                     sigmoid=lambda x: 1 / (1 + sympy.exp(-x)),
                     softplus=lambda x: sympy.log(1 + sympy.exp(x)),
                     log1p=lambda x: sympy.log(1 + x), expm1=lambda x: sympy.exp(x) - 1,
                     abs=sympy.Abs)

# name -> (formula(m, *vars), variable names). Variables are sampled in (0.3, 2), where
# every formula is defined and smooth (log, sqrt, x**y, abs away from its kink).
TEXTBOOK = {
    "square": (lambda m, x: x**2, "x"),
    "cubic": (lambda m, x: 3 * x**3 - 2 * x + 1, "x"),
    "tutorial": (lambda m, a, b: 3 * a**3 - b**2, "ab"),
    "poly2": (lambda m, x, y: x**2 * y + y**3 - 4 * x * y, "xy"),
    "binomial": (lambda m, x, y: (x + y)**2, "xy"),
    "product3": (lambda m, x, y, z: x * y * z, "xyz"),
    "quartic": (lambda m, x: (x**2 - 1)**2, "x"),
    "sin": (lambda m, x: m.sin(x), "x"),
    "sincos": (lambda m, x, y: m.cos(x) * m.sin(y), "xy"),
    "tan": (lambda m, x: m.sin(x) / m.cos(x), "x"),
    "pythagoras": (lambda m, x: m.sin(x)**2 + m.cos(x)**2, "x"),
    "exp": (lambda m, x: m.exp(x), "x"),
    "gaussian": (lambda m, x: m.exp(-x**2 / 2), "x"),
    "log": (lambda m, x: m.log(x), "x"),
    "log_quadratic": (lambda m, x: m.log(x**2 + 1), "x"),
    "xlogx": (lambda m, x: x * m.log(x), "x"),
    "reciprocal": (lambda m, x: 1 / x, "x"),
    "rational": (lambda m, x: x / (1 + x**2), "x"),
    "rational2": (lambda m, x: (x**2 - 1) / (x**2 + 1), "x"),
    "inverse_square": (lambda m, x, y: 1 / (1 + x**2 + y**2), "xy"),
    "sigmoid": (lambda m, x: m.sigmoid(x), "x"),
    "softplus": (lambda m, x: m.softplus(x), "x"),
    "tanh": (lambda m, x: m.tanh(x), "x"),
    "neuron": (lambda m, x, w, b: m.sigmoid(w * x + b), "xwb"),
    "tanh_unit": (lambda m, x, y, z: m.tanh(x * y + z), "xyz"),
    "rosenbrock": (lambda m, x, y: (1 - x)**2 + 100 * (y - x**2)**2, "xy"),
    "himmelblau": (lambda m, x, y: (x**2 + y - 11)**2 + (x + y**2 - 7)**2, "xy"),
    "norm": (lambda m, x, y: m.sqrt(x**2 + y**2), "xy"),
    "sin_exp": (lambda m, x: m.sin(m.exp(x)), "x"),
    "exp_sincos": (lambda m, x, y: m.exp(m.sin(x) * m.cos(y)), "xy"),
    "log_sigmoid": (lambda m, x: m.log(m.sigmoid(x)), "x"),
    "power": (lambda m, x, y: x**y, "xy"),
    "exponential_base": (lambda m, x: 2**x, "x"),
    "sqrt_power": (lambda m, x, y: (x**3 + y)**0.5, "xy"),
    "squared_error": (lambda m, x, y: (x - y)**2 / 2, "xy"),
    "softmax2": (lambda m, x, y: m.exp(x) / (m.exp(x) + m.exp(y)), "xy"),
    "logsumexp2": (lambda m, x, y: m.log(m.exp(x) + m.exp(y)), "xy"),
    "damped": (lambda m, x, y, z: x * m.exp(-y) * m.cos(z), "xyz"),
    "arc_length": (lambda m, x: m.sqrt(1 + m.sin(x)**2), "x"),
    "nested": (lambda m, x, y: m.log(1 + m.exp(m.sin(x * y))), "xy"),
    "log1p_expm1": (lambda m, x: m.log1p(x**2) + m.expm1(x), "x"),
    "abs": (lambda m, x, y: m.abs(x - 3) * y, "xy"),
    "quotient_rule": (lambda m, x, y: m.sin(x) * y / (m.cos(y) + 2), "xy"),
}

SIMPLIFY_BUDGET_S = 5.0  # symbolic equality is checked where SymPy manages this quickly


def _partials(name):
    formula, names = TEXTBOOK[name]
    rng = np.random.default_rng(len(name))
    params = [gc.parameter(v, rng.uniform(0.3, 2.0), dtype="float64") for v in names]
    syms = [sympy.Symbol(v, real=True) for v in names]
    y = formula(GC, *params)
    grads = gc.grad(y, params)
    f_sym = formula(SP, *syms)
    return params, syms, grads, f_sym


def test_there_are_at_least_30_textbook_functions():
    assert len(TEXTBOOK) >= 30


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_expr_of_gradient_equals_sympy_diff(name):
    params, syms, grads, f_sym = _partials(name)
    rng = np.random.default_rng(7)
    points = rng.uniform(0.3, 2.0, (6, len(syms)))
    for s, g in zip(syms, grads):
        got = gc.expr(g)
        want = sympy.diff(f_sym, s)
        assert got.free_symbols <= set(syms), got
        f_got = sympy.lambdify(syms, got, "numpy")
        f_want = sympy.lambdify(syms, want, "numpy")
        for pt in points:
            a, b = float(f_got(*pt)), float(f_want(*pt))
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), (name, s, got, want, pt)
        # the gradient graph itself evaluates to the same numbers
        for pt in points[:2]:
            for q, v in zip(params, pt):
                q.value = np.float64(v)
            assert float(gc.evaluate(g)) == pytest.approx(float(f_want(*pt)), rel=1e-9, abs=1e-12)


# softplus is also checked on each side of 0 (see below).
NO_SIMPLIFY = {"softplus"}


@pytest.mark.parametrize("name", sorted(set(TEXTBOOK) - NO_SIMPLIFY))
def test_expr_of_gradient_simplifies_to_sympy_diff(name):
    _, syms, grads, f_sym = _partials(name)
    for s, g in zip(syms, grads):
        start = time.perf_counter()
        # gc.expr keeps sigmoid/softplus named: compare their elementary forms
        diff = sympy.simplify(elementary(gc.expr(g)) - sympy.diff(f_sym, s))
        assert diff == 0, (name, s, gc.expr(g), sympy.diff(f_sym, s))
        assert time.perf_counter() - start < 60


@pytest.mark.parametrize("sign", ["positive", "negative"])
def test_softplus_gradient_simplifies_on_each_side_of_the_kink(sign):
    _, (x,), (g,), f_sym = _partials("softplus")
    side = sympy.Symbol("x", **{sign: True})
    assert sympy.simplify((elementary(gc.expr(g)) - sympy.diff(f_sym, x)).subs(x, side)) == 0


def test_tutorial_formulas_are_exactly_simplified():
    _, (a, b), (da, db), _ = _partials("tutorial")
    assert gc.expr(da) == 9 * a**2 and gc.expr(db) == -2 * b
    assert str(gc.expr(da)) == "9*a**2" and str(gc.expr(db)) == "-2*b"


def test_second_derivative_formulas():
    """expr works on gradients of gradients too (Rosenbrock Hessian entries)."""
    params, syms, grads, f_sym = _partials("rosenbrock")
    x, y = params
    sx, sy = syms
    hxx, hxy = gc.grad(grads[0], [x, y])
    assert sympy.simplify(elementary(gc.expr(hxx)) - sympy.diff(f_sym, sx, sx)) == 0
    assert sympy.simplify(elementary(gc.expr(hxy)) - sympy.diff(f_sym, sx, sy)) == 0
