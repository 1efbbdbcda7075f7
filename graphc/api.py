"""The user-facing graph-building API: leaves, primitive wrappers and composites.

Every function here returns a ``Tensor`` (an IR node). Primitive wrappers turn the
user's arguments into an op's inputs and attributes (Python numbers into constants,
axes into sorted tuples, ``-1`` in a reshape into a size) and build the node with
``bind``, whose shape rule reports misuse with the user's file:line; composites
(``softmax``, ``cross_entropy``...) are plain compositions of primitives, numerically
stable by construction. Tensor's operators and methods are attached here (at the end).
"""
from __future__ import annotations

import builtins
import numbers
from typing import Sequence

import numpy as np

from .errors import DTypeError, ShapeError, UsageError
from . import ops  # noqa: F401  (fills the op registry that bind reads)
from .bind import bind, constant_node, promote
from .ir import ParamState, Tensor, format_shape, fresh_uid, user_location

DEFAULT_FLOAT = np.dtype("float32")
_SUPPORTED = {np.dtype(d) for d in ("float32", "float64", "int32", "int64", "bool")}


# ---- leaves ----------------------------------------------------------------------------------

def _check_dtype(dtype, what: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"{what}: unknown dtype {dtype!r} ({user_location()})") from e
    if dt not in _SUPPORTED:
        raise DTypeError(f"{what}: dtype {dt} is not supported (use float32, float64, int32, "
                         f"int64 or bool) ({user_location()})")
    return dt


def _to_array(value, dtype, what: str) -> np.ndarray:
    """User data -> ndarray: Python floats become float32, NumPy arrays keep their dtype."""
    if isinstance(value, Tensor):
        raise UsageError(f"{what}: expected data, got a Tensor ({user_location()})")
    if dtype is not None:
        dtype = _check_dtype(dtype, what)
    ragged = _ragged(value)
    if ragged is not None:
        raise ShapeError(f"{what}: ragged nested lists: {ragged}, so the data has no "
                         f"rectangular shape ({user_location()})")
    try:
        arr = np.array(value, dtype=dtype)
    except (ValueError, TypeError, OverflowError) as e:
        raise DTypeError(f"{what}: cannot make an array of numbers from the data given: {e} "
                         f"({user_location()})") from None
    if dtype is None:
        if not isinstance(value, (np.ndarray, np.generic)) and arr.dtype.kind == "f":
            arr = arr.astype(DEFAULT_FLOAT)
        if arr.dtype.kind in "iu" and arr.dtype not in _SUPPORTED:
            arr = arr.astype(np.int64)
    if arr.dtype == object or arr.dtype not in _SUPPORTED:
        raise DTypeError(f"{what}: data of dtype {arr.dtype} is not supported "
                         f"({user_location()})")
    return arr


def _ragged(value) -> str | None:
    """Where nested lists stop being rectangular (a text naming the shapes), else None.

    Breadth-first over the nesting levels (iterative: data can be deeply nested).
    """
    level, path_shape = [value], []
    while True:
        seqs = [v for v in level if isinstance(v, (list, tuple))
                or (isinstance(v, np.ndarray) and v.ndim > 0)]  # a 0-d array is a scalar
        if not seqs:
            return None
        if len(seqs) != len(level):
            return (f"at depth {len(path_shape)} (shape so far {tuple(path_shape)}) some "
                    f"entries are lists and some are scalars")
        lengths = [len(v) for v in seqs]
        if len(set(lengths)) > 1:
            return (f"at depth {len(path_shape)} (shape so far {tuple(path_shape)}) the rows "
                    f"have lengths {lengths[:8]}{'...' if len(lengths) > 8 else ''}")
        arrays = [v.shape for v in seqs if isinstance(v, np.ndarray)]
        if len(set(arrays)) > 1:
            return (f"at depth {len(path_shape)} (shape so far {tuple(path_shape)}) the "
                    f"arrays have shapes {arrays[:8]}{'...' if len(arrays) > 8 else ''}")
        if arrays:
            return None  # equal arrays (under equal-length lists): NumPy checks the rest
        path_shape.append(lengths[0])
        level = [x for v in seqs for x in v]


