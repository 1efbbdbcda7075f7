"""Primitive op declarations: the single source of truth for every op.

Each primitive is declared once, with
  * ``impl``      its NumPy reference implementation (the interpreter's semantics),
  * ``shape``     its shape/dtype rule (elementwise ops share NumPy broadcasting),
  * ``partials``  for elementwise ops: the local derivative w.r.t. each input, in
                  graph ops; reverse mode (``g * d``, un-broadcast) and forward mode
                  (``sum d * t``) both derive from it,
  * ``vjp``/``jvp`` for the other ops (linear ones are their own jvp),
  * ``sympy``     its SymPy form (elementwise ops), for ``gc.expr``,
  * ``c``         its scalar C expression (elementwise ops), for the C-family renderers:
                  ``{0}``, ``{1}``... are the operands; math functions are spelled as the
                  C ``double`` functions (``exp``) and each dialect maps them for float32,
  * ``cost``      a rough cost in "adds", for the simplifier's cost model.
Composites (softmax, mean, cross_entropy...) live in ``api`` and are built from these.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import DTypeError, ShapeError
from .ir import Tensor, broadcast_dims, format_shape

FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))
INT_DTYPES = (np.dtype("int32"), np.dtype("int64"))
BOOL = np.dtype("bool")


@dataclass(frozen=True)
class OpDef:
    name: str
    arity: int                      # number of tensor inputs (-1: variadic, unused here)
    kind: str                       # leaf | elementwise | reduce | shape | matmul | index
    impl: Callable                  # impl(*arrays, **attrs) -> ndarray
    shape: Callable | None = None   # shape(inputs, attrs) -> (dims, dtype)
    partials: Callable | None = None
    vjp: Callable | None = None
    jvp: Callable | None = None
    sympy: Callable | None = None
    c: str | None = None
    infix: str | None = None        # how printers write it (``a + b``)
    cost: float = 1.0
    float_only: bool = False        # elementwise op defined on floats only
    bool_ok: bool = True            # False: NumPy has no bool loop (``-True``), reject at build
    dtype_out: str | None = None    # fixed output dtype ("bool" for comparisons)
    commutative: bool = False
    output_sign: str = ""           # "positive" / "nonneg": true for every input (rewrite guards)
    latex: str | None = None        # LaTeX function name (r"\exp"); default \operatorname{name}
    differentiable: bool = True
    doc: str = ""


OPS: dict[str, OpDef] = {}


def declare(op: OpDef) -> OpDef:
    assert op.name not in OPS, f"op {op.name} declared twice"
    OPS[op.name] = op
    return op


def opdef(node_or_name) -> OpDef:
    name = node_or_name if isinstance(node_or_name, str) else node_or_name.op
    return OPS[name]


# ---- dtype rules ---------------------------------------------------------------

def promote(*dtypes) -> np.dtype:
    """Result dtype of combining tensors: NumPy promotion, except int with float keeps the float."""
    dtypes = [np.dtype(d) for d in dtypes]
    floats = [d for d in dtypes if d.kind == "f"]
    if floats:
        return max(floats, key=lambda d: d.itemsize)
    ints = [d for d in dtypes if d.kind in "iu"]
    if ints:
        return np.dtype("int64") if any(d.itemsize == 8 for d in ints) else np.dtype("int32")
    return BOOL


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
    op = OpDef(name, arity, "elementwise", impl, partials=partials, sympy=sympy, c=c, **kw)
    op = declare(op)
    object.__setattr__(op, "shape", _elementwise_shape(op))
    return op


# ---- helpers used by the rules (written in graph ops) ------------------------------------

def unbroadcast(g: Tensor, dims) -> Tensor:
    """Sum ``g`` over the axes that broadcasting added or stretched to reach ``g``'s shape."""
    dims = tuple(dims)
    if g.dims == dims:
        return g
    lead = g.ndim - len(dims)
    axes = list(range(lead))
    for k, d in enumerate(dims):
        if d == 1 and g.dims[lead + k] != 1:
            axes.append(lead + k)
    s = _scalar_source(g)
    counts = [g.dims[a] for a in axes]
    if axes and s is not None and s.op == "constant" and all(isinstance(c, int) for c in counts):
        # a constant cotangent summed: the sum is known (keeps gradients of seeds small)
        total = A.constant(s.value * int(np.prod(counts)), g.dtype)
        return total if not dims else A.broadcast_to(total, dims)
    if axes:
        stretched = len(axes) > lead
        # only leading axes to drop: one plain sum (reads as sum(g, axis=0), no reshape)
        g = A.sum(g, tuple(axes), keepdims=stretched)
        lead = lead if stretched else 0
    if g.dims != dims and lead:
        g = A.reshape(g, g.dims[lead:])  # drop the summed leading axes (now 1s)
    if g.dims != dims:
        r = relabel(g, dims)
        g = r if r is not None else A.reshape(g, dims)
    return g


