"""Derivatives of loops and branches, as loops and branches over derived bodies.

* ``scan``, reverse mode: a scan in the opposite direction over the saved residuals (the
  carries entering each step, a result of the forward scan itself), whose body is the
  forward body's vector-Jacobian product traced as a graph (``gc.grad`` on the body):
  carry = (cotangent of the carry, accumulated cotangents of the constants), per step =
  (saved carry, x, cotangent of y), per-step output = cotangent of x.
* ``scan``, forward mode: one scan carrying (carry, tangent of the carry), its body the
  forward body plus its ``gc.jvp``.
* ``while_loop``: forward mode as for scan; reverse mode needs the trip count to size the
  saved residuals, which is known only at run time: a ``GradError``.
* ``switch``: a switch on the same index whose branches are each branch's vjp (or jvp).

Derived bodies are themselves bodies of loops, so derivatives of derivatives (an hvp
through a scan) follow. Each derived body is built once per (body, which inputs have
cotangents/tangents) and memoized on the body, so the sibling nodes of one loop share one
derived loop.
"""
from __future__ import annotations

from .. import api as A
from ..bind import bind, built_at
from ..errors import GradError
from ..ir import Tensor, topo_order
from ..passes.autodiff import grad, jvp
from ..subgraph import Body, close
from .api import step_placeholder
from .primitives import scan_counts


def _float(t: Tensor) -> bool:
    return t.dtype.kind == "f"


def zeros_like(t: Tensor) -> Tensor:
    zero = A.constant(0, t.dtype)
    if all(isinstance(d, int) for d in t.dims):
        return A.broadcast_to(zero, t.dims) if t.dims else zero
    return A.where(A.equal(t, t), zero, zero)   # a run-time shape: sized by t itself


def _ph(like: Tensor, name: str) -> Tensor:
    return step_placeholder(name, like.dims, like.dtype, like.location)


def _dot(pairs) -> Tensor | None:
    """sum over pairs of sum(a * b): the scalar whose gradient is the vjp."""
    total = None
    for a, b in pairs:
        term = A.sum(a * b)
        total = term if total is None else total + term
    return total


def _memo(body: Body, key, build):
    found = body.derived.get(key)
    if found is None:
        found = body.derived[key] = build()
    return found


# ---- scan -------------------------------------------------------------------------------

def _scan_parts(body: Body):
    nc, nx, nk, ny = scan_counts(body)
    ins = body.inputs
    return nc, nx, nk, ny, ins[:nc], ins[nc:nc + nx], ins[nc + nx:]


def _ext_output(body: Body, j: int) -> Tensor:
    """Per-step output j of the extended body: the ys, the carries entering the step, then
    the saved residuals."""
    nc, _, _, ny = scan_counts(body)
    if j < ny:
        return body.outputs[nc + j]
    return body.inputs[j - ny] if j < ny + nc else body.residuals[j - ny - nc]


def _save_matmuls(body: Body, outputs: list, cotangent_phs: list) -> tuple[list, list]:
    """Matmul results of the forward body that the backward body would recompute: make them
    residuals of ``body`` (stacked by the forward scan) and read them from placeholders.

    Returns ``(outputs with those nodes replaced, [(residual index, placeholder)])``. Only
    matmuls are saved (JAX's "dots saveable" policy): elementwise work is cheap to redo,
    a step's matmul is not."""
    forward = {id(n) for n in topo_order(list(body.outputs))}
    tangent = {id(p) for p in cotangent_phs}
    order = topo_order(outputs)
    for n in order:
        if id(n) not in tangent and any(id(i) in tangent for i in n.inputs):
            tangent.add(id(n))
    chosen = [n for n in order if n.op == "matmul" and id(n) in forward
              and id(n) not in tangent]
    if not chosen:
        return outputs, []
    mapping, saved = {}, []
    for n in chosen:
        if not any(n is r for r in body.residuals):
            body.residuals.append(n)
        r = next(k for k, m in enumerate(body.residuals) if m is n)
        ph = step_placeholder(f"saved{r}", n.dims, n.dtype, n.location)
        mapping[id(n)] = ph
        saved.append((r, ph))
    new: dict = {}
    for n in order:
        if id(n) in mapping:
            new[id(n)] = mapping[id(n)]
            continue
        ins = [new.get(id(i), i) for i in n.inputs]
        if all(a is b for a, b in zip(ins, n.inputs)):
            new[id(n)] = n
        else:
            with built_at(n.location):
                new[id(n)] = bind(n.op, *ins, **dict(n.attrs))
    return [new.get(id(o), o) for o in outputs], saved


