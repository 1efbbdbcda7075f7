"""Shared fixtures (kept tiny): a seeded random generator, and one compile cache per run.

The compile cache: the whole test run (and every subprocess it starts, since they
inherit the environment) uses ONE temporary directory as ``GRAPHC_CACHE_DIR``, made
when pytest starts and deleted when it ends. Compiles are reused across tests within
the run, but the run never reads or writes the user's ``~/.cache/graphc``, so a stale
entry or a failed-build marker left there cannot change (or skip) a test.

To keep a warm cache between runs, set ``GRAPHC_TEST_CACHE_DIR=/some/dir``: that
directory is used instead and kept. A ``GRAPHC_CACHE_DIR`` set in the shell is ignored
on purpose (it usually is the user's real cache).
"""
import os
import shutil
import tempfile

import numpy as np
import pytest

_RUN_CACHE: dict[str, str] = {}


def pytest_configure(config):
    """Before any test module is imported (some compile at import time)."""
    # property tests draw the same examples every run unless GRAPHC_HYPOTHESIS_RANDOM=1
    # (tests/strategies.py's fuzz profile always draws fresh ones)
    from hypothesis import settings
    settings.register_profile(
        "graphc", derandomize=os.environ.get("GRAPHC_HYPOTHESIS_RANDOM") != "1")
    settings.load_profile("graphc")
    chosen = os.environ.get("GRAPHC_TEST_CACHE_DIR")
    if chosen:
        os.environ["GRAPHC_CACHE_DIR"] = os.path.abspath(os.path.expanduser(chosen))
    else:
        _RUN_CACHE["dir"] = tempfile.mkdtemp(prefix="graphc-test-cache-")
        os.environ["GRAPHC_CACHE_DIR"] = _RUN_CACHE["dir"]


def pytest_unconfigure(config):
    made = _RUN_CACHE.pop("dir", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def rng():
    """A fresh, seeded generator per test, so failures reproduce."""
    return np.random.default_rng(0)


@pytest.fixture
def run_cache_dir() -> str:
    """The run's compile cache directory (``GRAPHC_CACHE_DIR`` as set for the whole run)."""
    return os.environ["GRAPHC_CACHE_DIR"]
