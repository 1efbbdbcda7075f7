"""gc.random: Philox-4x32-10 against the published known answers, the distributions
(moments, Kolmogorov-Smirnov), independent streams, the same bits on every backend, fresh
numbers each call, dropout in a training step, and gradients through reparameterization."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc
from graphc.philox import philox4x32_10
from helpers_backends import BACKENDS, BACKEND_IDS

N = 10 ** 6

# Random123's kat_vectors (github.com/DEShawResearch/random123, tests/kat_vectors), the
# three "philox4x32 10" lines: counter (4 words), key (2 words), expected output (4 words)
KAT = [
    ([0x00000000, 0x00000000, 0x00000000, 0x00000000], [0x00000000, 0x00000000],
     [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff],
     [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    assert [int(w) for w in philox4x32_10(counter, key)] == expected


def ks_statistic(sample: np.ndarray, cdf) -> float:
    """Kolmogorov-Smirnov distance between the sample's empirical CDF and ``cdf``."""
    x = np.sort(sample.astype(np.float64))
    f = cdf(x)
    n = len(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


KS_CRITICAL_1PCT = 1.6276 / math.sqrt(N)    # asymptotic critical value, alpha = 0.01


def test_uniform_moments_and_ks():
    u = gc.compile(gc.random.uniform((N,), seed=11))()
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 0.001
    assert ks_statistic(u, lambda x: x) < KS_CRITICAL_1PCT
    lo_hi = gc.compile(gc.random.uniform((N,), -3.0, 5.0, "float64", seed=12))()
    assert lo_hi.dtype == np.float64 and lo_hi.min() >= -3 and lo_hi.max() < 5
    assert ks_statistic(lo_hi, lambda x: (x + 3) / 8) < KS_CRITICAL_1PCT


def test_normal_moments_and_ks():
    z = gc.compile(gc.random.normal((N,), dtype="float64", seed=13))()
    assert abs(z.mean()) < 5 / math.sqrt(N)
    assert abs(z.std() - 1) < 0.005
    assert abs(np.mean(z ** 3)) < 0.02 and abs(np.mean(z ** 4) - 3) < 0.05   # skew, kurtosis
    # the normal CDF from math.erfc on a grid, interpolated (error < 1e-7, far below D)
    grid = np.linspace(-8, 8, 16001)
    cdf = np.array([0.5 * math.erfc(-t / math.sqrt(2)) for t in grid])
    assert ks_statistic(z, lambda x: np.interp(x, grid, cdf)) < KS_CRITICAL_1PCT
    shifted = gc.compile(gc.random.normal((N,), mean=2.0, std=3.0, seed=14))()
    assert abs(shifted.mean() - 2) < 0.02 and abs(shifted.std() - 3) < 0.02


def test_seeds_and_calls_give_independent_streams():
    a, b = gc.random.uniform((N,), seed=1), gc.random.uniform((N,), seed=2)
    f = gc.compile([a, b])
    first_a, first_b = f()
    second_a, _ = f()
    limit = 5 / math.sqrt(N)
    assert abs(np.corrcoef(first_a, first_b)[0, 1]) < limit
    assert abs(np.corrcoef(first_a, second_a)[0, 1]) < limit
    # neighbouring elements of one draw are not correlated either
    assert abs(np.corrcoef(first_a[:-1], first_a[1:])[0, 1]) < limit


def test_counter_is_a_parameter_advanced_each_call():
    u = gc.random.uniform((4,), seed=21)
    f = gc.compile(u)
    counter = next(p for p in f.params if p.name == "random.counter.21")
    draws = [f() for _ in range(3)]
    assert int(counter.value) == 3
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])


def test_one_seed_twice_in_a_function_is_an_error():
    with pytest.raises(gc.CompileError, match="random.counter.5"):
        gc.compile([gc.random.uniform((3,), seed=5), gc.random.normal((3,), seed=5)])


def test_default_seeds_are_fixed_and_distinct():
    a, b = gc.random.uniform((8,)), gc.random.uniform((8,))
    names = sorted(p.name for p in gc.compile([a, b]).params)
    seeds = [int(n.rsplit(".", 1)[1]) for n in names]
    assert all(s >= gc.random.DEFAULT_SEED for s in seeds) and seeds[0] != seeds[1]


def test_run_time_shapes_and_bad_seeds():
    x = gc.placeholder("x", (None, 2))
    f = gc.compile([gc.random.uniform(x, seed=31), gc.random.uniform((x.dims[0], 4), seed=32),
                    gc.random.uniform(x.shape, seed=33)], inputs=[x])
    a, b, c = f(x=np.zeros((5, 2), np.float32))
    assert a.shape == (5, 2) and b.shape == (5, 4) and c.shape == (5, 2)
    with pytest.raises(gc.ShapeError, match=r"by name \(x\.dims\[0\]\)"):
        gc.random.uniform((None, 3), seed=1)
    with pytest.raises(gc.UsageError, match="seed"):
        gc.random.uniform((3,), seed=-1)


