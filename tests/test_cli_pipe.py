"""The command line as a new user meets it: `graphc show ... | head` ends quietly (no
traceback, no error line) and `graphc --version` prints the package's version."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import graphc

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "graphc", "show", "examples/rosenbrock.py"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()   # the reader goes away before graphc writes (as `| head -0`)
    _, err = proc.communicate(timeout=300)
    assert err == b"", err.decode()
    assert proc.returncode == 141  # 128 + SIGPIPE, as C tools report it


def test_the_same_command_succeeds_when_read():
    done = subprocess.run([sys.executable, "-m", "graphc", "show", "examples/rosenbrock.py"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("raw graph("), done.stderr


def test_version():
    done = subprocess.run([sys.executable, "-m", "graphc", "--version"], capture_output=True,
                          text=True, timeout=300)
    assert (done.returncode, done.stdout) == (0, f"graphc {graphc.__version__}\n")
