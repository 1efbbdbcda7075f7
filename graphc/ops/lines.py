"""Line primitives: ops computed serially along one axis, one *line* at a time.

A line is the 1-D run of elements along ``axis`` at fixed indices of the other axes. The
scans (``cumsum``, ``cumprod``, ``logcumsumexp``) carry an accumulator along each line
(``reverse``: from the last element back, as JAX's ``lax.cumsum(reverse=True)``);
``argsort`` orders each line (stable; NaN last, or first when ``descending``, ties in
index order either way). All share one kernel kind (``kind="lines"``): C loops over the
lines and runs serially along the axis, CUDA gives each line a thread (``argsort``: each
element, which counts its rank), NumPy calls ``np.cumsum`` and friends.

Derivatives are graphs of these ops and elementwise ones, so second order works:

* ``cumsum``: the vjp is a reversed cumsum; the jvp is a cumsum.
* ``cumprod``: exact with zeros in the input, in O(n) per line: before a line's first
  zero the gradient is ``revcumsum(g * out) / x``; at the first zero it is
  ``revcumsum(g * cumprod(y))`` with that zero replaced by one in ``y``; after it, zero
  (every product there holds the first zero), written as ``x_z * (the same rule on y)``
  so that second derivatives are exact too (third and higher ones at inputs with two or
  more zeros in a line are not). The masks come from ``cumsum(x == 0)``; the graph is
  about twenty elementwise ops and six scans per level.
* ``logcumsumexp``: ``grad_j = sum_{i>=j} g_i exp(x_j - out_i)``, evaluated in log space
  (positive and negative parts of ``g`` apart), so large inputs never overflow.
* ``argsort``: an index, not differentiable (``sort``/``top_k`` take values through
  ``gather``, whose gradient is a ``scatter_add``).
* ``cummax``/``cummin``: the running extreme's value, or with ``index=True`` the index
  holding it; not differentiable as a primitive: ``gc.cummax`` takes the values at that
  index, so the gradient reaches the element that holds the extreme (the latest of
  ties, as torch does).

>>> import numpy as np
>>> _argsort_impl(np.array([2., np.nan, 1., 2.]), axis=0, descending=False, count=None)
array([2, 0, 3, 1])
>>> _argsort_impl(np.array([2., np.nan, 1., 2.]), axis=0, descending=True, count=3)
array([1, 0, 3])
>>> _scan_impl("cumsum", np.array([1, 2, 3]), axis=0, reverse=True)
array([6, 5, 3])
"""
from __future__ import annotations

import functools

import numpy as np

from ..bind import BOOL, OpDef, bind, constant_node, declare
from ..errors import DTypeError, ShapeError
from ..ir import Tensor, format_shape

SCANS = ("cumsum", "cumprod", "logcumsumexp", "cummax", "cummin")

# the NumPy accumulation each scan is (the reference; np.logaddexp.accumulate is stable;
# np.maximum/np.minimum propagate NaN)
_ACCUMULATE = {"cumsum": np.add.accumulate, "cumprod": np.multiply.accumulate,
               "logcumsumexp": np.logaddexp.accumulate, "cummax": np.maximum.accumulate,
               "cummin": np.minimum.accumulate}


