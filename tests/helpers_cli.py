"""Running the ``graphc`` command line in tests: in this process or in a fresh one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from graphc.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    """``graphc ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv, cwd=None):
    """``python -m graphc ARGV`` in a fresh process, with this checkout on the path."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "graphc", *argv], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)
