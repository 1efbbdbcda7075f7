"""Random numbers in the graph (``gc.random``): Philox-4x32-10, the same bits on every
backend for the same seed.

Each call (``uniform``, ``normal``...) owns a stream: a 32-bit ``seed`` and a call counter,
a 0-d int64 parameter named ``random.counter.<seed>`` that a compiled function advances
by one after every call (``gc.compile`` adds that update), so every call of the function
draws fresh numbers, and a graph built again with the same seed draws the same sequence
after a new compile, on any backend. Two draws of one function need two seeds (a seed
used twice is a CompileError naming the duplicate counter). ``seed=None`` takes the next
of the fixed default seeds 2**31, 2**31 + 1, ... in the order the draws are created, so
a program that builds its graph in the same order draws the same numbers in every
process. Shapes are ints, run-time dims by name (``x.dims[0]``), or a tensor, whose
shape is taken (``uniform(x)``). No gradient flows to the generator; ``mu + sigma *
normal(...)`` differentiates in ``mu`` and ``sigma``. ``permutation`` and ``choice``
sort uniform keys (``argsort``), as JAX does.

>>> import graphc as gc
>>> u = gc.random.uniform((2, 3), seed=7)
>>> f = gc.compile(u)
>>> a, b = f(), f()
>>> bool((a != b).all()), bool(((0 <= a) & (a < 1)).all())
(True, True)
"""
from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from .api import (argsort, cast, constant, cos, cumsum, element_count, erfinv, lift, log,
                  log1p, maximum, minimum, parameter, reshape, sqrt, top_k)
from .api import sum as sum_
from .bind import bind
from .ops.gather import gather_node
from .errors import ShapeError, UsageError
from .ir import Tensor, format_shape, shape_dims, topo_order, user_location

DEFAULT_SEED = 2 ** 31          # seed=None: DEFAULT_SEED, DEFAULT_SEED + 1, ... in creation order
_default_seeds = itertools.count(DEFAULT_SEED)

__all__ = ["uniform", "normal", "truncated_normal", "bernoulli", "randint", "permutation",
           "choice", "random_uniform",
           "DEFAULT_SEED"]


def _dims(shape, what: str) -> tuple:
    if isinstance(shape, Tensor):
        return shape.dims
    given = shape_dims(shape)
    if given is not None:  # another tensor's .shape: its run-time sizes too
        return given
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    dims: list[int | str] = []
    for d in shape:
        if isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) >= 0:
            dims.append(int(d))
        elif isinstance(d, str):
            dims.append(d)
        else:
            raise ShapeError(f"{what}: bad dimension {d!r} in shape {tuple(shape)!r}; a run-time "
                             f"size is given by another tensor's shape (x.shape), by name "
                             f"(x.dims[0]) or by passing the tensor x itself ({user_location()})")
    return tuple(dims)


def random_uniform(call, key, shape, dtype="float32") -> Tensor:
    """The primitive: uniforms in [0, 1) at an explicit Philox call counter and 64-bit key
    (ints or 0-d int64 tensors), stateless (``jax.random.uniform`` with a key): nothing
    advances, the same arguments give the same numbers.

    >>> import graphc as gc
    >>> u = gc.random_uniform(0, 7, (3,))
    >>> bool((gc.evaluate(u) == gc.evaluate(gc.random_uniform(0, 7, (3,)))).all())
    True
    """
    call, key = (x if isinstance(x, Tensor) else constant(np.array(x, np.int64))
                 for x in (call, key))
    return bind("random_uniform", call, key, shape=_dims(shape, "random_uniform"),
                dtype=np.dtype(dtype).name)


class _Stream:
    """One seed's counter parameter and the uniforms drawn from it (one key each)."""

    def __init__(self, seed, what: str):
        if seed is None:
            seed = next(_default_seeds)
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) \
                or not 0 <= int(seed) < 2 ** 32:
            raise UsageError(f"{what}: seed must be an int in [0, 2**32), got {seed!r} "
                             f"({user_location()})")
        self.seed = int(seed)
        self.counter = parameter(f"random.counter.{self.seed}", np.array(0, np.int64))
        self.drawn = 0

    def uniform(self, dims: tuple, dtype) -> Tensor:
        """Uniforms in [0, 1); each draw of the stream has its own key (seed, draw number)."""
        key = self.seed + (self.drawn << 32)
        self.drawn += 1
        return random_uniform(self.counter, key, dims, dtype)


def uniform(shape, low=0.0, high=1.0, dtype="float32", seed=None) -> Tensor:
    """Uniform numbers in [low, high).

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 2))
    >>> f = gc.compile(gc.random.uniform(x, -1.0, 1.0, seed=3) + 0 * x)
    >>> f(np.zeros((4, 2), np.float32)).shape
    (4, 2)
    """
    u = _Stream(seed, "uniform").uniform(_dims(shape, "uniform"), dtype)
    return u if (low, high) == (0.0, 1.0) else low + (high - low) * u


