"""The benchmark cases of ``benchmarks/run.py``, written once per library.

Each ``case_*`` function takes an implementation name and returns a ``make()`` that
builds (compiles) the implementation and returns a no-argument ``run()`` producing its
outputs; or a string saying why it is skipped; or None where the case does not apply.
The ``*_reference`` functions compute the float64 NumPy answers every output is checked
against. Peers are imported inside their branches, so a missing one only skips itself.
"""
from __future__ import annotations

import time

from typing import TYPE_CHECKING

import numpy as np

import graphc as gc

if TYPE_CHECKING:  # run.py imports this module: the annotation only, no import cycle
    from run import Sizes

GRAPHC_BACKENDS = {"graphc-numpy": ("numpy", {}), "graphc-c": ("c", {}),
                   "graphc-cuda-emulate": ("cuda", {"device": "emulate"})}


# ---- the functions every implementation computes (written once per library) -----------------

def chain_expr(m, x):
    return m.tanh(x * 1.5 + 0.5) * m.exp(-x * x) + m.sin(x) * 0.5


def chain_grad_np(x):
    return chain_fwd_bwd_np(x)[1]


def chain_fwd_bwd_np(x):
    """Forward and gradient by hand, sharing tanh and exp as a careful person would."""
    t = np.tanh(x * 1.5 + 0.5)
    e = np.exp(-x * x)
    te = t * e
    y = te + np.sin(x) * 0.5
    return [y, (1 - t * t) * 1.5 * e + te * (-2 * x) + 0.5 * np.cos(x)]


CHAIN_NE = "tanh(x * 1.5 + 0.5) * exp(-x * x) + sin(x) * 0.5"
CHAIN_GRAD_NE = ("(1 - tanh(x * 1.5 + 0.5)**2) * 1.5 * exp(-x * x) "
                 "- 2 * x * tanh(x * 1.5 + 0.5) * exp(-x * x) + 0.5 * cos(x)")


