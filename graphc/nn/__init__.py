"""Neural-network functions (``gc.nn``), spelled as ``jax.nn`` and ``torch.nn.functional``.

Each is a composite of primitives, so its gradient, printing and code generation come
from the primitives' declarations.

>>> import graphc as gc
>>> x = gc.placeholder("x", (3,), "float64")
>>> gc.evaluate(gc.nn.gelu(x), {x: [-1., 0., 1.]}).round(6)
array([-0.158655,  0.      ,  0.841345])
"""
from __future__ import annotations

import math

from ..api import (asarray, cross_entropy, erfc, log_softmax, logsumexp, one_hot, relu, sigmoid,
                  softmax, softplus, tanh)
from .. import init  # noqa: F401  (gc.nn.init: parameter initializers)
from ..errors import UsageError
from ..ir import user_location
from . import conv  # noqa: F401  (gc.nn.conv: convolution and pooling)
from .dropout import dropout
from .layers import embedding, layer_norm, linear, scaled_dot_product_attention
from .conv import (adaptive_avg_pool2d, avg_pool2d, conv1d, conv2d, conv_transpose2d,
                   max_pool2d)

__all__ = ["init", "linear", "embedding", "layer_norm", "scaled_dot_product_attention",
           "conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
           "adaptive_avg_pool2d", "dropout", "gelu", "relu", "sigmoid", "softplus", "softmax",
           "log_softmax", "logsumexp", "one_hot", "cross_entropy"]


def gelu(x, approximate=False):
    """The Gaussian error linear unit, ``x * Phi(x)`` (``Phi``: the normal CDF).

    ``approximate=False`` (or ``"none"``, torch's spelling) is the exact form, written
    ``0.5 * x * erfc(-x / sqrt(2))``: the same as ``0.5 * x * (1 + erf(x / sqrt(2)))``
    but without cancellation for negative ``x``. ``approximate=True`` (or ``"tanh"``) is
    ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``, as in JAX and torch.

    >>> import graphc as gc
    >>> x = gc.constant([-30., 1.], "float64")
    >>> gc.evaluate(gc.nn.gelu(x))          # exact: no cancellation at -30
    array([-1.47201418e-196,  8.41344746e-001])
    >>> gc.evaluate(gc.nn.gelu(x, approximate="tanh")).round(6)
    array([-0.      ,  0.841192])
    """
    x = asarray(x)
    if approximate in (False, "none"):
        return 0.5 * x * erfc(x * (-1 / math.sqrt(2)))
    if approximate in (True, "tanh"):
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1 + tanh(inner))
    raise UsageError(f"gelu: approximate must be False/'none' or True/'tanh', got "
                     f"{approximate!r} ({user_location()})")