def relabel(g: Tensor, dims) -> Tensor | None:
    """``g`` with static shape ``dims`` when the two differ only where one side is a run-time
    dim (a run-time dim met a known size, or another run-time dim, in broadcasting): the
    sizes agree at run time, only the static names differ. Else None."""
    dims = tuple(dims)
    if len(g.dims) != len(dims) or not all(
            a == b or isinstance(a, str) or isinstance(b, str) for a, b in zip(g.dims, dims)):
        return None
    return Tensor.make("reshape", [g], {"shape": dims}, dims, g.dtype)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _sp():
    import sympy
    return sympy


# ---- leaves --------------------------------------------------------------------------------

def _leaf_impl(*_, **__):
    raise AssertionError("leaves are fed by the interpreter, not computed")


declare(OpDef("placeholder", 0, "leaf", _leaf_impl, doc="an input fed at call time"))
declare(OpDef("parameter", 0, "leaf", _leaf_impl, doc="trainable state with a value"))
declare(OpDef("constant", 0, "leaf", lambda value: value.array, doc="a fixed array"))
declare(OpDef("shape_size", 0, "leaf",
              lambda shape, dtype: np.array(int(np.prod(shape, dtype=np.int64)), dtype=dtype),
              doc="the number of elements of a (possibly run-time) shape, as a scalar"))

# ---- elementwise: unary ------------------------------------------------------------------

elementwise("neg", 1, np.negative, lambda n: [-1], lambda a: -a, "(-{0})", infix="-", cost=1,
            bool_ok=False)
elementwise("exp", 1, np.exp, lambda n: [n], lambda a: _sp().exp(a), "exp({0})",
            float_only=True, cost=8, output_sign="positive", latex=r"\exp")
elementwise("log", 1, np.log, lambda n: [1 / n.inputs[0]], lambda a: _sp().log(a), "log({0})",
            float_only=True, cost=8, latex=r"\log")
elementwise("sin", 1, np.sin, lambda n: [A.cos(n.inputs[0])], lambda a: _sp().sin(a),
            "sin({0})", float_only=True, cost=8, latex=r"\sin")
elementwise("cos", 1, np.cos, lambda n: [-A.sin(n.inputs[0])], lambda a: _sp().cos(a),
            "cos({0})", float_only=True, cost=8, latex=r"\cos")
elementwise("tanh", 1, np.tanh, lambda n: [1 - n * n], lambda a: _sp().tanh(a), "tanh({0})",
            float_only=True, cost=8, latex=r"\tanh")
elementwise("sigmoid", 1, _sigmoid, lambda n: [n * (1 - n)],
            lambda a: 1 / (1 + _sp().exp(-a)), "(1 / (1 + exp(-({0}))))", float_only=True, cost=9,
            output_sign="positive", latex=r"\sigma")
elementwise("softplus", 1, lambda x: np.logaddexp(x.dtype.type(0), x),
            lambda n: [A.sigmoid(n.inputs[0])], lambda a: _sp().log(1 + _sp().exp(a)),
            "(({0} > 0 ? {0} : 0) + log1p(exp(-fabs({0}))))", float_only=True, cost=9,
            doc="log(1 + exp(x)), stable for large |x|; a primitive so that its derivative is "
                "exactly sigmoid (smooth at 0, unlike max(x, 0) + log1p(exp(-|x|)))",
            output_sign="positive")
elementwise("sqrt", 1, np.sqrt, lambda n: [0.5 / n], lambda a: _sp().sqrt(a), "sqrt({0})",
            float_only=True, cost=4, output_sign="nonneg")
elementwise("abs", 1, np.abs, lambda n: [A.sign(n.inputs[0])], lambda a: _sp().Abs(a),
            "fabs({0})", cost=1, output_sign="nonneg")
elementwise("sign", 1, np.sign, lambda n: [None], lambda a: _sp().sign(a),
            "(({0} > 0) - ({0} < 0))", cost=2, bool_ok=False, latex=r"\operatorname{sgn}")
elementwise("log1p", 1, np.log1p, lambda n: [1 / (1 + n.inputs[0])],
            lambda a: _sp().log(1 + a), "log1p({0})", float_only=True, cost=8)
elementwise("expm1", 1, np.expm1, lambda n: [n + 1], lambda a: _sp().exp(a) - 1,
            "expm1({0})", float_only=True, cost=8)

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
            return A.constant(1, n.dtype)
        if k == 2:
            return e * x
        return e * A.pow(x, A.constant(k - 1, e.dtype))
    return e * A.pow(x, e - 1)


