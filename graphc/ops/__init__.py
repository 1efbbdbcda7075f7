"""Primitive op declarations: each primitive declared once, in one place.

Each primitive is an ``OpDef`` (``graphc.bind``) with
  * ``impl``      its NumPy reference implementation (the interpreter's semantics),
  * ``shape``     its shape/dtype rule, which checks every misuse (elementwise ops share
                  NumPy broadcasting); ``bind`` runs it for every node, whoever builds it,
  * ``partials``  for elementwise ops: the local derivative w.r.t. each input, in
                  graph ops; reverse mode (``g * d``, un-broadcast) and forward mode
                  (``sum d * t``) both derive from it,
  * ``vjp``/``jvp`` for the other ops (linear ones are their own jvp),
  * ``sympy``     its SymPy form (elementwise ops), for ``gc.expr``,
  * ``cost``      a rough cost in "adds", for the simplifier's cost model.
How each backend spells an op lives in that backend's table, keyed by op name (a test
fails naming any op a table lacks). Composites (softmax, mean, cross_entropy...) live in
``api`` and are built from these.

The rules build their graphs with ``bind`` and with Tensor's operators (``1 - n * n``),
which ``graphc.api`` attaches; rules only run once graphc is imported.
"""
from ..bind import OPS, OpDef, opdef, promote
from . import leaves, elementwise, structure, movement, gather, random, lines, linalg  # noqa: F401,E501  (each declares its ops)
from . import checks  # noqa: F401  (check_index: run-time label checks inside the graph)
from .builders import relabel, unbroadcast

__all__ = ["OPS", "OpDef", "opdef", "promote", "relabel", "unbroadcast"]
