"""Attribute values of graph nodes to JSON and back, and which attributes each op takes.

Every attribute value is one single-key JSON object naming its type, so nothing is
guessed when reading: ``{"int": 3}``, ``{"bool": true}``, ``{"float": "inf"}`` (the
``repr``, exact and covering inf/nan), ``{"str": "x"}``, ``{"dtype": "float32"}``,
``{"tuple": [...]}``, ``{"none": null}``, ``{"array": "arrays/3.npy"}`` (a constant's
``ConstValue``, stored as an ``.npy`` member).

``ATTRIBUTE_RULES`` says, per attribute name, what a valid value is; the attributes an op
takes come from its declaration (its ``impl``'s keyword parameters). A test fails naming
any attribute of a declared op that has no rule here.

>>> from graphc.graph_codec import decode_value, encode_value
>>> encode_value((1, "n", float("inf")), arrays=None)
{'tuple': [{'int': 1}, {'str': 'n'}, {'float': 'inf'}]}
>>> decode_value({'tuple': [{'int': 1}, {'bool': True}]}, arrays=None)
(1, True)
"""
from __future__ import annotations

import inspect
import numbers
from typing import Callable

import numpy as np

from .bind import OpDef
from .errors import FileFormatError
from .ir import ConstValue

MAX_DEPTH = 8               # nesting of tuples in one attribute
MAX_DIM = 1 << 53           # larger sizes cannot be a real array's dims
SUPPORTED_DTYPES = ("float32", "float64", "int32", "int64", "bool")


class UnsavableAttribute(FileFormatError):
    """An attribute value the graph format has no encoding for."""


def encode_value(value, arrays: list | None):
    """``value`` as tagged JSON; a ``ConstValue`` appends its array to ``arrays``."""
    if value is None:
        return {"none": None}
    if isinstance(value, (bool, np.bool_)):
        return {"bool": bool(value)}
    if isinstance(value, numbers.Integral):
        return {"int": int(value)}
    if isinstance(value, numbers.Real):
        return {"float": repr(float(value))}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, np.dtype):
        return {"dtype": value.name}
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v, arrays) for v in value]}
    if isinstance(value, ConstValue) and arrays is not None:
        arrays.append(value.array)
        return {"array": len(arrays) - 1}
    raise UnsavableAttribute(f"no graph-file encoding for a {type(value).__name__} "
                             f"attribute ({value!r})")


def decode_value(data, arrays: Callable[[int], np.ndarray] | None, depth: int = 0):
    """Tagged JSON back to a value; ``arrays(k)`` returns stored array ``k``."""
    if not isinstance(data, dict) or len(data) != 1:
        raise FileFormatError(f"an attribute value must be a one-key object like "
                              f"{{\"int\": 3}}, got {_short(data)}")
    (tag, raw), = data.items()
    if depth > MAX_DEPTH:
        raise FileFormatError(f"attribute values nest deeper than {MAX_DEPTH}")
    checks = {"none": raw is None, "bool": isinstance(raw, bool),
              "int": isinstance(raw, int) and not isinstance(raw, bool),
              "float": isinstance(raw, str), "str": isinstance(raw, str),
              "dtype": raw in SUPPORTED_DTYPES, "tuple": isinstance(raw, list),
              "array": isinstance(raw, int) and not isinstance(raw, bool) and arrays is not None}
    if tag not in checks:
        raise FileFormatError(f"unknown attribute type {tag!r}")
    if not checks[tag]:
        raise FileFormatError(f"bad {tag} attribute value {_short(raw)}")
    if tag == "float":
        try:
            return float(raw)
        except ValueError:
            raise FileFormatError(f"bad float attribute value {_short(raw)}") from None
    if tag == "dtype":
        return np.dtype(raw)
    if tag == "tuple":
        return tuple(decode_value(v, arrays, depth + 1) for v in raw)
    if tag == "array":
        if arrays is None:
            raise FileFormatError("an array attribute outside a graph file (no stored arrays)")
        return ConstValue(arrays(raw))
    return raw


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- which attributes each op takes, and what a valid value of each is -------------------------

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_dim(v) -> bool:
    return (_is_int(v) and 0 <= v <= MAX_DIM) or (isinstance(v, str) and 0 < len(v) <= 200)


