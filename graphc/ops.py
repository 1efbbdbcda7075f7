"""Primitive op declarations: each primitive declared once, in one place.

Each primitive is an ``OpDef`` (``graphc.bind``) with
  * ``impl``      its NumPy reference implementation (the interpreter's semantics),
  * ``shape``     its shape/dtype rule, which checks every misuse (elementwise ops share
                  NumPy broadcasting); ``bind`` runs it for every node, whoever builds it,
  * ``partials``  for elementwise ops: the local derivative w.r.t. each input, in
                  graph ops; reverse mode (``g * d``, un-broadcast) and forward mode
                  (``sum d * t``) both derive from it,
  * ``vjp``/``jvp`` for the other ops (linear ones are their own jvp),
  * ``sympy``     its SymPy form (elementwise ops), for ``gc.expr``,
  * ``cost``      a rough cost in "adds", for the simplifier's cost model.
How each backend spells an op lives in that backend's table, keyed by op name (a test
fails naming any op a table lacks). Composites (softmax, mean, cross_entropy...) live in
``api`` and are built from these.

The rules build their graphs with ``bind`` and with Tensor's operators (``1 - n * n``),
which ``graphc.api`` attaches; rules only run once graphc is imported.
"""
from __future__ import annotations

import math

import numpy as np

from . import special
from .bind import BOOL, OpDef, OPS, bind, constant_node, declare, opdef, promote
from .errors import DTypeError, ShapeError
from .ir import Tensor, broadcast_dims, format_shape

FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))
INT_DTYPES = (np.dtype("int32"), np.dtype("int64"))

__all__ = ["OPS", "OpDef", "opdef", "promote", "unbroadcast", "is_elementwise",
           "FLOAT_DTYPES", "INT_DTYPES"]


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


# ---- graph builders the rules use (through ``bind``: every node shape-checked) ------------

def _reshape(x: Tensor, dims) -> Tensor:
    dims = tuple(dims)
    return x if x.dims == dims else bind("reshape", x, shape=dims)


def _broadcast_to(x: Tensor, dims) -> Tensor:
    dims = tuple(dims)
    return x if x.dims == dims else bind("broadcast_to", x, shape=dims)


def _transpose(x: Tensor, perm) -> Tensor:
    perm = tuple(int(p) for p in perm)
    return x if perm == tuple(range(x.ndim)) else bind("transpose", x, perm=perm)


def _sum(x: Tensor, axes, keepdims=False) -> Tensor:
    return bind("sum", x, axes=tuple(axes), keepdims=bool(keepdims))


def _cast(x: Tensor, dtype) -> Tensor:
    dtype = np.dtype(dtype)
    return x if x.dtype == dtype else bind("cast", x, dtype=dtype.name)


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
        total = constant_node(s.value * int(np.prod(counts)), g.dtype)
        return total if not dims else _broadcast_to(total, dims)
    if axes:
        stretched = len(axes) > lead
        # only leading axes to drop: one plain sum (reads as sum(g, axis=0), no reshape)
        g = _sum(g, tuple(axes), keepdims=stretched)
        lead = lead if stretched else 0
    if g.dims != dims and lead:
        g = _reshape(g, g.dims[lead:])  # drop the summed leading axes (now 1s)
    if g.dims != dims:
        r = relabel(g, dims)
        g = r if r is not None else _reshape(g, dims)
    return g


def relabel(g: Tensor, dims) -> Tensor | None:
    """``g`` with static shape ``dims`` when the two differ only where one side is a run-time
    dim (a run-time dim met a known size, or another run-time dim, in broadcasting): the
    sizes agree at run time, only the static names differ. Else None."""
    dims = tuple(dims)
    if len(g.dims) != len(dims) or not all(
            a == b or isinstance(a, str) or isinstance(b, str) for a, b in zip(g.dims, dims)):
        return None
    return bind("reshape", g, shape=dims)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _sp():
    import sympy
    return sympy


# ---- leaves --------------------------------------------------------------------------------

def _leaf_impl(*_, **__):
    raise AssertionError("leaves are fed by the interpreter, not computed")


