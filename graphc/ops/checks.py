"""Run-time requirements inside the graph: ``check_index(x, size, what)`` is ``x`` itself,
and an element outside ``[0, size)`` is an error when the graph runs, naming ``what``
(cross_entropy's labels computed in the graph; fed labels are checked on the host
before any backend runs, see ``graphc.value_checks``). Every backend checks it: the
reference and NumPy raise ``EvalError`` with the first bad value and its index; C and
CUDA lower it to the same checked index as a gather's (``data_index``: C records the
first bad value, CUDA kernels set a device-side flag) and the host raises
``EvalError`` after the call, which commits nothing.

>>> import numpy as np
>>> _check_index_impl(np.array([0, 2]), size=3, what="labels in [0, 3)")
array([0, 2])
"""
from __future__ import annotations

import numpy as np

from ..errors import DTypeError, EvalError, ShapeError
from ..ir import format_shape
from .elementwise import elementwise


def _check_index_impl(x, size, what):
    bad = (x < 0) | (x >= size)
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0]) if np.ndim(x) else ()
        raise EvalError(f"{what} holds {np.asarray(x)[index]} at index {index}")
    return x


_CHECK_INDEX = elementwise(
    name="check_index", arity=1, impl=_check_index_impl, partials=lambda n: [None],
    sympy=lambda a: a, differentiable=False, cost=1,
    doc="x itself; an element outside [0, size) is an error at run time naming what")
_elementwise_rule = _CHECK_INDEX.shape


def _check_index_shape(inputs, attrs):
    (x,) = inputs
    if x.dtype.kind not in "iu":
        raise DTypeError(f"check_index: values must be integers, got {x.dtype} of shape "
                         f"{format_shape(x.dims)}")
    size, what = attrs.get("size"), attrs.get("what")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 \
            or not isinstance(what, str):
        raise ShapeError(f"check_index: needs size (an int >= 0) and what (a string), got "
                         f"size={size!r}, what={what!r}")
    rule = _elementwise_rule
    assert rule is not None  # elementwise() always gives one
    return rule(inputs, attrs)


object.__setattr__(_CHECK_INDEX, "shape", _check_index_shape)
