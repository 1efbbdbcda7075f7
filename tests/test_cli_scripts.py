"""``graphc show``, ``export`` and ``bench``: output checked against the script's graph
(gc.show, the pass pipeline), artefacts run against NumPy by hand, exit codes."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc

from helpers_backends import needs_c, needs_cxx
from helpers_cli import ROOT, run, run_process


# ---- show / export: scripts -----------------------------------------------------------------

SCRIPT = '''
import graphc as gc

def build():
    x = gc.placeholder("x", (None, 3))
    w = gc.parameter("w", [[1., 2., 3.]])
    loss = gc.sum(gc.tanh(x * w))
    return {"outputs": [loss], "inputs": [x], "updates": {w: w - 0.1 * gc.grad(loss, w)}}

if __name__ == "__main__":
    raise SystemExit("the main block must not run under graphc show")
'''


@pytest.fixture
def script(tmp_path):
    p = tmp_path / "model.py"
    p.write_text(SCRIPT)
    return p


def expected_show(source: str, opt_level: int = 2) -> tuple[str, str, list]:
    """What ``graphc show`` must print for ``source``: gc.show of the raw graph, gc.show of
    the pipeline's result, and the pipeline's (pass, nodes before, nodes after) rows."""
    from graphc.passes import pipeline
    ns: dict = {}
    exec(compile(source, "model", "exec"), ns)
    built = ns["build"]()
    roots = built["outputs"] + list(built["updates"].values())
    result = pipeline.run_pipeline(roots, opt_level=opt_level)
    rows = [[s.name, str(s.nodes_before), str(s.nodes_after)] for s in result.stats]
    return gc.show(roots, title="raw"), gc.show(result.outputs, title="optimized"), rows


def split_show_output(out: str) -> tuple[str, str, list]:
    """(raw listing, optimized listing, stats rows without the time column)."""
    raw, optimized, table = out.rstrip("\n").split("\n\n")
    header, *rows = table.splitlines()
    assert header.split() == ["pass", "nodes", "before", "nodes", "after", "ms"], header
    return raw, optimized, [row.split()[:3] for row in rows]


def test_show_prints_raw_and_optimized_with_stats(script, capsys):
    code, out, err = run(capsys, "show", str(script))
    assert code == 0, err
    # the whole output: gc.show of the raw and of the optimized graph, then the pass table
    assert split_show_output(out) == expected_show(SCRIPT)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_show_opt_level(script, capsys, level):
    code, out, err = run(capsys, "show", str(script), "--opt-level", str(level))
    assert code == 0, err
    assert split_show_output(out) == expected_show(SCRIPT, opt_level=level)


def test_show_module_level_outputs(tmp_path, capsys):
    p = tmp_path / "plain.py"
    p.write_text("import graphc as gc\nx = gc.placeholder('x', (2,))\noutputs = gc.exp(x)\n")
    code, out, _ = run(capsys, "show", str(p), "--raw")
    assert code == 0 and "exp(x)" in out and "optimized" not in out


@pytest.mark.parametrize("content, code_expected, fragment", [
    (None, 2, "no such file"),
    ("def build(:\n", 2, "syntax error"),
    ("x = 1\n", 2, "neither build() nor"),
    ("def build():\n    return 42\n", 2, "must be a Tensor"),
    ("outputs = []\n", 2, "must be a Tensor"),
    ("def build():\n    return {'inputs': []}\n", 2, "without an 'outputs'"),
    ("import graphc as gc\ndef build():\n    return gc.placeholder('x', (2,)) + "
     "gc.placeholder('y', (3,))\n", 1, "do not broadcast"),
    ("raise RuntimeError('boom')\n", 1, "boom"),
    ("import sys\nsys.exit(3)\n", 1, "exited while building"),
])
def test_bad_scripts(tmp_path, capsys, content, code_expected, fragment):
    p = tmp_path / "bad.py"
    if content is not None:
        p.write_text(content)
    for cmd in (["show", str(p)], ["export", str(p), "-o", str(tmp_path / "out")]):
        code, out, err = run(capsys, *cmd)
        assert code == code_expected and fragment in err and err.count("\n") == 1


def test_not_a_python_file(tmp_path, capsys):
    p = tmp_path / "model.txt"
    p.write_text("x")
    code, _, err = run(capsys, "show", str(p))
    assert code == 2 and "not a Python file" in err




def test_export_numpy_module_runs_like_the_function(script, tmp_path, capsys):
    out_dir = tmp_path / "art"
    code, out, err = run(capsys, "export", str(script), "--backend", "numpy", "-o", str(out_dir))
    assert code == 0, err
    files = [q for q in out_dir.rglob("*") if q.is_file()]
    assert files and "wrote" in out
    py = [q for q in files if q.suffix == ".py"]
    assert py
    # the artefact is standalone: load it in a fresh process without graphc on the path
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    prog = (f"import sys, numpy as np; sys.modules['graphc'] = None;"
            f"sys.path.insert(0, {str(py[0].parent)!r});"
            f"import importlib; m = importlib.import_module({py[0].stem!r});"
            f"f = m.load(); x = np.load({str(tmp_path / 'x.npy')!r});"
            f"print(repr(float(f(x))), repr(float(f(x))))")
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    first, second = (float(v) for v in res.stdout.split())
    # oracle: the same step by hand in NumPy (loss, then the update w -= 0.1 * dloss/dw)
    w = np.array([[1., 2., 3.]])
    xd = x.astype(np.float64)
    assert abs(first - np.sum(np.tanh(xd * w))) < 1e-4
    w = w - 0.1 * np.sum(xd * (1 - np.tanh(xd * w) ** 2), axis=0, keepdims=True)
    assert abs(second - np.sum(np.tanh(xd * w))) < 1e-4


def test_export_bad_backend_is_usage_error(script, tmp_path, capsys):
    code, _, err = run(capsys, "export", str(script), "--backend", "fortran", "-o", str(tmp_path))
    assert code == 2 and "invalid choice" in err


# ---- bench -----------------------------------------------------------------------------------

def test_bench_runs_the_harness_from_a_checkout(tmp_path):
    res = run_process("bench", "--", "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "usage" in res.stdout.lower()



def test_export_backend_failure_is_exit_1(script, tmp_path, capsys, monkeypatch):
    def broken(*a, **k):
        raise gc.CompileError("cc: not found\nsecond line")
    monkeypatch.setattr(gc, "compile", broken)
    code, out, err = run(capsys, "export", str(script), "--backend", "c", "-o", str(tmp_path))
    assert code == 1 and err.count("\n") == 1 and "cc: not found" in err


@pytest.mark.parametrize("example", ["springs.py", "rosenbrock.py", "logistic_newton.py",
                                     "export_walkthrough.py"])
def test_show_on_the_examples(example, capsys, monkeypatch):
    monkeypatch.setenv("GRAPHC_EXAMPLE_SMALL", "1")
    code, out, err = run(capsys, "show", str(ROOT / "examples" / example))
    assert code == 0, err
    raw, optimized = out.split("optimized graph(")
    count = lambda text: sum(1 for line in text.splitlines() if " = " in line)  # noqa: E731
    assert 0 < count(optimized) <= count(raw)
    stats = [line.split() for line in out.splitlines()[-20:] if line[:1].isalpha()
             and len(line.split()) == 4 and line.split()[1].isdigit()]
    assert stats and int(stats[0][1]) >= int(stats[-1][2])


def test_bench_tiny_run_writes_only_its_section(tmp_path):
    results = tmp_path / "RESULTS.md"
    other = "<!-- other:begin -->\nkeep me\n<!-- other:end -->"
    results.write_text(f"# results\n\n{other}\n\n<!-- run:begin -->\nold\n<!-- run:end -->\n")
    res = run_process("bench", "--cases", "tutorial,chain_bwd,softmax,compile",
                      "--impls", "graphc-numpy,numpy", "--chain", "1000", "--softmax", "8",
                      "--repeat", "1", "--compile-nodes", "10", "--output", str(results),
                      cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    text = results.read_text()
    assert other in text and "old" not in text
    section = text.split("<!-- run:begin -->")[1].split("<!-- run:end -->")[0]
    # every measured row passed its correctness check against the float64 reference
    rows = [line for line in section.splitlines() if line.startswith("| graphc-numpy")
            or line.startswith("| numpy")]
    assert len(rows) >= 6 and all("WRONG" not in r and "failed" not in r for r in rows)
    assert "| ok |" in section and "N = 10" in section


def test_show_svg_draws_the_listed_graph(script, tmp_path, capsys):
    """--svg writes gc.draw's SVG of the optimized graph (the raw graph with --raw): one box
    per node of that graph; the listing on stdout is unchanged."""
    import xml.etree.ElementTree as ET
    from graphc.passes import pipeline
    svg = "{http://www.w3.org/2000/svg}"
    g = _load(script)
    roots = g.outputs + list(g.updates.values())
    for extra, graph in [([], pipeline.run_pipeline(roots, opt_level=2).outputs), (["--raw"], roots)]:
        out_svg = tmp_path / "graph.svg"
        code, out, err = run(capsys, "show", str(script), *extra, "--svg", str(out_svg))
        assert code == 0 and err.strip() == f"wrote {out_svg}", err
        code, plain, _ = run(capsys, "show", str(script), *extra)
        same = (lambda s: s) if extra else split_show_output  # the pass table's ms column varies
        assert same(out) == same(plain)  # stdout: the listing, as without --svg
        text = out_svg.read_text(encoding="utf-8")
        assert text == gc.draw(list(graph))
        boxes = [e for e in ET.fromstring(text).iter(f"{svg}g") if "node" in e.get("class", "").split()]
        assert len(boxes) == len(gc.topo_order(list(graph))) > 0
    # a folder that does not exist: one line on stderr, exit 2, no traceback
    code, _, err = run(capsys, "show", str(script), "--svg", str(tmp_path / "no" / "such.svg"))
    assert code == 2 and err.count("\n") == 1 and "--svg: cannot write" in err


def _load(path):
    from graphc.cli import load_script
    return load_script(str(path))


def test_show_dump_after_a_pass(script, capsys):
    code, out, _ = run(capsys, "show", str(script), "--dump", "simplify")
    assert code == 0 and "after simplify graph(" in out and "after fold" not in out
    code, out, _ = run(capsys, "show", str(script), "--dump", "all")
    assert code == 0 and "after fold graph(" in out and "after dce graph(" in out
    code, out, err = run(capsys, "show", str(script), "--dump", "nope")
    assert code == 2 and out == "" and "no pass named 'nope'" in err


def readme_export_files() -> dict[str, list[str]]:
    """backend -> the file names (globs such as ``data/inputs_*.bin``) in the README's
    export table, for ``name="model"``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Exporting kernels", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0] != "backend":
            rows[cells[0].strip("`")] = re.findall(r"`([^`]+)`", cells[1])
    return rows