declare(OpDef(name="placeholder", arity=0, kind="leaf", impl=_leaf_impl, fed=True,
              doc="an input fed at call time"))
declare(OpDef(name="parameter", arity=0, kind="leaf", impl=_leaf_impl, fed=True,
              doc="trainable state with a value"))
declare(OpDef(name="constant", arity=0, kind="leaf", impl=lambda value: value.array,
              doc="a fixed array"))
declare(OpDef(name="shape_size", arity=0, kind="leaf", sizes=True,
              impl=lambda shape, dtype: np.array(int(np.prod(shape, dtype=np.int64)), dtype=dtype),
              doc="the number of elements of a (possibly run-time) shape, as a scalar"))

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
    vjp=lambda n, g: [_cast(g, n.inputs[0].dtype) if n.inputs[0].dtype.kind == "f" else None],
    jvp=lambda n, t: _cast(t[0], n.dtype) if t[0] is not None and n.dtype.kind == "f" else None,
    sympy=_cast_sympy, c="(({dtype}){0})", cost=1, doc="convert to another dtype"))


# ---- reductions ----------------------------------------------------------------------------

def _reduce_shape(inputs, attrs):
    x = inputs[0]
    axes, keep = tuple(attrs["axes"]), attrs["keepdims"]
    if list(axes) != sorted(set(axes)) or not all(0 <= a < x.ndim for a in axes):
        raise ShapeError(f"reduce: axes {axes} must be distinct axes of shape "
                         f"{format_shape(x.dims)}, in order")
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
        return _broadcast_to(s, dims)
    r = relabel(g, dims) if tuple(dims) != g.dims else None
    return r if r is not None else _reshape(g, dims)


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
    return _reshape(g, tuple(1 if k in axes else d for k, d in enumerate(x.dims)))


def _sum_vjp(n, g):
    return [_broadcast_to(_keep(n, g), n.inputs[0].dims)]


def _max_mask(n):
    x = n.inputs[0]
    mask = _cast(bind("equal", x, _keep(n, n)), x.dtype)
    return mask / _sum(mask, n.attr("axes"), keepdims=True)  # ties share the gradient


declare(OpDef(name="sum", arity=1, kind="reduce",
              impl=lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
              shape=_sum_shape, vjp=_sum_vjp,
              jvp=lambda n, t: _sum(t[0], n.attr("axes"), n.attr("keepdims")),
              doc="sum over axes"))
declare(OpDef(name="max", arity=1, kind="reduce",
              impl=lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
              shape=_reduce_shape,
              vjp=lambda n, g: [_max_mask(n) * _keep(n, g)],
              jvp=lambda n, t: _sum(_max_mask(n) * t[0], n.attr("axes"), n.attr("keepdims")),
              doc="maximum over axes"))


# ---- shape ops -----------------------------------------------------------------------------

def _bad_dims(dims) -> bool:
    return any(not isinstance(d, (int, str)) or isinstance(d, bool) or
               (isinstance(d, int) and d < 0) for d in dims)


def _relabels(src, dst) -> bool:
    """Same rank, and wherever the dims differ one of them is a run-time size: the sizes
    agree when the graph runs (checked then), only the static names differ."""
    return len(src) == len(dst) and all(
        a == b or isinstance(a, str) or isinstance(b, str) for a, b in zip(src, dst))


def _reshape_shape(inputs, attrs):
    x, dims = inputs[0], tuple(attrs["shape"])
    known = [int(np.prod([d for d in s if isinstance(d, int)], dtype=np.int64))
             for s in (x.dims, dims)]
    symbolic = [sorted(d for d in s if isinstance(d, str)) for s in (x.dims, dims)]
    if _bad_dims(dims) or not (_relabels(x.dims, dims) or (
            known[0] == known[1] and symbolic[0] == symbolic[1])):
        raise ShapeError(f"reshape: cannot reshape {format_shape(x.dims)} into "
                         f"{format_shape(dims)}")
    return dims, x.dtype


