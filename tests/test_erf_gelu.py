"""erf, erfc (primitives) and gelu (a composite) end to end: values and gradients on every
backend against independent oracles, and their formulas in gc.expr, gc.latex and the CLI.

Oracles: Python's ``math.erf``/``math.erfc`` (libm) for values, the closed-form
derivatives and float64 finite differences for gradients, and torch in float64 where it
is installed (it is not a test dependency; the other oracles cover the same code).
"""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import sympy

import graphc as gc
from helpers_backends import BACKEND_IDS, BACKENDS

# every value/gradient case on numpy and c; under the CUDA emulation (a C++ build per case)
# only with -m slow: the backend suite runs erf and erfc there, and gelu is made of them
EACH = pytest.mark.parametrize("backend", [
    pytest.param(b, id=i, marks=[pytest.mark.slow] if b[0] == "cuda" else [])
    for b, i in zip(BACKENDS, BACKEND_IDS)])

X = np.concatenate([np.linspace(-6, 6, 97), [-30.0, -0.0, 1e-8, 27.0]])
SQRT2 = math.sqrt(2.0)


def _gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * math.erfc(-x / SQRT2)


def _gelu_grad(x, approximate):
    if approximate:
        k = math.sqrt(2 / math.pi)
        t = math.tanh(k * (x + 0.044715 * x ** 3))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    return 0.5 * math.erfc(-x / SQRT2) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


CASES = {  # name -> (graph builder, value oracle, derivative oracle)
    "erf": (gc.erf, math.erf, lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x)),
    "erfc": (gc.erfc, math.erfc, lambda x: -2 / math.sqrt(math.pi) * math.exp(-x * x)),
    "gelu": (gc.gelu, lambda x: _gelu(x, False), lambda x: _gelu_grad(x, False)),
    "gelu_tanh": (lambda t: gc.nn.gelu(t, approximate="tanh"), lambda x: _gelu(x, True),
                  lambda x: _gelu_grad(x, True)),
}


# (rtol, atol) in float64. erf/erfc: a few ulp. Exact gelu composes erfc(-x/sqrt 2), whose
# relative condition number 2x^2 magnifies the rounding of -x/sqrt 2 (about 900x at x=-30).
# The tanh form is 1 + tanh(...) near -1 for negative x: the oracle and graphc cancel the
# same digits with different roundings, so it is compared to a few ulp of |x|.
TOLERANCE_F64 = {"erf": (3.2e-15, 1e-300), "erfc": (3.2e-15, 1e-300),
                 "gelu": (5e-13, 1e-300), "gelu_tanh": (1e-13, 1e-14)}


@pytest.fixture(scope="module")
def compiled():
    """One compiled (values, gradient) pair per (backend, case, dtype), shared by tests."""
    cache = {}

    def get(backend, case, dtype):
        key = (backend[0], tuple(backend[1].items()), case, dtype)
        if key not in cache:
            x = gc.placeholder("x", (None,), dtype)
            y = CASES[case][0](x)
            cache[key] = gc.compile([y, gc.grad(gc.sum(y), x)], inputs=[x],
                                    backend=backend[0], **backend[1])
        return cache[key]
    return get


@EACH
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_gradient_float64(compiled, backend, case):
    _, value, derivative = CASES[case]
    y, g = compiled(backend, case, "float64")(X)
    want_y = np.array([value(v) for v in X])
    want_g = np.array([derivative(v) for v in X])
    rtol, atol = TOLERANCE_F64[case]
    np.testing.assert_allclose(y, want_y, rtol=rtol, atol=atol)
    np.testing.assert_allclose(g, want_g, rtol=max(rtol, 1e-13), atol=atol)
    assert y.dtype == g.dtype == np.float64
    if case == "erf":
        negative_zero = np.flatnonzero((X == 0) & np.signbit(X))
        assert np.signbit(y[negative_zero]).all()  # erf(-0) is -0