def placeholder(name: str, shape: Sequence = (), dtype="float32") -> Tensor:
    """An input fed at call time. ``None`` (or a string) in ``shape`` is a run-time size.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 784))
    >>> x.shape, x.dtype
    ((None, 784), dtype('float32'))
    """
    if not isinstance(name, str):
        raise UsageError(f"placeholder: name must be a string, got {type(name).__name__} "
                          f"({user_location()})")
    dt = _check_dtype(dtype, f"placeholder {name!r}")
    uid = fresh_uid()
    if isinstance(shape, (int, str)) or shape is None:
        shape = (shape,)
    dims = []
    for axis, d in enumerate(shape):
        if d is None:
            dims.append(f"?{uid}.{axis}")
        elif isinstance(d, str):
            dims.append(d)
        elif isinstance(d, numbers.Integral) and d >= 0:
            dims.append(int(d))
        else:
            raise ShapeError(f"placeholder {name!r}: bad dimension {d!r} in shape {shape!r} "
                             f"({user_location()})")
    return Tensor.make("placeholder", (), {"name": name, "uid": uid}, tuple(dims), dt)


def parameter(name: str, value, dtype=None) -> Tensor:
    """Trainable state with an initial value; ``p.value`` reads (and sets) it.

    >>> import graphc as gc
    >>> a = gc.parameter("a", [2., 4.])
    >>> a.value
    array([2., 4.], dtype=float32)
    """
    if not isinstance(name, str):
        raise UsageError(f"parameter: name must be a string, got {type(name).__name__} "
                         f"({user_location()})")
    arr = _to_array(value, dtype, f"parameter {name!r}")
    return Tensor.make("parameter", (), {"name": name, "uid": fresh_uid()}, arr.shape,
                       arr.dtype, state=ParamState(np.array(arr, copy=True)))


def constant(value, dtype=None) -> Tensor:
    """A fixed array; Python floats become float32, NumPy arrays keep their dtype.

    >>> import graphc as gc
    >>> gc.evaluate(gc.constant([[9, 8], [7, 6]]))
    array([[9, 8],
           [7, 6]])
    """
    return constant_node(_to_array(value, dtype, "constant"))


def asarray(value, dtype=None) -> Tensor:
    """``value`` as a Tensor: a Tensor (of ``dtype``, if given) stays itself, data becomes a
    constant (Python floats float32, NumPy arrays keep their dtype), as ``np.asarray``.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (2,))
    >>> gc.asarray(x) is x, gc.asarray([1, 2]).dtype
    (True, dtype('int64'))
    """
    if isinstance(value, Tensor):
        return value if dtype is None else cast(value, dtype)
    return constant(value, dtype)


def _size(dims, dtype) -> Tensor:
    """Number of elements of ``dims`` as a scalar tensor (a run-time value if symbolic)."""
    if all(isinstance(d, int) for d in dims):
        return constant(int(np.prod(dims, dtype=np.int64)), dtype)
    return Tensor.make("shape_size", (), {"shape": tuple(dims), "dtype": np.dtype(dtype).name},
                       (), dtype)


# ---- applying primitives ---------------------------------------------------------------------

def _weak_dtype(kind: str, tensors: list[Tensor]) -> np.dtype:
    """dtype for Python data of ``kind`` ('b', 'i', 'f') used beside ``tensors``.

    Python numbers (and lists of them) are weakly typed, as in NumPy 2 and JAX: they take
    the tensors' dtype, so ``x64 * 0.1`` stays float64 and ``i32 + 1`` stays int32; Python
    floats with no float tensor beside them are float32 (the PyTorch default).
    """
    kinds = [t.dtype for t in tensors if t.dtype != np.bool_]
    if kind == "b":
        return np.dtype(bool)
    if kind in "iu":
        return promote(*kinds) if kinds else np.dtype("int64")
    floats = [k for k in kinds if k.kind == "f"]
    return promote(*floats) if floats else DEFAULT_FLOAT


