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
        dtype = promote(*(i.dtype for i in inputs))
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


def elementwise(name, arity, impl, partials=None, sympy=None, c=None, **kw) -> OpDef:
    op = OpDef(name=name, arity=arity, kind="elementwise", impl=impl, partials=partials,
               sympy=sympy, c=c, **kw)
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

elementwise("neg", 1, np.negative, lambda n: [-1], lambda a: -a, "(-{0})", infix="-", cost=1,
            bool_ok=False)
elementwise("exp", 1, np.exp, lambda n: [n], lambda a: _sp().exp(a), "exp({0})",
            float_only=True, cost=8, output_sign="positive", latex=r"\exp")
elementwise("log", 1, np.log, lambda n: [1 / n.inputs[0]], lambda a: _sp().log(a), "log({0})",
            float_only=True, cost=8, latex=r"\log")
elementwise("sin", 1, np.sin, lambda n: [bind("cos", n.inputs[0])], lambda a: _sp().sin(a),
            "sin({0})", float_only=True, cost=8, latex=r"\sin")
elementwise("cos", 1, np.cos, lambda n: [-bind("sin", n.inputs[0])], lambda a: _sp().cos(a),
            "cos({0})", float_only=True, cost=8, latex=r"\cos")
elementwise("tanh", 1, np.tanh, lambda n: [1 - n * n], lambda a: _sp().tanh(a), "tanh({0})",
            float_only=True, cost=8, latex=r"\tanh")
elementwise("sigmoid", 1, _sigmoid, lambda n: [n * (1 - n)],
            lambda a: 1 / (1 + _sp().exp(-a)), "(1 / (1 + exp(-({0}))))", float_only=True, cost=9,
            output_sign="positive", latex=r"\sigma")
elementwise("softplus", 1, lambda x: np.logaddexp(x.dtype.type(0), x),
            lambda n: [bind("sigmoid", n.inputs[0])], lambda a: _sp().log(1 + _sp().exp(a)),
            "(({0} > 0 ? {0} : 0) + log1p(exp(-fabs({0}))))", float_only=True, cost=9,
            doc="log(1 + exp(x)), stable for large |x|; a primitive so that its derivative is "
                "exactly sigmoid (smooth at 0, unlike max(x, 0) + log1p(exp(-|x|)))",
            output_sign="positive")
elementwise("sqrt", 1, np.sqrt, lambda n: [0.5 / n], lambda a: _sp().sqrt(a), "sqrt({0})",
            float_only=True, cost=4, output_sign="nonneg")
elementwise("abs", 1, np.abs, lambda n: [bind("sign", n.inputs[0])], lambda a: _sp().Abs(a),
            "fabs({0})", cost=1, output_sign="nonneg")
elementwise("sign", 1, np.sign, lambda n: [None], lambda a: _sp().sign(a),
            "(({0} > 0) - ({0} < 0))", cost=2, bool_ok=False, latex=r"\operatorname{sgn}")
elementwise("log1p", 1, np.log1p, lambda n: [1 / (1 + n.inputs[0])],
            lambda a: _sp().log(1 + a), "log1p({0})", float_only=True, cost=8)
elementwise("expm1", 1, np.expm1, lambda n: [n + 1], lambda a: _sp().exp(a) - 1,
            "expm1({0})", float_only=True, cost=8)



def _erf_partial(n, sign):
    """d erf(x)/dx = 2/sqrt(pi) * exp(-x^2) (erfc: the negative)."""
    x = n.inputs[0]
    return [constant_node(sign * 2 / math.sqrt(math.pi), n.dtype) * bind("exp", -(x * x))]


elementwise("erf", 1, special.erf, lambda n: _erf_partial(n, 1), lambda a: _sp().erf(a),
            "erf({0})", float_only=True, cost=10, latex=r"\operatorname{erf}")
elementwise("erfc", 1, special.erfc, lambda n: _erf_partial(n, -1), lambda a: _sp().erfc(a),
            "erfc({0})", float_only=True, cost=10, output_sign="nonneg",
            latex=r"\operatorname{erfc}", doc="1 - erf(x), accurate where erf(x) is near 1")

elementwise("stop_gradient", 1, lambda x: x, lambda n: [None], lambda a: a, "{0}", cost=0,
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


elementwise("add", 2, np.add, lambda n: [1, 1], lambda a, b: a + b, "({0} + {1})",
            infix="+", commutative=True)
elementwise("sub", 2, np.subtract, lambda n: [1, -1], lambda a, b: a - b, "({0} - {1})",
            infix="-", bool_ok=False)
elementwise("mul", 2, np.multiply, lambda n: [n.inputs[1], n.inputs[0]], lambda a, b: a * b,
            "({0} * {1})", infix="*", commutative=True)
elementwise("div", 2, np.true_divide, lambda n: [1 / n.inputs[1], -n / n.inputs[1]],
            lambda a, b: a / b, "({0} / {1})", infix="/", cost=4)
elementwise("pow", 2, np.power,
            lambda n: [_pow_base_partial(n), n * bind("log", n.inputs[0])],
            lambda a, b: a ** b, "pow({0}, {1})", infix="**", cost=10)
elementwise("maximum", 2, np.maximum, _max_partials, lambda a, b: _sp().Max(a, b),
            "({0} > {1} ? {0} : {1})", commutative=True, cost=2)
elementwise("minimum", 2, np.minimum, _max_partials, lambda a, b: _sp().Min(a, b),
            "({0} < {1} ? {0} : {1})", commutative=True, cost=2)

for _name, _fn, _sym, _c, _infix in [
        ("less", np.less, "Lt", "({0} < {1})", "<"),
        ("less_equal", np.less_equal, "Le", "({0} <= {1})", "<="),
        ("greater", np.greater, "Gt", "({0} > {1})", ">"),
        ("greater_equal", np.greater_equal, "Ge", "({0} >= {1})", ">="),
        ("equal", np.equal, "Eq", "({0} == {1})", "=="),
        ("not_equal", np.not_equal, "Ne", "({0} != {1})", "!=")]:
    elementwise(_name, 2, _fn, lambda n: [None, None],
                (lambda s: lambda a, b: getattr(_sp(), s)(a, b))(_sym), _c,
                infix=_infix, dtype_out="bool", differentiable=False,
                commutative=_name in ("equal", "not_equal"))


def _where_sympy(c, a, b):
    sp = _sp()
    return sp.Piecewise((a, c), (b, True))


elementwise("where", 3, np.where,
            _where_partials,
            _where_sympy, "({0} ? {1} : {2})", cost=2)


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
    sympy=_cast_sympy, c="(({dtype}){0})", cost=1, doc="convert to another dtype"))
