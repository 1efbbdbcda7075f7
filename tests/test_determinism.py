"""Determinism: the same graph built in two separate processes (different hash seeds,
different numbers of nodes created beforehand) yields byte-identical generated sources
for every backend. (The second run finds its binaries in the compile cache only when
its sources are identical, so it is fast exactly when the test passes.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from test_fuzz_differential import BACKENDS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np
    import graphc as gc

    # unrelated nodes first: uids and hash-cons tables differ between the two runs
    junk = [gc.placeholder(f"junk{k}", (k + 1,)) * 2.0 for k in range(int(sys.argv[1]))]

    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 4))
    y = gc.placeholder("labels", (None,), "int64")
    w1 = gc.parameter("w1", rng.standard_normal((4, 8)).astype(np.float32))
    b1 = gc.parameter("b1", np.zeros(8, np.float32))
    w2 = gc.parameter("w 2", rng.standard_normal((8, 3)).astype(np.float32))
    h = gc.tanh(x @ w1 + b1)
    logits = h @ w2
    loss = gc.cross_entropy(logits, y) + 1e-3 * gc.sum(gc.square(w1))
    params = [w1, b1, w2]
    grads = gc.grad(loss, params)
    graphs = {
        "mlp_step": dict(outputs=[loss, gc.softmax(logits)],
                         updates={p: p - 0.1 * g for p, g in zip(params, grads)}),
        "mixed": dict(outputs=[gc.logsumexp(x, 1), gc.max(x, 0, keepdims=True),
                               gc.where(x > 0, gc.sqrt(gc.abs(x) + 1.0), gc.sigmoid(x)),
                               gc.sum(gc.one_hot(y, 5) * 2.0, 0)]),
    }
    out = {}
    for backend, options in json.loads(sys.argv[2]):
        for gname, spec in graphs.items():
            f = gc.compile(spec["outputs"], updates=spec.get("updates"), backend=backend,
                           **options)
            out[f"{backend}/{gname}"] = f.source
    print(json.dumps(out, sort_keys=True))
''')


def _run(junk: int, hashseed: str) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=hashseed,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(junk), json.dumps(BACKENDS)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_sources_identical_across_processes():
    a = _run(0, "1")
    b = _run(37, "12345")
    assert a.keys() == b.keys()
    assert {k.split("/")[0] for k in a} == {b for b, _ in BACKENDS}
    for key in a:
        assert a[key].keys() == b[key].keys(), key
        for fname in a[key]:
            if a[key][fname] != b[key][fname]:
                import difflib
                diff = "\n".join(list(difflib.unified_diff(
                    a[key][fname].splitlines(), b[key][fname].splitlines(), lineterm=""))[:40])
                pytest.fail(f"{key} {fname} differs between processes:\n{diff}")
