"""The fast call path (graphc.codegen.fastcall): positional feeds checked in C and the
program called directly. Every call it takes must give what the Python path gives
(keyword feeds always take the Python path: the oracle here), and every call it declines
must reach the Python path untouched: the same clear errors, parameters unchanged."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import fastcall
from helpers_backends import HAVE_C

needs_fast = pytest.mark.skipif(not HAVE_C or fastcall.extension() is None,
                                reason="no C compiler or Python headers: no fast path")
HOST = ["numpy"] + (["c"] if HAVE_C else [])


def _fast(f):
    """``f`` with its fast path now (the NumPy backend's starts at its second call)."""
    if f._fast is None:
        f._use_fast_path()
    return f


def _taken(f, *args):
    """Whether the fast path takes this call (it then runs it)."""
    return f._fast_call is not None and f._fast_call(args) is not None


def _mlp_step(backend, lr=0.1):
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 3))
    y = gc.placeholder("y", (None,), "int32")
    w = gc.parameter("w", rng.standard_normal((3, 4)).astype(np.float32))
    b = gc.parameter("b", np.zeros(4, np.float32))
    loss = gc.mean((gc.tanh(x @ w + b) - y[:, None]) ** 2)
    gw, gb = gc.grad(loss, [w, b])
    f = _fast(gc.compile(loss, inputs=[x, y], updates={w: w - lr * gw, b: b - lr * gb},
                         backend=backend))
    xv = rng.standard_normal((5, 3)).astype(np.float32)
    yv = rng.integers(0, 2, 5).astype(np.int32)
    return f, (w, b), xv, yv


@needs_fast
@pytest.mark.parametrize("backend", HOST)
def test_fast_path_matches_the_python_path_with_updates(backend):
    f, (w, b), xv, yv = _mlp_step(backend)
    assert f._fast is not None
    w0, b0 = w.value.copy(), b.value.copy()
    fast = [float(f(xv, yv)) for _ in range(3)]
    fast_w, fast_b = w.value.copy(), b.value.copy()
    assert f.calls == 3
    w.value, b.value = w0, b0
    slow = [float(f(x=xv, y=yv)) for _ in range(3)]   # keyword feeds: the Python path
    assert fast == slow
    np.testing.assert_array_equal(fast_w, w.value)
    np.testing.assert_array_equal(fast_b, b.value)
    assert f.calls == 6


@needs_fast
@pytest.mark.parametrize("backend", HOST)
def test_fast_path_declines_what_it_cannot_take_exactly(backend):
    x = gc.placeholder("x", (None, 3))
    z = gc.placeholder("z", (None, 3))
    f = _fast(gc.compile([gc.exp(x) + z, gc.sum(x * z)], inputs=[x, z], backend=backend))
    xv = np.arange(6, dtype=np.float32).reshape(2, 3) / 6
    assert _taken(f, xv, xv)
    want = f(x=xv, z=xv)
    declined = [
        (xv.astype(np.float64), xv),          # another dtype: the Python path casts
        (xv.tolist(), xv),                    # a list
        (np.asfortranarray(np.ones((3, 3), np.float32))[:, :], np.ones((3, 3), np.float32)),
        (np.ones((2, 6), np.float32)[:, ::2], xv),   # not contiguous
        (xv, xv.byteswap().view(xv.dtype.newbyteorder())),   # other byte order
        (xv,),                                # too few
        (xv, xv, xv),                         # too many
        (xv, np.ones((3, 3), np.float32)),    # run-time sizes disagree
        (np.ones((2, 4), np.float32), xv),    # a fixed size differs
    ]
    for args in declined:
        assert not _taken(f, *args), args
    got = f(xv.astype(np.float64), xv)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    t = np.ones((2, 6), np.float32)[:, ::2]
    np.testing.assert_allclose(f(t, t)[1], 6.0)
    with pytest.raises(gc.FeedError, match=r"inconsistent sizes: axis 0 of input") as e:
        f(xv, np.ones((3, 3), np.float32))
    assert "'x'" in str(e.value) and "'z'" in str(e.value)
    with pytest.raises(gc.FeedError, match=r"'x'.*expected shape \(None, 3\).*\(2, 4\)"):
        f(np.ones((2, 4), np.float32), xv)
    with pytest.raises(gc.FeedError, match="got 3 positional inputs"):
        f(xv, xv, xv)
    with pytest.raises(gc.FeedError, match="missing input 'z'"):
        f(xv)


@needs_fast
@pytest.mark.parametrize("backend", HOST)
def test_a_declined_call_leaves_parameters_unchanged(backend):
    f, (w, b), xv, yv = _mlp_step(backend)
    w0, b0 = w.value.copy(), b.value.copy()
    with pytest.raises(gc.FeedError, match="'y'"):
        f(xv, yv[:4])
    with pytest.raises(gc.FeedError, match=r"'y'.*floats cannot be cast"):
        f(xv, yv.astype(np.float32))
    np.testing.assert_array_equal(w.value, w0)
    np.testing.assert_array_equal(b.value, b0)
    assert f.calls == 0