@EACH
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_gradient_float32(compiled, backend, case):
    _, value, derivative = CASES[case]
    x32 = X[np.abs(X) < 10].astype(np.float32)
    y, g = compiled(backend, case, "float32")(x32)
    assert y.dtype == g.dtype == np.float32
    # gelu: sums of O(1) terms that cancel for negative x (a few float32 ulps of |x|)
    atol = 1e-30 if case in ("erf", "erfc") else 4e-6
    np.testing.assert_allclose(y, [value(float(v)) for v in x32], rtol=2e-6, atol=atol)
    np.testing.assert_allclose(g, [derivative(float(v)) for v in x32], rtol=2e-5, atol=atol)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_matches_finite_differences(case):
    x = gc.placeholder("x", (7,), "float64")
    y = gc.sum(CASES[case][0](x) * np.arange(1.0, 8.0))
    point = np.linspace(-2.5, 2.0, 7)
    grad = gc.evaluate(gc.grad(y, x), {x: point})
    h = 1e-6
    fd = [(gc.evaluate(y, {x: point + h * e}) - gc.evaluate(y, {x: point - h * e})) / (2 * h)
          for e in np.eye(7)]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_second_derivative_matches_finite_differences(case):
    x = gc.placeholder("x", (5,), "float64")
    build = CASES[case][0]
    g = gc.grad(gc.sum(build(x)), x)
    hess_diag = gc.evaluate(gc.grad(gc.sum(g), x), {x: np.linspace(-2, 2, 5)})
    h, p = 1e-5, np.linspace(-2, 2, 5)
    fd = (gc.evaluate(g, {x: p + h}) - gc.evaluate(g, {x: p - h})) / (2 * h)
    np.testing.assert_allclose(hess_diag, fd, rtol=1e-6, atol=1e-9)


def test_against_torch_float64(compiled):
    torch = pytest.importorskip("torch", reason="torch is not installed (optional oracle; "
                                                "math.erf and finite differences cover this)")
    t = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    for case, fn in [("erf", torch.erf), ("erfc", torch.erfc),
                     ("gelu", torch.nn.functional.gelu),
                     ("gelu_tanh", lambda v: torch.nn.functional.gelu(v, approximate="tanh"))]:
        want = fn(t)
        (want_grad,) = torch.autograd.grad(want.sum(), t)
        # torch writes gelu as x/2 * (1 + erf(x/sqrt 2)), which cancels for negative x (an
        # absolute error of about one ulp of 1); graphc's erfc form does not, so the gelu
        # cases compare to that absolute accuracy (math.erfc above is the tight oracle)
        atol = {"erf": 1e-300, "erfc": 1e-300, "gelu": 4e-16, "gelu_tanh": 1e-14}[case]
        for backend in BACKENDS:
            y, g = compiled(backend, case, "float64")(X)
            np.testing.assert_allclose(y, want.detach().numpy(), rtol=1e-13, atol=atol,
                                       err_msg=f"{case} on {backend[0]}")
            np.testing.assert_allclose(g, want_grad.numpy(), rtol=1e-13, atol=atol,
                                       err_msg=f"{case} gradient on {backend[0]}")


def test_expr_is_sympys_derivative():
    x = gc.placeholder("x", (), "float64")
    s = sympy.Symbol("x", real=True)   # gc.expr's symbols are real
    for fn, sym in [(gc.erf, sympy.erf), (gc.erfc, sympy.erfc)]:
        assert gc.expr(fn(x)) == sym(s)
        # exactly SymPy's derivative: gc.expr recognises the float 2/sqrt(pi)
        assert gc.expr(gc.grad(fn(x), x)) == sympy.diff(sym(s), s)
    gelu = gc.expr(gc.gelu(x))
    exact = s / 2 * (1 + sympy.erf(s / sympy.sqrt(2)))
    for v in (-3.0, 0.5, 2.5):
        assert float(gelu.subs(s, v)) == pytest.approx(float(exact.subs(s, v)), rel=1e-14)


def test_latex_and_show_name_the_functions():
    x = gc.placeholder("x", (3,))
    assert gc.latex(gc.erf(x)) == r"\operatorname{erf}{\left(x \right)}"
    assert r"\operatorname{erfc}" in gc.latex(gc.erfc(x) * 2)
    assert str(gc.erf(x) + gc.erfc(x)) == "erf(x) + erfc(x)"


def test_cli_differentiates_erf_and_gelu():
    out = subprocess.run([sys.executable, "-m", "graphc.cli", "grad", "erf(a) + gelu(b)",
                          "--at", "a=0.5", "b=1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("d/da = ") and "exp(-a**2)" in lines[0]
    assert lines[1].startswith("d/db = ") and "erfc" in lines[1]
    numbers = [float(w) for line in lines for w in line.replace("=", " ").split()
               if w.replace(".", "", 1).replace("-", "", 1).replace("e", "", 1).isdigit()]
    assert any(v == pytest.approx(2 / math.sqrt(math.pi) * math.exp(-0.25), rel=1e-6)
               for v in numbers), out.stdout
    assert any(v == pytest.approx(_gelu_grad(1.0, False), rel=1e-6) for v in numbers), out.stdout


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(gc.UsageError, match="gelu: approximate"):
        gc.gelu(gc.placeholder("x", (2,)), approximate="fast")