def softmax_np(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def mlp_reference(x, labels, params, lr):
    """Loss and parameters after one SGD step, by hand in float64."""
    W1, b1, W2, b2 = (p.astype(np.float64) for p in params)
    x = x.astype(np.float64)
    h_pre = x @ W1 + b1
    h = np.maximum(h_pre, 0)
    logits = h @ W2 + b2
    p = softmax_np(logits)
    n = len(labels)
    loss = -np.mean(np.log(p[np.arange(n), labels]))
    d_logits = p.copy()
    d_logits[np.arange(n), labels] -= 1
    d_logits /= n
    gW2, gb2 = h.T @ d_logits, d_logits.sum(0)
    dh = (d_logits @ W2.T) * (h_pre > 0)
    gW1, gb1 = x.T @ dh, dh.sum(0)
    new = [W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2, b2 - lr * gb2]
    return [np.array(loss)] + new


# ---- cases ---------------------------------------------------------------------------------

def case_tutorial(impl: str, sizes: Sizes, data):
    a0, b0 = np.array([2., 4.], np.float32), np.array([7., 5.], np.float32)
    if impl in GRAPHC_BACKENDS:
        backend, opts = GRAPHC_BACKENDS[impl]

        def make():
            a, b = gc.parameter("a", a0), gc.parameter("b", b0)
            da, db = gc.grad(3 * a**3 - b**2, [a, b], seed=gc.constant([1., 1.]))
            f = gc.compile([da, db], backend=backend, **opts)
            return lambda: f()
        return make
    if impl == "numpy":
        return lambda: (lambda: [9 * a0**2, -2 * b0])
    if impl in ("torch", "torch.compile"):
        import torch

        def make():
            a = torch.tensor(a0, requires_grad=True)
            b = torch.tensor(b0, requires_grad=True)
            seed = torch.ones(2)

            def fwd(a, b):
                return 3 * a**3 - b**2
            f = torch.compile(fwd) if impl == "torch.compile" else fwd

            def run():
                return list(torch.autograd.grad(f(a, b), [a, b], seed))
            return run
        return make
    if impl == "jax-jit":
        import jax
        import jax.numpy as jnp

        def make():
            g = jax.jit(jax.grad(lambda a, b: jnp.sum(3 * a**3 - b**2), argnums=(0, 1)))
            a, b = jnp.asarray(a0), jnp.asarray(b0)
            return lambda: [v.block_until_ready() for v in g(a, b)]
        return make
    if impl == "pytensor":
        import pytensor
        import pytensor.tensor as pt

        def make():
            a, b = pt.vector("a", dtype="float32"), pt.vector("b", dtype="float32")
            E = pt.sum(3 * a**3 - b**2)
            f = pytensor.function([a, b], pytensor.grad(E, [a, b]))
            return lambda: f(a0, b0)
        return make
    return None


def tutorial_reference(data):
    return [np.array([36., 144.]), np.array([-14., -10.])]


def _chain(impl: str, sizes: Sizes, data, backward: bool):
    x = data["chain_x"]
    if impl in GRAPHC_BACKENDS:
        if impl == "graphc-cuda-emulate" and x.size > sizes.emulate_max:
            return "skipped: CPU emulation of CUDA, size above --emulate-max"
        backend, opts = GRAPHC_BACKENDS[impl]

        def make():
            X = gc.placeholder("x", (None,))
            y = chain_expr(gc, X)
            outs = [y, gc.grad(gc.sum(y), X)] if backward else [y]
            f = gc.compile(outs, inputs=[X], backend=backend, **opts)
            return lambda: f(x)
        return make
    if impl == "numpy":
        if backward:
            return lambda: (lambda: chain_fwd_bwd_np(x))
        return lambda: (lambda: [chain_expr(np, x)])
    if impl == "numexpr":
        import numexpr as ne
        return lambda: (lambda: [ne.evaluate(CHAIN_NE, local_dict={"x": x})]
                        + ([ne.evaluate(CHAIN_GRAD_NE, local_dict={"x": x})] if backward else []))
    if impl in ("torch", "torch.compile"):
        import torch

        def make():
            xt = torch.from_numpy(x)
            if backward:
                def step(xt):
                    xt = xt.detach().requires_grad_(True)
                    y = chain_expr(torch, xt)
                    (g,) = torch.autograd.grad(y.sum(), [xt])
                    return y.detach(), g
                f = torch.compile(step) if impl == "torch.compile" else step
                return lambda: list(f(xt))
            fwd = (lambda v: chain_expr(torch, v))
            f = torch.compile(fwd) if impl == "torch.compile" else fwd

            def run():
                with torch.no_grad():
                    return [f(xt)]
            return run
        return make
    if impl == "jax-jit":
        import jax
        import jax.numpy as jnp

        def make():
            xj = jnp.asarray(x)
            if backward:
                def fb(v):
                    y, vjp = jax.vjp(lambda u: chain_expr(jnp, u), v)
                    return y, vjp(jnp.ones_like(y))[0]
                f = jax.jit(fb)
                return lambda: [o.block_until_ready() for o in f(xj)]
            f = jax.jit(lambda v: chain_expr(jnp, v))
            return lambda: [f(xj).block_until_ready()]
        return make
    if impl == "pytensor":
        import pytensor
        import pytensor.tensor as pt

        def make():
            v = pt.vector("x", dtype="float32")
            y = chain_expr(pt, v)
            outs = [y, pytensor.grad(pt.sum(y), v)] if backward else [y]
            f = pytensor.function([v], outs)
            return lambda: f(x)
        return make
    return None


def case_chain_fwd(impl, sizes, data):
    return _chain(impl, sizes, data, False)


def case_chain_bwd(impl, sizes, data):
    return _chain(impl, sizes, data, True)


def chain_reference(data, backward):
    x = data["chain_x"].astype(np.float64)
    return [chain_expr(np, x)] + ([chain_grad_np(x)] if backward else [])


def case_mlp(impl, sizes, data):
    x, labels, params, lr = data["mlp_x"], data["mlp_labels"], data["mlp_params"], 0.1
    if impl in GRAPHC_BACKENDS:
        if impl == "graphc-cuda-emulate" and x.size * 256 > sizes.emulate_max * 64:
            return "skipped: CPU emulation of CUDA, size above --emulate-max"
        backend, opts = GRAPHC_BACKENDS[impl]

        def make():
            X = gc.placeholder("x", (None, 784))
            y = gc.placeholder("labels", (None,), "int32")
            ps = [gc.parameter(n, p) for n, p in zip(("W1", "b1", "W2", "b2"), params)]
            W1, b1, W2, b2 = ps
            loss = gc.cross_entropy(gc.relu(X @ W1 + b1) @ W2 + b2, y)
            grads = gc.grad(loss, ps)
            f = gc.compile(loss, inputs=[X, y],
                           updates={p: p - lr * g for p, g in zip(ps, grads)},
                           backend=backend, **opts)
            lab = labels.astype(np.int32)
            return lambda: [f(x, lab)] + [p.value for p in ps]
        return make
    if impl == "numpy":
        def make():
            ps = [p.copy() for p in params]

            def run():
                out = mlp_reference_f32(x, labels, ps, lr)
                ps[:] = out[1:]
                return out
            return run
        return make
    if impl in ("torch", "torch.compile"):
        import torch
        import torch.nn.functional as F

        def make():
            ps = [torch.tensor(p, requires_grad=True) for p in params]
            xt, yt = torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))

            def loss_fn(x, y, W1, b1, W2, b2):
                return F.cross_entropy(torch.relu(x @ W1 + b1) @ W2 + b2, y)
            f = torch.compile(loss_fn) if impl == "torch.compile" else loss_fn

            def run():
                loss = f(xt, yt, *ps)
                grads = torch.autograd.grad(loss, ps)
                with torch.no_grad():
                    for p, g in zip(ps, grads):
                        p -= lr * g
                return [loss.detach()] + [p.detach().clone() for p in ps]
            return run
        return make
    if impl == "jax-jit":
        import jax
        import jax.numpy as jnp

        def make():
            def loss_fn(ps, x, y):
                W1, b1, W2, b2 = ps
                logits = jax.nn.relu(x @ W1 + b1) @ W2 + b2
                return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None],
                                                     axis=1))

            @jax.jit
            def step(ps, x, y):
                loss, grads = jax.value_and_grad(loss_fn)(ps, x, y)
                return loss, [p - lr * g for p, g in zip(ps, grads)]
            state = [[jnp.asarray(p) for p in params]]
            xj, yj = jnp.asarray(x), jnp.asarray(labels.astype(np.int32))

            def run():
                loss, state[0] = step(state[0], xj, yj)
                loss.block_until_ready()
                return [loss] + list(state[0])
            return run
        return make
    if impl == "pytensor":
        import pytensor
        import pytensor.tensor as pt

        def make():
            ps = [pytensor.shared(p.copy(), name=n) for n, p in
                  zip(("W1", "b1", "W2", "b2"), params)]
            W1, b1, W2, b2 = ps
            xv, yv = pt.matrix("x", dtype="float32"), pt.ivector("y")
            logits = pt.maximum(xv @ W1 + b1, 0) @ W2 + b2
            logp = logits - pt.logsumexp(logits, axis=1, keepdims=True)
            loss = -pt.mean(logp[pt.arange(yv.shape[0]), yv])
            grads = pytensor.grad(loss, ps)
            f = pytensor.function([xv, yv], loss,
                                  updates=[(p, p - np.float32(lr) * g) for p, g in zip(ps, grads)])
            lab = labels.astype(np.int32)
            return lambda: [f(x, lab)] + [p.get_value() for p in ps]
        return make
    return None


