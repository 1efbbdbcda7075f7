"""Every script in examples/ runs (small sizes: GRAPHC_EXAMPLE_SMALL=1) and prints a right result.

Each example gets a checker that reads its printed output and asserts on the result
it reports (convergence, agreement with finite differences / SymPy / NumPy by hand),
not only on its exit code. A new example without a checker fails
``test_every_example_has_a_checker``, so none is left out.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers_backends import HAVE_C, HAVE_CXX, HAVE_MAKE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(name: str, tmp_path: Path) -> str:
    """Run examples/NAME in tmp_path/work with a fresh temp dir (TMPDIR), which must be
    empty again afterwards: an example leaves nothing in the user's temp dir."""
    work, temp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    env = dict(os.environ, GRAPHC_EXAMPLE_SMALL="1", MPLBACKEND="Agg", TMPDIR=str(temp),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True,
                         cwd=work, env=env, timeout=300)
    assert res.returncode == 0, f"{name} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    left = sorted(p.name for p in temp.iterdir())
    assert not left, f"{name} left {left} in the temp dir"
    return res.stdout


def result_fields(out: str) -> dict[str, str]:
    """The ``RESULT key=value ...`` line an example prints last."""
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, "the example printed no RESULT line"
    return dict(item.split("=", 1) for item in lines[-1].split()[1:])


def numbers_after(label: str, out: str) -> np.ndarray:
    """The numbers in the bracketed array printed after ``label`` (e.g. 'a.grad =')."""
    m = re.search(re.escape(label) + r"\s*\[([^\]]*)\]", out)
    assert m, f"{label!r} not found in the output"
    return np.array([float(v) for v in m.group(1).replace(",", " ").split()])


# ---- one checker per example ------------------------------------------------------------------

def check_seed(out: str) -> None:
    # the PyTorch tutorial's numbers, from the formulas 9*a**2 and -2*b at a=[2,4], b=[7,5]
    a, b = np.array([2., 4.]), np.array([7., 5.])
    np.testing.assert_allclose(numbers_after("a.grad =", out), 9 * a**2)
    np.testing.assert_allclose(numbers_after("b.grad =", out), -2 * b)
    assert "dE/da = 9*a**2" in out and "dE/db = -2*b" in out


def check_logistic_newton(out: str) -> None:
    r = result_fields(out)
    assert float(r["hvp_rel_err"]) < 1e-5          # H @ v vs central differences of the gradient
    assert float(r["grad_norm"]) < 1e-8            # Newton converged to the optimum
    assert 1 <= int(r["newton_steps"]) <= 10       # ... in a handful of steps
    assert float(r["accuracy"]) > 0.55
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert all(l2 <= l1 + 1e-12 for l1, l2 in zip(losses, losses[1:])), losses


def check_rosenbrock(out: str) -> None:
    r = result_fields(out)
    done, total = (int(v) for v in r["converged"].split("/"))
    assert done == total and float(r["max_err"]) < 1e-7
    assert float(r["hessian_err"]) < 1e-8          # vs sympy.hessian
    assert "d2f/dy2  = 200" in out


def check_springs(out: str) -> None:
    r = result_fields(out)
    assert float(r["fd_err"]) < 1e-5               # forces = -dE/dX by finite differences
    assert float(r["energy_drop"]) > 0             # the net settled to lower energy
    assert float(r["residual"]) < 1e-2             # ... near equilibrium
    assert float(r["export_diff"]) < 1e-9          # exported module = compiled kernel


def check_export_walkthrough(out: str) -> None:
    """Every artefact whose tools exist here ran and matched the interpreter: "skipped" is
    accepted only where the compiler or ``make`` it needs is missing."""
    r = result_fields(out)
    expected = {
        "numpy_diff": True,
        "c_diff": HAVE_C,
        "c_standalone_diff": HAVE_C and HAVE_MAKE,
        "cuda_diff": HAVE_CXX,
        "cuda_emulate_diff": HAVE_CXX and HAVE_MAKE,
    }
    for field, tool_present in expected.items():
        if tool_present:
            assert float(r[field]) < 1e-4, (field, r)    # vs the reference interpreter
        else:
            assert r.get(field, "skipped") == "skipped", (field, r)


