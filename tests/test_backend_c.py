"""The backend suite (tests/backend_suite.py) on backend="c", plus C-specific checks."""
import numpy as np
import pytest

import graphc as gc
from graphc.codegen import toolchain

from backend_suite import *  # noqa: F401,F403  (the suite's test functions)

pytestmark = pytest.mark.skipif(not toolchain.have_c_compiler(),
                                reason="no C compiler (cc/gcc/clang) found on PATH")


@pytest.fixture(params=[("c", {})], ids=lambda b: b[0])
def backend(request):
    return request.param
