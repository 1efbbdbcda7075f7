"""The user's functions as named SymPy functions, so formulas read in the user's words.

``sigmoid`` and ``softplus`` stay named (``sigmoid(z) - y``, not a tower of ``exp``), and
their derivatives are written in the same vocabulary (``sigmoid' = sigmoid*(1 - sigmoid)``,
``softplus' = sigmoid``), so ``sympy.diff`` and ``sympy.simplify`` keep them too. Each one
still evaluates numerically (``evalf``, ``sympy.lambdify``) and rewrites to its elementary
form with ``.rewrite(sympy.exp)``; ``elementary(e)`` does that for these functions only
(SymPy's own ``sin``, ``erf``... are left as they are).

Also here: the exact constants graphc writes as floats (``2/sqrt(pi)`` in erf's
derivative, ``1/sqrt(2)`` in gelu), recognised to one unit in the last place.

>>> import sympy
>>> z, y = sympy.symbols("z y", real=True)
>>> loss = -(y*sympy.log(sigmoid(z)) + (1 - y)*sympy.log(1 - sigmoid(z)))
>>> sympy.simplify(sympy.diff(loss, z))
-y + sigmoid(z)
>>> sympy.diff(softplus(z), z)
sigmoid(z)
>>> elementary(softplus(z))
log(exp(z) + 1)
"""
from __future__ import annotations

import numpy as np
import sympy


class NamedFunction(sympy.Function):
    """A positive function of one real argument, named in formulas; a subclass gives its
    ``fdiff``, ``_eval_rewrite_as_exp``, ``_imp_`` (NumPy, for ``lambdify``) and
    ``latex_name``; numbers come from the elementary form."""

    latex_name = ""

    def _eval_evalf(self, prec):
        return self.rewrite(sympy.exp)._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return True if self.args[0].is_real else None

    def _latex(self, printer, exp=None):
        power = f"^{{{exp}}}" if exp is not None else ""   # sigma^{2}(x) for sigma(x)**2
        return rf"{self.latex_name}{power}\left({printer._print(self.args[0])}\right)"


class sigmoid(NamedFunction):  # noqa: N801 (printed name: lower case, as SymPy's erf)
    """The logistic function ``1/(1 + exp(-x))``, named.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> sympy.diff(sigmoid(x), x), sigmoid(0), sigmoid(x).rewrite(sympy.exp)
    ((1 - sigmoid(x))*sigmoid(x), 1/2, 1/(1 + exp(-x)))
    >>> print(sympy.latex(sigmoid(x)**2))
    \\sigma^{2}\\left(x\\right)
    """

    latex_name = r"\sigma"
    # NumPy arrays and plain floats alike, without overflow warnings for large |x|
    _imp_ = staticmethod(lambda x: 0.5 * (1 + np.tanh(0.5 * np.asarray(x, dtype=float))))

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sympy.S.Half
        return None

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))


class softplus(NamedFunction):  # noqa: N801
    """``log(1 + exp(x))``, named; its derivative is ``sigmoid(x)``.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> sympy.diff(softplus(x), x), softplus(x).rewrite(sympy.exp)
    (sigmoid(x), log(exp(x) + 1))
    """

    latex_name = r"\operatorname{softplus}"
    _imp_ = staticmethod(lambda x: np.logaddexp(0.0, x))

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sympy.log(1 + sympy.exp(x))


NAMED_FUNCTIONS = (sigmoid, softplus)

# graphc op -> named function; every other op keeps its declared SymPy form
NAMED_OPS = {"sigmoid": sigmoid, "softplus": softplus}


def elementary(e):
    """``e`` with the named functions rewritten to ``exp``/``log`` (nothing else changes).

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> elementary(sigmoid(x) + sympy.sin(x))
    sin(x) + 1/(1 + exp(-x))
    """
    return e.rewrite(list(NAMED_FUNCTIONS), sympy.exp)


def relu_or_step(condition, if_true, if_false):
    """``where(u > 0, u, 0)`` as ``Max(u, 0)`` (relu) and ``where(u > 0, 1, 0)`` as
    ``Heaviside(u, 0)`` (relu's derivative), exactly equal everywhere, ``u = 0``
    included (``>=`` gives ``Heaviside(u, 1)``); None for any other ``where``.

    >>> import sympy
    >>> u = sympy.Symbol("u", real=True)
    >>> relu_or_step(u > 0, u, 0), relu_or_step(u >= 0, 1, 0), relu_or_step(u > 1, u, 0)
    (Max(0, u), Heaviside(u, 1), None)
    """
    if isinstance(condition, (sympy.StrictGreaterThan, sympy.GreaterThan)) \
            and condition.rhs == 0 and if_false == 0:
        u = condition.lhs
        if if_true == u:
            return sympy.Max(u, 0)
        if if_true == 1:
            return sympy.Heaviside(u, 0 if condition.rel_op == ">" else 1)
    return None


# (value, exact form): the irrational constants graphc's rules write as floats
_EXACT_CONSTANTS = tuple(
    (float(c), c) for c in (2 / sympy.sqrt(sympy.pi), 1 / sympy.sqrt(2 * sympy.pi),
                            sympy.sqrt(2 / sympy.pi), 1 / sympy.sqrt(2), sympy.sqrt(2),
                            sympy.pi, 1 / sympy.pi, sympy.pi / 2,
                            sympy.sqrt(sympy.pi) / 2))   # erfinv's derivative


def exact_constant(value: float, dtype) -> sympy.Expr | None:
    """The exact form of ``value`` when it is ``±k*c`` for ``c`` in a small table of
    constants (``2/sqrt(pi)``, ``1/sqrt(2*pi)``, ``sqrt(2/pi)``, ``1/sqrt(2)``,
    ``sqrt(2)``, ``pi``...) and ``k`` in ``1, 2, 1/2``, to one unit in the last place of
    ``dtype``; else None.

    >>> import numpy as np
    >>> exact_constant(1.1283791670955126, np.float64), exact_constant(0.7, np.float64)
    (2/sqrt(pi), None)
    >>> exact_constant(float(np.float32(-0.70710677)), np.float32)
    -sqrt(2)/2
    """
    ulp = float(np.spacing(np.abs(np.dtype(dtype).type(value))))
    for approx, exact in _EXACT_CONSTANTS:
        for k in (1, 2, sympy.S.Half):
            for sign in (1, -1):
                if abs(value - sign * float(k) * approx) <= ulp:
                    return sign * k * exact
    return None
