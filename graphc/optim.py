"""Optimizers as update dicts (``gc.optim``): ``torch.optim``'s algorithms, keyword names,
defaults and update formulas, written as graphs.

Each optimizer takes the loss and the parameters to train and returns the ``updates``
dict for ``gc.compile(..., updates=...)``: the new value of every parameter, of every
state parameter it creates (named after the parameter: ``W1.adam_m``) and of its step
counter (``adam.step``, a 0-d int64 parameter counting the steps taken). One call of the
compiled function is one ``optimizer.step()``. State starts as torch initializes it.

``lr`` is a number, a tensor (any graph expression, e.g. a placeholder fed per call), or
a function of the step counter (``gc.optim.schedules``); ``clip_norm=`` rescales the
gradients by their global norm first (``torch.nn.utils.clip_grad_norm_``).

>>> import graphc as gc
>>> x = gc.placeholder("x", (None,), "float64")
>>> w = gc.parameter("w", [0.0], "float64")
>>> loss = gc.mean((w * x - 2 * x) ** 2)
>>> step = gc.compile(loss, updates=gc.optim.adam(loss, [w], lr=0.1))
>>> for _ in range(200):
...     _ = step([1.0, 2.0, 3.0])
>>> round(float(w.value[0]), 3)
2.0
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from . import lr_schedules as schedules
from .api import cast, constant, maximum, parameter, sqrt, sum, where
from .errors import UsageError
from .ir import Tensor, user_location
from .passes.autodiff import grad

__all__ = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "clip_by_global_norm", "schedules"]


# ---- shared steps ----------------------------------------------------------------------------

def clip_by_global_norm(grads: Sequence[Tensor], max_norm: float) -> list[Tensor]:
    """``grads`` scaled by ``min(1, max_norm / (norm + 1e-6))``, ``norm`` the 2-norm of all
    of them together (``torch.nn.utils.clip_grad_norm_``'s formula).

    >>> import graphc as gc
    >>> g = gc.optim.clip_by_global_norm([gc.constant([3.0, 4.0], "float64")], 1.0)[0]
    >>> gc.evaluate(g).round(6)
    array([0.6, 0.8])
    """
    if not isinstance(max_norm, numbers.Real) or isinstance(max_norm, bool) or max_norm <= 0:
        raise UsageError(f"clip_by_global_norm: max_norm must be a positive number, got "
                         f"{max_norm!r} ({user_location()})")
    grads = list(grads)
    if not grads:
        return []
    squares = [sum(cast(g, "float64") * cast(g, "float64")) for g in grads]
    total = squares[0]
    for s in squares[1:]:
        total = total + s
    coef = float(max_norm) / (sqrt(total) + 1e-6)
    coef = where(coef < 1.0, coef, constant(1.0, "float64"))
    return [g * cast(coef, g.dtype) for g in grads]


def _check_params(who: str, params) -> list[Tensor]:
    params = [params] if isinstance(params, Tensor) else list(params)
    if not params:
        raise UsageError(f"{who}: no parameters to train ({user_location()})")
    for p in params:
        if not isinstance(p, Tensor) or p.op != "parameter" or p.dtype.kind != "f":
            raise UsageError(f"{who}: params must be float parameters (gc.parameter), got "
                             f"{p!r} ({user_location()})")
    if len({id(p) for p in params}) != len(params):
        raise UsageError(f"{who}: a parameter is listed twice ({user_location()})")
    return params


def _check_hyper(who: str, **values) -> None:
    """Each value must be a non-negative real (torch raises on negative ones too)."""
    for name, value in values.items():
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
            raise UsageError(f"{who}: {name} must be a non-negative number, got {value!r} "
                             f"({user_location()})")


class _Setup:
    """What every optimizer starts from: the gradients (clipped if asked), the step
    counter and the learning rate of this step as a tensor."""

    def __init__(self, who: str, loss, params, lr, clip_norm):
        self.who = who
        self.params = _check_params(who, params)
        if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
            _check_hyper(who, lr=lr)
        elif not (isinstance(lr, Tensor) or callable(lr)):
            raise UsageError(f"{who}: lr must be a number, a tensor or a schedule (a function "
                             f"of the step counter), got {type(lr).__name__} "
                             f"({user_location()})")
        grads = grad(loss, self.params)
        self.grads = grads if clip_norm is None else clip_by_global_norm(grads, clip_norm)
        self.step = parameter(f"{who}.step", np.array(0, np.int64))
        self.updates: dict[Tensor, Tensor] = {self.step: self.step + 1}
        self.lr = lr(self.step) if callable(lr) and not isinstance(lr, Tensor) else lr

    def lr_for(self, p: Tensor):
        """The rate in ``p``'s dtype (a Python number stays weakly typed)."""
        return self.lr if not isinstance(self.lr, Tensor) else cast(self.lr, p.dtype)

    def count(self, p: Tensor) -> Tensor:
        """The number of this step, from 1 (torch's ``state['step']`` after incrementing)."""
        return cast(self.step + 1, p.dtype)

    def state(self, p: Tensor, kind: str, fill: float = 0.0) -> Tensor:
        return parameter(f"{p.name}.{kind}", np.full(p.value.shape, fill, p.dtype))

    def is_first_step(self) -> Tensor:
        return self.step < 1


# ---- optimizers ------------------------------------------------------------------------------

def sgd(loss, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
        clip_norm=None) -> dict:
    """Stochastic gradient descent (``torch.optim.SGD``): ``g = grad + weight_decay * p``;
    with momentum ``b = g`` at the first step, then ``b = momentum * b + (1 - dampening) * g``,
    and ``g = g + momentum * b`` (Nesterov) or ``g = b``; ``p = p - lr * g``.

    >>> import graphc as gc
    >>> w = gc.parameter("w", [1.0], "float64")
    >>> loss = (w * w).sum()
    >>> f = gc.compile(loss, updates=gc.optim.sgd(loss, [w], lr=0.1, momentum=0.9))
    >>> _ = f(); _ = f()
    >>> w.value.round(6)
    array([0.46])
    """
    _check_hyper("sgd", momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise UsageError(f"sgd: nesterov needs a momentum and zero dampening "
                         f"({user_location()})")
    s = _Setup("sgd", loss, params, lr, clip_norm)
    for p, g in zip(s.params, s.grads):
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = s.state(p, "sgd_momentum")
            later = momentum * buf + (1 - dampening) * g
            # the buffer starts as the first gradient (not dampened): zeros work alike
            # only when there is no dampening
            new_buf = where(s.is_first_step(), g, later) if dampening else later
            s.updates[buf] = new_buf
            g = g + momentum * new_buf if nesterov else new_buf
        s.updates[p] = p - s.lr_for(p) * g
    return s.updates


def _adam(who: str, loss, params, lr, betas, eps, weight_decay, amsgrad, decoupled,
          clip_norm) -> dict:
    beta1, beta2 = betas
    _check_hyper(who, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
    s = _Setup(who, loss, params, lr, clip_norm)
    for p, g in zip(s.params, s.grads):
        lr_p, decayed = s.lr_for(p), p
        if weight_decay and decoupled:
            decayed = p * (1 - lr_p * weight_decay)       # AdamW: decay the weights
        elif weight_decay:
            g = g + weight_decay * p                      # Adam: L2 in the gradient
        m, v = s.state(p, f"{who}_m"), s.state(p, f"{who}_v")
        new_m = m + (1 - beta1) * (g - m)                 # torch's lerp
        new_v = beta2 * v + (1 - beta2) * (g * g)
        s.updates[m], s.updates[v] = new_m, new_v
        t = s.count(p)
        step_size = lr_p / (1 - beta1 ** t)
        bias2_sqrt = sqrt(1 - beta2 ** t)
        if amsgrad:
            vmax = s.state(p, f"{who}_vmax")
            new_v = s.updates[vmax] = maximum(vmax, new_v)
        denom = sqrt(new_v) / bias2_sqrt + eps            # eps outside the square root
        s.updates[p] = decayed - step_size * (new_m / denom)
    return s.updates


def adam(loss, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
         clip_norm=None) -> dict:
    """Adam (``torch.optim.Adam``): ``m = beta1*m + (1-beta1)*g``,
    ``v = beta2*v + (1-beta2)*g**2``,
    ``p -= lr/(1-beta1**t) * m / (sqrt(v)/sqrt(1-beta2**t) + eps)``;
    ``weight_decay`` adds ``weight_decay * p`` to the gradient; ``amsgrad`` uses the running
    maximum of ``v``. State: ``<name>.adam_m``, ``<name>.adam_v`` (``.adam_vmax``), ``adam.step``.

    >>> import graphc as gc
    >>> w = gc.parameter("w", [1.0], "float64")
    >>> loss = (w * w).sum()
    >>> updates = gc.optim.adam(loss, [w], lr=0.1)
    >>> sorted(p.name for p in updates)
    ['adam.step', 'w', 'w.adam_m', 'w.adam_v']
    >>> f = gc.compile(loss, updates=updates)
    >>> _ = f(); w.value.round(6)                  # the first step moves by lr
    array([0.9])
    """
    return _adam("adam", loss, params, lr, betas, eps, weight_decay, amsgrad, False, clip_norm)


def adamw(loss, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
          amsgrad=False, clip_norm=None) -> dict:
    """AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay,
    ``p = p * (1 - lr * weight_decay)`` before the Adam step. State named ``.adamw_m`` etc.

    >>> import graphc as gc
    >>> w = gc.parameter("w", [1.0], "float64")
    >>> loss = (w * w).sum()
    >>> f = gc.compile(loss, updates=gc.optim.adamw(loss, [w], lr=0.1, weight_decay=0.5))
    >>> _ = f(); w.value.round(6)                  # 1 * (1 - 0.05) - 0.1
    array([0.85])
    """
    return _adam("adamw", loss, params, lr, betas, eps, weight_decay, amsgrad, True, clip_norm)


def rmsprop(loss, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
            centered=False, clip_norm=None) -> dict:
    """RMSprop (``torch.optim.RMSprop``): ``sq = alpha*sq + (1-alpha)*g**2``; with ``centered``
    the denominator is ``sqrt(sq - avg**2) + eps`` (``avg`` the running mean of ``g``), else
    ``sqrt(sq) + eps``; with momentum ``b = momentum*b + g/denom``, ``p -= lr*b``, else
    ``p -= lr * g/denom``.

    >>> import graphc as gc
    >>> w = gc.parameter("w", [1.0], "float64")
    >>> loss = (w * w).sum()
    >>> f = gc.compile(loss, updates=gc.optim.rmsprop(loss, [w], lr=0.01))
    >>> _ = f(); w.value.round(4)                  # 1 - 0.01 * 2 / sqrt(0.01 * 4)
    array([0.9])
    """
    _check_hyper("rmsprop", alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
    s = _Setup("rmsprop", loss, params, lr, clip_norm)
    for p, g in zip(s.params, s.grads):
        if weight_decay:
            g = g + weight_decay * p
        sq = s.state(p, "rmsprop_square_avg")
        new_sq = s.updates[sq] = alpha * sq + (1 - alpha) * (g * g)
        if centered:
            avg = s.state(p, "rmsprop_grad_avg")
            new_avg = s.updates[avg] = avg + (1 - alpha) * (g - avg)   # torch's lerp
            denom = sqrt(new_sq - new_avg * new_avg) + eps
        else:
            denom = sqrt(new_sq) + eps
        if momentum:
            buf = s.state(p, "rmsprop_momentum")
            step = s.updates[buf] = momentum * buf + g / denom
        else:
            step = g / denom
        s.updates[p] = p - s.lr_for(p) * step
    return s.updates


def adagrad(loss, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
            eps=1e-10, clip_norm=None) -> dict:
    """Adagrad (``torch.optim.Adagrad``): ``clr = lr / (1 + (t-1)*lr_decay)``,
    ``sum += g**2``, ``p -= clr * g / (sqrt(sum) + eps)``; state ``<name>.adagrad_sum``
    starts at ``initial_accumulator_value``.

    >>> import graphc as gc
    >>> w = gc.parameter("w", [1.0], "float64")
    >>> loss = (w * w).sum()
    >>> f = gc.compile(loss, updates=gc.optim.adagrad(loss, [w], lr=0.1))
    >>> _ = f(); w.value.round(6)
    array([0.9])
    """
    _check_hyper("adagrad", lr_decay=lr_decay, weight_decay=weight_decay,
                 initial_accumulator_value=initial_accumulator_value, eps=eps)
    s = _Setup("adagrad", loss, params, lr, clip_norm)
    for p, g in zip(s.params, s.grads):
        if weight_decay:
            g = g + weight_decay * p
        acc = s.state(p, "adagrad_sum", initial_accumulator_value)
        new_acc = s.updates[acc] = acc + g * g
        clr = s.lr_for(p) / (1 + (s.count(p) - 1) * lr_decay)
        s.updates[p] = p - clr * (g / (sqrt(new_acc) + eps))
    return s.updates
