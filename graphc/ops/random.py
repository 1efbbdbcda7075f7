"""The random primitive: ``random_uniform(call, key, shape=, dtype=)``, uniform numbers in
[0, 1) from Philox-4x32-10 (``graphc.philox``), a pure function of the call counter, the
64-bit key and each element's flat index. Not differentiable: no gradient flows to the
generator (a reparameterized ``mu + sigma * z`` still differentiates in mu and sigma)."""
from __future__ import annotations

import numpy as np

from ..bind import OpDef, declare
from ..errors import DTypeError, ShapeError
from ..ir import format_shape
from ..philox import philox_uniform


def _random_shape(inputs, attrs):
    for role, x in zip(("call counter", "key"), inputs):
        if x.dims != () or x.dtype != np.int64:
            raise DTypeError(f"random_uniform: the {role} must be a 0-d int64 tensor, got "
                             f"{x.dtype}{format_shape(x.dims)}")
    dtype = np.dtype(attrs["dtype"])
    if dtype not in (np.float32, np.float64):
        raise DTypeError(f"random_uniform: dtype must be float32 or float64, got {dtype}")
    shape = tuple(attrs["shape"])
    if not all(isinstance(d, str) or (isinstance(d, int) and d >= 0) for d in shape):
        raise ShapeError(f"random_uniform: bad shape {shape!r}")
    return shape, dtype


declare(OpDef(name="random_uniform", arity=2, kind="index", sizes=True, float_only=True,
              impl=lambda call, key, shape, dtype: philox_uniform(call, key, shape, dtype),
              shape=_random_shape, vjp=lambda n, g: [None, None], jvp=lambda n, t: None,
              differentiable=False,
              doc="random_uniform(call, key, shape, dtype): Philox-4x32-10 uniforms in [0, 1)"))
