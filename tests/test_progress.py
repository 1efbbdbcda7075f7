"""Progress on stderr for slow work: only on a terminal, only after the delay, never with
GRAPHC_QUIET=1, and erased when the work ends."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest

import graphc as gc
from graphc import progress
from graphc.codegen import toolchain


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def fake_terminal(monkeypatch) -> FakeTerminal:
    """stderr as a terminal; set in the test's body, since pytest puts its own capture
    back on sys.stderr after fixtures run."""
    stream = FakeTerminal()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.delenv("GRAPHC_QUIET", raising=False)
    return stream


def test_slow_work_shows_its_phases_then_erases_the_line(monkeypatch):
    terminal = fake_terminal(monkeypatch)
    with progress.phase("compiling graph", delay_s=0.05):
        time.sleep(0.2)
        with progress.phase("building C library (gcc)"):
            pass
    text = terminal.getvalue()
    assert "\rgraphc: compiling graph...\x1b[K" in text
    assert "graphc: building C library (gcc)..." in text
    assert text.endswith("\r\x1b[K")


def test_quick_work_prints_nothing(monkeypatch):
    terminal = fake_terminal(monkeypatch)
    with progress.phase("compiling graph", delay_s=5):
        pass
    assert terminal.getvalue() == ""


@pytest.mark.parametrize("quiet", [True, False])
def test_nothing_when_quiet_or_not_a_terminal(monkeypatch, quiet):
    stream = FakeTerminal() if quiet else io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    if quiet:
        monkeypatch.setenv("GRAPHC_QUIET", "1")
    with progress.phase("compiling graph", delay_s=0):
        time.sleep(0.1)
    assert stream.getvalue() == ""


@pytest.mark.skipif(not toolchain.have_c_compiler(), reason="needs a C compiler")
def test_a_slow_compile_reports_the_native_build(monkeypatch, tmp_path):
    terminal = fake_terminal(monkeypatch)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    x = gc.placeholder("x_progress", (3,), "float64")
    f = gc.compile(gc.exp(x) * 7.25, backend="c")
    np.testing.assert_allclose(f(np.zeros(3)), [7.25] * 3)
    assert "graphc: building C library" in terminal.getvalue()
