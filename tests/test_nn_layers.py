"""gc.nn.linear, embedding, layer_norm and scaled_dot_product_attention: values and
gradients against NumPy references and finite differences in float64 (and torch where
installed), every backend, clear errors."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from helpers_backends import compile_and_compare, each_backend
from helpers_errors import fails
from op_checks import check_against_numpy, check_against_torch

RNG = np.random.default_rng(7)


def layer_norm_np(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


def attention_np(q, k, v, causal):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True) @ v


def test_layer_norm_values_and_gradients():
    x, w, b = RNG.normal(size=(3, 5)), RNG.normal(size=5), RNG.normal(size=5)
    check_against_numpy(lambda x_, w_, b_: gc.nn.layer_norm(x_, 5, w_, b_),
                        layer_norm_np, [x, w, b])


def test_layer_norm_over_two_axes():
    x = RNG.normal(size=(2, 3, 4))

    def ref(x_):
        mu = x_.mean((-2, -1), keepdims=True)
        return (x_ - mu) / np.sqrt(((x_ - mu) ** 2).mean((-2, -1), keepdims=True) + 1e-5)
    check_against_numpy(lambda x_: gc.nn.layer_norm(x_, (3, 4)), ref, [x])


@pytest.mark.parametrize("causal", [False, True])
def test_attention_values_and_gradients(causal):
    q, k, v = (RNG.normal(size=(2, 4, 3)) for _ in range(3))
    check_against_numpy(
        lambda q_, k_, v_: gc.nn.scaled_dot_product_attention(q_, k_, v_, is_causal=causal),
        lambda q_, k_, v_: attention_np(q_, k_, v_, causal), [q, k, v])


def test_attention_with_boolean_and_additive_masks():
    q, k, v = (RNG.normal(size=(3, 2)) for _ in range(3))
    allowed = np.array([[True, False, True], [True, True, False], [False, True, True]])
    bias = RNG.normal(size=(3, 3))

    def ref(q_, k_, v_, bias_=None, mask=None):
        s = q_ @ k_.T / np.sqrt(2)
        s = np.where(mask, s, -np.inf) if mask is not None else s + bias_
        e = np.exp(s - s.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True) @ v_
    check_against_numpy(
        lambda q_, k_, v_: gc.nn.scaled_dot_product_attention(q_, k_, v_,
                                                              attn_mask=gc.constant(allowed)),
        lambda q_, k_, v_: ref(q_, k_, v_, mask=allowed), [q, k, v])
    check_against_numpy(
        lambda q_, k_, v_: gc.nn.scaled_dot_product_attention(q_, k_, v_,
                                                              attn_mask=gc.constant(bias)),
        lambda q_, k_, v_: ref(q_, k_, v_, bias_=bias), [q, k, v])


def test_linear_and_embedding():
    x, W, b = RNG.normal(size=(4, 3)), RNG.normal(size=(5, 3)), RNG.normal(size=5)
    check_against_numpy(gc.nn.linear, lambda x_, W_, b_: x_ @ W_.T + b_, [x, W, b])
    ids = np.array([[1, 0, 1], [3, 3, 2]])
    E = RNG.normal(size=(4, 2))
    check_against_numpy(lambda E_: gc.nn.embedding(gc.constant(ids), E_), lambda E_: E_[ids], [E])


def test_against_torch_in_float64():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b = RNG.normal(size=(3, 6)), RNG.normal(size=6), RNG.normal(size=6)
    check_against_torch(torch, lambda x_, w_, b_: gc.nn.layer_norm(x_, 6, w_, b_),
                        lambda x_, w_, b_: F.layer_norm(x_, (6,), w_, b_), [x, w, b])
    q, k, v = (RNG.normal(size=(2, 5, 4)) for _ in range(3))
    check_against_torch(
        torch, lambda q_, k_, v_: gc.nn.scaled_dot_product_attention(q_, k_, v_, is_causal=True),
        lambda q_, k_, v_: F.scaled_dot_product_attention(q_, k_, v_, is_causal=True), [q, k, v])


@each_backend
def test_a_transformer_block_on_every_backend(backend, options):
    tokens = gc.placeholder("tokens", (None, 6), "int64")
    E = gc.parameter("E", RNG.normal(size=(10, 8)))
    Wq, Wk, Wv = (gc.parameter(n, RNG.normal(size=(8, 8)) / 3) for n in ("Wq", "Wk", "Wv"))
    x = gc.nn.embedding(tokens, E)
    h = gc.nn.layer_norm(x, 8)
    y = x + gc.nn.scaled_dot_product_attention(h @ Wq, h @ Wk, h @ Wv, is_causal=True)
    loss = gc.cross_entropy(y @ gc.swapaxes(E, 0, 1), tokens)
    grads = gc.grad(loss, [E, Wq, Wk, Wv])
    ids = RNG.integers(0, 10, size=(3, 6))
    compile_and_compare([loss, *grads], {"tokens": ids}, backend, options, rtol=1e-6, atol=1e-8)


def test_layer_errors_are_clear():
    x = gc.placeholder("x", (None, 4))
    fails(gc.ShapeError, lambda: gc.nn.layer_norm(x, 5), "layer_norm", "(None, 4)")
    fails(gc.ShapeError, lambda: gc.nn.embedding(gc.constant([0]), gc.placeholder("E", (3,))),
          "embedding", "(3,)")
    fails(gc.UsageError, lambda: gc.nn.scaled_dot_product_attention(
        x, x, x, attn_mask=gc.constant(np.ones((4, 4), bool)), is_causal=True),
        "scaled_dot_product_attention", "is_causal")
    fails(gc.ShapeError, lambda: gc.nn.scaled_dot_product_attention(x, x, x, is_causal=True),
          "scaled_dot_product_attention", "static")