def mlp_reference_f32(x, labels, params, lr):
    """The NumPy-by-hand implementation timed in the table (float32, like the others)."""
    W1, b1, W2, b2 = params
    n = len(labels)
    h_pre = x @ W1 + b1
    h = np.maximum(h_pre, 0)
    logits = h @ W2 + b2
    p = softmax_np(logits)
    loss = -np.mean(np.log(p[np.arange(n), labels]))
    d = p
    d[np.arange(n), labels] -= 1
    d /= n
    gW2, gb2 = h.T @ d, d.sum(0)
    dh = (d @ W2.T) * (h_pre > 0)
    gW1, gb1 = x.T @ dh, dh.sum(0)
    lr = np.float32(lr)
    return [np.array(loss), W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2, b2 - lr * gb2]


def case_softmax(impl, sizes, data):
    x, r = data["sm_x"], data["sm_r"]
    if impl in GRAPHC_BACKENDS:
        if impl == "graphc-cuda-emulate" and x.size > sizes.emulate_max:
            return "skipped: CPU emulation of CUDA, size above --emulate-max"
        backend, opts = GRAPHC_BACKENDS[impl]

        def make():
            X = gc.placeholder("x", (None, x.shape[1]))
            R = gc.placeholder("r", (None, x.shape[1]))
            y = gc.softmax(X, axis=-1)
            f = gc.compile([y, gc.grad(gc.sum(y * R), X)], inputs=[X, R], backend=backend,
                           **opts)
            return lambda: f(x, r)
        return make
    if impl == "numpy":
        def run():
            y = softmax_np(x)
            return [y, y * (r - (y * r).sum(-1, keepdims=True))]
        return lambda: run
    if impl in ("torch", "torch.compile"):
        import torch

        def make():
            xt, rt = torch.from_numpy(x), torch.from_numpy(r)

            def step(xt, rt):
                xt = xt.detach().requires_grad_(True)
                y = torch.softmax(xt, -1)
                (g,) = torch.autograd.grad((y * rt).sum(), [xt])
                return y.detach(), g
            f = torch.compile(step) if impl == "torch.compile" else step
            return lambda: list(f(xt, rt))
        return make
    if impl == "jax-jit":
        import jax
        import jax.numpy as jnp

        def make():
            def fb(x, r):
                y, vjp = jax.vjp(lambda u: jax.nn.softmax(u, axis=-1), x)
                return y, vjp(r)[0]
            f = jax.jit(fb)
            xj, rj = jnp.asarray(x), jnp.asarray(r)
            return lambda: [o.block_until_ready() for o in f(xj, rj)]
        return make
    if impl == "pytensor":
        import pytensor
        import pytensor.tensor as pt
        from pytensor.tensor.special import softmax

        def make():
            xv, rv = pt.matrix("x", dtype="float32"), pt.matrix("r", dtype="float32")
            y = softmax(xv, axis=-1)
            f = pytensor.function([xv, rv], [y, pytensor.grad(pt.sum(y * rv), xv)])
            return lambda: f(x, r)
        return make
    return None


