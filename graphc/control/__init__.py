"""Loops and branches in the graph: ``scan``, ``fori_loop``, ``while_loop``, ``cond``,
``switch`` (``api``), their primitives (``primitives``, ``declarations``) and derivatives
(``derivatives``). Bodies are closed sub-graphs (``graphc.subgraph``)."""
from . import declarations  # noqa: F401  (declares scan, while_loop, switch)
from .api import cond, fori_loop, scan, switch, while_loop

__all__ = ["cond", "fori_loop", "scan", "switch", "while_loop"]