def _scan_impl(op: str, x, axis, reverse):
    x = np.asarray(x)
    if x.shape[axis] == 0:
        return x.copy()
    acc = _ACCUMULATE[op]
    if reverse:
        return np.flip(acc(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
    return acc(x, axis=axis, dtype=x.dtype)


def _argsort_impl(x, axis, descending, count):
    """Stable; NaN last ascending and first descending (NumPy's order reversed, ties
    still in index order): ``n - 1 - flip(argsort(flip(x)))``; the first ``count`` along
    the axis (None: all)."""
    x = np.asarray(x)
    if not descending:
        order = np.argsort(x, axis=axis, kind="stable")
    else:
        back = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
        order = x.shape[axis] - 1 - np.flip(back, axis)
    if count is not None:
        order = order[(slice(None),) * axis + (slice(0, count),)]
    return order.astype(np.int64)


def _extreme_impl(op: str, x, axis, reverse, index):
    """cummax/cummin's value, or (``index``) the index holding it: the latest element
    that set or tied the running extreme; once NaN, the first NaN's."""
    x = np.asarray(x)
    if not index:
        return _scan_impl(op, x, axis, reverse)
    if reverse:
        n = x.shape[axis]
        at = _extreme_impl(op, np.flip(x, axis), axis, False, True)
        return np.flip(np.where(at < 0, at, n - 1 - at), axis)
    m = _scan_impl(op, x, axis, False)
    start = np.full_like(np.take(m, [0], axis=axis), np.nan if x.dtype.kind == "f" else 0)
    before = np.concatenate([start, np.take(m, np.arange(m.shape[axis] - 1), axis=axis)], axis)
    nan = np.isnan(x) & ~np.isnan(before) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    first = np.zeros(x.shape, bool)
    first[(slice(None),) * axis + (slice(0, 1),)] = True   # the first element sets it
    holds = (x == m) | nan | first
    iota = np.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    picked = np.where(holds, iota, -1).astype(np.int64)
    return _scan_impl("cummax", picked, axis, False) if x.size else picked


def _check_axis(x: Tensor, axis, op: str) -> None:
    if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < x.ndim:
        raise ShapeError(f"{op}: axis must be an int in [0, {x.ndim}) for "
                         f"{format_shape(x.dims)}, got {axis!r}")


def _scan_shape(op: str):
    def shape(inputs, attrs):
        x = inputs[0]
        _check_axis(x, attrs["axis"], op)
        if not isinstance(attrs["reverse"], bool):
            raise ShapeError(f"{op}: reverse must be a bool, got {attrs['reverse']!r}")
        if x.dtype == BOOL and op not in ("cummax", "cummin"):
            raise DTypeError(f"{op}: needs numbers, got bool (cast first)")
        if op == "logcumsumexp" and x.dtype.kind != "f":
            raise DTypeError(f"{op}: needs a floating-point input, got {x.dtype} of shape "
                             f"{format_shape(x.dims)}")
        if attrs.get("index"):   # cummax/cummin: the index of the extreme
            return x.dims, np.dtype("int64")
        return x.dims, x.dtype
    return shape


def _argsort_shape(inputs, attrs):
    x = inputs[0]
    _check_axis(x, attrs["axis"], "argsort")
    if not isinstance(attrs["descending"], bool):
        raise ShapeError(f"argsort: descending must be a bool, got {attrs['descending']!r}")
    count, axis = attrs["count"], attrs["axis"]
    if count is None:
        return x.dims, np.dtype("int64")
    n = x.dims[axis]
    if not isinstance(count, int) or isinstance(count, bool) or isinstance(n, str) \
            or not 0 <= count <= n:
        raise ShapeError(f"argsort: count must be an int in [0, {n}] (axis {axis} of "
                         f"{format_shape(x.dims)}), got {count!r}")
    return x.dims[:axis] + (count,) + x.dims[axis + 1:], np.dtype("int64")


# ---- graph builders the rules use ----------------------------------------------------------

def scan_node(op: str, x: Tensor, axis: int, reverse: bool = False) -> Tensor:
    if op in ("cummax", "cummin"):
        return extreme_node(op, x, axis, reverse)
    return bind(op, x, axis=int(axis), reverse=bool(reverse))


def extreme_node(op: str, x: Tensor, axis: int, reverse: bool = False,
                 index: bool = False) -> Tensor:
    """``cummax``/``cummin`` of ``x``: the value, or (``index``) where it is, computed in
    the same loop (never by comparing recomputed values, which may differ in the last
    bits between kernels)."""
    return bind(op, x, axis=int(axis), reverse=bool(reverse), index=bool(index))


def argsort_node(x: Tensor, axis: int, descending: bool = False, count=None) -> Tensor:
    """The indices sorting ``x`` along ``axis``, the first ``count`` of them (None: all:
    ``top_k`` keeps k, and the kernels then select rather than sort)."""
    return bind("argsort", x, axis=int(axis), descending=bool(descending),
                count=None if count is None else int(count))


def _scalar(value, like: Tensor) -> Tensor:
    return constant_node(np.asarray(value, dtype=like.dtype))


def _where(cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return bind("where", cond, a, b)


# ---- derivatives ---------------------------------------------------------------------------

def _cumsum_vjp(n: Tensor, g: Tensor):
    return [scan_node("cumsum", g, n.attr("axis"), not n.attr("reverse"))]


def _cumprod_masks(x: Tensor, axis: int, rev: bool):
    """(before, first, x_safe, y, x_z) along ``x``'s lines (in the scan's direction):
    ``before`` marks the elements ahead of the line's first zero, ``first`` that zero;
    ``x_safe`` is ``x`` with 1 from the first zero on; ``y`` is ``x`` with the first zero
    replaced by 1; ``x_z`` is the first zero itself, per line (0, but its derivative is
    that element's: what second order needs)."""
    zero, one = _scalar(0, x), _scalar(1, x)
    is_zero = bind("cast", bind("equal", x, zero), dtype=x.dtype.name)
    zeros_so_far = scan_node("cumsum", is_zero, axis, rev)
    before = bind("equal", zeros_so_far, zero)
    first = bind("equal", zeros_so_far * is_zero, one)   # the count is 1 at the first zero
    x_z = bind("sum", _where(first, x, zero), axes=(axis,), keepdims=True)
    return before, first, _where(before, x, one), _where(first, one, x), x_z


def _cumprod_cotangent(x: Tensor, out: Tensor, g: Tensor, axis: int, rev: bool,
                       deeper: bool) -> Tensor:
    """The vjp of ``out = cumprod(x)``, exact with zeros. Past the first zero ``z`` the
    value is 0, written as ``x_z * (the vjp of cumprod(y))`` so that its derivative in
    ``x_z`` is right too (second order); one level deeper that term is plain 0."""
    before, first, x_safe, y, x_z = _cumprod_masks(x, axis, rev)
    zero = _scalar(0, x)
    cum_y = scan_node("cumprod", y, axis, rev)
    ahead = scan_node("cumsum", g * out, axis, not rev) / x_safe
    at_zero = scan_node("cumsum", g * cum_y, axis, not rev)
    past = x_z * _cumprod_cotangent(y, cum_y, g, axis, rev, False) if deeper else zero
    return _where(before, ahead, _where(first, at_zero, past))


def _cumprod_vjp(n: Tensor, g: Tensor):
    return [_cumprod_cotangent(n.inputs[0], n, g, n.attr("axis"), n.attr("reverse"), True)]


def _cumprod_tangent(x: Tensor, out: Tensor, t: Tensor, axis: int, rev: bool,
                     deeper: bool) -> Tensor:
    """The jvp of ``out = cumprod(x)``, exact with zeros: from the first zero on only the
    zero's own tangent survives in each product, plus (for second order) ``x_z`` times
    the others' tangents through ``cumprod(y)``."""
    before, first, x_safe, y, x_z = _cumprod_masks(x, axis, rev)
    zero = _scalar(0, x)
    cum_y = scan_node("cumprod", y, axis, rev)
    ahead = out * scan_node("cumsum", t / x_safe, axis, rev)
    t_z = bind("sum", _where(first, t, zero), axes=(axis,), keepdims=True)
    past = t_z * cum_y
    if deeper:
        past = past + x_z * _cumprod_tangent(y, cum_y, _where(first, zero, t), axis, rev,
                                             False)
    return _where(before, ahead, past)


def _cumprod_jvp(n: Tensor, t):
    if t[0] is None:
        return None
    return _cumprod_tangent(n.inputs[0], n, t[0], n.attr("axis"), n.attr("reverse"), True)


def _log_parts(v: Tensor):
    """(log of v's positive part, log of its negative part's magnitude), -inf where the
    part is zero (a where inside the log too, so no derivative ever meets log(0))."""
    zero, one, ninf = _scalar(0, v), _scalar(1, v), _scalar(-np.inf, v)
    pos, neg = bind("greater", v, zero), bind("less", v, zero)
    return (_where(pos, bind("log", _where(pos, v, one)), ninf),
            _where(neg, bind("log", _where(neg, bind("neg", v), one)), ninf))


def _finite_out(n: Tensor) -> Tensor:
    """``n`` with -inf (a line prefix of -inf inputs) read as 0: its terms are then
    exp(-inf) = 0 rather than exp(-inf + inf) = NaN."""
    ninf = _scalar(-np.inf, n)
    return _where(bind("equal", n, ninf), _scalar(0, n), n)


def _logcumsumexp_vjp(n: Tensor, g: Tensor):
    x, axis, rev = n.inputs[0], n.attr("axis"), n.attr("reverse")
    out = _finite_out(n)
    lp, ln = _log_parts(g)
    back = [bind("exp", x + scan_node("logcumsumexp", part - out, axis, not rev))
            for part in (lp, ln)]
    return [back[0] - back[1]]


def _logcumsumexp_jvp(n: Tensor, t):
    if t[0] is None:
        return None
    x, axis, rev = n.inputs[0], n.attr("axis"), n.attr("reverse")
    out = _finite_out(n)
    lp, ln = _log_parts(t[0])
    parts = [bind("exp", scan_node("logcumsumexp", x + part, axis, rev) - out)
             for part in (lp, ln)]
    return parts[0] - parts[1]


_DOCS = {
    "cumsum": "running sum along axis (np.cumsum); reverse: from the end",
    "cumprod": "running product along axis (np.cumprod); gradient exact with zeros",
    "logcumsumexp": "running log(sum(exp)) along axis, stable (np.logaddexp.accumulate)",
}

declare(OpDef(name="cumsum", arity=1, kind="lines",
              impl=functools.partial(_scan_impl, "cumsum"),
              shape=_scan_shape("cumsum"), vjp=_cumsum_vjp,
              jvp=lambda n, t: None if t[0] is None else
              scan_node("cumsum", t[0], n.attr("axis"), n.attr("reverse")),
              cost=2, doc=_DOCS["cumsum"]))
declare(OpDef(name="cumprod", arity=1, kind="lines",
              impl=functools.partial(_scan_impl, "cumprod"),
              shape=_scan_shape("cumprod"), vjp=_cumprod_vjp, jvp=_cumprod_jvp,
              cost=2, doc=_DOCS["cumprod"]))
declare(OpDef(name="logcumsumexp", arity=1, kind="lines",
              impl=functools.partial(_scan_impl, "logcumsumexp"),
              shape=_scan_shape("logcumsumexp"), vjp=_logcumsumexp_vjp,
              jvp=_logcumsumexp_jvp, cost=8, doc=_DOCS["logcumsumexp"]))
for _name, _what in (("cummax", "maximum"), ("cummin", "minimum")):
    declare(OpDef(name=_name, arity=1, kind="lines",
                  impl=functools.partial(_extreme_impl, _name),
                  shape=_scan_shape(_name), vjp=lambda n, g: [None], jvp=lambda n, t: None,
                  differentiable=False, cost=2,
                  doc=f"running {_what} along axis (np.{_what}.accumulate; NaN propagates); "
                      f"gc.{_name} differentiates through the index of the extreme"))
declare(OpDef(name="argsort", arity=1, kind="lines", impl=_argsort_impl, shape=_argsort_shape,
              vjp=lambda n, g: [None], jvp=lambda n, t: None, differentiable=False, cost=8,
              doc="indices that sort each line along axis (stable; NaN last, first when "
                  "descending)"))