@needs_fast
def test_results_the_caller_keeps_are_never_overwritten():
    x = gc.placeholder("x", (None,))
    f = gc.compile([x * 2, x + 1], inputs=[x], backend="c")
    first = f(np.array([1.0, 2.0], np.float32))
    kept = [a.copy() for a in first]
    for k in range(5):
        f(np.array([10.0 + k, 20.0], np.float32))
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)
    view = f(np.array([3.0], np.float32))[0][:]   # a view keeps its base alive
    f(np.array([4.0], np.float32))
    assert float(view[0]) == 6.0


@needs_fast
def test_an_index_fault_on_the_fast_path_is_the_python_paths_error():
    table = gc.parameter("table", np.arange(8, dtype=np.float32).reshape(4, 2))
    idx = gc.placeholder("idx", (None,), "int64")
    f = gc.compile(gc.take(table, idx, axis=0), inputs=[idx], backend="c")
    np.testing.assert_array_equal(f(np.array([3, 0])), [[6, 7], [0, 1]])
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.array([4]))


@needs_fast
def test_the_fast_path_never_waits_for_a_lock():
    """A call whose parameter lock is held elsewhere goes to the Python path, which waits
    for it: no update is lost."""
    w = gc.parameter("w_lock", np.zeros(1, np.float32))
    f = gc.compile(None, updates={w: w + 1.0}, backend="c")
    g = gc.compile(None, updates={w: w + 10.0}, backend="c")
    w.state.lock.acquire()
    assert f._fast_call(()) is None
    done = threading.Event()
    t = threading.Thread(target=lambda: (f(), done.set()))
    t.start()
    assert not done.wait(0.05)        # waiting on the Python path
    w.state.lock.release()
    t.join()
    barrier = threading.Barrier(4)

    def run(fn):
        barrier.wait()
        for _ in range(500):
            fn()
    threads = [threading.Thread(target=run, args=(fn,)) for fn in (f, g, f, g)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert float(w.value[0]) == 1.0 + 1000 * 11.0
    assert f.calls == 1001 and g.calls == 1000


@needs_fast
def test_numpy_fast_path_keeps_numpys_warnings_quiet(recwarn):
    x = gc.placeholder("x", (2,))
    f = _fast(gc.compile(gc.exp(x) * 1e30, inputs=[x], backend="numpy"))
    assert f._fast is not None
    out = f(np.array([100.0, 0.0], np.float32))
    assert np.isinf(out[0]) and not [w for w in recwarn if "overflow" in str(w.message)]
    with np.errstate(all="raise"):   # the caller's own error state is left alone
        with pytest.raises(FloatingPointError):
            np.float32(1e30) * np.float32(1e30)


@needs_fast
@pytest.mark.parametrize("backend", HOST)
def test_new_values_never_alias_feeds_or_outputs(backend):
    """A parameter set to a feed, or to a value also returned, gets its own copy."""
    x = gc.placeholder("x_alias", (2,))
    w = gc.parameter("w_alias", np.zeros(2, np.float32))
    v = gc.parameter("v_alias", np.zeros(2, np.float32))
    f = _fast(gc.compile(w * 2, inputs=[x], updates={w: x, v: w * 2}, backend=backend))
    xv = np.array([1.0, 2.0], np.float32)
    assert (f._fast is not None) == (backend == "numpy")   # C: an update that is a feed
    out = f(xv)                                             # declines
    assert w.value is not xv and v.value is not out
    xv[:] = 7.0
    out[:] = 9.0
    np.testing.assert_array_equal(w.value, [1.0, 2.0])
    np.testing.assert_array_equal(v.value, [0.0, 0.0])   # 2 * the old w
    f(np.array([3.0, 4.0], np.float32))
    np.testing.assert_array_equal(v.value, [2.0, 4.0])


@needs_fast
def test_the_numpy_backend_takes_the_fast_path_from_its_second_call():
    x = gc.placeholder("x_second", (2,))
    f = gc.compile(x + 1, inputs=[x], backend="numpy")
    xv = np.ones(2, np.float32)
    for k in range(4):
        assert (f._fast is not None) == (k >= 2), k
        np.testing.assert_array_equal(f(xv), [2.0, 2.0])
    assert f.calls == 4 and f._fast.calls == 3


@needs_fast
def test_large_calls_release_the_gil_and_stay_correct_across_threads():
    """Past GIL_RELEASE_ELEMENTS the C program runs without the GIL: calls from several
    threads (one Function shared, one each) still give every thread its own right answer."""
    x = gc.placeholder("x_big", (None,))
    shared = gc.compile(gc.sum(gc.exp(x * 0.0) * x), inputs=[x], backend="c")
    n = 2 * fastcall.GIL_RELEASE_ELEMENTS
    errors = []

    def run(k):
        own = gc.compile(x * float(k), inputs=[x], backend="c")
        v = np.full(n, float(k), np.float32)
        for _ in range(20):
            if float(shared(v)) != float(k) * n or float(own(v)[-1]) != float(k * k):
                errors.append(k)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert shared.calls == 80


def test_numpy_functions_whose_kernels_raise_their_own_errors_keep_the_python_path():
    """A failed factorization or a refused check_index stays graphc's error on every call
    (the fast path would let NumPy's own exception through)."""
    a = gc.placeholder("Sigma", (2, 2), "float64")
    f = gc.compile(gc.linalg.cholesky(a), backend="numpy")
    good, bad = np.eye(2), -np.eye(2)
    for _ in range(3):
        f(good)
        with pytest.raises(gc.linalg.LinAlgError, match="Sigma"):
            f(bad)
