"""Tensor's operators and methods (``+``, ``@``, ``.sum()``, ``.T``...), attached from here:
the IR knows no particular op."""
from __future__ import annotations



from ..ir import Tensor
from .elementwise import abs, add, cast, div, greater, greater_equal, less, less_equal, mul, neg, pow, sub
from .advanced import AtIndexer, getitem
from .scans import argsort, cumprod, cumsum
from .structure import matmul, max, mean, min, reshape, sum, transpose


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
    # setattr: ir.Tensor declares these for type checkers, which refuse assigning to methods
    methods = {
        "__neg__": neg,
        "__pos__": lambda a: a,
        "__abs__": abs,
        "T": property(lambda a: transpose(a), doc="The axes reversed (``transpose(t)``)."),
        "sum": lambda a, axis=None, keepdims=False: sum(a, axis, keepdims),
        "mean": lambda a, axis=None, keepdims=False: mean(a, axis, keepdims),
        "max": lambda a, axis=None, keepdims=False: max(a, axis, keepdims),
        "min": lambda a, axis=None, keepdims=False: min(a, axis, keepdims),
        "reshape": lambda a, *shape: reshape(a, _flat(shape)),
        "transpose": lambda a, *perm: transpose(a, _flat(perm) or None),
        "astype": cast,
        "cumsum": lambda a, axis=None, dtype=None: cumsum(a, axis, dtype),
        "cumprod": lambda a, axis=None, dtype=None: cumprod(a, axis, dtype),
        "argsort": lambda a, axis=-1, stable=True, descending=False: argsort(
            a, axis, stable, descending),
        "__getitem__": getitem,
        "at": property(AtIndexer, doc="Functional updates: ``x.at[idx].set(v)``, "
                       "``.add``, ``.multiply``, ``.min``, ``.max`` (JAX's spelling)."),
    }
    for name, method in methods.items():
        setattr(Tensor, name, method)


_attach_tensor_methods()
