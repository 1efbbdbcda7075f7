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
normal(...)`` differentiates in ``mu`` and ``sigma``. ``permutation`` and ``choice`` need
a sort primitive and ``truncated_normal`` an inverse error function, which graphc does
not have yet.

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

from .api import cast, constant, cos, log1p, parameter, sqrt
from .bind import bind
from .errors import ShapeError, UsageError
from .ir import Tensor, shape_dims, topo_order, user_location

DEFAULT_SEED = 2 ** 31          # seed=None: DEFAULT_SEED, DEFAULT_SEED + 1, ... in creation order
_default_seeds = itertools.count(DEFAULT_SEED)

__all__ = ["uniform", "normal", "bernoulli", "randint", "random_uniform", "DEFAULT_SEED"]


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


def counter_updates(roots, pairs) -> list[tuple[Tensor, Tensor]]:
    """The (counter, counter + 1) updates of the random streams ``roots`` read that
    ``pairs`` (the user's updates) do not already update: one step per call."""
    updated = {id(p) for p, _ in pairs}
    found = []
    for n in topo_order(list(roots) + [v for _, v in pairs]):
        if n.op == "random_uniform":
            c = n.inputs[0]   # a stream's counter (not an explicit call of random_uniform)
            if c.op == "parameter" and id(c) not in updated:
                updated.add(id(c))
                found.append((c, c + 1))
    return found
