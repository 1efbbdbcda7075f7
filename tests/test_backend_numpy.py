"""The backend suite (tests/backend_suite.py) on the NumPy backend."""
import pytest

from backend_suite import *  # noqa: F401,F403  (the suite's test functions)


@pytest.fixture(params=[("numpy", {})], ids=lambda b: b[0])
def backend(request):
    return request.param