def softmax_reference(data):
    x, r = data["sm_x"].astype(np.float64), data["sm_r"].astype(np.float64)
    y = softmax_np(x)
    return [y, y * (r - (y * r).sum(-1, keepdims=True))]


# ---- the issue-17 workloads: a 3-input elementwise loss, attention ----------------------------

def ew3_np(a, b, c):
    """Loss and its three gradients by hand, sharing tanh, sigmoid and exp."""
    t, s, e = np.tanh(a), 1 / (1 + np.exp(-b)), np.exp(c)
    se = s * e
    tse = t * se
    return [np.array(tse.sum()), (1 - t * t) * se, tse * (1 - s), tse]


def case_elementwise3(impl, sizes, data):
    a, b, c = data["ew3_a"], data["ew3_b"], data["ew3_c"]
    if impl in GRAPHC_BACKENDS:
        if impl == "graphc-cuda-emulate" and a.size > sizes.emulate_max:
            return "skipped: CPU emulation of CUDA, size above --emulate-max"
        backend, opts = GRAPHC_BACKENDS[impl]

        def make():
            # one named run-time length: the three inputs share it (with three anonymous
            # dims, the gradient's reshape between them hides the shared product from CSE)
            A, B, C = (gc.placeholder(n, ("n",)) for n in "abc")
            loss = gc.sum(gc.tanh(A) * gc.sigmoid(B) * gc.exp(C))
            f = gc.compile([loss, *gc.grad(loss, [A, B, C])], inputs=[A, B, C],
                           backend=backend, **opts)
            return lambda: f(a, b, c)
        return make
    if impl == "numpy":
        return lambda: (lambda: ew3_np(a, b, c))
    if impl in ("torch", "torch.compile"):
        import torch

        def make():
            ts = [torch.from_numpy(v) for v in (a, b, c)]

            def step(a, b, c):
                vs = [v.detach().requires_grad_(True) for v in (a, b, c)]
                loss = (torch.tanh(vs[0]) * torch.sigmoid(vs[1]) * torch.exp(vs[2])).sum()
                return [loss.detach(), *torch.autograd.grad(loss, vs)]
            f = torch.compile(step) if impl == "torch.compile" else step
            return lambda: list(f(*ts))
        return make
    if impl == "jax-jit":
        import jax
        import jax.numpy as jnp

        def make():
            def loss(a, b, c):
                return jnp.sum(jnp.tanh(a) * jax.nn.sigmoid(b) * jnp.exp(c))
            f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
            js = [jnp.asarray(v) for v in (a, b, c)]

            def run():
                v, g = f(*js)
                return [x.block_until_ready() for x in (v, *g)]
            return run
        return make
    return None


