"""Progress on stderr for slow work: only on a terminal, only after the delay, never with
GRAPHC_QUIET=1, and erased when the work ends."""
from __future__ import annotations

import io
import re
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
    assert re.search(r"\rgraphc: compiling graph\.\.\. \d+ s\x1b\[K", text)
    assert "graphc: building C library (gcc)..." in text
    assert text.endswith("\r\x1b[K")


def test_the_seconds_move_while_one_phase_runs(monkeypatch):
    terminal = fake_terminal(monkeypatch)
    monkeypatch.setattr(progress, "TICK_S", 0.05)
    with progress.phase("building C library (gcc)", delay_s=0):
        time.sleep(0.4)
    lines = [s for s in terminal.getvalue().split("\r") if s.startswith("graphc:")]
    assert len(lines) >= 3  # redrawn while the one slow step runs
    assert terminal.getvalue().endswith("\r\x1b[K")


def test_each_counts_the_items_of_a_loop(monkeypatch):
    terminal = fake_terminal(monkeypatch)
    with progress.phase("compiling graph", delay_s=0):
        time.sleep(0.05)
        got = [k for k in progress.each(["a", "b", "c"], "lowering kernel")]
        names = list(progress.each(["simplify", "dce"], "optimizing: {item}, pass"))
    assert got == ["a", "b", "c"] and names == ["simplify", "dce"]
    text = terminal.getvalue()
    for i in (1, 2, 3):
        assert f"graphc: lowering kernel {i}/3..." in text
    assert "graphc: optimizing: simplify, pass 1/2..." in text
    assert "graphc: optimizing: dce, pass 2/2..." in text
    # the outer phase comes back after the loop
    assert text.rsplit("\r", 2)[-2].startswith("graphc: compiling graph...")


def test_each_outside_a_phase_is_a_plain_loop(monkeypatch):
    terminal = fake_terminal(monkeypatch)
    assert list(progress.each(range(3), "lowering kernel")) == [0, 1, 2]
    assert terminal.getvalue() == ""


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
    text = terminal.getvalue()
    assert "graphc: building C library from " in text
    # every pass, every kernel: counted while they run
    assert re.search(r"graphc: optimizing: \w+, pass 1/\d+\.\.\.", text)
    assert "graphc: lowering kernel 1/1..." in text and "graphc: writing kernel 1/1..." in text
    assert text.endswith("\r\x1b[K")