def _scan_vjp_body(body: Body, present: tuple):
    nc, nx, nk, ny, carry, xs, ks = _scan_parts(body)
    fc = [j for j in range(nc) if _float(carry[j])]
    fx = [j for j in range(nx) if _float(xs[j])]
    fk = [k for k in range(nk) if _float(ks[k])]
    ct = [_ph(carry[j], f"ct_{carry[j].name}") for j in fc]
    acc = [_ph(ks[k], f"acc_{ks[k].name}") for k in fk]
    cy = [_ph(_ext_output(body, j), f"cy{j}") for j in present]
    s = _dot([(body.outputs[j], c) for j, c in zip(fc, ct)]
             + [(_ext_output(body, j), c) for j, c in zip(present, cy)])
    wrt = [carry[j] for j in fc] + [xs[j] for j in fx] + [ks[k] for k in fk]
    assert s is not None   # scan_vjp returns early when no result has a cotangent
    grads = grad(s, wrt) if wrt else []
    new_ct = grads[:len(fc)]
    dx = grads[len(fc):len(fc) + len(fx)]
    new_acc = [a + d for a, d in zip(acc, grads[len(fc) + len(fx):])]
    results, saved = _save_matmuls(body, new_ct + new_acc + dx, ct + acc + cy)
    placeholders = ct + acc + list(carry) + list(xs) + cy + [p for _, p in saved] + list(ks)
    inputs, outputs, extras = close(placeholders, results)
    bwd = Body(inputs, outputs, "scan", {"carry": len(ct) + len(acc),
                                          "x": nc + nx + len(cy) + len(saved),
                                          "const": nk + len(extras), "y": len(dx)})
    return bwd, extras, fc, fx, fk, [r for r, _ in saved]


def scan_vjp(n: Tensor, cots: dict) -> list:
    """Cotangents of a scan's operands from those of its results (``{output: cot}``)."""
    body, length, reverse = n.attr("body"), n.attr("length"), n.attr("reverse")
    nc, nx, nk, ny = scan_counts(body)
    ins = n.inputs
    init, xs, ks = ins[:nc], ins[nc:nc + nx], ins[nc + nx:]
    present = tuple(j for j in range(ny + nc + len(body.residuals))
                    if nc + j in cots and _float(_ext_output(body, j)))
    has_carry_cot = any(o < nc for o in cots)
    if not present and not has_carry_cot:
        return [None] * len(ins)
    bwd, extras, fc, fx, fk, res = _memo(body, ("vjp", present),
                                         lambda: _scan_vjp_body(body, present))
    saved = [bind("scan", *ins, body=body, length=length, reverse=reverse, output=nc + ny + j)
             for j in range(nc)]
    stacked = [bind("scan", *ins, body=body, length=length, reverse=reverse,
                    output=2 * nc + ny + r) for r in res]
    ct0 = [cots[j] if j in cots else zeros_like(init[j]) for j in fc]
    acc0 = [zeros_like(ks[k]) for k in fk]
    cy = [cots[nc + j] for j in present]
    operands = ct0 + acc0 + saved + list(xs) + cy + stacked + list(ks) + list(extras)
    nbc = len(fc) + len(fk)
    out = [bind("scan", *operands, body=bwd, length=length, reverse=not reverse, output=k)
           for k in range(nbc + len(fx))]
    result: list = [None] * len(ins)
    for i, j in enumerate(fc):
        result[j] = out[i]
    for i, k in enumerate(fk):
        result[nc + nx + k] = out[len(fc) + i]
    for i, j in enumerate(fx):
        result[nc + j] = out[nbc + i]
    return result