def _max_partials(n):
    """maximum/minimum: the winning side gets the gradient; at a tie (a == b) each side
    gets half (the mean of the one-sided derivatives), so the total is conserved."""
    a, b = n.inputs
    one, half, zero = (A.constant(v, n.dtype) for v in (1.0, 0.5, 0.0))
    tie = A.where(A.equal(a, b), half, zero)  # ties split the gradient evenly
    a_wins = A.greater(a, b) if n.op == "maximum" else A.less(a, b)
    b_wins = A.less(a, b) if n.op == "maximum" else A.greater(a, b)
    return [A.where(a_wins, one, tie), A.where(b_wins, one, tie)]


def _where_partials(n):
    c = n.inputs[0]
    one, zero = A.constant(1.0, n.dtype), A.constant(0.0, n.dtype)
    return [None, A.where(c, one, zero), A.where(c, zero, one)]


elementwise("add", 2, np.add, lambda n: [1, 1], lambda a, b: a + b, "({0} + {1})",
            infix="+", commutative=True)
elementwise("sub", 2, np.subtract, lambda n: [1, -1], lambda a, b: a - b, "({0} - {1})",
            infix="-", bool_ok=False)
elementwise("mul", 2, np.multiply, lambda n: [n.inputs[1], n.inputs[0]], lambda a, b: a * b,
            "({0} * {1})", infix="*", commutative=True)
elementwise("div", 2, np.true_divide, lambda n: [1 / n.inputs[1], -n / n.inputs[1]],
            lambda a, b: a / b, "({0} / {1})", infix="/", cost=4)
elementwise("pow", 2, np.power,
            lambda n: [_pow_base_partial(n), n * A.log(n.inputs[0])],
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
    "cast", 1, "elementwise", lambda x, dtype: x.astype(dtype), shape=_cast_shape,
    vjp=lambda n, g: [A.cast(g, n.inputs[0].dtype) if n.inputs[0].dtype.kind == "f" else None],
    jvp=lambda n, t: A.cast(t[0], n.dtype) if t[0] is not None and n.dtype.kind == "f" else None,
    sympy=_cast_sympy, c="(({dtype}){0})", cost=1, doc="convert to another dtype"))


# ---- reductions ----------------------------------------------------------------------------

def _reduce_shape(inputs, attrs):
    x = inputs[0]
    axes, keep = attrs["axes"], attrs["keepdims"]
    if keep:
        dims = tuple(1 if k in axes else d for k, d in enumerate(x.dims))
    else:
        dims = tuple(d for k, d in enumerate(x.dims) if k not in axes)
    return dims, x.dtype


def _sum_shape(inputs, attrs):
    dims, dtype = _reduce_shape(inputs, attrs)
    return dims, np.dtype("int64") if dtype == BOOL else dtype  # sum of bools counts (NumPy)


def _scalar_source(g: Tensor) -> Tensor | None:
    """The 0-d tensor ``g`` merely broadcasts (``g`` itself if 0-d), else None.

    Cotangents of sums are often such broadcasts; reshaping or transposing them
    is the same broadcast of the same scalar, which keeps gradient graphs small."""
    if g.ndim == 0:
        return g
    if g.op == "broadcast_to" and g.inputs[0].ndim == 0:
        return g.inputs[0]
    return None


def _reshape_cot(g: Tensor, dims) -> Tensor:
    s = _scalar_source(g)
    if s is not None:
        return A.broadcast_to(s, dims)
    r = relabel(g, dims) if tuple(dims) != g.dims else None
    return r if r is not None else A.reshape(g, dims)


def _keep(n: Tensor, g: Tensor) -> Tensor:
    """``g`` (shaped like reduce node ``n``) reshaped to the keepdims shape (or the
    scalar it broadcasts, which broadcasts the same way)."""
    if n.attr("keepdims"):
        return g
    s = _scalar_source(g)
    if s is not None:
        return s
    x = n.inputs[0]
    axes = n.attr("axes")
    return A.reshape(g, tuple(1 if k in axes else d for k, d in enumerate(x.dims)))


def _sum_vjp(n, g):
    return [A.broadcast_to(_keep(n, g), n.inputs[0].dims)]


def _max_mask(n):
    x = n.inputs[0]
    mask = A.cast(A.equal(x, _keep(n, n)), x.dtype)
    return mask / A.sum(mask, n.attr("axes"), keepdims=True)  # ties share the gradient


declare(OpDef("sum", 1, "reduce",
              lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
              shape=_sum_shape, vjp=_sum_vjp,
              jvp=lambda n, t: A.sum(t[0], n.attr("axes"), n.attr("keepdims")),
              doc="sum over axes"))
declare(OpDef("max", 1, "reduce",
              lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
              shape=_reduce_shape,
              vjp=lambda n, g: [_max_mask(n) * _keep(n, g)],
              jvp=lambda n, t: A.sum(_max_mask(n) * t[0], n.attr("axes"), n.attr("keepdims")),
              doc="maximum over axes"))


