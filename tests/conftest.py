"""Shared fixtures (kept tiny): a seeded random generator."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded generator per test, so failures reproduce."""
    return np.random.default_rng(0)
