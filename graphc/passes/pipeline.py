"""The optimization pipeline (placeholder until the passes land: returns its input)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Tensor, as_list, topo_order


@dataclass
class PassStat:
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float


@dataclass
class OptimizeResult:
    outputs: list[Tensor]
    stats: list[PassStat] = field(default_factory=list)


def run_pipeline(outputs, opt_level: int = 2, disable=(), dump=None) -> OptimizeResult:
    outs = as_list(outputs)
    n = len(topo_order(outs))
    return OptimizeResult(outs, [PassStat("identity", n, n, 0.0)])


def optimize(outputs, opt_level: int = 2, disable=(), dump=None):
    """The optimized graph of ``outputs`` (same structure: a tensor or a list)."""
    result = run_pipeline(outputs, opt_level, disable, dump)
    return result.outputs[0] if isinstance(outputs, Tensor) else result.outputs
