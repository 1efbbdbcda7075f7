"""Elementwise primitives: NumPy broadcasting, one local derivative per input (``partials``;
reverse and forward mode both derive from it), a SymPy form; and ``cast``."""
from __future__ import annotations

import math

import numpy as np

from .. import special
from ..bind import BOOL, OpDef, bind, constant_node, declare, promote
from ..errors import DTypeError, ShapeError
from ..ir import broadcast_dims, format_shape
from .builders import cast_node


# ---- dtype rules ---------------------------------------------------------------

def _elementwise_shape(op: OpDef):
    def rule(inputs, attrs):
        dims = broadcast_dims([i.dims for i in inputs])
        if dims is None:
            shapes = ", ".join(format_shape(i.dims) for i in inputs)
            raise ShapeError(f"{op.name}: shapes {shapes} do not broadcast")
        if op.dtype_out:
            return dims, np.dtype(op.dtype_out)
        if op.name == "where":
            if inputs[0].dtype != BOOL:
                raise DTypeError(f"where: condition must be bool, got {inputs[0].dtype} of "
                                 f"shape {format_shape(inputs[0].dims)} (compare first: x > 0)")
            return dims, promote(inputs[1].dtype, inputs[2].dtype)
        dtype = promote(*[i.dtype for i in inputs])
        if not op.bool_ok and dtype == BOOL:
            shapes = ", ".join(format_shape(i.dims) for i in inputs)
            raise DTypeError(f"{op.name}: not defined on bool inputs (shapes {shapes}); "
                             f"cast with .astype('int32') or use gc.where")
        if op.float_only and dtype.kind != "f":
            shapes = ", ".join(format_shape(i.dims) for i in inputs)
            raise DTypeError(f"{op.name}: needs a floating-point input, got {dtype} of shape "
                             f"{shapes} (cast with .astype('float32'))")
        return dims, dtype
    return rule


def elementwise(*, name, arity, impl, partials=None, sympy=None, **facts) -> OpDef:
    """Declare an elementwise op: NumPy broadcasting and the dtype rules its ``facts`` set."""
    op = OpDef(name=name, arity=arity, kind="elementwise", impl=impl, partials=partials,
               sympy=sympy, **facts)
    op = declare(op)
    object.__setattr__(op, "shape", _elementwise_shape(op))
    return op


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _sp():
    import sympy
    return sympy


# ---- elementwise: unary ------------------------------------------------------------------

elementwise(name="neg", arity=1, impl=np.negative, partials=lambda n: [-1],
            sympy=lambda a: -a, infix="-", cost=1, bool_ok=False)
elementwise(name="exp", arity=1, impl=np.exp, partials=lambda n: [n],
            sympy=lambda a: _sp().exp(a), float_only=True, cost=8, output_sign="positive",
            latex=r"\exp")
elementwise(name="log", arity=1, impl=np.log, partials=lambda n: [1 / n.inputs[0]],
            sympy=lambda a: _sp().log(a), float_only=True, cost=8, latex=r"\log")
elementwise(name="sin", arity=1, impl=np.sin, partials=lambda n: [bind("cos", n.inputs[0])],
            sympy=lambda a: _sp().sin(a), float_only=True, cost=8, latex=r"\sin")
elementwise(name="cos", arity=1, impl=np.cos,
            partials=lambda n: [-bind("sin", n.inputs[0])], sympy=lambda a: _sp().cos(a),
            float_only=True, cost=8, latex=r"\cos")
elementwise(name="tanh", arity=1, impl=np.tanh, partials=lambda n: [1 - n * n],
            sympy=lambda a: _sp().tanh(a), float_only=True, cost=8, latex=r"\tanh")
elementwise(name="sigmoid", arity=1, impl=_sigmoid, partials=lambda n: [n * (1 - n)],
            sympy=lambda a: 1 / (1 + _sp().exp(-a)), float_only=True, cost=9,
            output_sign="positive", latex=r"\sigma")
