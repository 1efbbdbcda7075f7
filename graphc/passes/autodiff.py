"""Autodiff as a graph transform: reverse mode (``grad``, ``hvp``) and forward mode (``jvp``).

Both read each op's rules from its declaration in ``graphc.ops``: elementwise ops
declare their local partial derivatives (reverse mode multiplies the cotangent by
them and sums away broadcast axes; forward mode sums partial * tangent), the other
ops declare ``vjp``/``jvp`` directly. The results are ordinary graph nodes.
"""
from __future__ import annotations

from typing import Sequence

from .. import api as A
from ..errors import GradError
from ..ir import Tensor, as_list, broadcast_dims, format_shape, topo_order, user_location
from ..ops import OPS, unbroadcast


def _check_float(t: Tensor, what: str) -> None:
    if not isinstance(t, Tensor):
        raise GradError(f"{what}: expected a Tensor, got {type(t).__name__} ({user_location()})")
    if t.dtype.kind != "f":
        who = t.name or t.op
        raise GradError(f"{what}: cannot differentiate with respect to {who!r} of integer/bool "
                        f"dtype {t.dtype} ({user_location()})")


def _zeros(t: Tensor) -> Tensor:
    """Zeros shaped like ``t``. A run-time size is only known from a placeholder fed at
    call time, so for those the zeros are built from ``t`` itself (NaN-safe: both
    branches of the ``where`` are zero)."""
    zero = A.constant(0, t.dtype)
    if all(isinstance(d, int) for d in t.dims):
        return A.broadcast_to(zero, t.dims)
    return A.where(A.equal(t, t), zero, zero)


def _uniform(t: Tensor):
    """The value of a constant whose elements are all equal, else None."""
    if t.op != "constant":
        return None
    flat = t.attr("value").array.reshape(-1)
    return flat[0].item() if flat.size and (flat == flat[0]).all() else None


def _neg(g: Tensor) -> Tensor:
    return A.constant(-g.value, g.dtype) if g.op == "constant" else -g


def _scale(g: Tensor, partial) -> Tensor:
    """``g * partial``, written the way a person would: constants folded, ``g * 1``
    dropped, ``g * (1 / x)`` as ``g / x``. The gradient graph stays readable
    (``gc.expr``/``str``) and small before any simplification pass runs."""
    if isinstance(partial, (int, float)):
        if partial == 1:
            return g
        return _neg(g) if partial == -1 else g * partial
    if g.op == "constant" and partial.op == "constant" and g.ndim == partial.ndim == 0:
        return A.constant(g.value * partial.value, g.dtype)
    if _uniform(g) == 1 and partial.dims == g.dims:
        return partial
    if partial.op == "div" and partial.inputs[0].ndim == 0 and _uniform(partial.inputs[0]) == 1:
        return g / partial.inputs[1]
    return g * partial


def _fit(v: Tensor, dims) -> Tensor | None:
    """``v`` broadcast to ``dims`` (a seed or tangent for a tensor of that shape), or None
    if it does not fit. A known size may stand for a run-time one (a (4, 3) seed for a
    (None, 3) output): the shape is relabelled, and the sizes are checked at run time."""
    dims = tuple(dims)
    target = broadcast_dims([v.dims, dims])
    if target is None or v.ndim > len(dims) or not all(
            a == b or isinstance(b, str) for a, b in zip(target, dims)):
        return None
    if target != v.dims:
        v = A.broadcast_to(v, target)
    if v.dims != dims:
        v = Tensor.make("reshape", [v], {"shape": dims}, dims, v.dtype)
    return v


def _dependents(order: list[Tensor], sources: Sequence[Tensor]) -> set[int]:
    """ids of nodes that depend on any of ``sources`` (sources included)."""
    dep = {id(s) for s in sources}
    for n in order:
        if id(n) not in dep and any(id(i) in dep for i in n.inputs):
            dep.add(id(n))
    return dep


