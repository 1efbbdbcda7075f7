"""f.export for the NumPy backend: a standalone module that matches f, run where graphc
cannot be imported."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc

# Run by `python -I` in a temp folder: no PYTHONPATH, no user site, no script dir on
# sys.path. graphc may still be installed in site-packages (editable installs), so the
# script also makes `import graphc` fail outright before importing the model.
RUNNER = textwrap.dedent("""
    import json, sys
    sys.modules["graphc"] = None          # any `import graphc` now raises ImportError
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import model
    data = np.load(sys.argv[2])
    step = model.load()
    results = {}
    for k in range(3):
        x, y = data[f"x{k}"], data[f"y{k}"]
        loss, logits = step(x, labels=y) if k % 2 else step(x, y)
        results[f"loss{k}"] = loss
        results[f"logits{k}"] = logits
    for name in ("W1", "b1", "W2", "b2"):
        results[name] = step.value(name)
    imported = sorted(m for m in sys.modules if m.split(".")[0] == "graphc"
                      and sys.modules[m] is not None)
    np.savez(sys.argv[3], **results)
    print(json.dumps({"graphc_modules": imported}))
""")


def _mlp(rng, dtype="float32"):
    x = gc.placeholder("x", (None, 4), dtype)
    labels = gc.placeholder("labels", (None,), "int64")
    W1 = gc.parameter("W1", rng.normal(0, 0.5, (4, 16)).astype(dtype))
    b1 = gc.parameter("b1", np.zeros(16, dtype))
    W2 = gc.parameter("W2", rng.normal(0, 0.5, (16, 3)).astype(dtype))
    b2 = gc.parameter("b2", np.zeros(3, dtype))
    params = [W1, b1, W2, b2]
    # erf/erfc: the module embeds graphc.special's NumPy code (no graphc, no SciPy)
    logits = gc.erf(gc.tanh(x @ W1 + b1)) @ W2 + b2 + gc.erfc(gc.tanh(x @ W1) @ W2)
    loss = gc.cross_entropy(logits, labels)
    grads = gc.grad(loss, params)
    # a large constant goes to the values file, a small one stays inline
    big = gc.constant(np.linspace(0.5, 1.5, 16 * 3).reshape(16, 3).astype(dtype))
    updates = {p: p - 0.3 * g for p, g in zip(params, grads)}
    updates[W2] = W2 - 0.3 * grads[2] * big
    return gc.compile([loss, logits], inputs=[x, labels], updates=updates), params


def test_exported_module_matches_f_for_three_steps_without_graphc(tmp_path):
    rng = np.random.default_rng(0)
    f, params = _mlp(rng)
    export_dir = tmp_path / "export"
    paths = f.export(str(export_dir), name="model")
    assert sorted(os.path.basename(p) for p in paths) == ["model.npz", "model.py"]
    text = (export_dir / "model.py").read_text()
    assert "import graphc" not in text and "from graphc" not in text
    imports = [line for line in text.splitlines() if line.startswith(("import", "from"))]
    assert imports == ["import os", "import numpy as np"]

    batches = {}
    for k, n in enumerate((5, 1, 9)):
        batches[f"x{k}"] = rng.normal(size=(n, 4)).astype(np.float32)
        batches[f"y{k}"] = rng.integers(0, 3, size=n)
    np.savez(tmp_path / "data.npz", **batches)
    (tmp_path / "run.py").write_text(RUNNER)
    proc = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "run.py"), str(export_dir),
         str(tmp_path / "data.npz"), str(tmp_path / "out.npz")],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["graphc_modules"] == []

    # the same three steps in-process, from the same (exported) parameter values
    got = np.load(tmp_path / "out.npz")
    for k in range(3):
        loss, logits = f(batches[f"x{k}"], batches[f"y{k}"])
        np.testing.assert_array_equal(got[f"loss{k}"], loss)
        np.testing.assert_array_equal(got[f"logits{k}"], logits)
    for p in params:
        np.testing.assert_array_equal(got[p.name], p.value)


def test_exported_module_in_process_checks_feeds(tmp_path):
    import importlib.util

    rng = np.random.default_rng(1)
    f, params = _mlp(rng, "float64")
    f.export(str(tmp_path), name="mlp64")
    spec = importlib.util.spec_from_file_location("mlp64", tmp_path / "mlp64.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    step = mod.load()
    x = rng.normal(size=(3, 4))
    y = np.array([0, 1, 2])
    want = f(x, y)
    got = step(x, labels=y)
    assert isinstance(got, list) and len(got) == 2
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    with pytest.raises(ValueError, match="'x'"):
        step(np.ones((3, 5)), y)
    with pytest.raises(TypeError, match="'labels'"):
        step(x, np.array([0.5, 1.0, 2.0]))
    with pytest.raises(TypeError, match="missing input 'labels'"):
        step(x)


def test_export_name_must_be_an_identifier(tmp_path):
    x = gc.placeholder("x", (2,))
    with pytest.raises(gc.GraphcError):
        gc.compile(x * 2).export(str(tmp_path), name="not a name")
