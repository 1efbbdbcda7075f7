"""Parameter initializers (``graphc.init``, also ``gc.nn.init``): NumPy arrays for
``gc.parameter(name, value)``, drawn from ``np.random.default_rng(seed)``, with
torch.nn.init's gains and formulas.

Fans: graphc multiplies ``x @ W``, so a dense weight is ``(in, out)`` and by default
``fan_in = shape[-2]``, ``fan_out = shape[-1]``, times the product of the other axes
(the receptive field), as JAX's ``variance_scaling``. For a weight in torch's
``(out, in, *kernel)`` layout pass ``in_axis=1, out_axis=0``: the fans are then torch's.

>>> import graphc as gc
>>> from graphc import init
>>> W = gc.parameter("W", init.glorot_uniform((784, 128), seed=0))
>>> W.shape, W.dtype
((784, 128), dtype('float32'))
>>> bool(abs(W.value).max() <= (6 / (784 + 128)) ** 0.5)
True
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .api import check_dtype
from .errors import ShapeError, UsageError
from .ir import user_location

__all__ = ["zeros", "ones", "calculate_gain", "fans", "xavier_uniform", "xavier_normal",
           "glorot_uniform", "glorot_normal", "kaiming_uniform", "kaiming_normal",
           "he_uniform", "he_normal"]


def _shape(shape, what: str) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) >= 0
               for d in shape):
        raise ShapeError(f"{what}: shape must be non-negative ints, got {shape!r} "
                         f"({user_location()})")
    return tuple(int(d) for d in shape)


def _float_dtype(dtype, what: str) -> np.dtype:
    dt = check_dtype(dtype, what)
    if dt.kind != "f":
        raise UsageError(f"{what}: random initial values need a float dtype, got {dt} "
                         f"({user_location()})")
    return dt


def _rng(seed, what: str) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise UsageError(f"{what}: seed must be an int or a numpy Generator, got {seed!r} "
                     f"(each parameter needs its own seed) ({user_location()})")


def zeros(shape, dtype="float32") -> np.ndarray:
    """An array of zeros (biases, optimizer state).

    >>> import graphc as gc
>>> from graphc import init
    >>> init.zeros((2,))
    array([0., 0.], dtype=float32)
    """
    return np.zeros(_shape(shape, "zeros"), check_dtype(dtype, "zeros"))


def ones(shape, dtype="float32") -> np.ndarray:
    """An array of ones (scales of normalization layers).

    >>> import graphc as gc
>>> from graphc import init
    >>> init.ones((2,), "float64")
    array([1., 1.])
    """
    return np.ones(_shape(shape, "ones"), check_dtype(dtype, "ones"))


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``).

    >>> import graphc as gc
>>> from graphc import init
    >>> init.calculate_gain("tanh"), round(init.calculate_gain("relu"), 6)
    (1.6666666666666667, 1.414214)
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if not isinstance(slope, numbers.Real) or isinstance(slope, bool):
            raise UsageError(f"calculate_gain: negative slope {slope!r} is not a number "
                             f"({user_location()})")
        return math.sqrt(2.0 / (1 + float(slope) ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise UsageError(f"calculate_gain: unknown nonlinearity {nonlinearity!r} "
                     f"({user_location()})")


def fans(shape, in_axis: int = -2, out_axis: int = -1) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` (see the module's note on layouts).

    >>> import graphc as gc
>>> from graphc import init
    >>> init.fans((784, 128)), init.fans((16, 3, 5, 5), in_axis=1, out_axis=0)
    ((784, 128), (75, 400))
    """
    shape = _shape(shape, "fans")
    if len(shape) < 2:
        raise ShapeError(f"fans: a weight needs at least 2 dimensions, got shape {shape} "
                         f"({user_location()})")
    axes = [a % len(shape) for a in (in_axis, out_axis)]
    if axes[0] == axes[1]:
        raise UsageError(f"fans: in_axis and out_axis are the same axis ({user_location()})")
    receptive = math.prod(d for k, d in enumerate(shape) if k not in axes)
    return shape[axes[0]] * receptive, shape[axes[1]] * receptive


def xavier_uniform(shape, gain: float = 1.0, *, seed, dtype="float32", in_axis: int = -2,
                   out_axis: int = -1) -> np.ndarray:
    """``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010).

    >>> import graphc as gc
>>> from graphc import init
    >>> init.xavier_uniform((2, 3), seed=0).shape
    (2, 3)
    """
    fan_in, fan_out = fans(shape, in_axis, out_axis)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    rng = _rng(seed, "xavier_uniform")
    return rng.uniform(-bound, bound, _shape(shape, "xavier_uniform")).astype(
        _float_dtype(dtype, "xavier_uniform"))


def xavier_normal(shape, gain: float = 1.0, *, seed, dtype="float32", in_axis: int = -2,
                  out_axis: int = -1) -> np.ndarray:
    """``N(0, std**2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> import graphc as gc
>>> from graphc import init
    >>> init.xavier_normal((2, 3), seed=0, dtype="float64").dtype
    dtype('float64')
    """
    fan_in, fan_out = fans(shape, in_axis, out_axis)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    rng = _rng(seed, "xavier_normal")
    return rng.normal(0.0, std, _shape(shape, "xavier_normal")).astype(
        _float_dtype(dtype, "xavier_normal"))


def _kaiming_std(shape, a, mode, nonlinearity, in_axis, out_axis) -> float:
    fan_in, fan_out = fans(shape, in_axis, out_axis)
    if mode not in ("fan_in", "fan_out"):
        raise UsageError(f"kaiming: mode must be 'fan_in' or 'fan_out', got {mode!r} "
                         f"({user_location()})")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform(shape, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *, seed, dtype="float32",
                    in_axis: int = -2, out_axis: int = -1) -> np.ndarray:
    """``U(-b, b)``, ``b = gain * sqrt(3 / fan)`` (He et al., 2015); torch's defaults
    (``leaky_relu`` with slope ``a=0``, i.e. gain ``sqrt(2)``, ``mode="fan_in"``).

    >>> import graphc as gc
>>> from graphc import init
    >>> w = init.kaiming_uniform((100, 10), seed=0)
    >>> bool(abs(w).max() <= (6 / 100) ** 0.5)
    True
    """
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity, in_axis, out_axis)
    rng = _rng(seed, "kaiming_uniform")
    return rng.uniform(-bound, bound, _shape(shape, "kaiming_uniform")).astype(
        _float_dtype(dtype, "kaiming_uniform"))


def kaiming_normal(shape, a: float = 0.0, mode: str = "fan_in",
                   nonlinearity: str = "leaky_relu", *, seed, dtype="float32",
                   in_axis: int = -2, out_axis: int = -1) -> np.ndarray:
    """``N(0, std**2)``, ``std = gain / sqrt(fan)`` (He et al., 2015).

    >>> import graphc as gc
>>> from graphc import init
    >>> round(float(init.kaiming_normal((20000, 2), seed=0).std()), 2)
    0.01
    """
    std = _kaiming_std(shape, a, mode, nonlinearity, in_axis, out_axis)
    rng = _rng(seed, "kaiming_normal")
    return rng.normal(0.0, std, _shape(shape, "kaiming_normal")).astype(
        _float_dtype(dtype, "kaiming_normal"))


# the names JAX and Keras use
glorot_uniform = xavier_uniform
glorot_normal = xavier_normal
he_uniform = kaiming_uniform
he_normal = kaiming_normal
