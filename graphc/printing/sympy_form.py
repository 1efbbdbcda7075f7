"""``expr(t)``: the SymPy expression of an elementwise graph (placeholders and parameters
become symbols of their names)."""
from __future__ import annotations

import numbers
from fractions import Fraction

import numpy as np

from ..errors import GraphcError
from ..ir import Tensor, topo_order
from ..ops import OPS
from .functions import NAMED_OPS, exact_constant, relu_or_step
from .naming import Namer, dim_fn, dim_texts, shape_text


def _sympy_number(v, dtype):
    """A constant element as SymPy writes it: an integer, a fraction whose float is the
    value (in the constant's dtype), a known irrational (``2/sqrt(pi)``), else a Float."""
    import sympy

    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, (bool, np.bool_)):
        return sympy.true if v else sympy.false
    if isinstance(v, numbers.Integral):
        return sympy.Integer(int(v))
    f = float(v)
    if np.isfinite(f):
        if f.is_integer():
            return sympy.Integer(int(f))
        frac = Fraction(f).limit_denominator(1000)
        if np.dtype(dtype).type(frac.numerator / frac.denominator) == np.dtype(dtype).type(f):
            return sympy.Rational(frac.numerator, frac.denominator)
        exact = exact_constant(f, dtype)
        if exact is not None:
            return exact
        if abs(float(frac) - f) <= 1e-7 * abs(f):
            return sympy.Rational(frac.numerator, frac.denominator)
    return sympy.Float(f)


_TRANSPARENT = ("reshape", "transpose", "broadcast_to", "stop_gradient")


def expr(t: Tensor, simplify: bool = False):
    """The SymPy expression of an elementwise graph, in the user's vocabulary.

    Placeholders and parameters become SymPy symbols of their names; constants whose
    elements are all equal become numbers; reshapes, transposes and broadcasts are
    transparent (they do not change an element's formula); a run-time size is a
    positive symbol named like ``x.shape[0]``. Reductions and matmul have no
    elementwise formula: use ``gc.show`` or ``str(t)`` for those.

    ``sigmoid`` and ``softplus`` stay named SymPy functions (``graphc.printing.functions``;
    ``functions.elementary(e)`` rewrites them to ``exp``), relu reads ``Max(0, x)`` and its
    derivative ``Heaviside(x, 0)``, and ``2/sqrt(pi)``-like constants are exact. With
    ``simplify=True`` the result is ``sympy.simplify``'d (an identically zero derivative
    prints ``0``).

    >>> import graphc as gc
    >>> b = gc.parameter("b", [7., 5.])
    >>> gc.expr(gc.grad(gc.sum(-b**2), b))
    -2*b
    >>> x = gc.placeholder("x", (None,))
    >>> gc.expr(gc.grad(gc.mean(x * x), x))
    2*x/x.shape[0]
    >>> z, y = gc.placeholder("z", ()), gc.placeholder("y", ())
    >>> loss = -(y * gc.log(gc.sigmoid(z)) + (1 - y) * gc.log(1 - gc.sigmoid(z)))
    >>> gc.expr(gc.grad(loss, z), simplify=True)
    -y + sigmoid(z)
    """
    import sympy

    if not isinstance(t, Tensor):
        raise GraphcError(f"expr: expected a Tensor, got {type(t).__name__}")
    order = topo_order([t])
    namer = Namer(order)
    dims = dim_fn(dim_texts(order, namer))
    env = {}
    for n in order:
        op = OPS[n.op]
        if op.fed:
            env[id(n)] = sympy.Symbol(namer(n), real=True)
        elif n.op == "constant":
            arr = n.attr("value").array
            flat = arr.reshape(-1)
            if flat.size and np.all(flat == flat[0]):
                env[id(n)] = _sympy_number(flat[0], arr.dtype)
            else:
                env[id(n)] = sympy.Symbol(f"const{shape_text(n.dims)}")
        elif n.op in _TRANSPARENT:
            env[id(n)] = env[id(n.inputs[0])]
        elif n.op == "cast":
            assert op.sympy is not None  # cast declares its SymPy form
            env[id(n)] = op.sympy(env[id(n.inputs[0])], n.attr("dtype"))
        elif n.op == "shape_size":
            env[id(n)] = sympy.Mul(*(sympy.Symbol(dims(d), positive=True, integer=True)
                                     if isinstance(d, str) else sympy.Integer(d)
                                     for d in n.attr("shape")))
        elif n.op in NAMED_OPS:
            env[id(n)] = NAMED_OPS[n.op](env[id(n.inputs[0])])
        elif n.op == "where" and relu_or_step(*(env[id(i)] for i in n.inputs)) is not None:
            env[id(n)] = relu_or_step(*(env[id(i)] for i in n.inputs))
        elif op.kind == "elementwise" and op.sympy is not None:
            env[id(n)] = op.sympy(*(env[id(i)] for i in n.inputs))
        else:
            raise GraphcError(f"expr: {n.op} (created at {n.location}) is not elementwise, so "
                              f"the graph has no elementwise formula; use gc.show(t) or str(t)")
    return sympy.simplify(env[id(t)]) if simplify else env[id(t)]