elementwise(name="softplus", arity=1, impl=lambda x: np.logaddexp(x.dtype.type(0), x),
            partials=lambda n: [bind("sigmoid", n.inputs[0])],
            sympy=lambda a: _sp().log(1 + _sp().exp(a)), float_only=True, cost=9,
            doc="log(1 + exp(x)), stable for large |x|; a primitive so that its derivative is "
                "exactly sigmoid (smooth at 0, unlike max(x, 0) + log1p(exp(-|x|)))",
            output_sign="positive")
elementwise(name="sqrt", arity=1, impl=np.sqrt, partials=lambda n: [0.5 / n],
            sympy=lambda a: _sp().sqrt(a), float_only=True, cost=4, output_sign="nonneg")
elementwise(name="abs", arity=1, impl=np.abs,
            partials=lambda n: [bind("sign", n.inputs[0])], sympy=lambda a: _sp().Abs(a),
            cost=1, output_sign="nonneg")
elementwise(name="sign", arity=1, impl=np.sign, partials=lambda n: [None],
            sympy=lambda a: _sp().sign(a), cost=2, bool_ok=False,
            latex=r"\operatorname{sgn}")
elementwise(name="log1p", arity=1, impl=np.log1p,
            partials=lambda n: [1 / (1 + n.inputs[0])], sympy=lambda a: _sp().log(1 + a),
            float_only=True, cost=8)
elementwise(name="expm1", arity=1, impl=np.expm1, partials=lambda n: [n + 1],
            sympy=lambda a: _sp().exp(a) - 1, float_only=True, cost=8)



def _erf_partial(n, sign):
    """d erf(x)/dx = 2/sqrt(pi) * exp(-x^2) (erfc: the negative)."""
    x = n.inputs[0]
    return [constant_node(sign * 2 / math.sqrt(math.pi), n.dtype) * bind("exp", -(x * x))]


elementwise(name="erf", arity=1, impl=special.erf, partials=lambda n: _erf_partial(n, 1),
            sympy=lambda a: _sp().erf(a), float_only=True, cost=10,
            latex=r"\operatorname{erf}")
elementwise(name="erfc", arity=1, impl=special.erfc, partials=lambda n: _erf_partial(n, -1),
            sympy=lambda a: _sp().erfc(a), float_only=True, cost=10, output_sign="nonneg",
            latex=r"\operatorname{erfc}", doc="1 - erf(x), accurate where erf(x) is near 1")
# erfinv: d/dx = sqrt(pi)/2 * exp(erfinv(x)^2) (the node itself squared)
elementwise(name="erfinv", arity=1, impl=special.erfinv,
            partials=lambda n: [constant_node(math.sqrt(math.pi) / 2, n.dtype)
                                * bind("exp", n * n)],
            sympy=lambda a: _sp().erfinv(a), float_only=True, cost=40,
            latex=r"\operatorname{erf}^{-1}",
            doc="the inverse of erf on (-1, 1); +-inf at +-1, nan outside")

elementwise(name="stop_gradient", arity=1, impl=lambda x: x, partials=lambda n: [None],
            sympy=lambda a: a, cost=0,
            doc="identity whose gradient is zero (used by stable composites)")

# ---- elementwise: binary -----------------------------------------------------------------


def _pow_base_partial(n):
    """d(x**e)/dx = e * x**(e - 1), folded for a constant scalar ``e`` the way a person
    writes it: ``x**3`` gives ``3 * x**2``, ``x**2`` gives ``2 * x``, ``x**1`` gives 1."""
    x, e = n.inputs
    if e.op == "constant" and e.ndim == 0:
        k = e.value.item()
        if k == 1:
            return constant_node(1, n.dtype)
        if k == 2:
            return e * x
        return e * bind("pow", x, constant_node(k - 1, e.dtype))
    return e * bind("pow", x, e - 1)