@pytest.mark.parametrize("backend, extra", [
    ("numpy", []),
    pytest.param("c", [], marks=needs_c),
    pytest.param("cuda", ["--device", "emulate"], marks=needs_cxx),
])
def test_readme_export_table_names_what_the_cli_writes(tmp_path, capsys, backend, extra):
    """Each file `graphc export` writes for model.py is named in the README's table for its
    backend, and each name there is written."""
    import fnmatch
    script = tmp_path / "model.py"
    script.write_text(SCRIPT)
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "export", str(script), "--backend", backend, *extra,
                         "-o", str(out_dir))
    assert code == 0, err
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    names = readme_export_files()[backend]
    assert names
    unnamed = [w for w in written if not any(fnmatch.fnmatchcase(w, n) for n in names)]
    missing = [n for n in names if not any(fnmatch.fnmatchcase(w, n) for w in written)]
    assert not unnamed and not missing, (unnamed, missing)


@pytest.mark.parametrize("backend, extra, expected", [
    pytest.param("c", [], {"Makefile", "model.c", "model.h"}, marks=needs_c),
    pytest.param("cuda", ["--device", "emulate"], {"Makefile", "model.cu", "model.h"},
                 marks=needs_cxx),
])
def test_export_native_folders(script, tmp_path, capsys, backend, extra, expected):
    out_dir = tmp_path / backend
    code, out, err = run(capsys, "export", str(script), "--backend", backend, *extra,
                         "-o", str(out_dir))
    assert code == 0, err
    names = {q.name for q in out_dir.iterdir()}
    assert expected <= names
    # every file the command says it wrote exists
    listed = [line.strip() for line in out.splitlines()[1:]]
    assert listed and all(Path(p).is_file() for p in listed)