def _scan_jvp_body(body: Body, tx: tuple, tk: tuple):
    nc, nx, nk, ny, carry, xs, ks = _scan_parts(body)
    fc = [j for j in range(nc) if _float(carry[j])]
    fy = [j for j in range(ny) if _float(body.outputs[nc + j])]
    tc_ph = [_ph(carry[j], f"t_{carry[j].name}") for j in fc]
    tx_ph = [_ph(xs[j], f"t_{xs[j].name}") for j in tx]
    tk_ph = [_ph(ks[k], f"t_{ks[k].name}") for k in tk]
    wrt = [carry[j] for j in fc] + [xs[j] for j in tx] + [ks[k] for k in tk]
    res = list(body.residuals)   # their tangents: the tangent scan's own residuals
    outs = [body.outputs[j] for j in fc] + [body.outputs[nc + j] for j in fy] + res
    tans = jvp(outs, wrt, tc_ph + tx_ph + tk_ph) if outs else []
    n_out = len(fc) + len(fy)
    placeholders = list(carry) + tc_ph + list(xs) + tx_ph + list(ks) + tk_ph
    new = list(body.outputs[:nc]) + tans[:len(fc)] + list(body.outputs[nc:]) \
        + tans[len(fc):n_out]
    inputs, outputs, extras = close(placeholders, new + tans[n_out:])
    fwd = Body(inputs, outputs[:len(new)], "scan",
               {"carry": nc + len(fc), "x": nx + len(tx), "const": nk + len(tk) + len(extras),
                "y": ny + len(fy)})
    fwd.residuals.extend(outputs[len(new):])
    return fwd, extras, fc, fy


def scan_jvp(n: Tensor, tangents: list):
    body, length, reverse = n.attr("body"), n.attr("length"), n.attr("reverse")
    out = n.attr("output")
    nc, nx, nk, ny = scan_counts(body)
    ins = n.inputs
    init, xs, ks = ins[:nc], ins[nc:nc + nx], ins[nc + nx:]
    tx = tuple(j for j in range(nx) if tangents[nc + j] is not None and _float(xs[j]))
    tk = tuple(k for k in range(nk) if tangents[nc + nx + k] is not None and _float(ks[k]))
    if not _float(n) or (not tx and not tk and all(t is None for t in tangents[:nc])):
        return None
    fwd, extras, fc, fy = _memo(body, ("jvp", tx, tk, len(body.residuals)),
                                lambda: _scan_jvp_body(body, tx, tk))
    tc0 = [tangents[j] if tangents[j] is not None else zeros_like(init[j]) for j in fc]
    operands = (list(init) + tc0 + list(xs) + [tangents[nc + j] for j in tx] + list(ks)
                + [tangents[nc + nx + k] for k in tk] + list(extras))
    nc2, ny2 = nc + len(fc), ny + len(fy)
    if out < nc:
        index = nc + fc.index(out)
    elif out < nc + ny:
        index = nc2 + ny + fy.index(out - nc)
    elif out < 2 * nc + ny:   # a saved carry: the tangent scan's own saved tangent carry
        index = nc2 + ny2 + nc + fc.index(out - nc - ny)
    else:                     # a saved residual: its tangent, saved by the tangent scan
        index = nc2 + ny2 + nc2 + (out - 2 * nc - ny)
    return bind("scan", *operands, body=fwd, length=length, reverse=reverse, output=index)


# ---- while_loop ---------------------------------------------------------------------------

def while_vjp(n: Tensor):
    raise GradError(
        f"while_loop (created at {n.location}): reverse-mode differentiation needs the "
        f"number of iterations to save each step's carry, and a while_loop's is known only "
        f"at run time; use gc.scan or gc.fori_loop with int bounds (a fixed trip count), "
        f"or forward mode (gc.jvp)")


def _while_jvp_body(cond: Body, body: Body, tk: tuple):
    nc = body.counts["carry"]
    carry, ks = body.inputs[:nc], body.inputs[nc:]
    fc = [j for j in range(nc) if _float(carry[j])]
    tc_ph = [_ph(carry[j], f"t_{carry[j].name}") for j in fc]
    tk_ph = [_ph(ks[k], f"t_{ks[k].name}") for k in tk]
    outs = [body.outputs[j] for j in fc]
    tans = jvp(outs, [carry[j] for j in fc] + [ks[k] for k in tk], tc_ph + tk_ph) \
        if outs else []
    placeholders = list(carry) + tc_ph + list(ks) + tk_ph
    inputs, outputs, extras = close(placeholders, [cond.outputs[0]] + list(body.outputs) + tans)
    counts = {"carry": nc + len(fc), "const": len(ks) + len(tk) + len(extras)}
    return (Body(inputs, outputs[:1], "while_cond", counts),
            Body(inputs, outputs[1:], "while_body", counts), extras, fc)


