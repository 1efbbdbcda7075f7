"""A spring network: write the energy, get the forces as its exported gradient kernel.

A square net of point masses joined by springs (along the grid and across its
diagonals) hangs under gravity from its two top corners. Only the potential
energy is written by hand:

    E(X) = sum_springs k/2 (|x_i - x_j| - rest)^2  +  sum_nodes m g y_i

The forces are F = -dE/dX, which graphc derives and compiles into one kernel
computing E and F together; a damped Verlet integrator in NumPy lets the net
settle. The same kernel is exported as a standalone NumPy module (no graphc
needed to run it) and checked against the compiled function; export it for C or
CUDA with

    graphc export examples/springs.py --backend c -o springs_c

    python examples/springs.py                # 14x14 nodes, a few seconds
    GRAPHC_EXAMPLE_SMALL=1 python examples/springs.py
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile

import numpy as np

import graphc as gc

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
SIDE = 5 if SMALL else 14           # SIDE x SIDE nodes
STIFFNESS, MASS, GRAVITY = 200.0, 0.05, 9.81


def network(side: int = SIDE):
    """Rest positions (n, 2) and springs as an incidence matrix D (m, n): D @ X = edge vectors."""
    idx = np.arange(side * side).reshape(side, side)
    pos = np.stack(np.meshgrid(np.arange(side), np.arange(side)[::-1], indexing="xy"),
                   -1).reshape(-1, 2).astype(np.float64) / (side - 1)
    pairs = []
    for r in range(side):
        for c in range(side):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                if 0 <= r + dr < side and 0 <= c + dc < side:
                    pairs.append((idx[r, c], idx[r + dr, c + dc]))
    D = np.zeros((len(pairs), side * side))
    for e, (i, j) in enumerate(pairs):
        D[e, i], D[e, j] = 1.0, -1.0
    rest = np.linalg.norm(D @ pos, axis=1)
    return pos, D, rest


def build():
    """Energy and forces of the net, one compiled kernel: inputs X (n, 2)."""
    pos, D, rest = network()
    X = gc.placeholder("X", pos.shape, "float64")
    edges = gc.constant(D) @ X                        # (m, 2): x_i - x_j per spring
    length = gc.sqrt(gc.sum(edges * edges, axis=1))
    stretch = length - gc.constant(rest)
    elastic = 0.5 * STIFFNESS * gc.sum(stretch * stretch)
    height = X @ gc.constant([0.0, 1.0])              # y coordinate of every node
    energy = elastic + MASS * GRAVITY * gc.sum(height)
    forces = -gc.grad(energy, X)
    return {"outputs": [energy, forces], "inputs": [X]}


def load_exported(directory: str):
    """Import the exported NumPy module and return its callable (graphc is not needed)."""
    py = sorted(f for f in os.listdir(directory) if f.endswith(".py"))
    spec = importlib.util.spec_from_file_location("springs_kernel", os.path.join(directory, py[0]))
    module = importlib.util.module_from_spec(spec)
    sys.modules["springs_kernel"] = module
    spec.loader.exec_module(module)
    return module.load()


def main():
    pos, D, rest = network()
    graph = build()
    energy, forces = graph["outputs"]
    print(f"{SIDE}x{SIDE} nodes, {len(rest)} springs; forces graph: "
          f"{len(gc.topo_order([forces]))} nodes")
    print("force on the nodes, as graphc derived it:")
    print("   " + str(forces).replace("\n", "\n   "))
    kernel = gc.compile([energy, forces], inputs=graph["inputs"])

    # the forces are the gradient: check them against finite differences of the energy
    rng = np.random.default_rng(0)
    X0 = pos + 0.01 * rng.standard_normal(pos.shape)
    _, F0 = kernel(X0)
    eps, worst = 1e-6, 0.0
    for node in rng.choice(len(pos), 3, replace=False):
        for axis in range(2):
            Xp, Xm = X0.copy(), X0.copy()
            Xp[node, axis] += eps
            Xm[node, axis] -= eps
            fd = -(kernel(Xp)[0] - kernel(Xm)[0]) / (2 * eps)
            worst = max(worst, abs(float(fd) - F0[node, axis]))
    print(f"forces vs finite differences of the energy: max abs error {worst:.2e}")

    # let the net hang: pinned top corners, damped velocity Verlet
    free = np.ones((len(pos), 1))
    free[0] = free[SIDE - 1] = 0.0          # the top row starts at index 0
    X, V = pos.copy(), np.zeros_like(pos)
    dt, damping = 2e-3, 5.0
    e_start, F = kernel(X)
    steps = 1500 if SMALL else 4000
    for step in range(1, steps + 1):
        V += dt * (F / MASS - damping * V) * free
        X += dt * V
        e, F = kernel(X)
        if step % (steps // 5) == 0:
            residual = float(np.max(np.abs(F * free)))
            print(f"  step {step:5d}: energy {float(e):+.6f}  max free force {residual:.2e}")
    residual = float(np.max(np.abs(F * free)))
    sag = float(pos[:, 1].min() - X[:, 1].min())
    print(f"settled: energy {float(e_start):+.4f} -> {float(e):+.4f}, lowest node sagged "
          f"{sag:.4f}, max free force {residual:.2e}")

    # take the kernel away: export it and run the standalone module
    with tempfile.TemporaryDirectory() as out:
        paths = kernel.export(out)
        names = sorted(os.path.basename(str(p)) for p in (paths or os.listdir(out)))
        standalone = load_exported(out)
        e2, F2 = standalone(X)
        diff = float(np.max(np.abs(F2 - F)))
        print(f"exported {', '.join(names)}; standalone module vs compiled: max diff {diff:.1e}")
    print(f"RESULT fd_err={worst:.3e} energy_drop={float(e_start - e):.4f} "
          f"residual={residual:.3e} export_diff={diff:.3e}")


if __name__ == "__main__":
    main()
