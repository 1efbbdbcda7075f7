"""Loops and branches (gc.scan, fori_loop, while_loop, cond, switch): values against NumPy
loops, gradients against central finite differences in float64 (and torch float64 when
installed), on the reference interpreter and the NumPy backend."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.ir import topo_order
from graphc.subgraph import graph_size
from op_checks import finite_difference

F64 = "float64"
# the CUDA emulation compiles slowly (C++): the RNN runs on it by default; the nested scan,
# cond and while_loop run on it with -m slow
RUNNERS = ["interpreter", "numpy", "c"]
ALL_RUNNERS = RUNNERS + ["cuda-emulate"]
SLOW_RUNNERS = RUNNERS + [pytest.param("cuda-emulate", marks=pytest.mark.slow)]


def run(outputs, feeds, how):
    """Evaluate ``outputs`` (a list) with the interpreter or a compiled function."""
    if how == "interpreter":
        return gc.evaluate(list(outputs), feeds)
    if how == "cuda-emulate":
        f = gc.compile(list(outputs), backend="cuda", device="emulate")
    else:
        f = gc.compile(list(outputs), backend=how)
    return f(**feeds)


# ---- an Elman RNN ---------------------------------------------------------------------

T, B, I, H = 7, 3, 4, 5
rng = np.random.default_rng(0)
XS = rng.normal(size=(T, B, I))
H0 = rng.normal(size=(B, H)) * 0.5
WX = rng.normal(size=(I, H)) * 0.4
WH = rng.normal(size=(H, H)) * 0.4
BIAS = rng.normal(size=(H,)) * 0.1


def rnn_numpy(xs, h0, wx, wh, b):
    h, total = h0, 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ wx + h @ wh + b)
        total += np.sum(h ** 2) * (t + 1)
    return total + np.sum(h)


def rnn_graph():
    xs = gc.placeholder("xs", (T, B, I), F64)
    h0 = gc.placeholder("h0", (B, H), F64)
    wx, wh, b = (gc.placeholder(n, s, F64) for n, s in
                 (("wx", (I, H)), ("wh", (H, H)), ("b", (H,))))

    def step(h, x):
        h = gc.tanh(x @ wx + h @ wh + b)
        return h, gc.sum(h ** 2)

    hT, per_step = gc.scan(step, h0, xs)
    weights = gc.constant(np.arange(1, T + 1, dtype=np.float64))
    loss = gc.sum(per_step * weights) + gc.sum(hT)
    return loss, [xs, h0, wx, wh, b]


@pytest.mark.parametrize("how", ALL_RUNNERS)
def test_elman_rnn_loss_and_all_gradients(how):
    loss, wrt = rnn_graph()
    grads = gc.grad(loss, wrt)
    feeds = dict(xs=XS, h0=H0, wx=WX, wh=WH, b=BIAS)
    values = run([loss, *grads], feeds, how)
    args = [XS, H0, WX, WH, BIAS]
    np.testing.assert_allclose(values[0], rnn_numpy(*args), rtol=1e-12)
    for k, g in enumerate(values[1:]):
        def f(v, k=k):
            a = list(args)
            a[k] = v
            return rnn_numpy(*a)
        np.testing.assert_allclose(g, finite_difference(f, args[k]), rtol=1e-6, atol=1e-7,
                                   err_msg=f"gradient {wrt[k].name}")


def test_elman_rnn_against_torch():
    torch = pytest.importorskip("torch")
    loss, wrt = rnn_graph()
    grads = gc.grad(loss, wrt)
    values = run([loss, *grads], dict(xs=XS, h0=H0, wx=WX, wh=WH, b=BIAS), "numpy")
    ts = [torch.tensor(a, requires_grad=True) for a in (XS, H0, WX, WH, BIAS)]
    xs, h, wx, wh, b = ts
    total = 0.0
    for t in range(T):
        h = torch.tanh(xs[t] @ wx + h @ wh + b)
        total = total + (h ** 2).sum() * (t + 1)
    total = total + h.sum()
    total.backward()
    np.testing.assert_allclose(values[0], total.item(), rtol=1e-12)
    for g, t in zip(values[1:], ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_lstm_against_torch():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(3)
    x_np = r.normal(size=(6, 2, 3))
    w_np = r.normal(size=(3 + 4, 16)) * 0.3
    xs = gc.placeholder("xs", (6, 2, 3), F64)
    w = gc.placeholder("w", (7, 16), F64)

    def cell(carry, x):
        h, c = carry
        z = gc.concatenate([x, h], axis=1) @ w
        i, f, g, o = gc.split(z, 4, axis=1)
        c = gc.sigmoid(f) * c + gc.sigmoid(i) * gc.tanh(g)
        h = gc.sigmoid(o) * gc.tanh(c)
        return (h, c), h

    zeros = gc.constant(np.zeros((2, 4)))
    (_, _), hs = gc.scan(cell, (zeros, zeros), xs)
    loss = gc.sum(hs ** 2)
    values = run([loss, *gc.grad(loss, [xs, w])], {"xs": x_np, "w": w_np}, "numpy")
    tx = torch.tensor(x_np, requires_grad=True)
    tw = torch.tensor(w_np, requires_grad=True)
    h = c = torch.zeros(2, 4, dtype=torch.float64)
    total = 0.0
    for t in range(6):
        i, f, g, o = (torch.cat([tx[t], h], 1) @ tw).split(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        total = total + (h ** 2).sum()
    total.backward()
    np.testing.assert_allclose(values[0], total.item(), rtol=1e-12)
    np.testing.assert_allclose(values[1], tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(values[2], tw.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---- small scans ------------------------------------------------------------------------

@pytest.mark.parametrize("how", RUNNERS)
def test_cumulative_product_and_its_gradient(how):
    v = np.array([1.5, -0.5, 2.0, 0.7, 1.1])
    x = gc.placeholder("x", (5,), F64)
    final, prods = gc.scan(lambda c, e: (c * e, c * e), gc.constant(1.0, F64), x)
    loss = gc.sum(prods * gc.constant(np.arange(5.0)))
    out = run([final, prods, gc.grad(loss, x)], {"x": v}, how)
    np.testing.assert_allclose(out[1], np.cumprod(v), rtol=1e-14)
    np.testing.assert_allclose(out[0], np.prod(v), rtol=1e-14)
    np.testing.assert_allclose(out[2], finite_difference(lambda a: np.sum(np.cumprod(a) * np.arange(5.)),
                                               v), rtol=1e-7)


def rk4_numpy(y0, k, steps=100, dt=0.01):
    def f(y):
        return np.array([y[1], -k * np.sin(y[0]) - 0.1 * y[1]])
    y = np.array(y0, dtype=np.float64)
    for _ in range(steps):
        a = f(y)
        b = f(y + dt / 2 * a)
        c = f(y + dt / 2 * b)
        d = f(y + dt * c)
        y = y + dt / 6 * (a + 2 * b + 2 * c + d)
    return y


@pytest.mark.parametrize("how", RUNNERS)
def test_rk4_over_100_steps_gradients_wrt_initial_state_and_parameter(how):
    y0 = gc.placeholder("y0", (2,), F64)
    k = gc.placeholder("k", (), F64)
    dt = 0.01

    def f(y):
        return gc.stack([y[1], -k * gc.sin(y[0]) - 0.1 * y[1]])

    def step(y, _):
        a = f(y)
        b = f(y + dt / 2 * a)
        c = f(y + dt / 2 * b)
        d = f(y + dt * c)
        return y + dt / 6 * (a + 2 * b + 2 * c + d), None

    yT, none = gc.scan(step, y0, length=100)
    assert none is None
    loss = yT[0] ** 2 + 3 * yT[1]
    y0_v, k_v = np.array([1.0, 0.3]), 2.5
    out = run([yT, *gc.grad(loss, [y0, k])], {"y0": y0_v, "k": k_v}, how)
    np.testing.assert_allclose(out[0], rk4_numpy(y0_v, k_v), rtol=1e-13)

    def loss_np(y, kk):
        r = rk4_numpy(y, kk)
        return r[0] ** 2 + 3 * r[1]
    np.testing.assert_allclose(out[1], finite_difference(lambda y: loss_np(y, k_v), y0_v), rtol=1e-7)
    np.testing.assert_allclose(out[2], finite_difference(lambda kk: loss_np(y0_v, kk), np.array(k_v)),
                               rtol=1e-7)


@pytest.mark.parametrize("how", SLOW_RUNNERS)
def test_nested_scan_and_its_gradient(how):
    m = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x = gc.placeholder("x", (2, 3), F64)
    w = gc.placeholder("w", (), F64)

    def outer(c, row):
        inner, _ = gc.scan(lambda a, e: (a * w + gc.sin(e), None), c, row)
        return inner, inner * c

    final, ys = gc.scan(outer, gc.constant(0.5, F64), x)
    loss = final + gc.sum(ys)

    def loss_np(mm, ww):
        c, total = 0.5, 0.0
        for row in mm:
            a = c
            for e in row:
                a = a * ww + np.sin(e)
            total += a * c
            c = a
        return c + total

    out = run([loss, *gc.grad(loss, [x, w])], {"x": m, "w": 0.8}, how)
    np.testing.assert_allclose(out[0], loss_np(m, 0.8), rtol=1e-13)
    np.testing.assert_allclose(out[1], finite_difference(lambda a: loss_np(a, 0.8), m), rtol=1e-7)
    np.testing.assert_allclose(out[2], finite_difference(lambda ww: loss_np(m, ww), np.array(0.8)),
                               rtol=1e-7)


@pytest.mark.parametrize("how", RUNNERS)
def test_hvp_through_a_scan(how):
    x = gc.placeholder("x", (3,), F64)
    v = np.array([0.3, -1.0, 0.5])
    xv = np.array([0.4, 0.9, -0.2])

    def step(c, e):
        c = gc.sin(c * e) + c * c * 0.5
        return c, c

    def loss_of(xx):
        final, ys = gc.scan(step, gc.constant(0.7, F64), xx)
        return final + gc.sum(ys ** 2)

    loss = loss_of(x)
    out = run([gc.hvp(loss, x, gc.constant(v))], {"x": xv}, how)

    def grad_np(a):
        f = gc.compile(gc.grad(loss, x))
        return f(a)
    want = (grad_np(xv + 1e-5 * v) - grad_np(xv - 1e-5 * v)) / 2e-5
    np.testing.assert_allclose(out[0], want, rtol=1e-6)


@pytest.mark.parametrize("how", RUNNERS)
def test_scan_jvp_matches_the_gradient(how):
    loss, wrt = rnn_graph()
    xs, h0, wx, wh, b = wrt
    tangent = np.random.default_rng(1).normal(size=(H, H))
    feeds = dict(xs=XS, h0=H0, wx=WX, wh=WH, b=BIAS)
    out = run([gc.jvp(loss, wh, gc.constant(tangent)), gc.grad(loss, wh)], feeds, how)
    np.testing.assert_allclose(out[0], np.sum(out[1] * tangent), rtol=1e-10)


@pytest.mark.parametrize("how", RUNNERS)
def test_pytrees_none_ys_reverse_and_fori_loop(how):
    x = gc.placeholder("x", (4, 2), F64)
    init = {"s": gc.constant(np.zeros(2)), "n": gc.constant(0, "int32")}
    final, ys = gc.scan(lambda c, e: ({"s": c["s"] + e, "n": c["n"] + 1}, (e * 2, [c["s"]])),
                        init, x, reverse=True)
    xv = np.arange(8.0).reshape(4, 2)
    out = run([final["s"], final["n"], ys[0], ys[1][0],
               gc.fori_loop(2, 6, lambda i, v: v + gc.cast(i, F64), gc.constant(0.0, F64))],
              {"x": xv}, how)
    np.testing.assert_allclose(out[0], xv.sum(0))
    assert out[1] == 4
    np.testing.assert_allclose(out[2], xv * 2)
    # reverse: step t sees the sum of the rows after t
    np.testing.assert_allclose(out[3], np.cumsum(xv[::-1], 0)[::-1] - xv)
    assert out[4] == 2 + 3 + 4 + 5


# ---- cond / switch / while --------------------------------------------------------------

@pytest.mark.parametrize("how", SLOW_RUNNERS)
def test_cond_value_and_gradient_through_each_branch(how):
    x = gc.placeholder("x", (), F64)
    w = gc.placeholder("w", (2,), F64)
    y = gc.cond(x > 0, lambda a, b: gc.sum(b * a ** 3), lambda a, b: gc.sum(gc.sin(b)) * a,
                x, w)
    grads = gc.grad(y, [x, w])
    wv = np.array([0.5, -2.0])
    for xv in (1.5, -1.5):
        out = run([y, *grads], {"x": xv, "w": wv}, how)
        if xv > 0:
            want = [np.sum(wv * xv ** 3), np.sum(3 * wv * xv ** 2), np.full(2, xv ** 3)]
        else:
            want = [np.sum(np.sin(wv)) * xv, np.sum(np.sin(wv)), np.cos(wv) * xv]
        for got, exp in zip(out, want):
            np.testing.assert_allclose(got, exp, rtol=1e-13)
    jv = run([gc.jvp(y, x, 1.0)], {"x": 2.0, "w": wv}, how)[0]
    np.testing.assert_allclose(jv, np.sum(3 * wv * 4.0), rtol=1e-13)


@pytest.mark.parametrize("how", RUNNERS)
def test_switch_clamps_its_index(how):
    i = gc.placeholder("i", (), "int32")
    x = gc.placeholder("x", (), F64)
    y = gc.switch(i, [lambda a: a + 1, lambda a: a * 10, lambda a: -a], x)
    for iv, want in ((-3, 3.0), (0, 3.0), (1, 20.0), (2, -2.0), (9, -2.0)):
        assert run([y], {"i": iv, "x": 2.0}, how)[0] == want


@pytest.mark.parametrize("how", SLOW_RUNNERS)
def test_while_loop_forward_and_jvp(how):
    x = gc.placeholder("x", (), F64)
    a = gc.placeholder("a", (), F64)
    # Newton's iteration for sqrt(a), until converged: a data-dependent trip count
    n, r = gc.while_loop(lambda c: gc.abs(c[1] * c[1] - a) > 1e-12,
                         lambda c: (c[0] + 1, 0.5 * (c[1] + a / c[1])),
                         (gc.constant(0, "int32"), x))
    out = run([n, r, gc.jvp(r, a, 1.0)], {"x": 1.0, "a": 2.0}, how)
    assert out[0] > 3
    np.testing.assert_allclose(out[1], np.sqrt(2.0), rtol=1e-14)
    np.testing.assert_allclose(out[2], 0.5 / np.sqrt(2.0), rtol=1e-9)


def test_while_loop_reverse_mode_is_a_clear_error():
    x = gc.placeholder("x", (), F64)
    r = gc.while_loop(lambda c: c < 10.0, lambda c: c * 2.0, x)
    with pytest.raises(gc.GradError, match=r"while_loop .*trip|while_loop.*run time"):
        gc.grad(r, x)


# ---- structure, errors, backends -------------------------------------------------------

def _rnn_loss_and_grad(steps):
    x = gc.placeholder("x", (steps, 3), F64)
    w = gc.placeholder("w", (3, 3), F64)
    hT, hs = gc.scan(lambda h, e: (gc.tanh(h @ w + e), h), gc.constant(np.zeros(3)), x)
    loss = gc.sum(hT) + gc.sum(hs)
    return [loss, gc.grad(loss, w)]


def test_graph_size_does_not_depend_on_the_trip_count():
    assert graph_size(_rnn_loss_and_grad(10)) == graph_size(_rnn_loss_and_grad(100_000))
    # compiled: the same passes, the same module (sizes aside; the fold pass materialises
    # constants of up to 64 elements, so both sizes here are past that)
    sources = []
    for steps in (1_000, 100_000):
        f = gc.compile(_rnn_loss_and_grad(steps))
        sources.append((f.nodes_after, len(f.source["graph.py"].replace(str(steps), ""))))
    assert sources[0] == sources[1]


def test_long_scan_runs_on_the_numpy_backend():
    x = gc.placeholder("x", (20_000,), F64)
    total, _ = gc.scan(lambda c, e: (c + e * e, None), gc.constant(0.0, F64), x)
    v = np.linspace(0, 1, 20_000)
    np.testing.assert_allclose(gc.compile(total)(v), np.sum(v * v), rtol=1e-12)


def test_carry_changing_shape_is_an_error_naming_it():
    x = gc.placeholder("x", (4, 3))
    with pytest.raises(gc.ShapeError, match=r"carry\['h'\] is float32\(3,\) on entry but fn "
                                            r"returns float32\(1, 3\).*test_control_flow.py"):
        gc.scan(lambda c, e: ({"h": gc.reshape(c["h"] + e, (1, 3))}, None),
                {"h": gc.constant(np.zeros(3, np.float32))}, x)
    with pytest.raises(gc.ShapeError, match="carry is float32.*float64"):
        gc.scan(lambda c, e: (gc.cast(c, "float64"), None), gc.constant(0.0), length=3)
    with pytest.raises(gc.UsageError, match="structure"):
        gc.scan(lambda c, e: ((c, c), None), gc.constant(0.0), length=3)
    with pytest.raises(gc.UsageError, match="pair"):
        gc.scan(lambda c, e: c, gc.constant(0.0), length=3)
    with pytest.raises(gc.ShapeError, match="disagree"):
        gc.scan(lambda c, e: (c, None), gc.constant(0.0), (gc.placeholder("a", (3,)),
                                                          gc.placeholder("b", (4,))))
    with pytest.raises(gc.ShapeError, match="branch 1"):
        gc.cond(gc.placeholder("p", (), "bool"), lambda: gc.constant(1.0),
                lambda: gc.constant([1.0, 2.0]))


def test_native_backends_run_the_scan_in_a_c_driver():
    x = gc.placeholder("x", (300, 3), F64)
    total, hs = gc.scan(lambda c, e: (gc.tanh(c + e), c), gc.constant(np.zeros(3)), x)
    f = gc.compile([total, hs, gc.grad(gc.sum(total) + gc.sum(hs), x)], backend="c")
    xv = np.random.default_rng(0).normal(size=(300, 3))
    want = gc.evaluate([total, hs, gc.grad(gc.sum(total) + gc.sum(hs), x)], {"x": xv})
    for got, exp in zip(f(xv), want):
        np.testing.assert_allclose(got, exp, rtol=1e-12)
    assert f._exe.stats["loops"] == 2
    assert all(stage.driver is not None for *_, stage, _ in f._exe.stages)
    with pytest.raises(gc.CompileError, match="cannot be exported"):
        f.export("/tmp/never_written_loops")


def test_show_lists_the_body_nested():
    x = gc.placeholder("x", (5,))
    total, _ = gc.scan(lambda c, e: (c * e, None), gc.constant(1.0), x)
    text = gc.show(total)
    assert "scan(1.0, x, body=scan_body1" in text
    assert "scan_body1 = lambda carry: f32[], x: f32[] {" in text
    assert "mul(carry, x)" in text


def test_loop_invariant_work_is_hoisted_out_of_the_body():
    x = gc.placeholder("x", (5,))
    w = gc.placeholder("w", (3, 3))
    total, _ = gc.scan(lambda c, e: (c + gc.sum(gc.exp(w)) * e, None), gc.constant(0.0), x)
    body = total.attr("body")
    inner_ops = {n.op for n in topo_order(list(body.outputs))}
    assert "exp" not in inner_ops        # computed once, outside, and passed in
    assert any(i.op == "sum" for i in total.inputs)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("how", ["interpreter", "c"])
def test_checkpointed_scan_matches_the_plain_one(how, reverse):
    """checkpoint=k: the same values and gradients; reverse mode saves one carry per
    segment (the outer scan's residuals) instead of one per step."""
    loss_plain, wrt = rnn_graph()
    xs, h0, wx, wh, b = wrt

    def step(h, x):
        h = gc.tanh(x @ wx + h @ wh + b)
        return h, gc.sum(h ** 2)

    hT, per_step = gc.scan(step, h0, xs, reverse=reverse, checkpoint=3)   # 7 = 2 * 3 + 1
    weights = gc.constant(np.arange(1, T + 1, dtype=np.float64))
    loss = gc.sum(per_step * weights) + gc.sum(hT)
    hT2, per_step2 = gc.scan(step, h0, xs, reverse=reverse)
    loss2 = gc.sum(per_step2 * weights) + gc.sum(hT2)
    feeds = dict(xs=XS, h0=H0, wx=WX, wh=WH, b=BIAS)
    got = run([loss, *gc.grad(loss, wrt)], feeds, how)
    want = run([loss2, *gc.grad(loss2, wrt)], feeds, "interpreter")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13)
    saved = [n for n in topo_order(gc.grad(loss, wrt)) if n.op == "scan"
             and n.attr("output") >= _saved_from(n)]
    assert saved and all(n.shape[0] in (2, 1) for n in saved)   # per segment (and the tail)


