"""The declarations of the control-flow primitives (semantics in ``primitives``,
derivative rules in ``derivatives``)."""
from __future__ import annotations

from ..bind import OpDef, declare
from . import derivatives as D
from .primitives import _scan_impl, _scan_shape, _switch_impl, _switch_shape, _while_impl, \
    _while_shape

declare(OpDef(name="scan", arity=0, kind="loop", impl=_scan_impl, shape=_scan_shape,
              vjp=lambda n, g: D.scan_vjp(n, {n.attr("output"): g}),
              multi_vjp=D.scan_vjp, jvp=D.scan_jvp, cost=64,
              doc="a loop over the leading axis of xs with a carried state (lax.scan)"))
declare(OpDef(name="while_loop", arity=0, kind="loop", impl=_while_impl, shape=_while_shape,
              vjp=lambda n, g: D.while_vjp(n), multi_vjp=lambda n, gs: D.while_vjp(n),
              jvp=D.while_jvp, cost=64, doc="repeat body while cond holds (lax.while_loop)"))
declare(OpDef(name="switch", arity=0, kind="loop", impl=_switch_impl, shape=_switch_shape,
              vjp=lambda n, g: D.switch_vjp(n, {n.attr("output"): g}),
              multi_vjp=D.switch_vjp, jvp=D.switch_jvp, cost=8,
              doc="the branch chosen by a clamped index (lax.switch; cond is its 2-way case)"))