def _transpose_shape(inputs, attrs):
    x, perm = inputs[0], tuple(attrs["perm"])
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {perm} is not a permutation of the axes of "
                         f"{format_shape(x.dims)}")
    return tuple(x.dims[p] for p in perm), x.dtype


def _broadcast_shape(inputs, attrs):
    x, dims = inputs[0], tuple(attrs["shape"])
    lead = len(dims) - x.ndim
    if _bad_dims(dims) or lead < 0 or not all(
            d == 1 or _relabels((d,), (dims[lead + k],)) for k, d in enumerate(x.dims)):
        raise ShapeError(f"broadcast_to: cannot broadcast {format_shape(x.dims)} to "
                         f"{format_shape(dims)}")
    return dims, x.dtype


declare(OpDef(name="reshape", arity=1, kind="shape", sizes=True,
              impl=lambda x, shape: np.reshape(x, shape), shape=_reshape_shape,
              vjp=lambda n, g: [_reshape_cot(g, n.inputs[0].dims)],
              jvp=lambda n, t: _reshape(t[0], n.dims), cost=0))
declare(OpDef(name="transpose", arity=1, kind="shape",
              impl=lambda x, perm: np.transpose(x, perm), shape=_transpose_shape,
              vjp=lambda n, g: [_broadcast_to(_scalar_source(g), n.inputs[0].dims)
                                if _scalar_source(g) is not None else
                                _transpose(g, np.argsort(n.attr("perm")).tolist())],
              jvp=lambda n, t: _transpose(t[0], n.attr("perm")), cost=0))
declare(OpDef(name="broadcast_to", arity=1, kind="shape", sizes=True,
              impl=lambda x, shape: np.broadcast_to(x, shape), shape=_broadcast_shape,
              vjp=lambda n, g: [unbroadcast(g, n.inputs[0].dims)],
              jvp=lambda n, t: _broadcast_to(t[0], n.dims), cost=0))


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
    return _transpose(t, perm)


def _matmul_vjp(n, g):
    a, b = n.inputs
    A2 = a if a.ndim > 1 else _reshape(a, (1,) + a.dims)
    B2 = b if b.ndim > 1 else _reshape(b, b.dims + (1,))
    gdims = list(g.dims)
    if a.ndim == 1:
        gdims.insert(len(gdims) - (b.ndim > 1), 1)
    if b.ndim == 1:
        gdims.append(1)
    G = _reshape(g, tuple(gdims)) if tuple(gdims) != g.dims else g
    ga = unbroadcast(bind("matmul", G, _swap_last(B2)), A2.dims)
    gb = unbroadcast(bind("matmul", _swap_last(A2), G), B2.dims)
    return [_reshape(ga, a.dims) if ga.dims != a.dims else ga,
            _reshape(gb, b.dims) if gb.dims != b.dims else gb]


def _matmul_jvp(n, t):
    a, b = n.inputs
    terms = []
    if t[0] is not None:
        terms.append(bind("matmul", t[0], b))
    if t[1] is not None:
        terms.append(bind("matmul", a, t[1]))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


declare(OpDef(name="matmul", arity=2, kind="matmul", impl=np.matmul, shape=_matmul_shape,
              vjp=_matmul_vjp,
              jvp=_matmul_jvp, infix="@", cost=2))


# ---- indexing ------------------------------------------------------------------------------

def _one_hot_shape(inputs, attrs):
    x = inputs[0]
    if x.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: labels must be integers, got {x.dtype}")
    depth = attrs["depth"]
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ShapeError(f"one_hot: depth must be a positive int, got {depth!r} (labels of "
                         f"shape {format_shape(x.dims)})")
    return x.dims + (attrs["depth"],), np.dtype(attrs["dtype"])


declare(OpDef(name="one_hot", arity=1, kind="index",
              impl=lambda x, depth, dtype: (x[..., None] == np.arange(depth)).astype(dtype),
              shape=_one_hot_shape, vjp=lambda n, g: [None], jvp=lambda n, t: None,
              differentiable=False, doc="one_hot(labels, depth): rows of the identity"))


def is_elementwise(node: Tensor) -> bool:
    return OPS[node.op].kind == "elementwise"


