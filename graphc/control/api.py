"""``gc.scan``, ``gc.fori_loop``, ``gc.while_loop``, ``gc.cond``, ``gc.switch``.

Each traces the user's function ONCE on placeholders standing for one step's values,
closes the traced graph into a ``Body`` (``graphc.subgraph``) and builds one node per
result over it (``graphc.control.primitives``). The graph's size, and so compile time,
does not depend on the trip count. Contracts follow ``jax.lax``.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import api as A
from ..bind import bind
from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, fresh_uid, topo_order, user_location
from ..subgraph import Body, close
from .trees import describe, flatten, paths, unflatten


def step_placeholder(name: str, dims, dtype, location: str) -> Tensor:
    """A body's stand-in for one step's value, with exactly ``dims`` (run-time sizes kept)."""
    return Tensor.make("placeholder", (), {"name": name, "uid": fresh_uid()}, tuple(dims),
                       dtype, location=location)


def _tensor(v, what: str, loc: str, like: Tensor | None = None) -> Tensor:
    if isinstance(v, Tensor):
        return v
    try:
        return A.lift([v] if like is None else [v, like])[0]
    except UsageError:
        raise UsageError(f"{what}: expected a tensor (or numbers), got {type(v).__name__} "
                         f"({loc})") from None


def _same_shape(a, b) -> bool:
    return len(a) == len(b) and all(x == y or isinstance(x, str) or isinstance(y, str)
                                    for x, y in zip(a, b))


def _check_carry(fn_name: str, new_tree, tree, init: list, loc: str, who: str) -> list:
    """The body's new carry leaves, checked against the initial ones: same structure,
    dtype and shape (a carry is one buffer for every step)."""
    leaves, new = flatten(new_tree)
    if new != tree:
        raise UsageError(f"{fn_name}: {who} returned a carry of structure {describe(new)}, but "
                         f"the initial carry is {describe(tree)} ({loc})")
    out = []
    for path, c0, c in zip(paths(tree), init, leaves):
        c = _tensor(c, f"{fn_name}: carry{path}", loc, like=c0)
        if c.dtype != c0.dtype or not _same_shape(c.dims, c0.dims):
            raise ShapeError(
                f"{fn_name}: the carry{path} is {c0.dtype}{format_shape(c0.dims)} on entry "
                f"but {who} returns {c.dtype}{format_shape(c.dims)} (created at {c.location}); "
                f"a carry keeps its shape and dtype across steps ({loc})")
        out.append(c)
    return out


def _check_no_fresh_random(outputs: list, since: int, what: str, loc: str) -> None:
    """A ``gc.random`` draw made inside a loop's function is traced once, so it would give
    the same numbers at every step: refuse it (a stream's counter is a parameter made when
    the draw is, after ``since``)."""
    for n in topo_order([o for o in outputs if isinstance(o, Tensor)]):
        if n.op == "random_uniform" and any(
                i.op == "parameter" and (i.attr("uid") or 0) > since for i in n.inputs):
            raise UsageError(
                f"{what}: a random draw made inside the loop's function (created at "
                f"{n.location}) is traced once and would repeat the same numbers at every "
                f"step; draw them outside with a leading axis of the number of steps and "
                f"pass them in xs ({loc})")


def _length_of(xs: list, xpaths: list, length, loc: str):
    for x, p in zip(xs, xpaths):
        if x.ndim == 0:
            raise ShapeError(f"scan: xs{p} is a scalar; per-step inputs are sliced along "
                             f"their first axis ({loc})")
    if length is not None:
        if not isinstance(length, numbers.Integral) or isinstance(length, bool) or length < 0:
            raise UsageError(f"scan: length must be an int >= 0, got {length!r} ({loc})")
        length = int(length)
    known = sorted({x.dims[0] for x in xs if isinstance(x.dims[0], int)})
    if length is not None:
        known = sorted(set(known) | {length})
    if len(known) > 1:
        sizes = ", ".join(f"xs{p}: {format_shape(x.dims)}" for x, p in zip(xs, xpaths))
        extra = f"; length={length}" if length is not None else ""
        raise ShapeError(f"scan: per-step inputs disagree on the number of steps ({sizes}"
                         f"{extra}) ({loc})")
    if known:
        return known[0]
    if xs:
        return xs[0].dims[0]      # a run-time size
    raise UsageError(f"scan: pass xs or length= to say how many steps to run ({loc})")


def scan(fn, init, xs=None, length=None, reverse: bool = False, unroll: int = 1,
         checkpoint: int | None = None):
    """Loop ``fn(carry, x) -> (carry, y)`` over the leading axis of ``xs``; returns
    ``(final_carry, stacked_ys)`` (``jax.lax.scan``'s contract).

    ``init``/``xs``/``y`` may be tensors or tuples/lists/dicts of them; ``y`` may be
    ``None``. ``fn`` is traced once: the graph does not grow with the number of steps.
    ``reverse=True`` runs from the last step to the first (``ys[t]`` still pairs with
    ``xs[t]``). ``unroll`` is accepted for compatibility; the backends run a rolled loop.
    ``checkpoint=k`` trades memory for recomputation in reverse mode: the loop becomes a
    scan over segments of ``k`` steps, each a scan, so the gradient saves one carry per
    segment and recomputes a segment's carries while going back through it (``k`` near
    ``sqrt(length)``: memory ~ 2 sqrt(length) carries instead of ``length``).

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (5,))
    >>> total, partial = gc.scan(lambda c, v: (c + v, c + v), gc.constant(0.0), x)
    >>> gc.evaluate([total, partial], {"x": [1., 2., 3., 4., 5.]})
    [array(15., dtype=float32), array([ 1.,  3.,  6., 10., 15.], dtype=float32)]
    """
    loc = user_location()
    if not callable(fn):
        raise UsageError(f"scan: fn must be callable, got {type(fn).__name__} ({loc})")
    if not isinstance(unroll, (numbers.Integral, bool)) or int(unroll) < 1:
        raise UsageError(f"scan: unroll must be an int >= 1 (or a bool), got {unroll!r} ({loc})")
    init_leaves, ctree = flatten(init)
    cpaths = paths(ctree)
    init_leaves = [_tensor(v, f"scan: init{p}", loc) for v, p in zip(init_leaves, cpaths)]
    x_leaves, xtree = flatten(xs)
    xpaths = paths(xtree)
    x_leaves = [_tensor(v, f"scan: xs{p}", loc) for v, p in zip(x_leaves, xpaths)]
    steps = _length_of(x_leaves, xpaths, length, loc)
    if checkpoint is not None:
        if not isinstance(checkpoint, numbers.Integral) or isinstance(checkpoint, bool) \
                or checkpoint < 1:
            raise UsageError(f"scan: checkpoint must be an int >= 1 (steps per segment), got "
                             f"{checkpoint!r} ({loc})")
        if not isinstance(steps, int):
            raise UsageError(f"scan: checkpoint= needs a number of steps known when the graph "
                             f"is built; xs has a run-time first dimension ({loc})")
        if checkpoint < steps:
            return _checkpointed(fn, unflatten(ctree, init_leaves), x_leaves, xtree, steps,
                                 int(checkpoint), bool(reverse))
    since = fresh_uid()
    carry_phs = [step_placeholder(f"carry{p}", c.dims, c.dtype, loc)
                 for c, p in zip(init_leaves, cpaths)]
    x_phs = [step_placeholder(f"x{p}", x.dims[1:], x.dtype, loc)
             for x, p in zip(x_leaves, xpaths)]
    out = fn(unflatten(ctree, carry_phs), unflatten(xtree, x_phs))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise UsageError(f"scan: fn must return a pair (carry, y), got "
                         f"{type(out).__name__} ({loc})")
    new_carry = _check_carry("scan", out[0], ctree, init_leaves, loc, "fn")
    y_leaves, ytree = flatten(out[1])
    y_leaves = [_tensor(v, f"scan: y{p}", loc) for v, p in zip(y_leaves, paths(ytree))]
    _check_no_fresh_random(new_carry + y_leaves, since, "scan", loc)
    inputs, outputs, outer = close(carry_phs + x_phs, new_carry + y_leaves)
    nc, ny = len(carry_phs), len(y_leaves)
    body = Body(inputs, outputs, "scan", {"carry": nc, "x": len(x_phs), "const": len(outer),
                                          "y": ny})
    operands = init_leaves + x_leaves + outer
    results = [bind("scan", *operands, body=body, length=steps, reverse=bool(reverse),
                    output=k) for k in range(nc + ny)]
    return unflatten(ctree, results[:nc]), unflatten(ytree, results[nc:])


def _checkpointed(fn, init, x_leaves: list, xtree, steps: int, k: int, reverse: bool):
    """``scan(fn, init, xs)`` as a scan over ``steps // k`` segments of ``k`` steps (each an
    inner scan) plus a scan over the remaining steps."""
    segments, rest = divmod(steps, k)
    main = segments * k
    seg_x = [bind("reshape", x[:main], shape=(segments, k, *x.dims[1:])) for x in x_leaves]
    tail_x = [x[main:] for x in x_leaves]

    def segment(carry, xs_seg):
        return scan(fn, carry, xs_seg, length=k, reverse=reverse)

    def run_main(carry):
        carry, ys = scan(segment, carry, unflatten(xtree, seg_x) if x_leaves else None,
                         length=segments, reverse=reverse)
        leaves, tree = flatten(ys)
        return carry, [bind("reshape", y, shape=(main, *y.dims[2:])) for y in leaves], tree

    def run_tail(carry):
        carry, ys = scan(fn, carry, unflatten(xtree, tail_x) if x_leaves else None,
                         length=rest, reverse=reverse)
        return carry, flatten(ys)[0]

    if reverse and rest:     # the last steps run first
        carry, tail_ys = run_tail(init)
        carry, main_ys, tree = run_main(carry)
    else:
        carry, main_ys, tree = run_main(init)
        tail_ys = []
        if rest:
            carry, tail_ys = run_tail(carry)
    ys = [A.concatenate([a, b], axis=0) for a, b in zip(main_ys, tail_ys)] if rest else main_ys
    return carry, unflatten(tree, ys)


def fori_loop(lower, upper, body_fn, init):
    """``for i in range(lower, upper): val = body_fn(i, val)``; returns ``val``.

    Static (int) bounds make a ``scan`` (differentiable in both modes); tensor bounds make
    a ``while_loop`` (forward mode only). ``i`` is an int32 scalar tensor.

    >>> import graphc as gc
    >>> gc.evaluate(gc.fori_loop(0, 5, lambda i, v: v * 2.0, gc.constant(1.0)))
    array(32., dtype=float32)
    """
    loc = user_location()
    if not callable(body_fn):
        raise UsageError(f"fori_loop: body_fn must be callable ({loc})")
    static = all(isinstance(b, numbers.Integral) and not isinstance(b, bool)
                 for b in (lower, upper))
    start = A.constant(np.int32(lower)) if static else A.cast(_tensor(lower, "fori_loop",
                                                                      loc), "int32")
    if static:
        def step(carry, _):
            i, val = carry
            return (i + np.int32(1), body_fn(i, val)), None
        (_, out), _ = scan(step, (start, init), length=max(int(upper) - int(lower), 0))
        return out
    stop = A.cast(_tensor(upper, "fori_loop", loc), "int32")

    def more(carry):
        return A.less(carry[0], carry[1])

    def advance(carry):
        i, hi, val = carry
        return i + np.int32(1), hi, body_fn(i, val)

    return while_loop(more, advance, (start, stop, init))[2]


def while_loop(cond_fn, body_fn, init):
    """``while cond_fn(val): val = body_fn(val)``; returns ``val`` (``jax.lax.while_loop``).

    The trip count is known only at run time: forward mode (``gc.jvp``) differentiates
    through it; reverse mode is a ``GradError`` (use ``gc.scan``/``gc.fori_loop`` with
    static bounds).

    >>> import graphc as gc
    >>> n, x = gc.while_loop(lambda c: c[1] < 100.0, lambda c: (c[0] + 1, c[1] * 3.0),
    ...                      (gc.constant(0, "int32"), gc.constant(1.0)))
    >>> gc.evaluate([n, x])
    [array(5, dtype=int32), array(243., dtype=float32)]
    """
    loc = user_location()
    if not callable(cond_fn) or not callable(body_fn):
        raise UsageError(f"while_loop: cond_fn and body_fn must be callable ({loc})")
    leaves, tree = flatten(init)
    cpaths = paths(tree)
    leaves = [_tensor(v, f"while_loop: init{p}", loc) for v, p in zip(leaves, cpaths)]
    since = fresh_uid()
    phs = [step_placeholder(f"carry{p}", c.dims, c.dtype, loc) for c, p in zip(leaves, cpaths)]
    pred = cond_fn(unflatten(tree, phs))
    if isinstance(pred, (bool, np.bool_)):
        pred = A.constant(bool(pred))
    if not isinstance(pred, Tensor) or pred.dims != () or pred.dtype != np.bool_:
        what = (f"{pred.dtype}{format_shape(pred.dims)}" if isinstance(pred, Tensor)
                else type(pred).__name__)
        raise ShapeError(f"while_loop: cond_fn must return a bool scalar, got {what} ({loc})")
    new = _check_carry("while_loop", body_fn(unflatten(tree, phs)), tree, leaves, loc,
                       "body_fn")
    _check_no_fresh_random([pred] + new, since, "while_loop", loc)
    inputs, outputs, outer = close(phs, [pred] + new)
    counts = {"carry": len(phs), "const": len(outer)}
    cond = Body(inputs, outputs[:1], "while_cond", counts)
    body = Body(inputs, outputs[1:], "while_body", counts)
    results = [bind("while_loop", *leaves, *outer, cond=cond, body=body, output=k)
               for k in range(len(leaves))]
    return unflatten(tree, results)


def switch(index, branches, *operands):
    """``branches[index](*operands)``, the index clamped into range (``jax.lax.switch``).

    Every branch is traced; all must return the same structure of tensors with the same
    shapes and dtypes. Gradients flow through the branch taken.

    >>> import graphc as gc
    >>> i = gc.placeholder("i", (), "int32")
    >>> y = gc.switch(i, [lambda v: v + 1.0, lambda v: v * 10.0], gc.constant(2.0))
    >>> gc.evaluate(y, {"i": 1}), gc.evaluate(y, {"i": 7})
    (array(20., dtype=float32), array(20., dtype=float32))
    """
    loc = user_location()
    branches = list(branches)
    if not branches or not all(callable(b) for b in branches):
        raise UsageError(f"switch: branches must be a non-empty list of functions ({loc})")
    if isinstance(index, (numbers.Integral, bool, np.integer, np.bool_)):
        return branches[int(np.clip(int(index), 0, len(branches) - 1))](*operands)
    index = _tensor(index, "switch: index", loc)
    if index.dims != () or index.dtype.kind not in "iub":
        raise ShapeError(f"switch: the index must be an int or bool scalar, got "
                         f"{index.dtype}{format_shape(index.dims)} ({loc})")
    leaves, tree = flatten(tuple(operands))
    opaths = paths(tree)
    leaves = [_tensor(v, f"switch: operand{p}", loc) for v, p in zip(leaves, opaths)]
    phs = [step_placeholder(f"operand{p}", v.dims, v.dtype, loc) for v, p in zip(leaves, opaths)]
    results = [flatten(b(*unflatten(tree, phs))) for b in branches]
    out_tree = results[0][1]
    for k, (_, t) in enumerate(results):
        if t != out_tree:
            raise UsageError(f"switch: branch {k} returns {describe(t)}, branch 0 returns "
                             f"{describe(out_tree)} ({loc})")
    n_out = len(results[0][0])
    outs: list[list[Tensor]] = [[] for _ in branches]
    for j in range(n_out):
        like = next((r[0][j] for r in results if isinstance(r[0][j], Tensor)), None)
        for k, r in enumerate(results):
            outs[k].append(_tensor(r[0][j], f"switch: branch {k} output", loc, like=like))
        first = outs[0][j]
        for k in range(1, len(branches)):
            o = outs[k][j]
            if o.dtype != first.dtype or not _same_shape(o.dims, first.dims):
                path = paths(out_tree)[j]
                raise ShapeError(f"switch: output{path} is {first.dtype}"
                                 f"{format_shape(first.dims)} in branch 0 but {o.dtype}"
                                 f"{format_shape(o.dims)} in branch {k} ({loc})")
    inputs, flat, outer = close(phs, [o for branch in outs for o in branch])
    bodies = tuple(Body(inputs, flat[k * n_out:(k + 1) * n_out], "branch",
                        {"operand": len(phs), "const": len(outer)})
                   for k in range(len(branches)))
    nodes = [bind("switch", index, *leaves, *outer, branches=bodies, output=j)
             for j in range(n_out)]
    return unflatten(out_tree, nodes)


def cond(pred, true_fn, false_fn, *operands):
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)`` (``jax.lax.cond``).

    >>> import graphc as gc
    >>> x = gc.placeholder("x", ())
    >>> y = gc.cond(x > 0, lambda v: v * v, lambda v: -v, x)
    >>> gc.evaluate(y, {"x": 3.0}), gc.evaluate(gc.grad(y, x), {"x": -2.0})
    (array(9., dtype=float32), array(-1., dtype=float32))
    """
    return switch(pred, [false_fn, true_fn], *operands)