def _ys_of(n) -> int:
    from graphc.control.primitives import scan_counts
    return scan_counts(n.attr("body"))[3]


def _saved_from(n) -> int:
    """A scan node's first ``output`` that is a saved carry."""
    from graphc.control.primitives import scan_counts
    nc, _, _, ny = scan_counts(n.attr("body"))
    return nc + ny


def test_checkpoint_needs_static_steps():
    x = gc.placeholder("x", (None, 3))
    with pytest.raises(gc.UsageError, match="checkpoint= needs"):
        gc.scan(lambda c, e: (c + e, None), gc.constant(np.zeros(3, np.float32)), x,
                checkpoint=2)


@pytest.mark.parametrize("how", RUNNERS)
def test_run_time_sizes_parameters_and_updates_through_a_scan(how):
    """A batch of run-time size, a closed-over parameter trained by an update, an int
    carry and an output that does not depend on the carry."""
    x = gc.placeholder("x", (6, None, 2), F64)
    w = gc.parameter("w", np.array([[0.5, -0.25], [0.1, 0.3]]))

    def step(c, e):
        h, n = c
        return (gc.tanh(h @ w + e), n + 1), (gc.sum(h, axis=1), w)

    h0 = x[0] * 0.0
    (hT, n), (sums, ws) = gc.scan(step, (h0, gc.constant(0, "int32")), x)
    loss = gc.sum(hT ** 2) + gc.sum(sums)
    g = gc.grad(loss, w)
    xv = np.random.default_rng(4).normal(size=(6, 5, 2))
    if how == "interpreter":
        out = gc.evaluate([loss, n, ws, g], {"x": xv})
    else:
        f = gc.compile([loss, n, ws, g], backend=how)
        out = f(xv)
        assert f(xv[:, :3])[0].shape == ()              # another batch size

    def loss_np(wv):
        h, total = np.zeros((5, 2)), 0.0
        for t in range(6):
            total += h.sum()
            h = np.tanh(h @ wv + xv[t])
        return total + np.sum(h ** 2)
    np.testing.assert_allclose(out[0], loss_np(w.value), rtol=1e-12)
    assert out[1] == 6
    np.testing.assert_allclose(out[2], np.broadcast_to(w.value, (6, 2, 2)))
    np.testing.assert_allclose(out[3], finite_difference(loss_np, w.value), rtol=1e-7)
    if how != "interpreter":   # training through the loop: one update per call
        step_fn = gc.compile(loss, updates={w: w - 0.05 * g}, backend=how)
        first = float(step_fn(xv))
        for _ in range(20):
            last = float(step_fn(xv))
        assert last < first