def while_jvp(n: Tensor, tangents: list):
    cond, body, out = n.attr("cond"), n.attr("body"), n.attr("output")
    nc = body.counts["carry"]
    init, ks = n.inputs[:nc], n.inputs[nc:]
    tk = tuple(k for k in range(len(ks)) if tangents[nc + k] is not None and _float(ks[k]))
    if not _float(n) or (not tk and all(t is None for t in tangents[:nc])):
        return None
    tcond, tbody, extras, fc = _memo(body, ("jvp", tk), lambda: _while_jvp_body(cond, body, tk))
    tc0 = [tangents[j] if tangents[j] is not None else zeros_like(init[j]) for j in fc]
    operands = list(init) + tc0 + list(ks) + [tangents[nc + k] for k in tk] + list(extras)
    return bind("while_loop", *operands, cond=tcond, body=tbody, output=nc + fc.index(out))


# ---- switch -------------------------------------------------------------------------------

def _switch_vjp_bodies(branches: tuple, present: tuple):
    phs = branches[0].inputs
    fin = [i for i, p in enumerate(phs) if _float(p)]
    ct = [_ph(branches[0].outputs[o], f"ct{o}") for o in present]
    grads: list[Tensor] = []
    for b in branches:
        s = _dot([(b.outputs[o], c) for o, c in zip(present, ct)])
        assert s is not None   # switch_vjp returns early when no output has a cotangent
        grads += grad(s, [phs[i] for i in fin]) if fin else []
    inputs, outs, extras = close(list(phs) + ct, grads)
    m = len(fin)
    counts = {"operand": len(phs) + len(ct), "const": len(extras)}
    bodies = tuple(Body(inputs, outs[k * m:(k + 1) * m], "branch", counts)
                   for k in range(len(branches)))
    return bodies, extras, fin


def switch_vjp(n: Tensor, cots: dict) -> list:
    branches = n.attr("branches")
    present = tuple(sorted(o for o in cots if _float(branches[0].outputs[o])))
    if not present:
        return [None] * len(n.inputs)
    bodies, extras, fin = _memo(branches[0], ("vjp", present),
                                lambda: _switch_vjp_bodies(branches, present))
    operands = list(n.inputs) + [cots[o] for o in present] + list(extras)
    result: list = [None] * len(n.inputs)
    for k, i in enumerate(fin):
        result[1 + i] = bind("switch", *operands, branches=bodies, output=k)
    return result


def _switch_jvp_bodies(branches: tuple, tin: tuple):
    phs = branches[0].inputs
    n_out = len(branches[0].outputs)
    fo = [o for o in range(n_out) if _float(branches[0].outputs[o])]
    t_ph = [_ph(phs[i], f"t_{phs[i].name}") for i in tin]
    flat = []
    for b in branches:
        tans = jvp([b.outputs[o] for o in fo], [phs[i] for i in tin], t_ph) if fo else []
        flat += list(b.outputs) + tans
    inputs, outs, extras = close(list(phs) + t_ph, flat)
    m = n_out + len(fo)
    counts = {"operand": len(phs) + len(t_ph), "const": len(extras)}
    bodies = tuple(Body(inputs, outs[k * m:(k + 1) * m], "branch", counts)
                   for k in range(len(branches)))
    return bodies, extras, fo


def switch_jvp(n: Tensor, tangents: list):
    branches, out = n.attr("branches"), n.attr("output")
    ops = n.inputs[1:]
    tin = tuple(i for i, t in enumerate(tangents[1:]) if t is not None and _float(ops[i]))
    if not tin or not _float(n):
        return None
    bodies, extras, fo = _memo(branches[0], ("jvp", tin),
                               lambda: _switch_jvp_bodies(branches, tin))
    operands = list(n.inputs) + [tangents[1 + i] for i in tin] + list(extras)
    return bind("switch", *operands, branches=bodies,
                output=len(branches[0].outputs) + fo.index(out))
