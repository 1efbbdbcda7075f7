"""Checking graphc's errors: the documented type, raised by graphc's own code, with a
message that names what the user needs (the op, the shapes, the placeholder, their line).

    from helpers_errors import check_raise, fails

    fails(gc.ShapeError, lambda: a + b, "add", "(2, 3)", "(4,)")   # + this file:this line
    check_raise(lambda: f(bad), gc.FeedError, "'x'", "(None, 3)")
"""
from __future__ import annotations

import os
import sys

import pytest

import graphc as gc

GRAPHC_DIR = os.path.dirname(os.path.abspath(gc.__file__))


def check_raise(fn, exc_type, *must_contain: str) -> gc.GraphcError:
    """Run ``fn``: it must raise ``exc_type`` (a GraphcError) from a file of the graphc
    package (never from inside NumPy, a compiler or generated code) whose message
    contains every string of ``must_contain``. Returns the error."""
    with pytest.raises(gc.GraphcError) as info:
        fn()
    err = info.value
    assert isinstance(err, exc_type), \
        f"expected {exc_type.__name__}, got {type(err).__name__}: {err}"
    last = os.path.abspath(str(info.traceback[-1].path))
    assert last.startswith(GRAPHC_DIR + os.sep) and last.endswith(".py"), \
        f"raised from {last}, not from graphc's own code: {err}"
    text = str(err)
    for s in must_contain:
        assert s in text, f"{s!r} missing from the message: {text}"
    return err


def fails(exc_type, fn, *must_contain: str) -> str:
    """A graph-building mistake written on the caller's line: as ``check_raise``, and the
    message names the caller's file and that line (where the user built the node)."""
    caller = sys._getframe(1)
    here = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
    return str(check_raise(fn, exc_type, *must_contain, here))