def normal(shape, mean=0.0, std=1.0, dtype="float32", seed=None) -> Tensor:
    """Normal numbers, by Box-Muller from two uniforms: ``sqrt(-2 log(1 - u1)) cos(2 pi u2)``.

    >>> import graphc as gc
    >>> z = gc.compile(gc.random.normal((100000,), seed=1))()
    >>> abs(float(z.mean())) < 0.02, abs(float(z.std()) - 1) < 0.02
    (True, True)
    """
    s = _Stream(seed, "normal")
    dims = _dims(shape, "normal")
    u1, u2 = s.uniform(dims, dtype), s.uniform(dims, dtype)
    z = sqrt(-2.0 * log1p(-u1)) * cos((2 * math.pi) * u2)   # 1 - u1 in (0, 1]: finite log
    return mean + std * z if (mean, std) != (0.0, 1.0) else z


def truncated_normal(shape, lower=-2.0, upper=2.0, mean=0.0, std=1.0, dtype="float32",
                     seed=None) -> Tensor:
    """Normal numbers truncated to ``(lower, upper)`` standard deviations, then
    ``mean + std * z``: ``lower``/``upper`` bound the standard normal, as in
    ``jax.random.truncated_normal`` (and TensorFlow's default of two deviations).

    JAX's inverse-CDF method: ``z = sqrt(2) * erfinv(u)`` for ``u`` uniform in
    ``[erf(lower/sqrt 2), erf(upper/sqrt 2))`` (one Philox uniform per number; the two
    ends computed in float64 and rounded once), clipped into the open interval
    ``(lower, upper)`` (its ends moved one ulp inward, as JAX does) in case rounding
    reached an end. The uniforms are the same bits on every backend; erfinv is the same
    algorithm on each (``graphc.special.erfinv``), so float32 numbers agree to the bit
    and float64 ones to an ulp or two (libm's erf against graphc's own in NumPy).

    >>> import graphc as gc
    >>> z = gc.compile(gc.random.truncated_normal((100000,), -1.0, 2.0, seed=2))()
    >>> bool(z.min() > -1.0), bool(z.max() < 2.0), round(float(z.mean()), 1)
    (True, True, 0.2)
    """
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise UsageError(f"truncated_normal: dtype must be a float dtype, got {dt.name} "
                         f"({user_location()})")
    if not (isinstance(lower, numbers.Real) and isinstance(upper, numbers.Real)
            and -math.inf <= float(lower) < float(upper) <= math.inf):
        raise UsageError(f"truncated_normal: need numbers lower < upper, got {lower!r}, "
                         f"{upper!r} ({user_location()})")
    from .special import erf   # the ends of u's range, in float64, rounded once
    ends = erf(np.array([lower, upper], np.float64) / math.sqrt(2)).astype(dt)
    u = _Stream(seed, "truncated_normal").uniform(_dims(shape, "truncated_normal"), dt)
    u = float(ends[0]) + float(ends[1] - ends[0]) * u   # in dtype (weak Python floats)
    z = math.sqrt(2) * erfinv(u)
    inside = np.nextafter(np.array([lower, upper], dt), np.array([np.inf, -np.inf], dt))
    z = minimum(maximum(z, float(inside[0])), float(inside[1]))
    return mean + std * z if (mean, std) != (0.0, 1.0) else z


def bernoulli(shape, p=0.5, seed=None) -> Tensor:
    """True with probability ``p`` (a number or a tensor broadcast against ``shape``).

    >>> import graphc as gc
    >>> m = gc.compile(gc.random.bernoulli((100000,), 0.25, seed=4))()
    >>> m.dtype, abs(float(m.mean()) - 0.25) < 0.01
    (dtype('bool'), True)
    """
    dtype = p.dtype if isinstance(p, Tensor) and p.dtype.kind == "f" else "float32"
    return _Stream(seed, "bernoulli").uniform(_dims(shape, "bernoulli"), dtype) < p


def randint(shape, low, high, dtype="int64", seed=None) -> Tensor:
    """Integers in [low, high) (``low``, ``high`` ints; high - low at most 2**24).

    >>> import graphc as gc
    >>> r = gc.compile(gc.random.randint((1000,), 3, 7, seed=5))()
    >>> sorted(set(r.tolist()))
    [3, 4, 5, 6]
    """
    if not (isinstance(low, numbers.Integral) and isinstance(high, numbers.Integral)
            and 0 < int(high) - int(low) <= 2 ** 24):
        raise UsageError(f"randint: need ints low < high with high - low <= 2**24, got "
                         f"{low!r}, {high!r} ({user_location()})")
    u = _Stream(seed, "randint").uniform(_dims(shape, "randint"), "float64")
    return cast(u * float(int(high) - int(low)), dtype) + int(low)   # u >= 0: the cast is the floor


