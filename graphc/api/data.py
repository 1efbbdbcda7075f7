"""User data into tensors: supported dtypes, placeholders, parameters, constants, the weak
typing of Python numbers (``lift``), and ``apply`` (lift, then ``bind``)."""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from ..bind import bind, constant_node, promote
from ..errors import DTypeError, ShapeError, UsageError
from ..ir import ParamState, Tensor, fresh_uid, shape_dims, user_location


DEFAULT_FLOAT = np.dtype("float32")
_SUPPORTED = {np.dtype(d) for d in ("float32", "float64", "int32", "int64", "bool")}


def check_dtype(dtype, what: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"{what}: unknown dtype {dtype!r} ({user_location()})") from e
    if dt not in _SUPPORTED:
        raise DTypeError(f"{what}: dtype {dt} is not supported (use float32, float64, int32, "
                         f"int64 or bool) ({user_location()})")
    return dt


def to_array(value, dtype, what: str) -> np.ndarray:
    """User data -> ndarray: Python floats become float32, NumPy arrays keep their dtype."""
    if isinstance(value, Tensor):
        raise UsageError(f"{what}: expected data, got a Tensor ({user_location()})")
    if dtype is not None:
        dtype = check_dtype(dtype, what)
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
    level: list = [value]
    path_shape: list[int] = []
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
    dt = check_dtype(dtype, f"placeholder {name!r}")
    uid = fresh_uid()
    if isinstance(shape, (int, str)) or shape is None:
        shape = (shape,)
    shape = shape_dims(shape) or shape  # another tensor's .shape: its run-time sizes too
    dims: list[int | str] = []
    for axis, d in enumerate(shape):
        if d is None:
            dims.append(f"?{uid}.{axis}")
        elif isinstance(d, str):
            dims.append(d)
        elif isinstance(d, numbers.Integral) and int(d) >= 0:
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
    arr = to_array(value, dtype, f"parameter {name!r}")
    return Tensor.make("parameter", (), {"name": name, "uid": fresh_uid()}, arr.shape,
                       arr.dtype, state=ParamState(np.array(arr, copy=True)))


def constant(value, dtype=None) -> Tensor:
    """A fixed array; Python floats become float32, NumPy arrays keep their dtype.

    >>> import graphc as gc
    >>> gc.evaluate(gc.constant([[9, 8], [7, 6]]))
    array([[9, 8],
           [7, 6]])
    """
    return constant_node(to_array(value, dtype, "constant"))




def element_count(dims, dtype) -> Tensor:
    """Number of elements of ``dims`` as a scalar tensor (a run-time value if symbolic)."""
    if all(isinstance(d, int) for d in dims):
        return constant(int(np.prod(dims, dtype=np.int64)), dtype)
    return Tensor.make("shape_size", (), {"shape": tuple(dims), "dtype": np.dtype(dtype).name},
                       (), dtype)


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


def lift(args: Sequence) -> list[Tensor]:
    """Tensors stay; Python data takes the dtype of the tensors beside them (weak typing).

    NumPy arrays and NumPy scalars keep their own dtype.
    """
    for a in args:
        if not isinstance(a, Tensor):
            break
    else:
        return list(args)   # the common case: tensors only
    tensors = [a for a in args if isinstance(a, Tensor)]
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, (np.ndarray, np.generic)):
            out.append(constant(a))
        elif isinstance(a, (numbers.Number, list, tuple)):
            # only the kind is needed: a Python float is "f" (to_array would also cast it
            # to float32, which warns for 1e300 although beside float64 it is exact)
            kind = "f" if type(a) is float else to_array(a, None, "operand").dtype.kind
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
    return bind(op_name, *lift(inputs), **attrs)