def elementwise3_reference(data):
    return ew3_np(*(data[k].astype(np.float64) for k in ("ew3_a", "ew3_b", "ew3_c")))


def attention_np(q, k, v, r):
    """softmax(q k^T / 8) v and the gradients of sum(out * r) w.r.t. q, k, v, by hand."""
    s = q @ np.swapaxes(k, -1, -2) / 8
    p = softmax_np(s)
    out = p @ v
    dv = np.swapaxes(p, -1, -2) @ r
    dp = r @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) / 8
    return [out, ds @ k, np.swapaxes(ds, -1, -2) @ q, dv]


def case_attention(impl, sizes, data):
    q, k, v, r = (data[f"att_{n}"] for n in "qkvr")
    if impl in GRAPHC_BACKENDS:
        if impl == "graphc-cuda-emulate" and q.size * 64 > sizes.emulate_max:
            return "skipped: CPU emulation of CUDA, size above --emulate-max"
        backend, opts = GRAPHC_BACKENDS[impl]

        def make():
            Q, K, V, R = (gc.placeholder(n, (None,) + q.shape[1:]) for n in "QKVR")
            out = gc.softmax(Q @ gc.swapaxes(K, -1, -2) / 8.0, axis=-1) @ V
            f = gc.compile([out, *gc.grad(gc.sum(out * R), [Q, K, V])], inputs=[Q, K, V, R],
                           backend=backend, **opts)
            return lambda: f(q, k, v, r)
        return make
    if impl == "numpy":
        return lambda: (lambda: attention_np(q, k, v, r))
    if impl in ("torch", "torch.compile"):
        import torch

        def make():
            ts = [torch.from_numpy(x) for x in (q, k, v, r)]

            def step(q, k, v, r):
                vs = [x.detach().requires_grad_(True) for x in (q, k, v)]
                out = torch.softmax(vs[0] @ vs[1].transpose(-1, -2) / 8, -1) @ vs[2]
                return [out.detach(), *torch.autograd.grad(out, vs, r)]
            f = torch.compile(step) if impl == "torch.compile" else step
            return lambda: list(f(*ts))
        return make
    if impl == "jax-jit":
        import jax
        import jax.numpy as jnp

        def make():
            def fb(q, k, v, r):
                out, vjp = jax.vjp(lambda q, k, v: jax.nn.softmax(
                    q @ jnp.swapaxes(k, -1, -2) / 8, axis=-1) @ v, q, k, v)
                return (out, *vjp(r))
            f = jax.jit(fb)
            js = [jnp.asarray(x) for x in (q, k, v, r)]
            return lambda: [o.block_until_ready() for o in f(*js)]
        return make
    return None


