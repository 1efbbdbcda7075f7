"""``gc.linalg``: linear algebra with gradients (the functions live in
``graphc.api.linalg``; the primitives in ``graphc.ops.linalg``).

>>> import graphc as gc
>>> gc.evaluate(gc.linalg.det(gc.constant([[1., 2.], [3., 4.]], "float64")))
array(-2.)
"""
from .api.linalg import (LinAlgError, cho_solve, cholesky, det, diag, diagonal, eigh,  # noqa: F401
                         eigvalsh, inv, kron, logabsdet, logdet, lstsq, matmul, matrix_power,
                         norm, outer, pinv, qr, slogdet, solve, solve_triangular, svd, svdvals,
                         trace)
from .api.linalg import __all__  # noqa: F401