def check_linear_regression(out: str) -> None:
    # the trained w, b against NumPy's least-squares solution (the oracle)
    m = re.search(r"max \|graphc - lstsq\| over w and b: ([0-9.eE+-]+)", out)
    assert m, "no comparison with lstsq printed"
    assert float(m.group(1)) < 1e-4
    losses = [float(v) for v in re.findall(r"step\s+\d+\s+loss ([0-9.eE+-]+)", out)]
    assert len(losses) >= 2 and losses[-1] < 0.1 * losses[0]


def check_mlp_train(out: str) -> None:
    rows = re.findall(r"epoch\s+\d+\s+loss ([0-9.]+)\s+held-out accuracy ([0-9.]+)", out)
    assert len(rows) >= 2, "no live loss output"
    losses = [float(l) for l, _ in rows]
    assert losses[-1] < 0.5 * losses[0]           # training reduced the loss
    m = re.search(r"held-out accuracy ([0-9.]+) on (\d+) points", out)
    assert m and float(m.group(1)) >= 0.95         # the README promises at least 95 %


def check_save_and_load(out: str) -> None:
    # the next-step loss after gc.load + load_params in a fresh process equals this one's
    m = re.search(r"RESULT same_loss=(\w+) params_file_matches=(\w+) loss_drop=([0-9.eE+-]+)",
                  out)
    assert m, "no RESULT line"
    assert m.group(1) == "True" and m.group(2) == "True"
    assert float(m.group(3)) > 0.1                 # Adam trained before saving


def check_dask_training(out: str) -> None:
    # loss and accuracy over all the rows (which the driver never held), before and after
    r = result_fields(out)
    assert float(r["loss_after"]) < 0.5 * float(r["loss_before"])
    assert float(r["accuracy"]) >= 0.7             # 3 classes: chance is about 1/3


def check_rnn_scan(out: str) -> None:
    r = result_fields(out)
    assert float(r["grad_rel_err"]) < 1e-5         # the scan's gradient vs central differences
    assert float(r["loss_after"]) < 0.5 * float(r["loss_before"])


def check_tiny_transformer(out: str) -> None:
    # the counting language's next token needs attention to the previous position
    losses = [float(v) for v in re.findall(r"step\s+\d+\s+loss ([0-9.]+)", out)]
    assert len(losses) >= 2 and losses[-1] < 0.2 * losses[0]
    assert float(result_fields(out)["accuracy"]) >= 0.95   # chance is 1/16


def check_gaussian_process(out: str) -> None:
    # the optimum found through gc.linalg's exact gradient and Hessian vs a NumPy-only
    # reference (textbook gradient, its own optimizer)
    r = result_fields(out)
    assert float(r["lml_rel_diff"]) < 1e-6          # the bar; in practice ~1e-14
    assert float(r["same_theta_lml_rel_diff"]) < 1e-10
    assert float(r["theta_max_diff"]) < 1e-6
    assert float(r["grad_max"]) < 1e-8              # a stationary point
    assert float(r["mean_max_diff"]) < 1e-8         # predictive mean as the reference's
    assert int(r["steps"]) < 30


CHECKERS = {
    "rnn_scan.py": check_rnn_scan,
    "seed.py": check_seed,
    "gaussian_process.py": check_gaussian_process,
    "logistic_newton.py": check_logistic_newton,
    "rosenbrock.py": check_rosenbrock,
    "springs.py": check_springs,
    "export_walkthrough.py": check_export_walkthrough,
    "linear_regression.py": check_linear_regression,
    "mlp_train.py": check_mlp_train,
    "save_and_load.py": check_save_and_load,
    "dask_training.py": check_dask_training,
    "tiny_transformer.py": check_tiny_transformer,
}

SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def test_every_example_has_a_checker():
    missing = [s for s in SCRIPTS if s not in CHECKERS]
    assert not missing, f"examples without a result check in tests/test_examples.py: {missing}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_and_prints_a_right_result(script, tmp_path):
    out = run_example(script, tmp_path)
    CHECKERS[script](out)