def _population(a, axis: int, what: str) -> tuple[Tensor | None, object]:
    """(the tensor sampled from or None for an int ``a``, the population's size: an int or
    a run-time dim's name)."""
    if isinstance(a, numbers.Integral) and not isinstance(a, bool):
        if a < 0:
            raise UsageError(f"{what}: a population of {a} elements ({user_location()})")
        return None, int(a)
    (x,) = lift([a])
    if x.ndim == 0:
        raise ShapeError(f"{what}: cannot sample from a 0-d tensor; give an int or an array "
                         f"({user_location()})")
    if not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"{what}: axis {axis} is out of range for shape "
                         f"{format_shape(x.dims)} ({user_location()})")
    return x, x.dims[axis % x.ndim]


def permutation(x, axis: int = 0, seed=None) -> Tensor:
    """A random permutation: of ``arange(x)`` for an int ``x``, else of ``x`` along
    ``axis`` (``jax.random.permutation``, ``numpy.random.Generator.permutation``): the
    stable ``argsort`` of one uniform key per element, so every order is equally likely.
    Run-time sizes allowed; gradients flow to ``x``'s values.

    >>> import graphc as gc
    >>> p = gc.compile(gc.random.permutation(6, seed=8))()
    >>> sorted(p.tolist()), p.dtype
    ([0, 1, 2, 3, 4, 5], dtype('int64'))
    """
    values, n = _population(x, axis, "permutation")
    keys = _Stream(seed, "permutation").uniform((n,), "float64")
    order = argsort(keys)
    return order if values is None else _pick(values, order, axis)


def choice(a, shape=(), replace: bool = True, p=None, axis: int = 0, seed=None) -> Tensor:
    """``shape`` samples of ``arange(a)`` (an int) or of ``a``'s slices along ``axis``
    (``jax.random.choice``'s contract). Without ``p``: uniform indices, or with
    ``replace=False`` the first of a random permutation; with probabilities ``p`` (a 1-D
    tensor or array, normalised here): the inverse of their cumulative sum, or with
    ``replace=False`` the top ``k`` of ``log(p) + Gumbel`` noise (as JAX).

    >>> import graphc as gc
    >>> c = gc.compile(gc.random.choice(10, (4,), replace=False, seed=9))()
    >>> len(set(c.tolist())), bool(((0 <= c) & (c < 10)).all())
    (4, True)
    """
    values, n = _population(a, axis, "choice")
    dims = _dims(shape, "choice")
    if any(not isinstance(d, int) for d in dims):
        raise ShapeError(f"choice: the number of samples must be static, got shape "
                         f"{format_shape(dims)} ({user_location()})")
    count = int(np.prod(dims, dtype=np.int64))
    stream = _Stream(seed, "choice")
    if p is not None:
        (p,) = lift([p])
        if p.ndim != 1 or p.dims[0] != n or not isinstance(n, int):
            raise ShapeError(f"choice: p must be a vector of the population's {n} "
                             f"probabilities, got shape {format_shape(p.dims)} "
                             f"({user_location()})")
        p = cast(p, "float64") if p.dtype != np.float64 else p
        if replace:   # the first cumulative probability past a uniform
            cdf = cumsum(p) / sum_(p)
            u = stream.uniform(dims + (1,), "float64")
            flat = sum_(cast(u >= cdf, "int64"), axis=-1)
            index = minimum(flat, n - 1)   # u < 1 = cdf[-1], but for rounding
        else:         # Gumbel-top-k: k distinct draws in proportion to p
            _check_count(count, n)
            g = -log(-log(stream.uniform((n,), "float64")))
            index = reshape(top_k(log(p) + g, count)[1], dims)
    elif replace:
        u = stream.uniform(dims, "float64")
        size = element_count((n,), "float64")
        index = minimum(cast(u * size, "int64"), cast(size, "int64") - 1)
    else:
        _check_count(count, n)
        first = argsort(stream.uniform((n,), "float64"))[:count]
        index = reshape(first, dims)
    return index if values is None else _pick(values, index, axis)


def _pick(values: Tensor, index: Tensor, axis: int) -> Tensor:
    """``take(values, index, axis)`` for indices known in range (a run-time axis too)."""
    return gather_node(values, index, axis % values.ndim)


def _check_count(count: int, n) -> None:
    if not isinstance(n, int):
        raise ShapeError(f"choice: replace=False needs a population of known size, got a "
                         f"run-time size ({user_location()})")
    if count > n:
        raise ShapeError(f"choice: cannot take {count} samples without replacement from a "
                         f"population of {n} ({user_location()})")


def counter_updates(roots, pairs, order: list[Tensor] | None = None,
                    ) -> list[tuple[Tensor, Tensor]]:
    """The (counter, counter + 1) updates of the random streams ``roots`` read that
    ``pairs`` (the user's updates) do not already update: one step per call. ``order``:
    ``topo_order`` of the roots and the update values, if the caller has it."""
    updated = {id(p) for p, _ in pairs}
    found = []
    if order is None:
        order = topo_order(list(roots) + [v for _, v in pairs])
    for n in order:
        if n.op == "random_uniform":
            c = n.inputs[0]   # a stream's counter (not an explicit call of random_uniform)
            if c.op == "parameter" and id(c) not in updated:
                updated.add(id(c))
                found.append((c, c + 1))
    return found
