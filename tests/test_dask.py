"""graphc.dask on Dask's synchronous scheduler and an in-process cluster (fast): chunked
results equal one process (uneven chunks, every tree shape), refused graphs name the output,
training steps equal local full-batch steps, NaNs name the chunk, missing tools are clear.
The multi-process LocalCluster tests are in test_dask_cluster.py."""
import io
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

dask = pytest.importorskip("dask", reason="graphc.dask needs Dask: pip install -e '.[dask]'")
pytest.importorskip("distributed", reason="graphc.dask needs distributed: pip install -e '.[dask]'")
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import graphc as gc  # noqa: E402
import graphc.dask  # noqa: E402,F401
from graphc.dask import UnsplittableError  # noqa: E402
from graphc.graph_format import read_graph  # noqa: E402

ROWS = 97
UNEVEN = [(ROWS,), (10, 40, 1, 46), (1,) * 7 + (90,), (33, 0, 64)]


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def mlp(rng):
    """A small classifier: placeholders, parameters, the loss and outputs of every kind."""
    x = gc.placeholder("x", (None, 5), "float64")
    y = gc.placeholder("y", (None,), "int64")
    W = gc.parameter("W", rng.normal(size=(5, 4)), "float64")
    b = gc.parameter("b", np.zeros(4), "float64")
    V = gc.parameter("V", rng.normal(size=(4, 3)), "float64")
    logits = gc.tanh(x @ W + b) @ V
    loss = gc.mean(gc.cross_entropy(logits, y))
    return x, y, [W, b, V], logits, loss


def data(rng, rows=ROWS):
    return rng.normal(size=(rows, 5)), rng.integers(0, 3, rows)


def chunked(X, Y, rows):
    return da.from_array(X, chunks=(rows, 5)), da.from_array(Y, chunks=(rows,))


def computed(v):
    return v.compute() if isinstance(v, da.Array) else np.asarray(v)


@pytest.mark.parametrize("rows", UNEVEN)
@pytest.mark.parametrize("split_every", [2, 3, None])
def test_chunked_outputs_equal_one_process(rng, rows, split_every):
    x, y, params, logits, loss = mlp(rng)
    outs = [loss, *gc.grad(loss, params), gc.max(logits), gc.min(logits, axis=0),
            gc.logsumexp(logits, axis=0), gc.logsumexp(logits, axis=(0, 1), keepdims=True),
            gc.sum(x * 2.0), logits * 2.0, gc.sum(x, axis=1), (x @ params[0]).T, params[1] * 3.0]
    X, Y = data(rng)
    expected = gc.compile(outs, inputs=[x, y])(X, Y)
    got = gc.dask.compile(outs, inputs=[x, y], split_every=split_every)(*chunked(X, Y, rows))
    for k, (e, g) in enumerate(zip(expected, got)):
        np.testing.assert_allclose(computed(g), e, rtol=1e-11, atol=1e-12, err_msg=f"output {k}")
    # per-row outputs come back lazy, chunked like the input along their row axis (Dask's
    # concatenate drops empty chunks)
    nonempty = tuple(r for r in rows if r)
    assert isinstance(got[9], da.Array) and got[9].chunks[0] == nonempty
    assert isinstance(got[11], da.Array) and got[11].chunks[1] == nonempty
    assert not any(isinstance(got[k], da.Array) for k in (0, 1, 4, 6, 8, 12))


def test_numpy_inputs_and_keyword_feeds(rng):
    x, y, params, logits, loss = mlp(rng)
    X, Y = data(rng)
    f = gc.dask.compile([loss, gc.grad(loss, params[0])], inputs=[x, y])
    expected = gc.compile([loss, gc.grad(loss, params[0])], inputs=[x, y])(X, Y)
    for e, g in zip(expected, f(x=da.from_array(X, chunks=(20, 5)), y=Y)):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    for e, g in zip(expected, f(X, Y)):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    got = gc.dask.evaluate(gc.mean(x), {"x": da.from_array(X, chunks=(30, 5))})
    np.testing.assert_allclose(got, X.mean(), rtol=1e-12)
    assert repr(f) == ("<graphc.dask function (x: float64(None, 5), y: int64(None,)) -> 2 "
                       "output(s), 0 per row; 2 partial(s) ['sum'] combined over chunks; "
                       "0 update(s)>")


def test_replicated_placeholder_and_float32(rng):
    x = gc.placeholder("x", (None, 3))            # float32 rows
    scale = gc.placeholder("scale", (3,))         # no run-time dim: every chunk gets it whole
    out = gc.mean(gc.exp(x * scale), axis=0)
    X, s = rng.normal(size=(50, 3)).astype(np.float32), np.float32([1, 2, 3])
    got = gc.dask.compile(out, inputs=[x, scale])(da.from_array(X, chunks=(7, 3)), s)
    np.testing.assert_allclose(got, gc.compile(out, inputs=[x, scale])(X, s), rtol=1e-5)


@pytest.mark.parametrize("make,culprit", [
    (lambda x, w: gc.sum(gc.softmax(x @ w, axis=0)), "sub"),                  # over the rows
    (lambda x, w: gc.sum((x - gc.mean(x, axis=0)) ** 2), "sub"),                # centring
    (lambda x, w: gc.grad(gc.max(x @ w), w), "equal"),                          # max's gradient
    (lambda x, w: gc.sum(x @ x.T), "matmul"),                                   # pairs of rows
    (lambda x, w: gc.sum(gc.logsumexp(x, axis=0) - x), "sub"),
])
def test_unsplittable_outputs_are_refused_by_name(make, culprit):
    x = gc.placeholder("x", (None, 3), "float64")
    w = gc.parameter("w", [1.0, 2.0, 3.0], "float64")
    ok = gc.sum(x @ w)
    with pytest.raises(UnsplittableError) as err:
        gc.dask.compile([ok, make(x, w)])
    msg = str(err.value)
    assert "output 1" in msg and "test_dask.py" in msg and f"{culprit} (created at" in msg


