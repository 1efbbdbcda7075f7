"""``gc.linalg``: NumPy's (and SciPy's) linear algebra, batched over leading axes, with
gradients.

The primitives (``graphc.ops.linalg``) are ``cholesky``, ``solve_triangular``, ``solve``,
``logabsdet``/``det_sign`` (slogdet), ``eigvalsh``/``eigh_vectors`` and ``qr_q``/``qr_r``;
everything else here is built from them and matmul, so printing, simplification,
gradients (of gradients too) and code generation come for free: ``inv(a)`` is
``solve(a, I)``, ``logdet`` of a positive-definite matrix is ``2 sum(log(diag(L)))``,
``svd`` is the symmetric eigenproblem of ``[[0, a], [a.T, 0]]`` (eigenvalues ``+-s``).
The matrix axes (the last two) must be known sizes; leading (batch) axes broadcast as in
NumPy and may be run-time sizes.

>>> import numpy as np, graphc as gc
>>> S = gc.constant([[4., 2.], [2., 5.]], "float64")
>>> gc.evaluate(gc.linalg.solve(S, [2., 1.]))
array([0.5, 0. ])
>>> float(gc.evaluate(gc.linalg.logdet(S))) == float(np.log(16.))
True
"""
from __future__ import annotations

from ..errors import LinAlgError
from .linalg_decompositions import eigh, eigvalsh, lstsq, norm, pinv, qr, svd, svdvals
from .linalg_solve import (cho_solve, cholesky, det, diag, diagonal, inv, kron, logabsdet, logdet,
                           matmul, matrix_power, outer, slogdet, solve, solve_triangular, trace)

__all__ = ["LinAlgError", "cho_solve", "cholesky", "det", "diag", "diagonal", "eigh",
           "eigvalsh", "inv", "kron", "logabsdet", "logdet", "lstsq", "matmul",
           "matrix_power", "norm", "outer", "pinv", "qr", "slogdet", "solve",
           "solve_triangular", "svd", "svdvals", "trace"]
