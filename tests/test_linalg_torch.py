"""gc.linalg against torch.linalg in float64: values and gradients (and second
derivatives of slogdet, solve and cholesky), on the interpreter and the numpy and c
backends. Skipped without torch; tests/test_linalg.py covers the same functions with
NumPy and finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")
L = gc.linalg
RNG = np.random.default_rng(11)


def spd(*shape):
    n = shape[-1]
    a = RNG.normal(size=shape)
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def wellcond(*shape):
    return RNG.normal(size=shape) + 3 * np.eye(shape[-1])


def gsym(a):
    return (a + gc.swapaxes(a, -1, -2)) * 0.5


def tsym(a):
    return (a + a.transpose(-1, -2)) * 0.5


# name -> (graphc builder, torch builder, inputs)
CASES = {
    "cholesky": (lambda a: L.cholesky(gsym(a)), lambda a: torch.linalg.cholesky(tsym(a)),
                 [spd(2, 4, 4)]),
    "solve": (L.solve, torch.linalg.solve, [wellcond(2, 4, 4), RNG.normal(size=(2, 4, 3))]),
    "solve_vector": (L.solve, torch.linalg.solve, [wellcond(4, 4), RNG.normal(size=(4,))]),
    "solve_triangular": (
        lambda a, b: L.solve_triangular(a, b, lower=True),
        lambda a, b: torch.linalg.solve_triangular(torch.tril(a), b, upper=False),
        [wellcond(3, 4, 4), RNG.normal(size=(3, 4, 2))]),
    "solve_triangular_T_unit": (
        lambda a, b: L.solve_triangular(a, b, trans=1, unit_diagonal=True),
        lambda a, b: torch.linalg.solve_triangular(
            torch.triu(a, 1).transpose(-1, -2) + torch.eye(4, dtype=a.dtype), b, upper=False,
            unitriangular=True),
        [RNG.normal(size=(4, 4)) * 0.3, RNG.normal(size=(4, 2))]),
    "inv": (L.inv, torch.linalg.inv, [wellcond(2, 3, 3)]),
    "det": (L.det, torch.linalg.det, [RNG.normal(size=(3, 3, 3))]),
    "slogdet": (lambda a: L.slogdet(a)[1], lambda a: torch.linalg.slogdet(a)[1],
                [RNG.normal(size=(2, 4, 4))]),
    "logdet": (lambda a: L.logdet(gsym(a)), lambda a: torch.logdet(tsym(a)), [spd(2, 3, 3)]),
    "eigvalsh": (lambda a: L.eigvalsh(gsym(a)), lambda a: torch.linalg.eigvalsh(tsym(a)),
                 [spd(2, 4, 4)]),
    # eigenvectors up to sign: compare a sign-invariant function of them
    "eigh_vectors": (lambda a: L.eigh(gsym(a))[1] ** 2,
                     lambda a: torch.linalg.eigh(tsym(a))[1] ** 2, [spd(2, 4, 4)]),
    "qr": (lambda a: L.qr(a)[0] * 2 + L.qr(a)[1][..., :3, :],
           lambda a: torch.linalg.qr(a)[0] * 2 + torch.linalg.qr(a)[1][..., :3, :],
           [RNG.normal(size=(2, 3, 3))]),
    "qr_tall": (lambda a: L.qr(a)[1], lambda a: torch.linalg.qr(a)[1], [RNG.normal(size=(5, 3))]),
    "svdvals": (L.svdvals, torch.linalg.svdvals, [RNG.normal(size=(2, 4, 3))]),
    "svd_u": (lambda a: L.svd(a, full_matrices=False)[0] ** 2,
              lambda a: torch.linalg.svd(a, full_matrices=False)[0] ** 2,
              [RNG.normal(size=(4, 3))]),
    "pinv": (L.pinv, torch.linalg.pinv, [RNG.normal(size=(4, 3))]),
    "lstsq": (lambda a, b: L.lstsq(a, b)[0],
              lambda a, b: torch.linalg.lstsq(a, b[:, None]).solution[:, 0],
              [RNG.normal(size=(6, 3)), RNG.normal(size=(6,))]),
    "matrix_power": (lambda a: L.matrix_power(a, 3), lambda a: torch.linalg.matrix_power(a, 3),
                     [RNG.normal(size=(2, 3, 3))]),
    "norm_2": (lambda a: L.norm(a, 2), lambda a: torch.linalg.matrix_norm(a, 2),
               [RNG.normal(size=(3, 3))]),
    "kron": (L.kron, torch.kron, [RNG.normal(size=(2, 3)), RNG.normal(size=(2, 2))]),
}


def _graphc(name, backend, order2=False):
    build, _, vals = CASES[name]
    phs = [gc.placeholder(f"x{k}", v.shape, "float64") for k, v in enumerate(vals)]
    y = build(*phs)
    w = gc.constant(np.random.default_rng(2).normal(size=tuple(y.shape)))
    loss = gc.sum(y * w)
    grads = gc.grad(loss, phs)
    outs = [y] + grads
    if order2:   # d/dx sum(grad * v): a Hessian-vector product
        vs = [gc.constant(np.random.default_rng(3).normal(size=v.shape)) for v in vals]
        outs += gc.grad(sum(gc.sum(g * v) for g, v in zip(grads, vs)), phs)
    if backend == "interp":
        return gc.evaluate(outs, dict(zip(phs, vals)))
    return gc.compile(outs, inputs=phs, backend=backend)(*vals)


def _torch(name, order2=False):
    _, build, vals = CASES[name]
    xs = [torch.tensor(v, requires_grad=True) for v in vals]
    y = build(*xs)
    w = torch.tensor(np.random.default_rng(2).normal(size=tuple(y.shape)))
    grads = torch.autograd.grad((y * w).sum(), xs, create_graph=order2)
    outs = [y.detach().numpy()] + [g.detach().numpy() for g in grads]
    if order2:
        vs = [torch.tensor(np.random.default_rng(3).normal(size=v.shape)) for v in vals]
        h = torch.autograd.grad(sum((g * v).sum() for g, v in zip(grads, vs)), xs)
        outs += [x.detach().numpy() for x in h]
    return outs


@pytest.mark.parametrize("backend", ["interp", "numpy", "c"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_gradient_match_torch(name, backend):
    got, want = _graphc(name, backend), _torch(name)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-9 * (1 + np.abs(w).max()),
                                   err_msg=f"{name} output {k}")


@pytest.mark.parametrize("backend", ["interp", "c"])
@pytest.mark.parametrize("name", ["slogdet", "solve", "cholesky", "solve_triangular"])
def test_second_derivatives_match_torch(name, backend):
    got, want = _graphc(name, backend, order2=True), _torch(name, order2=True)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-9 * (1 + np.abs(w).max()),
                                   err_msg=f"{name} output {k}")
