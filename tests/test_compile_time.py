"""Compile-time scaling: very deep graphs compile (iteratively, in bounded pieces) and
still compute what the interpreter computes; the NumPy module's bytecode cache gives
the same function. No timings are asserted (the machine is shared): these check the
behaviour the fast paths must keep."""
import numpy as np

import graphc as gc
from graphc.codegen import cache, numpy_backend


def _chain(n, shape=(5,)):
    x = gc.placeholder("x", shape, "float64")
    y = x
    for k in range(n):
        y = (gc.sin, gc.tanh, gc.cos)[k % 3](y)
    return x, y, gc.grad(gc.sum(y), x)


def test_ten_thousand_deep_chain_and_gradient_compile_on_numpy():
    x, y, g = _chain(10_000)
    f = gc.compile([y, g])
    feed = np.linspace(-1.0, 1.0, 5)
    want = gc.evaluate([y, g], {x: feed})
    for got, ref in zip(f(feed), want):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-300)
    # forward values live until the backward pass reads them; everything else is reused
    assert f.stats["buffers"] < f.stats["values_in_buffers"] / 2


def test_large_module_bytecode_comes_back_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    x, y, g = _chain(1_500)
    text = next(iter(gc.compile([y, g]).source.values()))
    assert len(text) >= numpy_backend.CODE_CACHE_MIN_CHARS   # else the cache is not used
    name = "<graphc:graph.py>"                 # the module gc.compile just loaded
    entries = [p for p in tmp_path.iterdir() if p.suffix == ".pyc"]
    assert len(entries) == 1 and cache.read_entry(entries[0]) is not None

    def no_compile(*args):
        raise AssertionError("compiled although the bytecode was cached")
    monkeypatch.setattr(numpy_backend, "compile", no_compile, raising=False)
    module = numpy_backend._load_module(text, name)          # read back from the cache
    _check(module, x, y, g)
    entries[0].write_bytes(b"garbage")                       # damaged: compiled anew
    monkeypatch.delattr(numpy_backend, "compile")
    module = numpy_backend._load_module(text, name)
    _check(module, x, y, g)
    assert cache.read_entry(entries[0]) is not None          # and stored again


def _check(module, x, y, g):
    feed = np.linspace(-1.0, 1.0, 5)
    outs, _ = module.compute(feed, module.workspace())
    for got, ref in zip(outs, gc.evaluate([y, g], {x: feed})):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-300)
