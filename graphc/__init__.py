"""graphc: a symbolic, define-then-run graph compiler.

>>> import graphc as gc
>>> a = gc.parameter("a", [2., 4.])
>>> b = gc.parameter("b", [7., 5.])
>>> E = 3*a**3 - b**2
>>> da, db = gc.grad(E, [a, b], seed=gc.constant([1., 1.]))
>>> gc.expr(da), gc.expr(db)
(9*a**2, -2*b)
"""
from .errors import (BackendUnavailable, CompileError, DTypeError, EvalError, FeedError,
                     FileFormatError, GradError, GraphcError, NumericsError, ShapeError,
                     UsageError)
from .ir import Tensor, to_dot, to_networkx, topo_order
from .api import (abs, add, asarray, broadcast_to, cast, clip, constant, cos, cross_entropy,
                  div, equal, erf, erfc, erfinv, exp, expm1, greater, greater_equal, less, less_equal, log, log1p,
                  log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum, mul, neg,
                  not_equal, one_hot, parameter, placeholder, pow, relu, reshape, sigmoid, sign,
                  sin, softmax, softplus, sqrt, square, stop_gradient, sub, sum, tanh, transpose,
                  where)
from .api import (concat, concatenate, expand_dims, flip, newaxis, pad, split, squeeze,
                  gather, check_index, scatter, scatter_add, stack, take, take_along_axis)
from .api import (argmax, argmin, einsum, log_sigmoid, logaddexp, moveaxis, norm, repeat, roll,
                  std, swapaxes, tensordot, tile, var)
from .api import (arange, diag, diagonal, eye, full, full_like, linspace, ones, ones_like,
                  tril, triu, zeros, zeros_like)
from .api import argsort, cummax, cummin, cumprod, cumsum, logcumsumexp, sort, top_k
from . import nn
from .nn import gelu
from .interpreter import evaluate
from .compiler import Function, compile
from .drawing import draw
from .passes.autodiff import grad, hvp, jvp
from .control import cond, fori_loop, scan, switch, while_loop
from .passes.pipeline import optimize
from .printing import expr, latex, show
from . import optim
from . import linalg  # noqa: F401  (gc.linalg: solve, cholesky, slogdet, eigh...)
from . import random  # noqa: F401  (gc.random: Philox streams in the graph)
from .random import random_uniform
from .saving import load, load_params, save, save_params

__version__ = "0.1.0"


def __getattr__(name):
    """``gc.dask`` on first use: importing graphc never imports Dask (an optional extra)."""
    if name == "dask":
        import importlib
        return importlib.import_module(".dask", __name__)
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")
