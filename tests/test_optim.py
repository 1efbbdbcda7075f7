"""gc.optim step for step against an independent NumPy transcription of torch.optim's
documented update formulas (and against torch.optim itself where torch is importable),
20 steps of a small tanh MLP in float64, every parameter within 1e-10 relative."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc
from graphc.errors import UsageError

STEPS = 20
DATA_RNG = np.random.default_rng(1234)
X = DATA_RNG.normal(size=(8, 3))
Y = DATA_RNG.normal(size=(8, 2))
INIT = {"W1": DATA_RNG.normal(size=(3, 5)) * 0.5, "b1": DATA_RNG.normal(size=5) * 0.1,
        "W2": DATA_RNG.normal(size=(5, 2)) * 0.5, "b2": DATA_RNG.normal(size=2) * 0.1}
NAMES = list(INIT)

CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("adamw", dict(lr=0.01)),
    ("adamw", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, weight_decay=0.05, momentum=0.5, centered=True)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1)),
]


# ---- the model, in graphc and by hand -------------------------------------------------------

def graphc_model():
    params = {k: gc.parameter(k, v) for k, v in INIT.items()}
    x = gc.placeholder("x", (None, 3), "float64")
    y = gc.placeholder("y", (None, 2), "float64")
    h = gc.tanh(x @ params["W1"] + params["b1"])
    loss = gc.mean((h @ params["W2"] + params["b2"] - y) ** 2)
    return params, loss


def numpy_grads(p):
    """The MLP's loss gradients, derived by hand (independent of graphc's autodiff)."""
    h = np.tanh(X @ p["W1"] + p["b1"])
    err = h @ p["W2"] + p["b2"] - Y
    d_out = 2 * err / err.size
    d_pre = (d_out @ p["W2"].T) * (1 - h * h)
    return {"W1": X.T @ d_pre, "b1": d_pre.sum(0), "W2": h.T @ d_out, "b2": d_out.sum(0)}


# ---- torch.optim's formulas in NumPy (from its documentation's algorithm boxes) -------------

def reference_run(name, kw, steps=STEPS, lr_at=None, clip=None):
    p = {k: v.copy() for k, v in INIT.items()}
    st = {k: {} for k in p}
    lr0 = kw.get("lr", 1e-3)
    history = []
    for t in range(1, steps + 1):
        g_all = numpy_grads(p)
        if clip is not None:
            norm = math.sqrt(sum(float((g * g).sum()) for g in g_all.values()))
            coef = min(1.0, clip / (norm + 1e-6))
            g_all = {k: g * coef for k, g in g_all.items()}
        lr = lr0 if lr_at is None else lr_at(t - 1)
        for k in p:
            p[k] = STEP[name](p[k], g_all[k], st[k], t, lr, kw)
        history.append({k: v.copy() for k, v in p.items()})
    return history


def ref_sgd(p, g, s, t, lr, kw):
    mom, damp = kw.get("momentum", 0), kw.get("dampening", 0)
    g = g + kw.get("weight_decay", 0) * p
    if mom:
        s["b"] = g.copy() if t == 1 else mom * s["b"] + (1 - damp) * g
        g = g + mom * s["b"] if kw.get("nesterov") else s["b"]
    return p - lr * g


def ref_adam(p, g, s, t, lr, kw, decoupled=False):
    b1, b2 = kw.get("betas", (0.9, 0.999))
    eps, wd = kw.get("eps", 1e-8), kw.get("weight_decay", 1e-2 if decoupled else 0)
    if decoupled:
        p = p * (1 - lr * wd)
    else:
        g = g + wd * p
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    v = s["v"]
    if kw.get("amsgrad"):
        v = s["vmax"] = np.maximum(s.get("vmax", 0), s["v"])
    denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps
    return p - lr / (1 - b1 ** t) * s["m"] / denom


def ref_rmsprop(p, g, s, t, lr, kw):
    alpha, eps, mom = kw.get("alpha", 0.99), kw.get("eps", 1e-8), kw.get("momentum", 0)
    g = g + kw.get("weight_decay", 0) * p
    s["sq"] = alpha * s.get("sq", 0) + (1 - alpha) * g * g
    if kw.get("centered"):
        s["avg"] = alpha * s.get("avg", 0) + (1 - alpha) * g
        denom = np.sqrt(s["sq"] - s["avg"] ** 2) + eps
    else:
        denom = np.sqrt(s["sq"]) + eps
    if mom:
        s["b"] = mom * s.get("b", 0) + g / denom
        return p - lr * s["b"]
    return p - lr * g / denom


def ref_adagrad(p, g, s, t, lr, kw):
    g = g + kw.get("weight_decay", 0) * p
    clr = lr / (1 + (t - 1) * kw.get("lr_decay", 0))
    s["sum"] = s.get("sum", kw.get("initial_accumulator_value", 0)) + g * g
    return p - clr * g / (np.sqrt(s["sum"]) + kw.get("eps", 1e-10))


STEP = {"sgd": ref_sgd, "adam": ref_adam, "rmsprop": ref_rmsprop, "adagrad": ref_adagrad,
        "adamw": lambda *a: ref_adam(*a, decoupled=True)}


def graphc_run(name, kw, steps=STEPS, **extra):
    params, loss = graphc_model()
    updates = getattr(gc.optim, name)(loss, list(params.values()), **kw, **extra)
    step = gc.compile(loss, updates=updates)
    history = []
    for _ in range(steps):
        step(X, Y)
        history.append({k: p.value.copy() for k, p in params.items()})
    return history, updates


def assert_close_runs(got, want, rtol=1e-10):
    for t, (g, w) in enumerate(zip(got, want), start=1):
        for k in NAMES:
            np.testing.assert_allclose(g[k], w[k], rtol=rtol, atol=1e-300,
                                       err_msg=f"parameter {k} after step {t}")


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_numpy_transcription_of_torch(name, kw):
    got, _ = graphc_run(name, kw)
    assert_close_runs(got, reference_run(name, kw))
    # the parameters moved (the comparison is not between two frozen runs)
    assert not np.allclose(got[-1]["W1"], INIT["W1"])


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch_optim(name, kw):
    torch = pytest.importorskip("torch", reason="torch is not installed here: the NumPy "
                                "transcription of its formulas is the oracle instead")
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in INIT.items()}
    cls = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
           "adagrad": "Adagrad"}[name]
    opt = getattr(torch.optim, cls)(list(tp.values()), **kw)
    tx, ty = torch.tensor(X), torch.tensor(Y)
    want = []
    for _ in range(STEPS):
        opt.zero_grad()
        h = torch.tanh(tx @ tp["W1"] + tp["b1"])
        ((h @ tp["W2"] + tp["b2"] - ty) ** 2).mean().backward()
        opt.step()
        want.append({k: v.detach().numpy().copy() for k, v in tp.items()})
    got, _ = graphc_run(name, kw)
    assert_close_runs(got, want)


def test_state_parameters_are_named_after_the_parameter():
    _, updates = graphc_run("adam", dict(lr=0.01, amsgrad=True), steps=3)
    names = {p.name: p for p in updates}
    assert {"W1.adam_m", "W1.adam_v", "W1.adam_vmax", "adam.step"} <= set(names)
    assert int(names["adam.step"].value) == 3
    assert names["b2.adam_m"].value.shape == INIT["b2"].shape


@pytest.mark.parametrize("schedule,formula", [
    (gc.optim.schedules.exponential(0.1, 0.9), lambda k: 0.1 * 0.9 ** k),
    (gc.optim.schedules.step(0.1, step_size=3, gamma=0.5), lambda k: 0.1 * 0.5 ** (k // 3)),
    (gc.optim.schedules.cosine(0.1, T_max=10, eta_min=0.01),
     lambda k: 0.01 + 0.09 * (1 + math.cos(math.pi * min(k, 10) / 10)) / 2),
])
def test_schedules_follow_the_step_counter(schedule, formula):
    got, _ = graphc_run("sgd", dict(lr=schedule, momentum=0.5))
    assert_close_runs(got, reference_run("sgd", dict(momentum=0.5), lr_at=formula))


def test_clip_by_global_norm_option():
    got, _ = graphc_run("sgd", dict(lr=0.1), clip_norm=0.05)
    want = reference_run("sgd", dict(lr=0.1), clip=0.05)
    assert_close_runs(got, want)
    # the clip was active: unclipped steps differ
    assert not np.allclose(want[0]["W1"], reference_run("sgd", dict(lr=0.1), steps=1)[0]["W1"])


def test_lr_as_a_fed_tensor():
    lr = gc.placeholder("lr", (), "float64")
    params, loss = graphc_model()
    step = gc.compile(loss, updates=gc.optim.sgd(loss, list(params.values()), lr=lr))
    step(X, Y, lr=0.0)
    np.testing.assert_array_equal(params["W1"].value, INIT["W1"])
    step(X, Y, lr=0.1)
    assert_close_runs([{k: p.value for k, p in params.items()}],
                      reference_run("sgd", dict(lr=0.1), steps=1))


@pytest.mark.parametrize("call", [
    lambda p, l: gc.optim.adam(l, [], lr=0.1),
    lambda p, l: gc.optim.adam(l, [p["W1"], p["W1"]]),
    lambda p, l: gc.optim.sgd(l, [p["W1"] * 2]),
    lambda p, l: gc.optim.sgd(l, [p["W1"]], lr=-1.0),
    lambda p, l: gc.optim.sgd(l, [p["W1"]], lr="fast"),
    lambda p, l: gc.optim.sgd(l, [p["W1"]], nesterov=True),
    lambda p, l: gc.optim.rmsprop(l, [p["W1"]], alpha=-0.5),
    lambda p, l: gc.optim.adam(l, [p["W1"]], clip_norm=0),
])
def test_misuse_is_a_clear_error(call):
    params, loss = graphc_model()
    with pytest.raises(UsageError, match="sgd|adam|rmsprop|clip"):
        call(params, loss)
