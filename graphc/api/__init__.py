"""The user-facing graph-building API: leaves, primitive wrappers and composites.

Every function here returns a ``Tensor`` (an IR node). Primitive wrappers turn the
user's arguments into an op's inputs and attributes (Python numbers into constants,
axes into sorted tuples, ``-1`` in a reshape into a size) and build the node with
``bind``, whose shape rule reports misuse with the user's file:line; composites
(``softmax``, ``cross_entropy``...) are plain compositions of primitives, numerically
stable by construction. Tensor's operators and methods are attached by ``methods``.

Modules: ``data`` (dtypes, leaves, lifting Python data), ``elementwise``, ``structure``
(reductions, reshapes, matmul, one_hot), ``indexing``, ``composites``, ``statistics``
(var, std, norm, argmax...), ``linear`` (einsum, tensordot), ``scans`` (cumsum,
cumprod, logcumsumexp, argsort, sort, top_k), ``arrange`` (tile, repeat, roll, moveaxis,
swapaxes), ``constants`` (zeros, eye, arange, diag, tril...), ``methods``.
"""
from .. import ops  # noqa: F401  (declares the primitives: fills the registry bind reads)
from .data import (DEFAULT_FLOAT, apply, check_dtype, constant, element_count, lift,
    parameter, placeholder, to_array)
from .elementwise import (abs, add, asarray, cast, cos, div, equal, erf, erfc, erfinv, exp,
    expm1, greater, greater_equal, less, less_equal, log, log1p, maximum, minimum, mul,
    neg, not_equal, pow, sigmoid, sign, sin, softplus, sqrt, stop_gradient, sub, tanh,
    where)
from .structure import (broadcast_to, matmul, max, mean, min, normalize_axes, one_hot,
    reshape, sum, transpose)
from .indexing import (concat, concatenate, expand_dims, flip, newaxis, pad, split,
    squeeze, stack)
from .advanced import gather, getitem, check_index, scatter, scatter_add, take, take_along_axis
from .composites import (clip, cross_entropy, log_softmax, logsumexp, relu, softmax,
    square)
from .statistics import argmax, argmin, log_sigmoid, logaddexp, norm, std, var
from .linear import einsum, tensordot
from .scans import argsort, cummax, cummin, cumprod, cumsum, logcumsumexp, sort, top_k
from .arrange import moveaxis, repeat, roll, swapaxes, tile
from .constants import (arange, diag, diagonal, eye, full, full_like, linspace, ones,
    ones_like, tril, triu, zeros, zeros_like)
from . import methods  # noqa: F401,E402  (attaches Tensor's operators and methods)
