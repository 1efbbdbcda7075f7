"""SymPy's verdicts kept in the compile cache (passes/sympy_verdicts.py): a graph compiled
before compiles again in a fresh process without importing SymPy, to the same code."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from graphc.passes import sympy_verdicts

SCRIPT = """
import json, sys
import graphc as gc
x = gc.placeholder("x", (None,), "float64")
y = gc.placeholder("y", (None,), "float64")
# two clusters SymPy makes cheaper, one it cannot
out = [gc.exp(x) * gc.exp(-x) + x, (x * y + x * 2.0) / x, gc.sin(x) * gc.cos(y) + 1.0]
f = gc.compile(out, inputs=[x, y], backend="numpy")
print(json.dumps({"sympy": "sympy" in sys.modules, "source": f.source["graph.py"]}))
"""


def _compile_in_a_fresh_process(cache_dir) -> dict:
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(cache_dir)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_a_graph_seen_before_compiles_without_sympy(tmp_path):
    first = _compile_in_a_fresh_process(tmp_path)
    assert first["sympy"]                       # its clusters were new: SymPy answered
    assert "exp" not in first["source"].split("def compute")[1].split("return")[0]
    again = _compile_in_a_fresh_process(tmp_path)
    assert not again["sympy"]                   # every verdict came from the cache
    assert again["source"] == first["source"]


def test_a_bad_entry_is_a_miss_and_a_verdict_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    key = ("<f8", (("mul", (("v", 0), ("c", 2.0))),))
    assert sympy_verdicts.load(key) is sympy_verdicts.MISSING
    sympy_verdicts.store(key, None)             # None is a verdict: nothing cheaper
    assert sympy_verdicts.load(key) is None
    recipe = ("div", ("c", 1.0), ("sqrt", ("v", 0)))
    sympy_verdicts.store(key, recipe)
    assert sympy_verdicts.load(key) == recipe
    for path in tmp_path.iterdir():             # corrupt every entry: a miss, no error
        path.write_bytes(b"{not json")
    assert sympy_verdicts.load(key) is sympy_verdicts.MISSING
