"""graphc.dask on a real multi-process LocalCluster (2 worker processes, one thread each):
distributed gradients equal the full-batch ones, training steps equal local steps, each
worker compiles a graph once, two workers compiling one C kernel at once is safe, and a
worker killed in the middle of a step changes nothing."""
import os
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask", reason="graphc.dask needs Dask: pip install -e '.[dask]'")
pytest.importorskip("distributed", reason="graphc.dask needs distributed: pip install -e '.[dask]'")
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import graphc as gc  # noqa: E402
import graphc.dask  # noqa: E402,F401
from graphc.distributed.worker import compile_counts  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def regression(seed: int = 0):
    """A two-layer regression model; the loss is a mean over rows."""
    rng = np.random.default_rng(seed)
    x = gc.placeholder("x", (None, 6), "float64")
    y = gc.placeholder("y", (None,), "float64")
    W = gc.parameter("W", rng.normal(size=(6, 8)) * 0.5, "float64")
    v = gc.parameter("v", rng.normal(size=8) * 0.5, "float64")
    loss = gc.mean((gc.tanh(x @ W) @ v - y) ** 2)
    return x, y, [W, v], loss


def rows(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    return X, np.sin(X @ np.arange(6.0))


def test_gradient_equals_full_batch_and_workers_compile_once(client):
    x, y, params, loss = regression()
    outs = [loss, *gc.grad(loss, params)]
    X, Y = rows(1001)
    expected = gc.compile(outs, inputs=[x, y])(X, Y)
    f = gc.dask.compile(outs, inputs=[x, y])
    chunks = (100, 250, 1, 300, 350)
    for _ in range(3):
        got = f(da.from_array(X, chunks=(chunks, 6)), da.from_array(Y, chunks=(chunks,)))
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-13)
    counts = client.run(compile_counts)
    assert len(counts) == 2
    ran = [c[f.partials_program.digest] for c in counts.values()
           if f.partials_program.digest in c]
    assert ran and all(n == 1 for n in ran)   # 3 calls x 5 chunks, compiled once per worker


def test_training_steps_equal_local_steps(client):
    X, Y = rows(800)
    results = []
    for distributed in (False, True):
        x, y, params, loss = regression(seed=3)
        updates = gc.optim.adam(loss, params, lr=0.02)
        step = (gc.dask.compile if distributed else gc.compile)(loss, inputs=[x, y],
                                                                 updates=updates)
        feed = ((da.from_array(X, chunks=(150, 6)), da.from_array(Y, chunks=150))
                if distributed else (X, Y))
        losses = [float(step(*feed)) for _ in range(5)]
        results.append((losses, [p.value.copy() for p in params]))
    (local, local_params), (dist, dist_params) = results
    np.testing.assert_allclose(dist, local, rtol=1e-10)
    assert local[-1] < local[0]
    for a, b in zip(local_params, dist_params):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13)


def test_c_backend_two_workers_compile_the_same_kernel(client):
    x = gc.placeholder("x", (None, 3), "float64")
    marker = float(time.time_ns() % 1_000_003)     # a kernel no earlier run has cached
    out = gc.sum(gc.exp(x * 0.5) + marker, axis=0)
    X = np.random.default_rng(2).normal(size=(400, 3))
    f = gc.dask.compile(out, backend="c")
    got = f(da.from_array(X, chunks=(50, 3)))
    np.testing.assert_allclose(got, np.sum(np.exp(X * 0.5) + marker, axis=0), rtol=1e-12)
    counts = client.run(compile_counts)
    assert sum(c.get(f.partials_program.digest, 0) for c in counts.values()) == 2


@pytest.mark.slow
def test_worker_killed_mid_step_changes_nothing(client):
    x, y, params, loss = regression(seed=5)
    outs = [loss, *gc.grad(loss, params)]
    X, Y = rows(1200)
    expected = gc.compile(outs, inputs=[x, y])(X, Y)

    def slow_rows(block):     # data that takes a while to load: the kill lands mid-step
        time.sleep(0.15)
        return block

    xs = da.from_array(X, chunks=(50, 6)).map_blocks(slow_rows)
    ys = da.from_array(Y, chunks=50)
    pids = client.run(os.getpid)
    f = gc.dask.compile(outs, inputs=[x, y])
    got, failure = [], []

    def step():
        try:
            got.extend(f(xs, ys))
        except BaseException as e:  # noqa: BLE001 (reported by the main thread)
            failure.append(e)

    runner = threading.Thread(target=step)
    runner.start()
    deadline = time.monotonic() + 60
    busy = {}
    while not busy and time.monotonic() < deadline:
        busy = {w: t for w, t in client.processing().items() if t}
        time.sleep(0.05)
    assert busy, "the step never started"
    victim = next(iter(busy))
    time.sleep(0.2)
    assert runner.is_alive()
    os.kill(pids[victim], signal.SIGKILL)
    runner.join(timeout=120)
    assert not runner.is_alive() and not failure, failure
    assert victim not in client.scheduler_info()["workers"]   # it really died mid-step
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-13)
    client.wait_for_workers(2, timeout=60)   # the nanny restarts it for later tests