def attention_reference(data):
    return attention_np(*(data[f"att_{n}"].astype(np.float64) for n in "qkvr"))


CASES = {
    "tutorial": (case_tutorial, tutorial_reference, "E = 3a^3 - b^2: dE/da, dE/db (2 elements)",
                 (1e-5, 1e-5)),
    "chain_fwd": (case_chain_fwd, lambda d: chain_reference(d, False),
                  "elementwise chain, forward", (1e-4, 1e-5)),
    "chain_bwd": (case_chain_bwd, lambda d: chain_reference(d, True),
                  "elementwise chain, forward + gradient", (1e-4, 1e-5)),
    "mlp": (case_mlp, None, "MLP 784-256-10 SGD step, batch 256", (2e-3, 1e-5)),
    "softmax": (case_softmax, softmax_reference, "softmax and its gradient", (1e-3, 1e-7)),
    "elementwise3": (case_elementwise3, elementwise3_reference,
                     "sum(tanh(a) sigmoid(b) exp(c)) and its 3 gradients", (1e-3, 1e-6)),
    "attention": (case_attention, attention_reference,
                  "softmax(Q K^T / 8) V and the gradients of sum(out * r) w.r.t. Q, K, V",
                  (1e-3, 1e-5)),
}


# ---- compile time ------------------------------------------------------------------------------

CHAIN_OPS = ("sin", "tanh", "cos")


def compile_chain_reference(n: int, x: np.ndarray):
    v, d = x.astype(np.float64), np.ones_like(x, dtype=np.float64)
    for k in range(n):
        op = CHAIN_OPS[k % 3]
        local = {"sin": np.cos(v), "tanh": 1 - np.tanh(v) ** 2, "cos": -np.sin(v)}[op]
        d = d * local
        v = getattr(np, op)(v)
    return [v, d]


def compile_time(impl: str, n: int, x: np.ndarray):
    """(seconds to build, differentiate and compile a chain of n unary ops, outputs)."""
    t0 = time.perf_counter()
    if impl in GRAPHC_BACKENDS:
        backend, opts = GRAPHC_BACKENDS[impl]
        X = gc.placeholder("x", (None,), "float64")
        t = X
        for k in range(n):
            t = getattr(gc, CHAIN_OPS[k % 3])(t)
        f = gc.compile([t, gc.grad(gc.sum(t), X)], inputs=[X], backend=backend, **opts)
        secs = time.perf_counter() - t0
        return secs, f(x)
    if impl == "jax-jit":
        import jax
        import jax.numpy as jnp

        def fb(v):
            def fwd(u):
                for k in range(n):
                    u = getattr(jnp, CHAIN_OPS[k % 3])(u)
                return u
            y, vjp = jax.vjp(fwd, v)
            return y, vjp(jnp.ones_like(y))[0]
        jax.config.update("jax_enable_x64", True)
        xj = jnp.asarray(x)
        compiled = jax.jit(fb).lower(xj).compile()
        secs = time.perf_counter() - t0
        out = compiled(xj)
        jax.config.update("jax_enable_x64", False)
        return secs, out
    if impl == "pytensor":
        import pytensor
        import pytensor.tensor as pt
        v = pt.vector("x", dtype="float64")
        t = v
        for k in range(n):
            t = getattr(pt, CHAIN_OPS[k % 3])(t)
        f = pytensor.function([v], [t, pytensor.grad(pt.sum(t), v)])
        secs = time.perf_counter() - t0
        return secs, f(x)
    if impl in ("torch.compile",):
        import torch

        def fb(v):
            v = v.detach().requires_grad_(True)
            u = v
            for k in range(n):
                u = getattr(torch, CHAIN_OPS[k % 3])(u)
            (g,) = torch.autograd.grad(u.sum(), [v])
            return u.detach(), g
        torch._dynamo.reset()
        f = torch.compile(fb)
        out = f(torch.from_numpy(x))
        return time.perf_counter() - t0, out
    return None