ATTRIBUTE_RULES: dict[str, tuple[str, Callable]] = {
    # name: (what a valid value is, in words; the check)
    "axes": ("a tuple of ints", lambda v: isinstance(v, tuple) and all(map(_is_int, v))),
    "perm": ("a tuple of ints", lambda v: isinstance(v, tuple) and all(map(_is_int, v))),
    "keepdims": ("a bool", lambda v: isinstance(v, bool)),
    "shape": ("a tuple of sizes (ints >= 0 or run-time size names)",
              lambda v: isinstance(v, tuple) and all(map(_is_dim, v))),
    "depth": ("an int", _is_int),
    "dtype": ("a dtype name", lambda v: v in SUPPORTED_DTYPES),
    "value": ("an array", lambda v: isinstance(v, ConstValue)),
    "starts": ("a tuple of ints", lambda v: isinstance(v, tuple) and all(map(_is_int, v))),
    "steps": ("a tuple of ints", lambda v: isinstance(v, tuple) and all(map(_is_int, v))),
    "lo": ("a tuple of ints", lambda v: isinstance(v, tuple) and all(map(_is_int, v))),
    "hi": ("a tuple of ints", lambda v: isinstance(v, tuple) and all(map(_is_int, v))),
    "interior": ("a tuple of ints", lambda v: isinstance(v, tuple) and all(map(_is_int, v))),
    "fill": ("a number", lambda v: isinstance(v, float)),
    "axis": ("an int", _is_int),
    # scatter (x.at[...] updates): how duplicates combine
    "combine": ("one of 'add', 'mul', 'min', 'max'", lambda v: v in ("add", "mul", "min", "max")),
    # check_index (labels computed in the graph): the range [0, size), what requires it
    "size": ("an int >= 0", lambda v: _is_int(v) and v >= 0),
    "what": ("a string", lambda v: isinstance(v, str)),
    # loops and branches (graphc.control): sub-graphs have no file encoding yet, so a graph
    # holding one is refused when saved (``Body.__reduce__``) and never read back
    "body": ("a loop body (not savable yet)", lambda v: False),
    "cond": ("a loop condition (not savable yet)", lambda v: False),
    "branches": ("branch bodies (not savable yet)", lambda v: False),
    "length": ("a number of steps", lambda v: _is_dim(v)),
    "reverse": ("a bool", lambda v: isinstance(v, bool)),
    "output": ("an int", _is_int),
    "descending": ("a bool", lambda v: isinstance(v, bool)),
    "count": ("an int or null", lambda v: v is None or _is_int(v)),
    "index": ("a bool", lambda v: isinstance(v, bool)),
    "lower": ("a bool", lambda v: isinstance(v, bool)),
    "trans": ("0 or 1", lambda v: _is_int(v) and v in (0, 1)),
    "unit_diagonal": ("a bool", lambda v: isinstance(v, bool)),
}


def op_attribute_names(op: OpDef) -> tuple[str, ...]:
    """The attribute names op ``op`` takes: its reference implementation's parameters after
    the ``arity`` tensor inputs (a NumPy ufunc takes none: its keywords are NumPy's)."""
    if isinstance(op.impl, np.ufunc):
        return ()
    try:
        params = list(inspect.signature(op.impl).parameters.values())
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in params[op.arity:]
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def check_attributes(op: OpDef, attrs: dict) -> None:
    """Raise ``FileFormatError`` unless ``attrs`` are exactly the op's attributes, each valid."""
    expected = set(op_attribute_names(op))
    unknown, missing = sorted(set(attrs) - expected), sorted(expected - set(attrs))
    if unknown or missing:
        raise FileFormatError(f"op {op.name!r} takes attributes {sorted(expected)}; got "
                              f"unknown {unknown} and lacks {missing}")
    for name, value in attrs.items():
        what, valid = ATTRIBUTE_RULES[name]
        if not valid(value):
            raise FileFormatError(f"op {op.name!r}: attribute {name!r} must be {what}, got "
                                  f"{_short(value)}")

