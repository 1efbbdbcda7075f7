"""Elementwise primitives as functions (``gc.exp``, ``gc.add``...), with NumPy broadcasting."""
from __future__ import annotations



from ..ir import Tensor
from .data import DEFAULT_FLOAT, apply, check_dtype, constant, lift


def _unary(name):
    def f(x):
        return apply(name, [x])
    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}``; see ``graphc.ops`` for its rules."
    return f


def _binary(name):
    def f(a, b):
        return apply(name, [a, b])
    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` with NumPy broadcasting."
    return f


neg = _unary("neg")
exp = _unary("exp")
log = _unary("log")
sin = _unary("sin")
cos = _unary("cos")
tanh = _unary("tanh")
sigmoid = _unary("sigmoid")
sqrt = _unary("sqrt")
abs = _unary("abs")
sign = _unary("sign")
log1p = _unary("log1p")
expm1 = _unary("expm1")
erf = _unary("erf")
erfc = _unary("erfc")
erfinv = _unary("erfinv")
stop_gradient = _unary("stop_gradient")

add = _binary("add")
sub = _binary("sub")
mul = _binary("mul")
pow = _binary("pow")
maximum = _binary("maximum")
minimum = _binary("minimum")
less = _binary("less")
less_equal = _binary("less_equal")
greater = _binary("greater")
greater_equal = _binary("greater_equal")
equal = _binary("equal")
not_equal = _binary("not_equal")


def div(a, b) -> Tensor:
    """True division; integer operands are promoted to float32.

    >>> import graphc as gc
    >>> gc.evaluate(gc.div(gc.constant([1, 2]), 4))
    array([0.25, 0.5 ], dtype=float32)
    """
    a, b = lift([a, b])
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        a, b = cast(a, DEFAULT_FLOAT), cast(b, DEFAULT_FLOAT)
    return apply("div", [a, b])


def where(cond, a, b) -> Tensor:
    """``a`` where ``cond`` is true, else ``b`` (NumPy broadcasting over all three).

    >>> import graphc as gc
    >>> gc.evaluate(gc.where(gc.constant([1., -2.]) > 0, 1., 0.))
    array([1., 0.], dtype=float32)
    """
    return apply("where", [cond, a, b])


def cast(x, dtype) -> Tensor:
    """Convert ``x`` to ``dtype`` (no gradient flows into integers).

    >>> import graphc as gc
    >>> gc.evaluate(gc.cast(gc.constant([1.7, -1.2]), "int32"))
    array([ 1, -1], dtype=int32)
    """
    (x,) = lift([x])
    dt = check_dtype(dtype, "cast")
    if x.dtype == dt:
        return x
    return apply("cast", [x], dtype=dt.name)



def softplus(x) -> Tensor:
    """``log(1 + exp(x))``, stable for large ``|x|``; its derivative is ``sigmoid(x)``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.softplus(gc.constant([-1000., 1000.])))
    array([   0., 1000.], dtype=float32)
    """
    return apply("softplus", [x])

def asarray(value, dtype=None) -> Tensor:
    """``value`` as a Tensor: a Tensor (of ``dtype``, if given) stays itself, data becomes a
    constant (Python floats float32, NumPy arrays keep their dtype), as ``np.asarray``.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (2,))
    >>> gc.asarray(x) is x, gc.asarray([1, 2]).dtype
    (True, dtype('int64'))
    """
    if isinstance(value, Tensor):
        return value if dtype is None else cast(value, dtype)
    return constant(value, dtype)
