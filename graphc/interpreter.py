"""The reference interpreter: node by node in NumPy. It defines graphc's semantics."""
from __future__ import annotations

import numpy as np

from .errors import EvalError, FeedError, LinAlgError
from .ir import Tensor, as_list, format_shape, resolve_dims, topo_order
from .ops import OPS
from .value_checks import check_value


def _feed_key(k) -> str | None:
    return k.name if isinstance(k, Tensor) else k


def bind_feeds(placeholders: list[Tensor], feeds: dict) -> tuple[dict, dict]:
    """Check feeds against placeholders; return (uid -> array, symbolic dim -> size)."""
    by_tensor = {id(k): v for k, v in feeds.items() if isinstance(k, Tensor)}
    by_name = {k: v for k, v in feeds.items() if isinstance(k, str)}
    for k in feeds:
        if not isinstance(k, (Tensor, str)):
            raise FeedError(f"feed keys must be placeholders or their names, got {k!r}")
        if isinstance(k, Tensor) and k.op != "placeholder":
            raise FeedError(f"can only feed placeholders, got a {k.op} node")
    known = {p.name for p in placeholders}
    unknown = sorted(set(by_name) - known)
    for name in by_name:
        same = [p for p in placeholders if p.name == name and id(p) not in by_tensor]
        if len(same) > 1:
            raise FeedError(f"feed name {name!r} is ambiguous: the graph has {len(same)} "
                            f"placeholders named {name!r} (created at "
                            f"{', '.join(p.location for p in same)}); feed them by tensor")
    if unknown:
        raise FeedError(f"unknown feed name(s) {unknown}; the graph's placeholders are "
                        f"{sorted(str(n) for n in known)}")
    values: dict = {}
    bindings: dict = {}
    for p in placeholders:
        if id(p) in by_tensor:
            raw = by_tensor[id(p)]
        elif p.name in by_name:
            raw = by_name[p.name]
        else:
            raise FeedError(f"missing feed for placeholder {p.name!r} "
                            f"(shape {format_shape(p.dims)}, {p.dtype})")
        values[id(p)] = check_feed(p, raw, bindings)
    # a placeholder fed by tensor that the outputs do not read still gives its run-time
    # sizes: a gradient like broadcast_to(1.0, x.shape) has x's size but not x itself
    for k, raw in feeds.items():
        if isinstance(k, Tensor) and id(k) not in values:
            check_feed(k, raw, bindings)
    return values, bindings


def check_feed(p: Tensor, raw, bindings: dict) -> np.ndarray:
    """Validate one feed against placeholder ``p`` (binding its symbolic dims)."""
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError):
        raise FeedError(f"feed for {p.name!r}: not an array (ragged lists?)") from None
    if arr.dtype.kind not in "biuf":
        raise FeedError(f"feed for {p.name!r}: expected {p.dtype} data, got {arr.dtype}")
    if p.dtype.kind in "iub" and arr.dtype.kind == "f":
        raise FeedError(f"feed for {p.name!r}: expected {p.dtype}, got {arr.dtype} "
                        f"(floats cannot be cast safely to integers)")
    if arr.ndim != len(p.dims):
        raise FeedError(f"feed for {p.name!r}: expected shape {format_shape(p.dims)} "
                        f"(rank {len(p.dims)}), got shape {arr.shape} (rank {arr.ndim})")
    for axis, (d, n) in enumerate(zip(p.dims, arr.shape)):
        if isinstance(d, str):
            if bindings.setdefault(d, n) != n:
                raise FeedError(f"feed for {p.name!r}: axis {axis} has size {n}, but "
                                f"dimension {d if not d.startswith('?') else 'None'} is "
                                f"{bindings[d]} in another feed")
        elif d != n:
            raise FeedError(f"feed for {p.name!r}: expected shape {format_shape(p.dims)}, "
                            f"got shape {arr.shape}")
    return arr.astype(p.dtype, copy=False)


def run_node(node: Tensor, args: list, bindings: dict) -> np.ndarray:
    """Apply one node's reference implementation to concrete input arrays."""
    attrs = dict(node.attrs)
    if "shape" in attrs:
        unbound = [d for d in attrs["shape"] if isinstance(d, str) and d not in bindings]
        if unbound:  # e.g. the gradient of sum(x) alone: it reads no x to size it by
            raise FeedError(f"{node.op} (created at {node.location}) needs the run-time size "
                            f"{'None' if unbound[0].startswith('?') else unbound[0]}, which no "
                            f"placeholder of the graph provides; evaluate it together with "
                            f"a tensor that reads the placeholder")
        attrs["shape"] = resolve_dims(attrs["shape"], bindings)
    try:
        out = OPS[node.op].impl(*args, **attrs)
    except LinAlgError:   # a singular / not positive-definite matrix: name the op's input
        from .printing.linalg import failure_message
        raise LinAlgError(failure_message(node)) from None
    except (ValueError, TypeError, ArithmeticError) as e:
        # name the user's node, never just NumPy's internals
        shapes = ", ".join(str(np.shape(a)) for a in args)
        raise EvalError(f"{node.op} (created at {node.location}) failed on inputs of shape "
                        f"{shapes}: {e}") from e
    out = np.asarray(out)
    if out.dtype != node.dtype:
        out = out.astype(node.dtype)
    return out


def evaluate(outputs, feeds: dict | None = None):
    """Evaluate ``outputs`` (a tensor or a list) with NumPy, node by node.

    ``feeds`` maps placeholders (or their names) to arrays; parameters use their
    current ``value``.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None,))
    >>> gc.evaluate(2 * x + 1, {"x": [1., 2.]})
    array([3., 5.], dtype=float32)
    """
    single = isinstance(outputs, Tensor)
    outs = as_list(outputs)
    for o in outs:
        if not isinstance(o, Tensor):
            raise FeedError(f"evaluate: outputs must be tensors, got {type(o).__name__}")
    order = topo_order(outs)
    values, bindings = bind_feeds([n for n in order if n.op == "placeholder"], feeds or {})
    for n in order:
        if n.op == "parameter":
            bindings.update({d: s for d, s in zip(n.dims, n.value.shape) if isinstance(d, str)})
    env: dict[int, np.ndarray] = {}
    # free intermediate arrays after their last use so deep graphs stay small in memory
    last_use = {}
    for k, n in enumerate(order):
        for i in n.inputs:
            last_use[id(i)] = k
    keep = {id(o) for o in outs}
    with np.errstate(all="ignore"):
        for k, n in enumerate(order):
            if n.op == "placeholder":
                env[id(n)] = values[id(n)]
            elif n.op == "parameter":
                env[id(n)] = n.value
            else:
                env[id(n)] = run_node(n, [env[id(i)] for i in n.inputs], bindings)
            check_value(n, env[id(n)])  # e.g. cross_entropy's labels in [0, classes)
            for i in n.inputs:
                if last_use[id(i)] == k and id(i) not in keep:
                    env.pop(id(i), None)
    # results the caller may modify: never a parameter's state, a feed, a constant or a view
    # of one (identity ops such as stop_gradient return their input array itself)
    leaf_arrays = {id(values[k]) for k in values}
    leaf_arrays.update(id(n.value) for n in order if n.op in ("parameter", "constant"))
    results = []
    for o in outs:
        arr = env[id(o)]
        if id(arr) in leaf_arrays or not arr.flags.owndata or not arr.flags.writeable:
            arr = np.array(arr, copy=True)
        results.append(arr)
    return results[0] if single else results
