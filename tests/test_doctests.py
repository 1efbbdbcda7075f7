"""Every docstring example in the graphc package runs and prints what it shows.

Each module of the package (found by walking it, so a new module is included without
editing this file) is one test case, run with ``doctest`` (ELLIPSIS and
NORMALIZE_WHITESPACE). Examples that compile write to a per-test compile cache: a
doctest that sets or deletes ``GRAPHC_CACHE_DIR`` cannot leak into other tests.
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import graphc

# the package itself, then every module below it; graphc.__main__ runs the command line
# when imported (``python -m graphc``): not a library
MODULES = ["graphc"] + sorted(info.name for info in pkgutil.walk_packages(graphc.__path__,
                                                                          "graphc.")
                              if not info.name.endswith(".__main__"))
FINDER = doctest.DocTestFinder(exclude_empty=True)


def test_the_walk_finds_the_package_and_its_examples():
    assert {"graphc", "graphc.codegen.cache", "graphc.interpreter", "graphc.ir",
            "graphc.passes.autodiff"} <= set(MODULES)
    examples = sum(len(t.examples) for name in MODULES
                   for t in FINDER.find(importlib.import_module(name), name))
    assert examples >= 90  # about 110 when this was written: most of them cannot vanish


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in FINDER.find(module, name):
        runner.run(test, out=failures.append)
    assert not failures, "".join(failures)