def _lift(args: Sequence) -> list[Tensor]:
    """Tensors stay; Python data takes the dtype of the tensors beside them (weak typing).

    NumPy arrays and NumPy scalars keep their own dtype.
    """
    tensors = [a for a in args if isinstance(a, Tensor)]
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, (np.ndarray, np.generic)):
            out.append(constant(a))
        elif isinstance(a, (numbers.Number, list, tuple)):
            kind = _to_array(a, None, "operand").dtype.kind
            out.append(constant(a, _weak_dtype(kind, tensors)))  # from the Python data: exact
        else:
            raise UsageError(f"cannot use a {type(a).__name__} as a tensor ({user_location()})")
    return out


def apply(op_name: str, inputs: Sequence, **attrs) -> Tensor:
    """The node of primitive ``op_name`` over ``inputs`` (Python data lifted to constants).

    >>> import graphc as gc
    >>> gc.api.apply("add", [gc.placeholder("x", (2,)), 1]).shape
    (2,)
    """
    return bind(op_name, *_lift(inputs), **attrs)


def _unary(name):
    def f(x):
        return apply(name, [x])
    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}``; see ``graphc.ops`` for its rules."
    return f


def _binary(name):
    def f(a, b):
        return apply(name, [a, b])
    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` with NumPy broadcasting."
    return f


neg = _unary("neg")
exp = _unary("exp")
log = _unary("log")
sin = _unary("sin")
cos = _unary("cos")
tanh = _unary("tanh")
sigmoid = _unary("sigmoid")
sqrt = _unary("sqrt")
abs = _unary("abs")
sign = _unary("sign")
log1p = _unary("log1p")
expm1 = _unary("expm1")
erf = _unary("erf")
erfc = _unary("erfc")
stop_gradient = _unary("stop_gradient")

add = _binary("add")
sub = _binary("sub")
mul = _binary("mul")
pow = _binary("pow")
maximum = _binary("maximum")
minimum = _binary("minimum")
less = _binary("less")
less_equal = _binary("less_equal")
greater = _binary("greater")
greater_equal = _binary("greater_equal")
equal = _binary("equal")
not_equal = _binary("not_equal")


def div(a, b) -> Tensor:
    """True division; integer operands are promoted to float32.

    >>> import graphc as gc
    >>> gc.evaluate(gc.div(gc.constant([1, 2]), 4))
    array([0.25, 0.5 ], dtype=float32)
    """
    a, b = _lift([a, b])
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        a, b = cast(a, DEFAULT_FLOAT), cast(b, DEFAULT_FLOAT)
    return apply("div", [a, b])


def where(cond, a, b) -> Tensor:
    """``a`` where ``cond`` is true, else ``b`` (NumPy broadcasting over all three).

    >>> import graphc as gc
    >>> gc.evaluate(gc.where(gc.constant([1., -2.]) > 0, 1., 0.))
    array([1., 0.], dtype=float32)
    """
    return apply("where", [cond, a, b])


def cast(x, dtype) -> Tensor:
    """Convert ``x`` to ``dtype`` (no gradient flows into integers).

    >>> import graphc as gc
    >>> gc.evaluate(gc.cast(gc.constant([1.7, -1.2]), "int32"))
    array([ 1, -1], dtype=int32)
    """
    (x,) = _lift([x])
    dt = _check_dtype(dtype, "cast")
    if x.dtype == dt:
        return x
    return apply("cast", [x], dtype=dt.name)


# ---- reductions ----------------------------------------------------------------------------

def _axes(x: Tensor, axis, what: str) -> tuple:
    if axis is None:
        return tuple(range(x.ndim))
    raw = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = []
    for a in raw:
        if not isinstance(a, numbers.Integral) or not -x.ndim <= a < x.ndim:
            raise ShapeError(f"{what}: axis {a!r} is out of range for shape "
                             f"{format_shape(x.dims)} ({user_location()})")
        a = int(a) % x.ndim
        if a in out:
            raise ShapeError(f"{what}: axis {a} repeated in {raw!r} for shape "
                             f"{format_shape(x.dims)} ({user_location()})")
        out.append(a)
    return tuple(sorted(out))


def _reduce(name, x, axis, keepdims):
    (x,) = _lift([x])
    axes = _axes(x, axis, name)
    if not axes:
        return x
    return apply(name, [x], axes=axes, keepdims=bool(keepdims))


def sum(x, axis=None, keepdims=False) -> Tensor:
    """Sum over ``axis`` (an int, a tuple, or ``None`` for all); negative axes count back.

    >>> import graphc as gc
    >>> m = gc.constant([[1., 2., 3.], [4., 5., 6.]])
    >>> gc.evaluate(m.sum(0))
    array([5., 7., 9.], dtype=float32)
    >>> gc.sum(m, -1, keepdims=True).shape
    (2, 1)
    """
    return _reduce("sum", x, axis, keepdims)


def max(x, axis=None, keepdims=False) -> Tensor:
    """Maximum over ``axis``; the gradient is shared evenly among ties.

    >>> import graphc as gc
    >>> gc.evaluate(gc.constant([[1., 2., 3.], [4., 5., 6.]]).max(1))
    array([3., 6.], dtype=float32)
    """
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False) -> Tensor:
    """Minimum over ``axis``, as ``-max(-x)``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.min(gc.constant([[1., 2.], [0., 5.]]), axis=0))
    array([0., 2.], dtype=float32)
    """
    return neg(max(neg(x), axis, keepdims))


def mean(x, axis=None, keepdims=False) -> Tensor:
    """Mean over ``axis``; over a run-time (``None``) dim it divides by the fed size.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 2))
    >>> gc.evaluate(x.mean(0), {x: [[1., 2.], [3., 6.]]})
    array([2., 4.], dtype=float32)
    """
    (x,) = _lift([x])
    if x.dtype.kind != "f":
        x = cast(x, DEFAULT_FLOAT)
    axes = _axes(x, axis, "mean")
    return sum(x, axes, keepdims) / _size([x.dims[a] for a in axes], x.dtype)


# ---- shape ops -------------------------------------------------------------------------------

def reshape(x, shape) -> Tensor:
    """Reshape; one ``-1`` (or ``None``) is inferred, run-time sizes carried through.

    >>> import graphc as gc
    >>> gc.reshape(gc.placeholder("x", (None, 784)), (-1, 28, 28)).shape
    (None, 28, 28)
    """
    (x,) = _lift([x])
    if isinstance(shape, (numbers.Integral, str)) or shape is None:
        shape = (shape,)
    shape = [-1 if d is None else d for d in _target_dims(shape, "reshape", x)]
    if builtins.sum(1 for d in shape if d == -1) > 1:
        raise ShapeError(f"reshape: at most one -1 in {tuple(shape)} ({user_location()})")
    known_x = int(np.prod([d for d in x.dims if isinstance(d, int)], dtype=np.int64))
    sym_x = sorted(d for d in x.dims if isinstance(d, str))
    known_t = int(np.prod([d for d in shape if isinstance(d, int) and d != -1], dtype=np.int64))
    sym_t = sorted(d for d in shape if isinstance(d, str))
    bad = ShapeError(f"reshape: cannot reshape {format_shape(x.dims)} into "
                     f"{format_shape(shape)} ({user_location()})")
    if any(isinstance(d, int) and d < -1 for d in shape):
        raise bad
    if -1 in shape:
        rest = list(sym_x)
        for d in sym_t:
            if d not in rest:
                raise bad
            rest.remove(d)
        if len(rest) == 0:
            if known_t == 0 or known_x % known_t:
                raise bad
            fill = known_x // known_t
        elif len(rest) == 1 and known_x == known_t:
            fill = rest[0]
        else:
            raise ShapeError(f"reshape: cannot infer -1 in {format_shape(shape)} from "
                             f"{format_shape(x.dims)}; give the sizes ({user_location()})")
        shape = [fill if d == -1 else d for d in shape]
    shape = tuple(shape)
    if shape == x.dims:
        return x
    return apply("reshape", [x], shape=shape)


def _target_dims(shape, what: str, x: Tensor) -> list:
    """A user's target shape as dims: ints (NumPy ints too) stay, strings are named dims."""
    out = []
    for d in shape:
        if isinstance(d, numbers.Integral) and not isinstance(d, bool):
            out.append(int(d))
        elif isinstance(d, str) or d is None:
            out.append(d)
        else:
            raise ShapeError(f"{what}: bad dimension {d!r} in {tuple(shape)!r} for a tensor of "
                             f"shape {format_shape(x.dims)} ({user_location()})")
    return out


def transpose(x, perm=None) -> Tensor:
    """Permute axes (reverse them by default); ``x.T`` is ``transpose(x)``.

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (2, 3, 4))
    >>> gc.transpose(x, (1, 0, 2)).shape, x.T.shape
    ((3, 2, 4), (4, 3, 2))
    """
    (x,) = _lift([x])
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    perm = tuple(int(p) % x.ndim if isinstance(p, numbers.Integral) and -x.ndim <= p < x.ndim
                 else -1 for p in perm)  # -1: out of range, which the shape rule reports
    if perm == tuple(range(x.ndim)):
        return x
    return apply("transpose", [x], perm=perm)


def broadcast_to(x, shape) -> Tensor:
    """Broadcast ``x`` to ``shape`` (NumPy rules).

    >>> import graphc as gc
    >>> gc.evaluate(gc.broadcast_to(gc.constant([1., 2.]), (2, 2)))
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """
    (x,) = _lift([x])
    if isinstance(shape, (numbers.Integral, str)):
        shape = (shape,)
    shape = tuple(_target_dims(shape, "broadcast_to", x))
    if shape == x.dims:
        return x
    return apply("broadcast_to", [x], shape=shape)


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules: 2-D, matrix-vector, batched (leading dims).

    >>> import graphc as gc
    >>> x = gc.placeholder("x", (None, 784))
    >>> (x @ gc.placeholder("W", (784, 256))).shape
    (None, 256)
    >>> gc.matmul(gc.placeholder("A", (8, 2, 3)), gc.placeholder("v", (3,))).shape
    (8, 2)
    """
    return apply("matmul", [a, b])


def one_hot(labels, depth: int, dtype="float32") -> Tensor:
    """Rows of the ``depth x depth`` identity picked by integer ``labels``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.one_hot(gc.constant([0, 2]), 3))
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    dt = _check_dtype(dtype, "one_hot")
    if isinstance(depth, numbers.Integral) and not isinstance(depth, bool):
        depth = int(depth)  # NumPy ints too; anything else the shape rule reports
    return apply("one_hot", [labels], depth=depth, dtype=dt.name)


# ---- composites (built from primitives, stable by construction) --------------------------------

def square(x) -> Tensor:
    """``x * x``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.square(gc.constant([3., -2.])))
    array([9., 4.], dtype=float32)
    """
    return mul(x, x)


def relu(x) -> Tensor:
    """``max(x, 0)``; its gradient at 0 is 0 (as in PyTorch).

    >>> import graphc as gc
    >>> gc.evaluate(gc.relu(gc.constant([-1., 2.])))
    array([0., 2.], dtype=float32)
    """
    (x,) = _lift([x])
    return where(greater(x, 0), x, 0)


def softplus(x) -> Tensor:
    """``log(1 + exp(x))``, stable for large ``|x|``; its derivative is ``sigmoid(x)``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.softplus(gc.constant([-1000., 1000.])))
    array([   0., 1000.], dtype=float32)
    """
    return apply("softplus", [x])

def clip(x, lo, hi) -> Tensor:
    """``x`` limited to ``[lo, hi]``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.clip(gc.constant([-3., 0.5, 3.]), -1, 1))
    array([-1. ,  0.5,  1. ], dtype=float32)
    """
    return minimum(maximum(x, lo), hi)


def logsumexp(x, axis=-1, keepdims=False) -> Tensor:
    """``log(sum(exp(x)))`` with the max subtracted first (finite for large inputs).

    >>> import graphc as gc
    >>> gc.evaluate(gc.logsumexp(gc.constant([1000., 1000.])))
    array(1000.6932, dtype=float32)
    """
    (x,) = _lift([x])
    axes = _axes(x, axis, "logsumexp")
    m = stop_gradient(max(x, axes, keepdims=True))
    out = log(sum(exp(x - m), axes, keepdims=True)) + m
    return out if keepdims else reshape(out, [d for k, d in enumerate(x.dims) if k not in axes])


def softmax(x, axis=-1) -> Tensor:
    """``exp(x) / sum(exp(x))`` over ``axis``, with the max subtracted first.

    >>> import graphc as gc
    >>> gc.evaluate(gc.softmax(gc.constant([1000., 1000.])))
    array([0.5, 0.5], dtype=float32)
    """
    (x,) = _lift([x])
    axes = _axes(x, axis, "softmax")
    e = exp(x - stop_gradient(max(x, axes, keepdims=True)))
    return e / sum(e, axes, keepdims=True)


def log_softmax(x, axis=-1) -> Tensor:
    """``x - logsumexp(x)``, computed as ``z - log(sum(exp(z)))`` with ``z = x - max(x)``.

    Subtracting the max first keeps ``exp`` finite, and subtracting the small ``log(sum)``
    from ``z`` (not the large ``logsumexp`` from ``x``) loses no digits for large ``x``.

    >>> import graphc as gc
    >>> gc.evaluate(gc.log_softmax(gc.constant([1000., 1000.])))
    array([-0.6931472, -0.6931472], dtype=float32)
    """
    (x,) = _lift([x])
    axes = _axes(x, axis, "log_softmax")
    z = x - stop_gradient(max(x, axes, keepdims=True))
    return z - log(sum(exp(z), axes, keepdims=True))


def cross_entropy(logits, labels) -> Tensor:
    """Mean softmax cross-entropy of ``logits (..., classes)`` against integer ``labels (...)``.

    >>> import graphc as gc
    >>> logits = gc.placeholder("logits", (None, 2))
    >>> labels = gc.placeholder("labels", (None,), "int32")
    >>> loss = gc.cross_entropy(logits, labels)
    >>> gc.evaluate(loss, {logits: [[0., 0.], [0., 0.]], labels: [0, 1]})
    array(0.6931472, dtype=float32)
    """
    (logits,) = _lift([logits])
    (labels,) = _lift([labels])
    # run-time (None) dims of labels and logits may come from different placeholders: a
    # symbolic dim matches anything here (the sizes meet when the graph runs)
    if logits.ndim < 1 or labels.ndim != logits.ndim - 1 or not all(
            l == g or isinstance(l, str) or isinstance(g, str)
            for l, g in zip(labels.dims, logits.dims[:-1])):
        raise ShapeError(f"cross_entropy: labels of shape {format_shape(labels.dims)} do not "
                         f"match logits of shape {format_shape(logits.dims)} ({user_location()})")
    depth = logits.dims[-1]
    if not isinstance(depth, int):
        raise ShapeError(f"cross_entropy: the class axis must have a known size, got "
                         f"{format_shape(logits.dims)} ({user_location()})")
    onehot = one_hot(labels, depth, logits.dtype)
    return -mean(sum(onehot * log_softmax(logits, -1), -1))


# ---- Tensor's operators and methods (attached here: the IR knows no particular op) -------------

def _flat(args) -> tuple:
    """``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` alike."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _attach_tensor_methods() -> None:
    binary = {"add": add, "sub": sub, "mul": mul, "truediv": div, "pow": pow, "matmul": matmul}
    for name, fn in binary.items():
        setattr(Tensor, f"__{name}__", lambda a, b, fn=fn: fn(a, b))
        setattr(Tensor, f"__r{name}__", lambda a, b, fn=fn: fn(b, a))
    for name, fn in {"lt": less, "le": less_equal, "gt": greater, "ge": greater_equal}.items():
        setattr(Tensor, f"__{name}__", lambda a, b, fn=fn: fn(a, b))
    Tensor.__neg__ = neg
    Tensor.__pos__ = lambda a: a
    Tensor.__abs__ = abs
    Tensor.T = property(lambda a: transpose(a), doc="The axes reversed (``transpose(t)``).")
    Tensor.sum = lambda a, axis=None, keepdims=False: sum(a, axis, keepdims)
    Tensor.mean = lambda a, axis=None, keepdims=False: mean(a, axis, keepdims)
    Tensor.max = lambda a, axis=None, keepdims=False: max(a, axis, keepdims)
    Tensor.min = lambda a, axis=None, keepdims=False: min(a, axis, keepdims)
    Tensor.reshape = lambda a, *shape: reshape(a, _flat(shape))
    Tensor.transpose = lambda a, *perm: transpose(a, _flat(perm) or None)
    Tensor.astype = cast


_attach_tensor_methods()
