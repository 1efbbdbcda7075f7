"""Node construction: the op registry and ``bind``, the one way a node is made.

This layer knows what an op declaration *is* (``OpDef``) and how a node of any
declared op is built, but no particular op: ``graphc.ops`` fills the registry.
Every path that builds a node (the user API, derivative rules, rewrites, printing)
goes through ``bind``, which runs the op's shape rule, so nothing can build a node
the API would refuse. Imports run one way: ``ir <- bind <- ops <- api <- printing``.

>>> import graphc as gc
>>> from graphc.bind import bind
>>> x = gc.placeholder("x", (None, 3))
>>> bind("exp", x).shape
(None, 3)
>>> bind("exp", x) is gc.exp(x)           # hash-consed: one node per expression
True
>>> bind("reshape", x, shape=(4, 4))
Traceback (most recent call last):
  ...
graphc.errors.ShapeError: reshape: cannot reshape (None, 3) into (4, 4) (<doctest ...>:1)
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .errors import DTypeError, ShapeError, UsageError
from .ir import ConstValue, Tensor, user_location

BOOL = np.dtype("bool")


@dataclass(frozen=True)
class OpDef:
    """Everything every layer needs to know about one primitive op.

    Facts other stages read (fusion, codegen, printing) are fields here or are derived
    from them (``ops_where``); per-backend spellings live in each backend's own table,
    keyed by ``name`` and checked complete by the tests.
    """

    name: str
    arity: int                      # number of tensor inputs
    kind: str                       # leaf|elementwise|reduce|shape|matmul|index|gather|scatter|lines
    impl: Callable                  # impl(*arrays, **attrs) -> ndarray (the interpreter's)
    shape: Callable | None = None   # shape(inputs, attrs) -> (dims, dtype); raises on misuse
    partials: Callable | None = None  # elementwise: node -> local derivative per input
    vjp: Callable | None = None     # other ops: (node, cotangent) -> cotangent per input
    jvp: Callable | None = None     # other ops: (node, tangents) -> tangent (or None)
    multi_vjp: Callable | None = None  # an op whose nodes come in groups (a loop's results):
                                    # (node, {output: cotangent}) -> cotangent per input,
                                    # once per group (``graphc.control``)
    sympy: Callable | None = None   # elementwise: SymPy form, for gc.expr
    infix: str | None = None        # how printers write it (``a + b``)
    cost: float = 1.0               # rough cost in "adds", for the simplifier's cost model
    float_only: bool = False        # elementwise op defined on floats only
    bool_ok: bool = True            # False: NumPy has no bool loop (``-True``), reject at build
    dtype_out: str | None = None    # fixed output dtype ("bool" for comparisons)
    commutative: bool = False
    output_sign: str = ""           # "positive" / "nonneg": true for every input (rewrite guards)
    latex: str | None = None        # LaTeX function name (r"\exp"); default \operatorname{name}
    differentiable: bool = True
    fed: bool = False               # a leaf whose value comes with each call (inputs, params)
    sizes: bool = False             # its dims come from its attributes (a reshape's target),
                                    # not only its inputs: a run-time size may enter there
    doc: str = ""


OPS: dict[str, OpDef] = {}


def declare(op: OpDef) -> OpDef:
    """Register ``op``; each primitive is declared exactly once."""
    assert op.name not in OPS, f"op {op.name} declared twice"
    OPS[op.name] = op
    return op


def opdef(node_or_name) -> OpDef:
    """The declaration of an op, by name or by one of its nodes."""
    return OPS[node_or_name if isinstance(node_or_name, str) else node_or_name.op]


def ops_where(**facts) -> frozenset[str]:
    """Names of the declared ops whose fields equal ``facts`` (``ops_where(kind="leaf")``).

    Lists such as "the leaf ops" are derived here, never restated in another module.
    Cheap to call where needed (cached until another op is declared).

    >>> import graphc
    >>> sorted(ops_where(fed=True))
    ['parameter', 'placeholder']
    """
    key = (len(OPS), tuple(sorted(facts.items())))
    found = _derived.get(key)
    if found is None:
        found = _derived[key] = frozenset(
            name for name, op in OPS.items() if all(getattr(op, k) == v for k, v in facts.items()))
    return found


_derived: dict[tuple, frozenset[str]] = {}


def promote(*dtypes) -> np.dtype:
    """Result dtype of combining tensors: NumPy promotion, except int with float keeps the float.

    >>> promote("int64", "float32"), promote("int32", "int64"), promote("bool")
    (dtype('float32'), dtype('int64'), dtype('bool'))
    """
    if 0 < len(dtypes) <= 2 and isinstance(dtypes[0], np.dtype) and dtypes[0].kind == "f" \
            and dtypes[-1] is dtypes[0]:
        return dtypes[0]   # the common case: one float dtype
    kinds = [np.dtype(d) for d in dtypes]
    floats = [d for d in kinds if d.kind == "f"]
    if floats:
        return max(floats, key=lambda d: d.itemsize)
    ints = [d for d in kinds if d.kind in "iu"]
    if ints:
        return np.dtype("int64") if any(d.itemsize == 8 for d in ints) else np.dtype("int32")
    return BOOL


class _Site(threading.local):
    location: str | None = None     # set: nodes built now say they come from here


build_site = _Site()
"""Where nodes built now say they come from (``None``: the user's file:line, looked up).
``built_at`` sets it for a block; a rewrite, which builds nodes for each node it visits,
sets ``build_site.location`` directly (cheaper than a context per node)."""


@contextlib.contextmanager
def built_at(location: str) -> Iterator[None]:
    """Nodes built inside say they come from ``location`` (rewrites and autodiff build
    many nodes; looking up the caller's file:line for each would cost and mislead)."""
    outer, build_site.location = build_site.location, location
    try:
        yield
    finally:
        build_site.location = outer


def bind(op_name: str, *inputs: Tensor, **attrs) -> Tensor:
    """The node of primitive ``op_name`` over ``inputs``, checked by the op's shape rule.

    Errors name the op, the shapes and the user's file:line."""
    op = OPS.get(op_name)
    if op is None:
        raise UsageError(f"unknown op {op_name!r}")
    for x in inputs:
        if not isinstance(x, Tensor):
            raise UsageError(f"{op_name}: inputs must be Tensors, got {type(x).__name__}")
    if op.shape is None:
        raise UsageError(f"{op_name}: a {op.kind} op is not built with bind")
    try:
        dims, dtype = op.shape(inputs, attrs)
    except (ShapeError, DTypeError) as e:
        raise type(e)(f"{e} ({build_site.location or user_location()})") from None
    return Tensor.make(op_name, inputs, attrs, dims, dtype, location=build_site.location)


def constant_node(array, dtype=None) -> Tensor:
    """A constant node holding ``array`` (already valid data; the API checks user data)."""
    array = np.asarray(array, dtype=dtype)
    return Tensor.make("constant", (), {"value": ConstValue(array)}, array.shape, array.dtype,
                       location=build_site.location)
