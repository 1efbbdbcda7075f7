"""The graph IR: immutable, hash-consed nodes.

A node *is* a ``Tensor``: the user's handle and the compiler's IR are one object.
Structurally equal nodes (same op, same input nodes, same attributes, same dtype)
are the same Python object, so common subexpressions merge as they are built.
Placeholders and parameters carry a unique id, so two parameters named ``a`` are
still two parameters.

Shapes are tuples of dims; a dim is an ``int`` or a ``str`` (a symbolic size known
at run time). A ``None`` in a placeholder's shape becomes an anonymous symbolic dim
whose name starts with ``?``; ``Tensor.shape`` shows those as ``None`` (a
``ShapeView``: passing ``x.shape`` on keeps the run-time sizes' identity).
"""
from __future__ import annotations

import contextlib
import gc as pygc
import itertools
import os
import sys
import threading
import weakref
from types import FrameType
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence, Union

import numpy as np

from .errors import GraphcError, ShapeError, UsageError

Dim = Union[int, str]
Shape = tuple  # tuple[Dim, ...]

_GRAPHC_DIR = os.path.dirname(os.path.abspath(__file__))
_uid_counter = itertools.count(1)


def fresh_uid() -> int:
    return next(_uid_counter)


_inside_graphc: dict[str, bool] = {}  # co_filename -> is it graphc's own code (cached: hot)
_basenames: dict[str, str] = {}       # co_filename -> its base name (as hot)


def user_location() -> str:
    """file:line of the innermost stack frame outside graphc (the user's code)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside = _inside_graphc.get(filename)
        if inside is None:
            inside = os.path.abspath(filename).startswith(_GRAPHC_DIR + os.sep)
            _inside_graphc[filename] = inside
        if not inside:
            base = _basenames.get(filename)
            if base is None:
                base = _basenames[filename] = os.path.basename(filename)
            return f"{base}:{frame.f_lineno}"
        frame = frame.f_back
    return "<graphc>"


@dataclass(eq=False)
class ParamState:
    """The mutable value behind a parameter node (nodes themselves never change); ``lock``
    is held from reading ``value`` to writing the new one, by every compiled function that
    updates it (``graphc.step_commit``)."""

    value: np.ndarray
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class ConstValue:
    """A constant's array, hashable by content, read-only."""

    __slots__ = ("array", "_hash")

    def __init__(self, array: np.ndarray):
        array = np.array(array, copy=True)
        array.setflags(write=False)
        self.array = array
        self._hash = hash((array.dtype.str, array.shape, array.tobytes()))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ConstValue) and self._hash == other._hash
                and self.array.dtype == other.array.dtype
                and self.array.shape == other.array.shape
                and self.array.tobytes() == other.array.tobytes())

    def __repr__(self) -> str:
        return np.array2string(self.array, separator=", ", threshold=8)


_table: "weakref.WeakValueDictionary[tuple, Tensor]" = weakref.WeakValueDictionary()
# key -> weak reference: the table's own dict (CPython's WeakValueDictionary keeps it in
# ``data``), read without ``get``'s Python wrapper in hash-consing's hot lookup; where an
# implementation has no such dict, the public ``get``
_table_refs: dict | None = getattr(_table, "data", None)
_DTYPE_STR: dict = {}