@pytest.mark.parametrize("name, stem", [("my_model", "my_model"), ("my model-1", "my_model_1"),
                                        ("3d", "model_3d")])
def test_export_name_sets_the_artefact_files(script, tmp_path, capsys, name, stem):
    out_dir = tmp_path / "art"
    code, out, err = run(capsys, "export", str(script), "--name", name, "-o", str(out_dir))
    assert code == 0, err
    assert sorted(q.name for q in out_dir.iterdir()) == [f"{stem}.npz", f"{stem}.py"]
    # the module is importable under that name and runs the step
    res = subprocess.run([sys.executable, "-c", f"import numpy as np, {stem}; "
                          f"print(float({stem}.load()(np.zeros((2, 3), np.float32))))"],
                         cwd=out_dir, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and float(res.stdout) == 0.0, res.stderr


@pytest.mark.parametrize("backend, device, fragments", [
    ("cuda", "bogus", ["'cuda'", "unknown device 'bogus'"]),
    ("numpy", "emulate", ["'numpy'", "'device'"]),
    ("c", "emulate", ["'c'", "'device'"]),
])
def test_export_device_refused_where_it_does_not_apply(script, tmp_path, capsys, backend,
                                                        device, fragments):
    out_dir = tmp_path / "art"
    code, out, err = run(capsys, "export", str(script), "--backend", backend, "--device",
                         device, "-o", str(out_dir))
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert all(f in err for f in fragments), err
    assert not out_dir.exists() or not any(out_dir.iterdir())


@pytest.fixture
def fake_bench(tmp_path, monkeypatch):
    """A benchmarks/run.py that records its arguments and exits with the code it is given."""
    script = tmp_path / "checkout" / "benchmarks" / "run.py"
    script.parent.mkdir(parents=True)
    script.write_text("import json, pathlib, sys\n"
                      "pathlib.Path(__file__).with_name('argv.json').write_text("
                      "json.dumps(sys.argv[1:]))\n"
                      "sys.exit(int(sys.argv[sys.argv.index('--exit') + 1]) "
                      "if '--exit' in sys.argv else 0)\n")
    monkeypatch.setattr("graphc.cli.find_bench_script", lambda: script)
    return script


@pytest.mark.parametrize("script_code, cli_code", [(0, 0), (2, 2), (1, 1), (3, 1), (-9, 1)])
def test_bench_exit_codes_follow_the_harness(fake_bench, capsys, script_code, cli_code):
    assert run(capsys, "bench", "--cases", "x", "--exit", str(script_code))[0] == cli_code
    assert json.loads((fake_bench.parent / "argv.json").read_text()) == \
        ["--cases", "x", "--exit", str(script_code)]


def test_bench_strips_a_leading_double_dash(fake_bench, capsys):
    assert run(capsys, "bench", "--", "--quick")[0] == 0
    assert json.loads((fake_bench.parent / "argv.json").read_text()) == ["--quick"]


def test_bench_outside_a_checkout_is_exit_1(monkeypatch, capsys):
    monkeypatch.setattr("graphc.cli.find_bench_script", lambda: None)
    code, out, err = run(capsys, "bench", "--quick")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "benchmarks/run.py not found" in err