def grad(y: Tensor, wrt, seed=None, allow_unused: bool = True):
    """Reverse-mode gradient of ``y`` with respect to ``wrt`` (one tensor or a list).

    ``seed`` is the vector of the vector-Jacobian product (required when ``y`` is
    not a scalar, like ``E.backward(gradient=...)`` in PyTorch). A ``wrt`` that
    ``y`` does not depend on gets zeros (or a ``GradError`` with ``allow_unused=False``).

    >>> import graphc as gc
    >>> a = gc.parameter("a", [2., 4.])
    >>> gc.expr(gc.grad(3*a**3, a, seed=gc.constant([1., 1.])))
    9*a**2
    """
    if not isinstance(y, Tensor):
        raise GradError(f"grad: y must be a Tensor, got {type(y).__name__} ({user_location()})")
    single = isinstance(wrt, Tensor)
    wrts = as_list(wrt)
    for w in wrts:
        _check_float(w, "grad")
    _check_float(y, "grad")
    if seed is None:
        if y.dims != ():
            raise GradError(f"grad: y has shape {format_shape(y.dims)}, not a scalar; pass "
                            f"seed= (a tensor of that shape, as in backward(gradient=...)) "
                            f"({user_location()})")
        seed = A.constant(1, y.dtype)
    else:
        seed = A._lift([seed, y])[0]  # Python data takes y's dtype (weak typing)
        fitted = _fit(seed, y.dims)
        if fitted is None:
            raise GradError(f"grad: seed of shape {format_shape(seed.dims)} does not match "
                            f"y of shape {format_shape(y.dims)} ({user_location()})")
        seed = fitted
        if seed.dtype != y.dtype:
            seed = A.cast(seed, y.dtype)

    order = topo_order([y])
    depends = _dependents(order, wrts)
    cot: dict[int, Tensor] = {id(y): seed}
    wanted = {id(w) for w in wrts}
    for n in reversed(order):
        g = cot.get(id(n))
        if g is None or id(n) not in depends or not n.inputs:
            continue
        if id(n) in wanted and not any(id(i) in depends for i in n.inputs):
            continue
        op = OPS[n.op]
        if not op.differentiable:
            continue
        if op.partials is not None:
            parts = op.partials(n)
            grads = [None if p is None or id(i) not in depends else unbroadcast(_scale(g, p), i.dims)
                     for i, p in zip(n.inputs, parts)]
        else:
            grads = op.vjp(n, g)
        for inp, gi in zip(n.inputs, grads):
            if gi is None or id(inp) not in depends or inp.dtype.kind != "f":
                continue
            if gi.dtype != inp.dtype:
                gi = A.cast(gi, inp.dtype)
            prev = cot.get(id(inp))
            cot[id(inp)] = gi if prev is None else prev + gi

    results = []
    for w in wrts:
        g = cot.get(id(w))
        if g is None:
            if not allow_unused:
                raise GradError(f"grad: y does not depend on {w.name or w.op!r} "
                                f"({user_location()})")
            g = _zeros(w)
        results.append(g)
    return results[0] if single else results


def jvp(y, wrt, tangents):
    """Forward-mode derivative: the change of ``y`` along ``tangents`` at ``wrt``.

    ``y`` may be a tensor or a list; ``wrt``/``tangents`` a tensor or matching lists.

    >>> import graphc as gc
    >>> x = gc.parameter("x", [1., 2.])
    >>> gc.evaluate(gc.jvp(x * x, x, gc.constant([1., 0.])))
    array([2., 0.], dtype=float32)
    """
    single_y = isinstance(y, Tensor)
    ys = as_list(y)
    wrts, ts = as_list(wrt), as_list(tangents)
    if len(wrts) != len(ts):
        raise GradError(f"jvp: {len(wrts)} wrt tensors but {len(ts)} tangents "
                        f"({user_location()})")
    tan: dict[int, Tensor] = {}
    for w, t in zip(wrts, ts):
        _check_float(w, "jvp")
        t = A._lift([t, w])[0]  # Python data takes w's dtype (weak typing)
        fitted = _fit(t, w.dims)
        if fitted is None:
            raise GradError(f"jvp: tangent of shape {format_shape(t.dims)} does not match "
                            f"{w.name or w.op!r} of shape {format_shape(w.dims)} "
                            f"({user_location()})")
        t = fitted
        tan[id(w)] = A.cast(t, w.dtype)
    for n in topo_order(ys):
        if id(n) in tan or not n.inputs:
            continue
        ins = [tan.get(id(i)) for i in n.inputs]
        if all(t is None for t in ins):
            continue
        op = OPS[n.op]
        if not op.differentiable:
            continue
        if op.partials is not None:
            terms = [_scale(t, p) for t, p in zip(ins, op.partials(n))
                     if t is not None and p is not None]
            if not terms:
                continue
            out = terms[0]
            for t in terms[1:]:
                out = out + t
            if out.dims != n.dims:
                out = A.broadcast_to(out, n.dims)
        else:
            out = op.jvp(n, ins)
            if out is None:
                continue
        tan[id(n)] = A.cast(out, n.dtype) if n.dtype.kind == "f" else out
    results = [tan.get(id(o)) if id(o) in tan else _zeros(o) for o in ys]
    return results[0] if single_y else results


def hvp(y: Tensor, wrt, v):
    """Hessian-vector product of scalar ``y``: ``d/dwrt (grad(y, wrt) . v)``.

    >>> import graphc as gc
    >>> x = gc.parameter("x", [1., 2.])
    >>> gc.evaluate(gc.hvp(gc.sum(x ** 3), x, gc.constant([1., 1.])))
    array([ 6., 12.], dtype=float32)
    """
    single = isinstance(wrt, Tensor)
    wrts, vs = as_list(wrt), as_list(v)
    if len(wrts) != len(vs):
        raise GradError(f"hvp: {len(wrts)} wrt tensors but {len(vs)} vectors ({user_location()})")
    gs = grad(y, wrts)
    dot = None
    for g, vec in zip(gs, vs):
        term = A.sum(g * vec)
        dot = term if dot is None else dot + term
    out = grad(dot, wrts)
    return out[0] if single else out
