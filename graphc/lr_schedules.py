"""Learning-rate schedules as graph expressions of an optimizer's step counter
(``gc.optim.schedules``).

Each schedule returns a function ``lr(step) -> Tensor`` that an optimizer calls with its
step counter (a 0-d int64 parameter counting the steps already taken, as
``scheduler.last_epoch`` in ``torch.optim.lr_scheduler`` when ``scheduler.step()``
follows each ``optimizer.step()``), so the rate changes inside the compiled step with no
Python in the loop. The formulas are torch's closed forms.

>>> import graphc as gc
>>> step = gc.constant(3)
>>> float(gc.evaluate(gc.optim.schedules.step(0.1, step_size=2, gamma=0.5)(step)))
0.05
"""
from __future__ import annotations

import math
from typing import Callable

from .api import cast, constant, cos, minimum
from .errors import UsageError
from .ir import Tensor, user_location

__all__ = ["constant_lr", "exponential", "step", "cosine"]

Schedule = Callable[[Tensor], Tensor]


def _check_positive(what: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise UsageError(f"{what} must be a positive number, got {value!r} ({user_location()})")


def _as_float(step: Tensor) -> Tensor:
    return cast(step, "float64")  # exact for any realistic step count


def constant_lr(lr: float) -> Schedule:
    """The same rate at every step (what a plain number means).

    >>> import graphc as gc
    >>> float(gc.evaluate(gc.optim.schedules.constant_lr(0.1)(gc.constant(7))))
    0.1
    """
    _check_positive("constant_lr: lr", lr)
    return lambda step: constant(float(lr), "float64")


def exponential(lr: float, gamma: float) -> Schedule:
    """``lr * gamma**step`` (``torch.optim.lr_scheduler.ExponentialLR``).

    >>> import graphc as gc
    >>> round(float(gc.evaluate(gc.optim.schedules.exponential(0.1, 0.5)(gc.constant(2)))), 6)
    0.025
    """
    _check_positive("exponential: lr", lr)
    _check_positive("exponential: gamma", gamma)
    return lambda step: float(lr) * float(gamma) ** _as_float(step)


def step(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr * gamma**(step // step_size)`` (``torch.optim.lr_scheduler.StepLR``).

    >>> import graphc as gc
    >>> round(float(gc.evaluate(gc.optim.schedules.step(1.0, 3)(gc.constant(7)))), 6)
    0.01
    """
    _check_positive("step: lr", lr)
    _check_positive("step: gamma", gamma)
    if not isinstance(step_size, int) or isinstance(step_size, bool) or step_size < 1:
        raise UsageError(f"step: step_size must be a positive int, got {step_size!r} "
                         f"({user_location()})")

    def rate(count: Tensor) -> Tensor:
        # floor(count / step_size): the quotient of two exact float64 integers rounds to
        # the nearest float, never across an integer; the cast to int truncates (count >= 0)
        periods = cast(_as_float(count) / step_size, "int64")
        return float(lr) * float(gamma) ** _as_float(periods)
    return rate


def cosine(lr: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    """``eta_min + (lr - eta_min) * (1 + cos(pi * step / T_max)) / 2`` for ``step <= T_max``,
    then ``eta_min`` (``torch.optim.lr_scheduler.CosineAnnealingLR``'s closed form, one
    half period).

    >>> import graphc as gc
    >>> round(float(gc.evaluate(gc.optim.schedules.cosine(1.0, 4)(gc.constant(2)))), 6)
    0.5
    """
    _check_positive("cosine: lr", lr)
    if not isinstance(T_max, int) or isinstance(T_max, bool) or T_max < 1:
        raise UsageError(f"cosine: T_max must be a positive int, got {T_max!r} "
                         f"({user_location()})")

    def rate(count: Tensor) -> Tensor:
        phase = minimum(_as_float(count), float(T_max)) * (math.pi / T_max)
        return float(eta_min) + (float(lr) - float(eta_min)) * (1 + cos(phase)) / 2
    return rate
