"""Checking a composed op against its NumPy reference: values on the numpy backend, the
gradient (of ``sum(y * seed)``, a random seed) against central finite differences of the
reference in float64, and against torch's autograd where torch is importable.

    check_against_numpy(lambda x: gc.var(x, 0), lambda x: x.var(0), [x_data])
"""
from __future__ import annotations

import numpy as np

import graphc as gc


def numeric_gradients(reference, arrays: list, seed, eps: float = 1e-6) -> list:
    """d sum(reference(*arrays) * seed) / d arrays by central differences."""
    grads = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            shifted = []
            for sign in (1, -1):
                moved = [x.copy() for x in arrays]
                moved[k][idx] += sign * eps
                shifted.append(np.sum(reference(*moved) * seed))
            g[idx] = (shifted[0] - shifted[1]) / (2 * eps)
        grads.append(g)
    return grads


def finite_difference(fn, x, eps: float = 1e-6):
    """d fn / d x by central differences, in float64 (``fn``: array -> scalar)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[k] = eps
        g[k] = (fn(x + d) - fn(x - d)) / (2 * eps)
    return g


def build_with_gradients(build, arrays: list, seed):
    """(placeholders, output, gradients of sum(output * seed)) for float64 inputs."""
    inputs = [gc.placeholder(f"x{k}", a.shape, "float64") for k, a in enumerate(arrays)]
    y = build(*inputs)
    grads = gc.grad(gc.sum(y * gc.constant(seed)), inputs)
    return inputs, y, grads


def check_against_numpy(build, reference, arrays: list, rng=None, rtol=1e-6, atol=1e-8):
    """The op's value and gradient on the numpy backend against ``reference``."""
    rng = rng or np.random.default_rng(0)
    want = np.asarray(reference(*arrays))
    seed = rng.normal(size=want.shape)
    inputs, y, grads = build_with_gradients(build, arrays, seed)
    f = gc.compile([y] + grads, backend="numpy")
    got, *got_grads = f(**{p.name: a for p, a in zip(inputs, arrays)})
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    for k, (g, n) in enumerate(zip(got_grads, numeric_gradients(reference, arrays, seed))):
        np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-6, err_msg=f"gradient {k}")


def check_against_torch(torch, build, torch_fn, arrays: list, rng=None):
    """The op's value and gradient (numpy backend) against torch's, in float64."""
    rng = rng or np.random.default_rng(1)
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    want = torch_fn(*leaves)
    seed = rng.normal(size=tuple(want.shape))
    (want * torch.tensor(seed)).sum().backward()
    inputs, y, grads = build_with_gradients(build, arrays, seed)
    got, *got_grads = gc.compile([y] + grads, backend="numpy")(
        **{p.name: a for p, a in zip(inputs, arrays)})
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-9, atol=1e-10)
    for k, (g, leaf) in enumerate(zip(got_grads, leaves)):
        np.testing.assert_allclose(g, leaf.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=f"gradient {k}")
