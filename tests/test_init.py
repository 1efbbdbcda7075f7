"""Initializers (graphc.init, gc.nn.init): torch.nn.init's gains and fan conventions, the
distributions' bounds and spreads, determinism from a seed."""
from __future__ import annotations

import math

import numpy as np
import pytest

from graphc import init
from graphc.errors import ShapeError, UsageError


@pytest.mark.parametrize("fn,limit", [
    (lambda s: init.xavier_uniform(s, seed=1), lambda fi, fo: math.sqrt(6 / (fi + fo))),
    (lambda s: init.glorot_uniform(s, gain=2.0, seed=1),
     lambda fi, fo: 2 * math.sqrt(6 / (fi + fo))),
    (lambda s: init.kaiming_uniform(s, seed=1), lambda fi, fo: math.sqrt(6 / fi)),
    (lambda s: init.he_uniform(s, mode="fan_out", nonlinearity="tanh", seed=1),
     lambda fi, fo: 5 / 3 * math.sqrt(3 / fo)),
])
def test_uniform_bounds_fill_the_interval(fn, limit):
    w = fn((400, 300))
    bound = limit(400, 300)
    assert w.dtype == np.float32 and w.shape == (400, 300)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound


@pytest.mark.parametrize("fn,std", [
    (lambda s: init.xavier_normal(s, seed=2, dtype="float64"), math.sqrt(2 / 700)),
    (lambda s: init.kaiming_normal(s, seed=2, dtype="float64"), math.sqrt(2 / 400)),
    (lambda s: init.he_normal(s, a=0.2, seed=2, dtype="float64"),
     math.sqrt(2 / (1 + 0.04)) / math.sqrt(400)),
])
def test_normal_spread(fn, std):
    w = fn((400, 300))
    assert w.dtype == np.float64
    assert abs(w.std() / std - 1) < 0.01 and abs(w.mean()) < 0.01 * std


def test_same_seed_same_values_other_seed_other_values():
    a, b = init.xavier_uniform((5, 4), seed=3), init.xavier_uniform((5, 4), seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init.xavier_uniform((5, 4), seed=4))
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(init.xavier_uniform((5, 4), seed=rng), a)


def test_fans_and_gains_as_torch():
    assert init.fans((7, 5)) == (7, 5)                                   # x @ W: (in, out)
    assert init.fans((16, 3, 5, 5), in_axis=1, out_axis=0) == (75, 400)  # torch's conv layout
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01 ** 2))
    assert init.calculate_gain("selu") == 0.75
    np.testing.assert_array_equal(init.zeros((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(init.ones(3, "float64"), np.ones(3))


def test_matches_torch_conventions():
    torch = pytest.importorskip("torch", reason="torch is not installed here: the formulas "
                                "are checked against their definitions instead")
    w = torch.empty(16, 3, 5, 5)
    assert torch.nn.init._calculate_fan_in_and_fan_out(w) == init.fans(
        (16, 3, 5, 5), in_axis=1, out_axis=0)
    for name, param in [("tanh", None), ("relu", None), ("leaky_relu", 0.3), ("selu", None)]:
        assert torch.nn.init.calculate_gain(name, param) == pytest.approx(
            init.calculate_gain(name, param), rel=1e-15)


@pytest.mark.parametrize("call,error", [
    (lambda: init.xavier_uniform((3, 4)), TypeError),                 # seed is required
    (lambda: init.xavier_uniform((3, 4), seed="x"), UsageError),
    (lambda: init.xavier_uniform((3,), seed=0), ShapeError),
    (lambda: init.kaiming_normal((3, 4), mode="fan_mid", seed=0), UsageError),
    (lambda: init.kaiming_normal((3, 4), nonlinearity="swish", seed=0), UsageError),
    (lambda: init.xavier_normal((3, 4), seed=0, dtype="int32"), UsageError),
])
def test_misuse(call, error):
    with pytest.raises(error):
        call()