@pytest.mark.parametrize("how", RUNNERS)
def test_zero_length_scan_and_closed_over_branch_constants(how):
    x = gc.placeholder("x", (0, 3), F64)
    c, ys = gc.scan(lambda c, e: (c + e, c * e), gc.constant(np.ones(3)), x)
    p = gc.placeholder("p", (), F64)
    w = gc.constant(np.array([2.0, 3.0, 4.0]))
    y = gc.cond(p > 0, lambda a: a * w, lambda a: a - w, p)
    out = run([c, ys, y, gc.grad(gc.sum(y), p)], {"x": np.zeros((0, 3)), "p": -1.0}, how)
    np.testing.assert_allclose(out[0], np.ones(3))
    assert out[1].shape == (0, 3)
    np.testing.assert_allclose(out[2], -1.0 - np.array([2.0, 3.0, 4.0]))
    assert out[3] == 3.0


def test_numpy_export_keeps_the_loops(tmp_path):
    """The exported module embeds each body as a module of its own and runs without
    graphc: a nested scan, a large constant inside a body, a cond and a while loop."""
    import subprocess
    import sys
    x = gc.placeholder("x", (6, None, 3), F64)
    w = gc.parameter("w", np.random.default_rng(0).normal(size=(3, 3)))
    table = np.linspace(-1, 1, 60).reshape(20, 3)

    def step(h, e):
        inner, _ = gc.scan(lambda a, v: (a * 0.5 + v, None), h, gc.stack([e, e]))
        return gc.tanh(inner @ w + gc.sum(gc.constant(table)[:, None, :] * e, axis=0)), gc.sum(h)

    hT, ys = gc.scan(step, x[0] * 0, x)
    y = gc.cond(gc.sum(hT) > 0, lambda a: a * 2, lambda a: a - 1, hT)
    n = gc.while_loop(lambda c: c < 100.0, lambda c: c * 2.0 + gc.sum(x[0]) * 0,
                      gc.constant(1.0, F64))
    loss = gc.sum(y) + gc.sum(ys) + n
    outputs = [loss, gc.grad(loss, w)]
    f = gc.compile(outputs)
    f.export(str(tmp_path), name="model")
    xv = np.random.default_rng(1).normal(size=(6, 4, 3))
    np.save(tmp_path / "x.npy", xv)
    code = ("import sys, numpy as np\nsys.modules['graphc'] = None\nimport model\n"
            "out = model.load()(np.load('x.npy'))\nnp.save('out0.npy', out[0])\n"
            "np.save('out1.npy', out[1])\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    want = gc.evaluate(outputs, {"x": xv})
    np.testing.assert_allclose(np.load(tmp_path / "out0.npy"), want[0], rtol=1e-12)
    np.testing.assert_allclose(np.load(tmp_path / "out1.npy"), want[1], rtol=1e-12)
    text = (tmp_path / "model.py").read_text()
    assert "_Scan(_Body(" in text and "'loop0__" in text   # a body's constant in the file


def test_drawing_and_latex_of_a_graph_with_loops():
    x = gc.placeholder("x", (4,))
    c, _ = gc.scan(lambda c, e: (c * e, c), gc.constant(1.0), x)
    assert "<svg" in gc.draw(c)
    assert "<svg" in gc.compile(c).draw(engine="layered")
    assert "scan" in gc.latex(c)
    with pytest.raises(gc.GraphcError, match="not elementwise"):
        gc.expr(c)


def test_str_shows_the_call_and_the_body_as_lets():
    x = gc.placeholder("x", (4,))
    w = gc.parameter("w", 2.0)
    c, _ = gc.scan(lambda c, e: (gc.tanh(c * e + w), c), gc.constant(1.0), x)
    assert str(c) == ("scan(1, x, w)[0]\nwhere scan body (carry, x, w) ->\n"
                      "  out0 = tanh(carry * x + w)\n  out1 = carry")


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_per_step_outputs_nobody_reads_are_not_computed(backend):
    x = gc.placeholder("x", (5,), F64)
    c, (unused, used) = gc.scan(lambda c, e: (c * e, (gc.exp(c) * 3, c + 1)),
                                gc.constant(1.0, F64), x)
    f = gc.compile([c, used], backend=backend)
    out = f(np.arange(1.0, 6.0))
    np.testing.assert_allclose(out[0], 120.0)
    np.testing.assert_allclose(out[1], [2.0, 2.0, 3.0, 7.0, 25.0])
    runner = f._exe.stages[0][3] if backend == "c" else f._exe.module.LOOPS[0]
    body_ops = {n.op for n in topo_order(list(runner.scan_body.outputs))}
    assert "exp" not in body_ops and "add" in body_ops


@pytest.mark.parametrize("how", RUNNERS)
def test_fori_loop_with_a_run_time_bound_is_a_while_loop(how):
    n = gc.placeholder("n", (), "int32")
    x = gc.placeholder("x", (), F64)
    y = gc.fori_loop(0, n, lambda i, v: v * x + gc.cast(i, F64), gc.constant(1.0, F64))
    out = run([y, gc.jvp(y, x, 1.0)], {"n": 5, "x": 1.5}, how)

    def y_np(xv):
        v = 1.0
        for i in range(5):
            v = v * xv + i
        return v
    np.testing.assert_allclose(out[0], y_np(1.5), rtol=1e-14)
    np.testing.assert_allclose(out[1], (y_np(1.5 + 1e-6) - y_np(1.5 - 1e-6)) / 2e-6, rtol=1e-7)
    with pytest.raises(gc.GradError, match="while_loop"):
        gc.grad(y, x)


@pytest.mark.parametrize("how", RUNNERS)
def test_second_order_through_saved_matmul_residuals(how):
    """The backward scan reads the forward matmul results saved per step: an hvp
    (reverse over reverse) and a jvp of the gradient (forward over reverse) differentiate
    through those saved results too."""
    loss, wrt = rnn_graph()
    xs, h0, wx, wh, b = wrt
    g = gc.grad(loss, wh)
    # a saved matmul result (outputs past the saved carries) is read by the backward scan
    assert any(n.op == "scan" and n.attr("output") >= 2 * _saved_from(n) - _ys_of(n)
               for n in topo_order(g))
    v = np.random.default_rng(5).normal(size=(H, H))
    feeds = dict(xs=XS, h0=H0, wx=WX, wh=WH, b=BIAS)
    out = run([gc.hvp(loss, wh, gc.constant(v)), gc.jvp(g, wh, gc.constant(v))], feeds, how)

    def grad_at(m):
        return run([g], {**feeds, "wh": m}, "interpreter")[0]
    want = (grad_at(WH + 1e-5 * v) - grad_at(WH - 1e-5 * v)) / 2e-5
    np.testing.assert_allclose(out[0], want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out[1], want, rtol=1e-6, atol=1e-8)


def test_random_draws_inside_a_loop_are_refused_outside_they_work():
    x = gc.placeholder("x", (4, 3))
    with pytest.raises(gc.UsageError, match="same numbers at every step"):
        gc.scan(lambda c, e: (c + gc.random.uniform((3,), seed=11), None),
                gc.constant(np.zeros(3, np.float32)), x)
    noise = gc.random.uniform((4, 3), seed=12)     # drawn outside: one row per step
    mask = gc.random.uniform((3,), seed=13)        # drawn outside, shared by every step
    total, _ = gc.scan(lambda c, e: (c + e[0] * e[1] * mask, None),
                       gc.constant(np.zeros(3, np.float32)), (x, noise))
    f = gc.compile(total)
    a, b = f(np.ones((4, 3), np.float32)), f(np.ones((4, 3), np.float32))
    assert not np.allclose(a, b)                   # fresh numbers per call