def test_bernoulli_and_randint():
    m = gc.compile(gc.random.bernoulli((N,), 0.3, seed=41))()
    assert m.dtype == np.bool_ and abs(m.mean() - 0.3) < 5 * math.sqrt(0.21 / N)
    r = gc.compile(gc.random.randint((N,), -2, 3, seed=42))()
    assert r.dtype == np.int64
    counts = np.bincount(r + 2, minlength=5)
    assert len(counts) == 5 and np.all(np.abs(counts / N - 0.2) < 0.003)


def _streams(backend, options):
    x = gc.placeholder("x", (None, 3))
    outs = [gc.random.uniform(x, seed=51), gc.random.uniform((2, 7), dtype="float64", seed=52),
            gc.random.bernoulli((x.dims[0], 5), 0.4, seed=53),
            gc.random.randint((9,), 0, 1000, seed=54),
            gc.random_uniform(0, 0, (1,), "float64"),   # Philox's first word at 0, key 0
            gc.random.normal((x.dims[0], 4), seed=55).T]
    f = gc.compile(outs, inputs=[x], backend=backend, **options)
    feed = np.zeros((6, 3), np.float32)
    return [f(feed) for _ in range(2)]


def test_same_bits_on_every_backend():
    want = _streams("numpy", {})
    for backend, options in BACKENDS[1:]:
        got = _streams(backend, options)
        for call_w, call_g in zip(want, got):
            assert call_g[4][0] * 2.0 ** 32 == 0x6627e8d5   # the known answer, generated
            for k, (w, g) in enumerate(zip(call_w[:5], call_g[:5])):
                assert w.dtype == g.dtype and np.array_equal(w, g), (backend, k)
            # normal: the same uniforms through each backend's log and cos
            np.testing.assert_allclose(call_g[5], call_w[5], rtol=1e-5, atol=1e-6)
    assert want[0][4][0] * 2.0 ** 32 == 0x6627e8d5
    assert not np.array_equal(want[0][0], want[1][0])


def _dropout_training(backend, options, steps=4):
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 3), "float64")
    w = gc.parameter("w", rng.normal(size=(3, 8)))
    h = gc.nn.dropout(gc.tanh(x @ w), 0.5, seed=61)
    loss = gc.mean(h * h)
    step = gc.compile([h, loss], updates=gc.optim.sgd(loss, [w], lr=0.1), backend=backend,
                      **options)
    xs = rng.normal(size=(5, 3))
    return [step(xs) for _ in range(steps)], w.value


@pytest.mark.parametrize("backend,options", BACKENDS, ids=BACKEND_IDS)
def test_dropout_training_step(backend, options):
    runs, w_final = _dropout_training(backend, options)
    masks = [h != 0 for h, _ in runs]
    for a, b in zip(masks, masks[1:]):
        assert not np.array_equal(a, b)        # a fresh mask every call
    assert all(0.2 < m.mean() < 0.8 for m in masks)
    again, w_again = _dropout_training(backend, options)   # a new graph, a new compile
    for (h, loss), (h2, loss2) in zip(runs, again):
        assert np.array_equal(h != 0, h2 != 0) and loss == loss2
    np.testing.assert_array_equal(w_final, w_again)
    reference, _ = _dropout_training("numpy", {})
    for (h, _), (hr, _) in zip(runs, reference):
        assert np.array_equal(h != 0, hr != 0)      # the numpy backend's masks


def test_dropout_scaling_and_eval_mode():
    x = gc.constant(np.ones(N, np.float32))
    y = gc.compile(gc.nn.dropout(x, 0.25, seed=71))()
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs(y.mean() - 1) < 0.005
    assert gc.nn.dropout(x, 0.25, training=False) is x
    with pytest.raises(gc.UsageError, match="rate"):
        gc.nn.dropout(x, 1.0)


def test_reparameterized_gradients():
    mu = gc.parameter("mu", np.zeros(6))
    sigma = gc.parameter("sigma", np.full(6, 2.0))
    y = mu + sigma * gc.random.normal((6,), dtype="float64", seed=81)
    loss = gc.sum(y * y)
    g_mu, g_sigma = gc.grad(loss, [mu, sigma])
    f = gc.compile([y, g_mu, g_sigma])
    for _ in range(2):
        yv, gm, gs = f()
        z = (yv - 0.0) / 2.0
        np.testing.assert_allclose(gm, 2 * yv, rtol=1e-12)
        np.testing.assert_allclose(gs, 2 * yv * z, rtol=1e-12)
    # nothing flows into the generator
    u = gc.random.uniform((3,), dtype="float64", seed=82)
    assert gc.evaluate(gc.grad(gc.sum(u * mu[:3]), mu))[3:].tolist() == [0.0] * 3