class Tensor:
    """A node of a graphc graph; build them with ``gc.placeholder``/``gc.parameter``/ops.

    Tensors are immutable and hashable by identity (``==`` is not overloaded;
    use ``gc.equal``). Example::

        >>> import graphc as gc
        >>> x = gc.placeholder("x", (None, 3))
        >>> (x * 2).shape
        (None, 3)
    """

    __slots__ = ("op", "inputs", "attrs", "dims", "dtype", "location", "state", "__weakref__")
    __array_priority__ = 1000  # make ndarray <op> Tensor defer to Tensor's reflected ops
    __array_ufunc__ = None     # ndarray + Tensor -> Tensor.__radd__; np.exp(t) is a TypeError

    op: str
    inputs: tuple
    attrs: tuple
    dims: Shape
    dtype: np.dtype
    location: str
    state: ParamState | None

    # ---- construction -------------------------------------------------
    @staticmethod
    def make(op: str, inputs: Sequence["Tensor"], attrs: dict, dims: Shape, dtype,
             location: str | None = None, state: ParamState | None = None) -> "Tensor":
        """Return the unique node for (op, inputs, attrs, dtype), creating it if new."""
        dtype = np.dtype(dtype)
        frozen = tuple(sorted(attrs.items())) if attrs else ()
        code = _DTYPE_STR.get(dtype)
        if code is None:
            code = _DTYPE_STR[dtype] = dtype.str   # NumPy builds the string on each access
        key = (op, tuple(map(id, inputs)), frozen, code)
        # the table's own dict, read without WeakValueDictionary.get's Python wrapper (a
        # reference whose node is gone reads None, as a missing key would)
        if _table_refs is not None:
            ref = _table_refs.get(key)
            found = ref() if ref is not None else None
        else:
            found = _table.get(key)
        if found is not None:
            return found
        node = object.__new__(Tensor)
        node.op = op
        node.inputs = tuple(inputs)
        node.attrs = frozen
        node.dims = tuple(dims)
        node.dtype = dtype
        node.location = location or user_location()
        node.state = state
        _table[key] = node
        return node

    def attr(self, name: str, default: Any = None) -> Any:
        for k, v in self.attrs:
            if k == name:
                return v
        return default

    # ---- public properties -------------------------------------------
    @property
    def shape(self) -> tuple:
        """The static shape, ``None`` where the size is known only at run time.

        Passed on whole, it keeps the run-time sizes (see ``ShapeView``):

        >>> import graphc as gc
        >>> x = gc.placeholder("x", (None, 4))
        >>> x.shape, gc.zeros(x.shape).dims == x.dims
        ((None, 4), True)
        """
        return ShapeView(self.dims)

    @property
    def ndim(self) -> int:
        return len(self.dims)

    @property
    def name(self) -> str | None:
        """The user's name of a placeholder or parameter (``None`` for other nodes)."""
        return self.attr("name")

    @property
    def value(self) -> np.ndarray:
        """A parameter's current value, or a constant's value."""
        if self.state is not None:
            return self.state.value
        if self.op == "constant":
            return self.attr("value").array
        raise GraphcError(f"{self.op} node has no value; evaluate it with gc.evaluate")

    @value.setter
    def value(self, new) -> None:
        if self.state is None:
            raise GraphcError("only parameters have a settable value")
        new = np.asarray(new, dtype=self.dtype)
        if not dims_match(self.dims, new.shape):
            raise ShapeError(f"parameter {self.name!r} has shape {format_shape(self.dims)}; "
                             f"cannot set a value of shape {new.shape}")
        new = np.array(new, copy=True)
        with self.state.lock:  # never between a compiled step's read and its write
            self.state.value = new

    def __bool__(self):
        # ``if t:``, ``a < b < c``, ``t and u``: Python asks for a concrete truth value
        raise UsageError(
            f"a graphc Tensor has no truth value: {self.op} of shape "
            f"{format_shape(self.dims)} (created at {self.location}) used as a bool at "
            f"{user_location()}; it is symbolic, so use gc.where(cond, a, b) in the graph, or "
            f"gc.evaluate(t) for its value")

    def __len__(self):
        if not self.dims or not isinstance(self.dims[0], int):
            raise UsageError(f"len() of a tensor of shape {format_shape(self.dims)} needs a "
                             f"known first dimension ({user_location()})")
        return self.dims[0]

    def _no_value(self, what: str):
        raise UsageError(f"{what} needs a concrete value, but this tensor is symbolic: "
                         f"{self.op} of shape {format_shape(self.dims)} used at "
                         f"{user_location()}; get its value with gc.evaluate(t)")

    def __array__(self, dtype=None, copy=None):
        self._no_value("converting a Tensor to a NumPy array")

    def __float__(self):
        self._no_value("float()")

    def __int__(self):
        self._no_value("int()")

    def __iter__(self):
        raise UsageError(f"graphc Tensors are not iterable (shape {format_shape(self.dims)}, "
                         f"{user_location()}); use gc ops on the whole tensor")

    # arithmetic operators and methods (``+``, ``.sum()``...) are attached by graphc.api,
    # ``repr``/``str``/LaTeX by graphc.printing: the IR knows no particular op
    if TYPE_CHECKING:  # what graphc.api attaches, as type checkers should see it
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
        def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
        def max(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
        def min(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        def transpose(self, *axes: Any) -> Tensor: ...
        def astype(self, dtype: Any) -> Tensor: ...
        def cumsum(self, axis: Any = None, dtype: Any = None) -> Tensor: ...
        def cumprod(self, axis: Any = None, dtype: Any = None) -> Tensor: ...
        def argsort(self, axis: int = -1, stable: bool = True,
                    descending: bool = False) -> Tensor: ...
        def _repr_latex_(self) -> str: ...
        @property
        def T(self) -> Tensor: ...
        @property
        def at(self) -> Any: ...

    __hash__ = object.__hash__  # identity; == stays identity too (not overloaded)


# ---- shapes ---------------------------------------------------------------

def format_dim(d: Dim) -> str:
    if isinstance(d, str):
        return "None" if d.startswith("?") else d
    return str(d)


class ShapeView(tuple):
    """``Tensor.shape``: a plain tuple with ``None`` for run-time sizes, which remembers
    the tensor's dims, so that passing the whole shape on (``gc.zeros(x.shape)``,
    ``gc.random.normal(x.shape)``, ``reshape(y, x.shape)``) keeps the run-time sizes'
    identity. A single entry (``x.shape[0]``) is just ``None``: use ``x.dims[0]`` for that.
    """

    dims: tuple

    def __new__(cls, dims: Shape):
        view = super().__new__(cls, (None if isinstance(d, str) and d.startswith("?") else d
                                     for d in dims))
        view.dims = tuple(dims)
        return view


def shape_dims(shape) -> tuple | None:
    """The dims behind a ``Tensor.shape`` passed as a shape argument (None otherwise)."""
    return shape.dims if isinstance(shape, ShapeView) else None


def format_shape(dims: Iterable[Dim]) -> str:
    dims = tuple(dims)
    inner = ", ".join(format_dim(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def dims_match(dims: Shape, concrete: tuple) -> bool:
    """Does a concrete shape fit a static shape (symbolic dims match anything)?"""
    return len(dims) == len(concrete) and all(
        isinstance(d, str) or d == c for d, c in zip(dims, concrete))


def broadcast_dims(shapes: Sequence[Shape]) -> Shape | None:
    """NumPy broadcasting over static shapes; ``None`` if they do not broadcast.

    A symbolic dim broadcasts against 1 and against a known size (which it must
    equal at run time); two different symbolic dims unify to the named one, or the
    smaller name when both are anonymous. Symbolic dims are never taken to be 1.
    """
    if len(shapes) == 1 or (len(shapes) == 2 and shapes[0] == shapes[1]):
        return tuple(shapes[0])   # the common cases: nothing to broadcast
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dim: Dim = 1
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0:
                continue
            d = s[k]
            if d == 1 or d == dim:
                continue
            if dim == 1:
                dim = d
            elif isinstance(d, str) and isinstance(dim, str):
                if d.startswith("?") and dim.startswith("?"):
                    dim = min(d, dim)
                elif dim.startswith("?"):
                    dim = d
                elif not d.startswith("?"):
                    return None  # two different named dims
            elif isinstance(d, int) and isinstance(dim, str):
                dim = d
            elif isinstance(d, str) and isinstance(dim, int):
                pass
            else:
                return None
        out.append(dim)
    return tuple(out)


def resolve_dims(dims: Shape, bindings: dict) -> tuple:
    """Concrete shape from a static one, with symbolic sizes taken from ``bindings``."""
    return tuple(bindings[d] if isinstance(d, str) else d for d in dims)


def size_of(dims: Shape) -> int | None:
    n = 1
    for d in dims:
        if not isinstance(d, int):
            return None
        n *= d
    return n


# ---- traversal --------------------------------------------------------------

def as_list(outputs) -> list:
    if isinstance(outputs, Tensor):
        return [outputs]
    return list(outputs)


@contextlib.contextmanager
def collector_paused():
    """Pause Python's cycle collector while a graph is transformed: graphs are acyclic and
    freed by reference counting, but each of the many containers a pass or a gradient
    allocates counts towards the next collection, which walks the whole growing graph
    (~20% of differentiating or compiling a 20,000-node chain)."""
    collecting = pygc.isenabled()
    pygc.disable()
    try:
        yield
    finally:
        if collecting:
            pygc.enable()


def topo_order(outputs: Iterable[Tensor]) -> list[Tensor]:
    """All nodes the outputs depend on, inputs before users; iterative (no recursion)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    for root in as_list(outputs):
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for inp in reversed(node.inputs):
                if id(inp) not in seen:
                    stack.append((inp, False))
    return order


def users_of(order: Sequence[Tensor]) -> dict[int, list[Tensor]]:
    users: dict[int, list[Tensor]] = {id(n): [] for n in order}
    for n in order:
        for i in n.inputs:
            users[id(i)].append(n)
    return users


def to_networkx(outputs):
    """The graph as a ``networkx.MultiDiGraph`` (nodes are Tensors; edges carry the input index)."""
    import networkx as nx

    g = nx.MultiDiGraph()
    for n in topo_order(outputs):
        g.add_node(n, op=n.op, shape=n.shape, dtype=str(n.dtype))
        for k, i in enumerate(n.inputs):
            g.add_edge(i, n, index=k)
    return g


def to_dot(outputs) -> str:
    """DOT text (Graphviz) of the graph; names are quoted and escaped."""
    order = topo_order(outputs)
    ids = {id(n): f"n{k}" for k, n in enumerate(order)}
    lines = ["digraph graphc {", "  rankdir=TB;", "  node [shape=box, fontname=monospace];"]
    for n in order:
        label = n.op if n.name is None else f"{n.op} {_dot_escape(n.name)}"
        label += "\\n" + _dot_escape(f"{dtype_short(n.dtype)}{format_shape(n.dims)}")
        lines.append(f'  {ids[id(n)]} [label="{label}"];')
    for n in order:
        for i in n.inputs:
            lines.append(f"  {ids[id(i)]} -> {ids[id(n)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    """A user's string made safe inside a DOT double-quoted label."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("\n", "\\n").replace("\r", "")


_SHORT = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64", "bool": "bool"}


def dtype_short(dtype) -> str:
    return _SHORT.get(np.dtype(dtype).name, np.dtype(dtype).name)