# ---- shape ops -----------------------------------------------------------------------------

def _reshape_shape(inputs, attrs):
    return tuple(attrs["shape"]), inputs[0].dtype


def _transpose_shape(inputs, attrs):
    x = inputs[0]
    return tuple(x.dims[p] for p in attrs["perm"]), x.dtype


def _broadcast_shape(inputs, attrs):
    return tuple(attrs["shape"]), inputs[0].dtype


declare(OpDef("reshape", 1, "shape", lambda x, shape: np.reshape(x, shape),
              shape=_reshape_shape,
              vjp=lambda n, g: [_reshape_cot(g, n.inputs[0].dims)],
              jvp=lambda n, t: A.reshape(t[0], n.dims), cost=0))
declare(OpDef("transpose", 1, "shape", lambda x, perm: np.transpose(x, perm),
              shape=_transpose_shape,
              vjp=lambda n, g: [A.broadcast_to(_scalar_source(g), n.inputs[0].dims)
                                if _scalar_source(g) is not None else
                                A.transpose(g, tuple(np.argsort(n.attr("perm")).tolist()))],
              jvp=lambda n, t: A.transpose(t[0], n.attr("perm")), cost=0))
declare(OpDef("broadcast_to", 1, "shape", lambda x, shape: np.broadcast_to(x, shape),
              shape=_broadcast_shape,
              vjp=lambda n, g: [unbroadcast(g, n.inputs[0].dims)],
              jvp=lambda n, t: A.broadcast_to(t[0], n.dims), cost=0))


# ---- matmul --------------------------------------------------------------------------------

def _matmul_shape(inputs, attrs):
    a, b = inputs
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: operands must have at least one dimension, got shapes "
                         f"{format_shape(a.dims)} and {format_shape(b.dims)}")
    ad = a.dims if a.ndim > 1 else (1,) + a.dims
    bd = b.dims if b.ndim > 1 else b.dims + (1,)
    k1, k2 = ad[-1], bd[-2]
    contracted = broadcast_dims([(k1,), (k2,)])
    if contracted is None or (k1 == 1) != (k2 == 1):
        raise ShapeError(f"matmul: inner dimensions differ: shapes {format_shape(a.dims)} "
                         f"and {format_shape(b.dims)}")
    batch = broadcast_dims([ad[:-2], bd[:-2]])
    if batch is None:
        raise ShapeError(f"matmul: batch dimensions do not broadcast: shapes "
                         f"{format_shape(a.dims)} and {format_shape(b.dims)}")
    dims = batch + (ad[-2],) * (a.ndim > 1) + (bd[-1],) * (b.ndim > 1)
    return dims, promote(a.dtype, b.dtype)


def _swap_last(t: Tensor) -> Tensor:
    perm = tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2)
    return A.transpose(t, perm)


def _matmul_vjp(n, g):
    a, b = n.inputs
    A2 = a if a.ndim > 1 else A.reshape(a, (1,) + a.dims)
    B2 = b if b.ndim > 1 else A.reshape(b, b.dims + (1,))
    gdims = list(g.dims)
    if a.ndim == 1:
        gdims.insert(len(gdims) - (b.ndim > 1), 1)
    if b.ndim == 1:
        gdims.append(1)
    G = A.reshape(g, tuple(gdims)) if tuple(gdims) != g.dims else g
    ga = unbroadcast(A.matmul(G, _swap_last(B2)), A2.dims)
    gb = unbroadcast(A.matmul(_swap_last(A2), G), B2.dims)
    return [A.reshape(ga, a.dims) if ga.dims != a.dims else ga,
            A.reshape(gb, b.dims) if gb.dims != b.dims else gb]


def _matmul_jvp(n, t):
    a, b = n.inputs
    terms = []
    if t[0] is not None:
        terms.append(A.matmul(t[0], b))
    if t[1] is not None:
        terms.append(A.matmul(a, t[1]))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


declare(OpDef("matmul", 2, "matmul", np.matmul, shape=_matmul_shape, vjp=_matmul_vjp,
              jvp=_matmul_jvp, infix="@", cost=2))


# ---- indexing ------------------------------------------------------------------------------

def _one_hot_shape(inputs, attrs):
    x = inputs[0]
    if x.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: labels must be integers, got {x.dtype}")
    return x.dims + (attrs["depth"],), np.dtype(attrs["dtype"])


declare(OpDef("one_hot", 1, "index",
              lambda x, depth, dtype: (x[..., None] == np.arange(depth)).astype(dtype),
              shape=_one_hot_shape, vjp=lambda n, g: [None], jvp=lambda n, t: None,
              differentiable=False, doc="one_hot(labels, depth): rows of the identity"))


def is_elementwise(node: Tensor) -> bool:
    return OPS[node.op].kind == "elementwise"


from . import api as A  # noqa: E402  (rules are written in graph ops)
