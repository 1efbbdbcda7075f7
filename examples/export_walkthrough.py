"""Export walk-through: take a compiled training step away as NumPy, C and CUDA artefacts.

A small softmax classifier's SGD step (inputs, outputs and parameter updates) is
compiled, then exported three ways:

  numpy  one module + a parameter file; ``load()`` returns a callable used exactly like
         the compiled function. Run here in a fresh interpreter where importing graphc
         is blocked, to show it needs NumPy only.
  c      the same kernels as C sources with a header and a build file.
  cuda   CUDA C (.cu, header, build file, example program); builds with nvcc alone.
         Without a GPU, graphc runs the same CUDA source on the CPU (device="emulate").

Every artefact's numbers are compared with graphc's reference interpreter. A step is
reported "skipped" only when the tool it needs is missing (a C or C++ compiler, make);
any other failure stops the script with the error.

    python examples/export_walkthrough.py [OUTPUT_DIR]
    GRAPHC_EXAMPLE_SMALL=1 python examples/export_walkthrough.py

The artefacts are kept in OUTPUT_DIR when one is given; without it they are written to a
temporary folder that is removed at the end.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import graphc as gc

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
FEATURES, CLASSES, BATCH, STEPS = 4, 3, (16 if SMALL else 256), 3
LR = 0.5


def build():
    """One SGD step of a softmax classifier: inputs (x, labels), output the loss."""
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, FEATURES))
    labels = gc.placeholder("labels", (None,), "int32")
    W = gc.parameter("W", (0.1 * rng.standard_normal((FEATURES, CLASSES))).astype(np.float32))
    b = gc.parameter("b", np.zeros(CLASSES, np.float32))
    loss = gc.cross_entropy(x @ W + b, labels)
    gW, gb = gc.grad(loss, [W, b])
    return {"outputs": [loss], "inputs": [x, labels], "updates": {W: W - LR * gW, b: b - LR * gb}}


def reference_steps(graph, batches):
    """The oracle: the interpreter evaluating loss and updates, applied by hand."""
    (loss,), (x, labels) = graph["outputs"], graph["inputs"]
    params = list(graph["updates"])
    start = [p.value.copy() for p in params]
    losses = []
    for xb, yb in batches:
        vals = gc.evaluate([loss] + [graph["updates"][p] for p in params], {x: xb, labels: yb})
        losses.append(float(vals[0]))
        for p, v in zip(params, vals[1:]):
            p.value = v
    final = [p.value.copy() for p in params]
    for p, v in zip(params, start):
        p.value = v
    return losses, final


def run_compiled(f, graph, batches):
    params = list(graph["updates"])
    start = [p.value.copy() for p in params]
    losses = [float(f(xb, yb)) for xb, yb in batches]
    final = [p.value.copy() for p in params]
    for p, v in zip(params, start):
        p.value = v
    return losses, final


def diff(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in zip(a, b))


def list_files(directory: Path) -> None:
    for q in sorted(directory.rglob("*")):
        if q.is_file():
            print(f"    {q.relative_to(directory)}  ({q.stat().st_size:,} bytes)")


STANDALONE = r"""
import importlib.util, json, sys
sys.modules["graphc"] = None          # importing graphc now fails: the module must not need it
import numpy as np
directory, data = sys.argv[1], np.load(sys.argv[2])
path = [p for p in __import__("os").listdir(directory) if p.endswith(".py")][0]
spec = importlib.util.spec_from_file_location("exported", f"{directory}/{path}")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
step = module.load()
losses = [float(np.asarray(step(data[f"x{k}"], data[f"y{k}"]))) for k in range(int(data["n"]))]
print(json.dumps(losses))
"""


def make(target: Path, *goal: str, label: str) -> bool:
    """Run ``make`` in an exported folder (the artefact's own build file, no graphc).

    False only when ``make`` is not installed; a failing build is an error.
    """
    if shutil.which("make") is None:
        print(f"{label} 'make' is not installed: build by hand (see the Makefile)")
        return False
    print(f"{label} $ cd {target} && make{''.join(' ' + g for g in goal)}")
    res = subprocess.run(["make", "-s", *goal], cwd=target, capture_output=True, text=True,
                         timeout=600)
    if res.returncode != 0:
        raise SystemExit(f"{label} make {' '.join(goal)} failed:\n{res.stdout}\n{res.stderr}")
    return True


def build_and_run_c(target: Path, data_file: Path, ref_losses, label: str):
    """Build the C folder with its Makefile, run it through its ctypes loader, graphc blocked."""
    (loader,) = sorted(target.glob("*_loader.py"))
    if not make(target, label=label):
        return "skipped"
    prog = STANDALONE.replace('if p.endswith(".py")', f'if p == "{loader.name}"')
    res = subprocess.run([sys.executable, "-c", prog, str(target), str(data_file)],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise SystemExit(f"the exported C library failed:\n{res.stderr}")
    losses = json.loads(res.stdout)
    d = diff(losses, ref_losses)
    print(f"{label} {loader.name} + the built library, run without graphc: losses "
          f"{', '.join(f'{v:.5f}' for v in losses)} (max diff vs interpreter {d:.1e})")
    return d


def build_and_run_cuda_emulation(target: Path, graph, label: str):
    """``make`` needs nvcc and a GPU; ``make emulate`` runs the same .cu on the CPU.

    The example program runs one step on the inputs and parameters saved in data/ and
    prints every result (loss, new W, new b); they are checked against the interpreter.
    """
    print(f"{label} on a GPU machine:  cd {target} && make && ./example [BATCH]")
    if not make(target, "emulate", label=label):
        return "skipped"
    res = subprocess.run(["./example_emu"], cwd=target, capture_output=True, text=True,
                         timeout=120)
    if res.returncode != 0:
        raise SystemExit(f"{label} ./example_emu failed (exit {res.returncode}):\n{res.stderr}")
    printed = {line.split()[0]: np.array([float(v) for v in line.split()[1:]])
               for line in res.stdout.strip().splitlines()}
    (loss,), (x, labels) = graph["outputs"], graph["inputs"]
    params = list(graph["updates"])
    xb = np.fromfile(target / "data" / "inputs_x.bin", np.float32).reshape(-1, FEATURES)
    yb = np.fromfile(target / "data" / "inputs_labels.bin", np.int32)
    start = [p.value.copy() for p in params]
    for p in params:
        p.value = np.fromfile(target / "data" / f"params_{p.name}.bin", np.float32).reshape(
            p.value.shape)
    try:
        ref = gc.evaluate([loss] + [graph["updates"][p] for p in params], {x: xb, labels: yb})
    finally:
        for p, v in zip(params, start):
            p.value = v
    got = [printed[f"out{k}"] for k in range(len(ref))]
    d = diff(got, [np.ravel(r) for r in ref])
    print(f"{label} ./example_emu: loss {got[0][0]:.5f}, new W and b printed "
          f"(max diff vs interpreter {d:.1e})")
    return d


def main(out_root: Path, kept: bool = True):
    rng = np.random.default_rng(1)
    centers = 2.0 * rng.standard_normal((CLASSES, FEATURES))
    batches = []
    for _ in range(STEPS):
        yb = rng.integers(0, CLASSES, BATCH).astype(np.int32)
        batches.append(((centers[yb] + rng.standard_normal((BATCH, FEATURES))).astype(np.float32),
                        yb))
    graph = build()
    ref_losses, ref_final = reference_steps(graph, batches)
    print(f"interpreter (the oracle): losses over {STEPS} SGD steps "
          f"{', '.join(f'{v:.5f}' for v in ref_losses)}")
    results = {}

    # -- 1. NumPy -----------------------------------------------------------------------------
    f = gc.compile(graph["outputs"][0], inputs=graph["inputs"], updates=graph["updates"])
    print("\n[numpy] generated module (first lines):")
    source = next(iter(f.source.values()))
    for line in source.splitlines()[:12]:
        print("    " + line)
    losses, final = run_compiled(f, graph, batches)
    print(f"[numpy] compiled step vs interpreter: max diff "
          f"{diff(losses + final, ref_losses + ref_final):.1e}")
    target = out_root / "numpy"
    f.export(str(target))
    print(f"[numpy] exported to {target}:")
    list_files(target)
    data_file = out_root / "batches.npz"
    np.savez(data_file, n=STEPS, **{f"x{k}": xb for k, (xb, _) in enumerate(batches)},
             **{f"y{k}": yb for k, (_, yb) in enumerate(batches)})
    res = subprocess.run([sys.executable, "-c", STANDALONE, str(target), str(data_file)],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise SystemExit(f"the exported module failed:\n{res.stderr}")
    exported_losses = json.loads(res.stdout)
    results["numpy_diff"] = diff(exported_losses, ref_losses)
    print(f"[numpy] exported module, run without graphc: losses "
          f"{', '.join(f'{v:.5f}' for v in exported_losses)} (max diff vs interpreter "
          f"{results['numpy_diff']:.1e})")
    print("        use it:  import model; step = model.load(); loss = step(x, labels)")

    # -- 2. C and 3. CUDA -----------------------------------------------------------------------
    for backend, opts, key in [("c", {}, "c_diff"), ("cuda", {"device": "emulate"}, "cuda_diff")]:
        label = f"[{backend}{' emulate' if opts else ''}]"
        try:
            fb = gc.compile(graph["outputs"][0], inputs=graph["inputs"],
                            updates=graph["updates"], backend=backend, **opts)
        except gc.BackendUnavailable as e:  # no C/C++ compiler here: say so, go on
            print(f"\n{label} skipped: {str(e).splitlines()[0][:150]}")
            results[key] = "skipped"
            continue
        losses, final = run_compiled(fb, graph, batches)
        results[key] = diff(losses + final, ref_losses + ref_final)
        print(f"\n{label} compiled step vs interpreter: max diff {results[key]:.1e}")
        target = out_root / backend
        fb.export(str(target))
        print(f"{label} exported to {target}:")
        list_files(target)
        if backend == "c":
            results["c_standalone_diff"] = build_and_run_c(target, data_file, ref_losses, label)
        else:
            results["cuda_emulate_diff"] = build_and_run_cuda_emulation(target, graph, label)

    fields = " ".join(f"{k}={v if isinstance(v, str) else f'{v:.3e}'}" for k, v in results.items())
    print(f"\nartefacts in {out_root}" if kept else
          "\nartefacts removed with their temporary folder (pass OUTPUT_DIR to keep them)")
    print(f"RESULT {fields}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory(prefix="graphc_") as tmp:
            main(Path(tmp), kept=False)