def _max_partials(n):
    """maximum/minimum: the winning side gets the gradient; at a tie (a == b) each side
    gets half (the mean of the one-sided derivatives), so the total is conserved."""
    a, b = n.inputs
    one, half, zero = (constant_node(v, n.dtype) for v in (1.0, 0.5, 0.0))
    tie = bind("where", bind("equal", a, b), half, zero)  # ties split the gradient evenly
    a_wins = bind("greater", a, b) if n.op == "maximum" else bind("less", a, b)
    b_wins = bind("less", a, b) if n.op == "maximum" else bind("greater", a, b)
    return [bind("where", a_wins, one, tie), bind("where", b_wins, one, tie)]


def _where_partials(n):
    c = n.inputs[0]
    one, zero = constant_node(1.0, n.dtype), constant_node(0.0, n.dtype)
    return [None, bind("where", c, one, zero), bind("where", c, zero, one)]


elementwise(name="add", arity=2, impl=np.add, partials=lambda n: [1, 1],
            sympy=lambda a, b: a + b, infix="+", commutative=True)
elementwise(name="sub", arity=2, impl=np.subtract, partials=lambda n: [1, -1],
            sympy=lambda a, b: a - b, infix="-", bool_ok=False)
elementwise(name="mul", arity=2, impl=np.multiply,
            partials=lambda n: [n.inputs[1], n.inputs[0]], sympy=lambda a, b: a * b,
            infix="*", commutative=True)
elementwise(name="div", arity=2, impl=np.true_divide,
            partials=lambda n: [1 / n.inputs[1], -n / n.inputs[1]],
            sympy=lambda a, b: a / b, infix="/", cost=4)
elementwise(name="pow", arity=2, impl=np.power,
            partials=lambda n: [_pow_base_partial(n), n * bind("log", n.inputs[0])],
            sympy=lambda a, b: a ** b, infix="**", cost=10)
elementwise(name="maximum", arity=2, impl=np.maximum, partials=_max_partials,
            sympy=lambda a, b: _sp().Max(a, b), commutative=True, cost=2)
elementwise(name="minimum", arity=2, impl=np.minimum, partials=_max_partials,
            sympy=lambda a, b: _sp().Min(a, b), commutative=True, cost=2)

for _name, _fn, _sym, _infix in [
        ("less", np.less, "Lt", "<"),
        ("less_equal", np.less_equal, "Le", "<="),
        ("greater", np.greater, "Gt", ">"),
        ("greater_equal", np.greater_equal, "Ge", ">="),
        ("equal", np.equal, "Eq", "=="),
        ("not_equal", np.not_equal, "Ne", "!=")]:
    elementwise(name=_name, arity=2, impl=_fn, partials=lambda n: [None, None],
                sympy=(lambda s: lambda a, b: getattr(_sp(), s)(a, b))(_sym),
                infix=_infix, dtype_out="bool", differentiable=False,
                commutative=_name in ("equal", "not_equal"))


def _where_sympy(c, a, b):
    sp = _sp()
    return sp.Piecewise((a, c), (b, True))


elementwise(name="where", arity=3, impl=np.where, partials=_where_partials,
            sympy=_where_sympy, cost=2)


# ---- cast ----------------------------------------------------------------------------------

def _cast_shape(inputs, attrs):
    return inputs[0].dims, np.dtype(attrs["dtype"])


def _cast_sympy(a, dtype):
    sp = _sp()
    if isinstance(a, sp.logic.boolalg.Boolean) or getattr(a, "is_Relational", False):
        return sp.Piecewise((1, a), (0, True))
    return a


declare(OpDef(
    name="cast", arity=1, kind="elementwise", impl=lambda x, dtype: x.astype(dtype),
    shape=_cast_shape,
    vjp=lambda n, g: [cast_node(g, n.inputs[0].dtype) if n.inputs[0].dtype.kind == "f" else None],
    jvp=lambda n, t: cast_node(t[0], n.dtype) if t[0] is not None and n.dtype.kind == "f" else None,
    sympy=_cast_sympy, cost=1, doc="convert to another dtype"))