def test_per_row_update_is_refused():
    x = gc.placeholder("x", (None,), "float64")
    w = gc.parameter("w", 0.0, "float64")
    with pytest.raises(UnsplittableError, match="update 0"):
        gc.dask.compile(gc.sum(x), updates={w: w + x})


def test_two_run_time_dims_are_refused():
    x = gc.placeholder("x", (None, None), "float64")
    with pytest.raises(UnsplittableError, match="one run-time dimension"):
        gc.dask.compile(gc.sum(x))


def test_training_steps_equal_local_full_batch_steps(rng):
    X, Y = data(rng)
    losses, finals = [], []
    for distributed in (False, True):
        x, y, params, logits, loss = mlp(np.random.default_rng(1))
        updates = gc.optim.adam(loss, params, lr=0.05)
        step = (gc.dask.compile(loss, inputs=[x, y], updates=updates) if distributed
                else gc.compile(loss, inputs=[x, y], updates=updates))
        feed = chunked(X, Y, (30, 30, 37)) if distributed else (X, Y)
        losses.append([float(step(*feed)) for _ in range(6)])
        finals.append([p.value.copy() for p in params])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-10)
    assert losses[0][-1] < losses[0][0]
    for a, b in zip(*finals):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_per_row_output_keeps_the_call_parameters(rng):
    x = gc.placeholder("x", (None,), "float64")
    w = gc.parameter("w", 2.0, "float64")
    step = gc.dask.compile([x * w, gc.sum(x)], updates={w: w + 1.0})
    rows, total = step(da.arange(5.0, chunks=2))
    assert float(w.value) == 3.0 and float(total) == 10.0
    np.testing.assert_array_equal(rows.compute(), np.arange(5.0) * 2.0)


def test_nan_names_the_chunk():
    x = gc.placeholder("x", (None,), "float64")
    f = gc.dask.compile(gc.sum(gc.log(x)), check_numerics=True)
    values = np.ones(30)
    values[17] = -1.0
    with pytest.raises(gc.NumericsError, match=r"chunk 1 \(rows 10:20\).*log"):
        f(da.from_array(values, chunks=10))


def test_worker_without_c_compiler_is_a_clear_error(monkeypatch, tmp_path):
    x = gc.placeholder("x", (None,), "float64")
    f = gc.dask.compile(gc.sum(gc.exp(x) * 1.2345), backend="c")   # the driver has a compiler
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))          # nothing cached to reuse
    monkeypatch.setenv("CC", "/nonexistent/cc")                    # a worker that has none
    with pytest.raises(gc.BackendUnavailable, match=r"worker .* could not compile the chunk "
                                                    r"graph \(backend 'c'\).*no C compiler"):
        f(da.ones(10, chunks=5))


def test_in_process_cluster_and_worker_check(rng):
    """Through a distributed Client (threads): parameters scattered, same values; a worker
    that cannot import a needed module is named."""
    x, y, params, logits, loss = mlp(rng)
    X, Y = data(rng)
    outs = [loss, *gc.grad(loss, params)]
    expected = gc.compile(outs, inputs=[x, y])(X, Y)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert dask.base.get_scheduler() == client.get     # graphc.dask runs through it
        got = gc.dask.compile(outs, inputs=[x, y])(*chunked(X, Y, 20))
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-12)
        with pytest.raises(gc.BackendUnavailable, match="not importable on worker"):
            gc.dask.check_workers(client, module="graphc_not_installed_anywhere")


def test_workers_get_graph_bytes_never_compiled_code():
    x = gc.placeholder("x", (None,), "float64")
    f = gc.dask.compile([gc.sum(gc.exp(x) * 3.5), x * 2.0], backend="c")
    total, rows = f(da.arange(6.0, chunks=4))          # compiles here, in this process
    assert np.isclose(total, 3.5 * np.exp(np.arange(6.0)).sum())
    for program in (f.partials_program, f.rows_program):
        sent = pickle.dumps(program)
        assert b"ctypes" not in sent and b"CDLL" not in sent
        assert set(pickle.loads(sent).__dict__) == {"graph", "digest", "backend", "options"}
        assert read_graph(io.BytesIO(program.graph), "sent").inputs[0].name == "x"


@st.composite
def chunkings(draw):
    """A row count and a random split of it into chunks (empty chunks included)."""
    sizes = draw(st.lists(st.integers(0, 9), min_size=1, max_size=8))
    return tuple(sizes) if sum(sizes) else sizes[:-1] + [1]


@settings(max_examples=25, deadline=None)
@given(rows=chunkings(), split_every=st.integers(2, 5), seed=st.integers(0, 2**16))
def test_any_chunking_gives_the_one_process_values(rows, split_every, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder("x", (None, 2), "float64")
    w = gc.parameter("w", rng.normal(size=(2, 3)), "float64")
    z = x @ w
    loss = gc.mean(gc.softplus(z)) + gc.max(z) - gc.min(z) + gc.logsumexp(z, axis=0).sum()
    outs = [loss, gc.grad(gc.mean(gc.softplus(z)), w), gc.mean(z, axis=0)]
    X = rng.normal(size=(sum(rows), 2)) * 3.0
    expected = gc.compile(outs, inputs=[x])(X)
    got = gc.dask.compile(outs, inputs=[x], split_every=split_every)(
        da.from_array(X, chunks=(tuple(rows), 2)))
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-12)
