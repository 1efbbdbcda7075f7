"""graphc's exception hierarchy: every error graphc raises on purpose is a GraphcError."""
from __future__ import annotations


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError):
    """Shapes that do not fit an op (build time) or a placeholder (call time)."""


class DTypeError(GraphcError, TypeError):
    """A dtype an op cannot take."""


class FeedError(GraphcError, ValueError):
    """A bad, missing or unknown feed at call time."""


class GradError(GraphcError, ValueError):
    """A gradient that cannot be taken as asked (no seed, bad seed, integer wrt)."""


class CompileError(GraphcError, RuntimeError):
    """A backend could not build or load generated code."""


class BackendUnavailable(CompileError):
    """A backend's tool (a C compiler, nvcc, a GPU) is missing here."""


class NumericsError(GraphcError, FloatingPointError):
    """A NaN or Inf produced under check_numerics=True."""

    node: object = None          # the first node whose value is not finite (None: unknown)
    op: str | None = None        # its op
    kind: str | None = None      # "NaN", "Inf" ...
    location: str | None = None  # the user's file:line that built it


class UsageError(GraphcError, TypeError):
    """A tensor used where Python needs a concrete value (``if t:``, ``len``, iteration)."""


class EvalError(GraphcError, ValueError):
    """An op failed on the values it got at run time (max over an empty axis, ...)."""


class FileFormatError(GraphcError, ValueError):
    """A graph or parameter file that is corrupt, tampered with, of an unknown version, or
    that does not fit what it is loaded into (a missing name, a shape or dtype mismatch)."""


class LinAlgError(EvalError):
    """A linear-algebra op failed on its values at run time: a matrix that is not positive
    definite (cholesky), a singular one (solve, inv); the message names the op and input."""
