"""Leaf ops: placeholders and parameters (fed with each call), constants, run-time sizes."""
from __future__ import annotations


import numpy as np

from ..bind import OpDef, declare


# ---- leaves --------------------------------------------------------------------------------

def _leaf_impl(*_, **__):
    raise AssertionError("leaves are fed by the interpreter, not computed")


declare(OpDef(name="placeholder", arity=0, kind="leaf", impl=_leaf_impl, fed=True,
              doc="an input fed at call time"))
declare(OpDef(name="parameter", arity=0, kind="leaf", impl=_leaf_impl, fed=True,
              doc="trainable state with a value"))
declare(OpDef(name="constant", arity=0, kind="leaf", impl=lambda value: value.array,
              doc="a fixed array"))
declare(OpDef(name="shape_size", arity=0, kind="leaf", sizes=True,
              impl=lambda shape, dtype: np.array(int(np.prod(shape, dtype=np.int64)), dtype=dtype),
              doc="the number of elements of a (possibly run-time) shape, as a scalar"))
