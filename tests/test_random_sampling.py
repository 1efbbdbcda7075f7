"""gc.random.permutation and gc.random.choice: valid draws, the right distributions (exact
counts against their expectations), the same draws on every backend for a seed, fresh draws
every call, gradients to the sampled values, clear errors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import graphc as gc
from helpers_backends import BACKENDS, each_backend
from helpers_errors import fails


def within(count: int, n: int, prob: float, sigmas: float = 5.0) -> bool:
    """Is a binomial count within ``sigmas`` standard deviations of n * prob?"""
    return abs(count - n * prob) <= sigmas * math.sqrt(n * prob * (1 - prob)) + 1


def test_permutations_are_uniform():
    draws = 3000
    f = gc.compile(gc.random.permutation(3, seed=11))
    seen = [tuple(f().tolist()) for _ in range(draws)]
    for order in itertools.permutations(range(3)):
        assert within(seen.count(order), draws, 1 / 6), (order, seen.count(order))


@each_backend
def test_the_same_permutation_and_choices_on_every_backend(backend, options):
    def build():   # a graph built again: new counter parameters at 0, the same seeds
        x = gc.placeholder("x", (None, 3), "float64")
        p = np.array([0.1, 0.2, 0.3, 0.0, 0.4])
        return [gc.random.permutation(x, seed=12), gc.random.permutation(7, seed=13),
                gc.random.choice(gc.constant(np.arange(12.0).reshape(6, 2)), (4,),
                                 replace=False, seed=14),
                gc.random.choice(9, (2, 3), seed=15),
                gc.random.choice(5, (6,), p=p, seed=16),
                gc.random.choice(5, (3,), replace=False, p=p, seed=17)]
    data = np.arange(18.0).reshape(6, 3)
    got = gc.compile(build(), backend=backend, **options)(x=data)
    want = gc.compile(build(), backend="numpy")(x=data)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    rows, perm7 = got[0], got[1]
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, data.tolist()))
    assert sorted(perm7.tolist()) == list(range(7))
    assert len({tuple(r) for r in got[2].tolist()}) == 4
    assert got[3].shape == (2, 3) and got[3].min() >= 0 and got[3].max() < 9
    assert 3 not in got[4].tolist() and 3 not in got[5].tolist()   # p = 0 never drawn
    assert len(set(got[5].tolist())) == 3


def test_fresh_draws_each_call_and_the_same_sequence_after_a_new_compile():
    def build():
        return gc.compile(gc.random.permutation(20, seed=21))
    f, g = build(), build()
    a, b = f(), f()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(g(), a)
    np.testing.assert_array_equal(g(), b)


def test_choice_with_probabilities_follows_them():
    p = np.array([0.5, 0.3, 0.2, 0.0])
    draws = gc.compile(gc.random.choice(4, (20000,), p=p, seed=31))()
    for k in range(4):
        assert within(int((draws == k).sum()), draws.size, p[k]), (k, (draws == k).sum())


def test_choice_without_replacement_with_probabilities_takes_the_first_in_proportion():
    p = np.array([0.6, 0.3, 0.1])
    f = gc.compile(gc.random.choice(3, (2,), replace=False, p=p, seed=32))
    firsts = np.array([f()[0] for _ in range(3000)])
    for k in range(3):
        assert within(int((firsts == k).sum()), 3000, p[k]), (k, (firsts == k).sum())


def test_uniform_choice_with_replacement_covers_a_run_time_population():
    x = gc.placeholder("x", (None,), "int64")
    f = gc.compile(gc.random.choice(x, (30000,), seed=33))
    picks = f(x=np.array([10, 20, 30]))
    for v in (10, 20, 30):
        assert within(int((picks == v).sum()), picks.size, 1 / 3)


def test_gradients_flow_to_the_sampled_values():
    w = gc.parameter("w", np.arange(5.0))
    loss = gc.sum(gc.random.permutation(w, seed=41) * gc.constant(np.arange(5.0)))
    perm_loss, dw = gc.compile([loss, gc.grad(loss, w)])()
    # d/dw_j sum_i w[perm_i] * i = the position i where perm_i = j
    assert sorted(dw.tolist()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(perm_loss, np.dot(np.arange(5.0), dw))


def test_sampling_errors_are_clear():
    fails(gc.ShapeError, lambda: gc.random.choice(3, (4,), replace=False, seed=1),
          "choice", "4 samples", "3")
    fails(gc.ShapeError, lambda: gc.random.choice(3, (2,), p=np.ones(4) / 4, seed=1),
          "choice", "p", "(4,)")
    fails(gc.ShapeError, lambda: gc.random.permutation(gc.constant(1.0), seed=1),
          "permutation", "0-d")
    fails(gc.UsageError, lambda: gc.random.permutation(-2, seed=1), "permutation", "-2")
    x = gc.placeholder("x", (None,))
    fails(gc.ShapeError, lambda: gc.random.choice(4, x.shape, seed=1), "choice", "static")
    fails(gc.ShapeError, lambda: gc.random.choice(x, (2,), replace=False, seed=1), "choice",
          "known size")


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs a compiled backend beside numpy")
def test_permutation_of_a_large_population_on_c_is_a_permutation():
    p = gc.compile(gc.random.permutation(100_000, seed=51), backend="c")()
    assert np.array_equal(np.sort(p), np.arange(100_000))
