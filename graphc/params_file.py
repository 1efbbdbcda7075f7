"""Parameter values saved and loaded by name (``gc.save_params`` / ``gc.load_params``,
``f.save_params`` / ``f.load_params``): one ``.npz`` file, one ``<name>.npy`` per parameter.

Loading is all-or-nothing: a missing or extra name, a shape or a dtype that does not
match is a ``FileFormatError`` naming every problem, and no parameter changes.

>>> import os, tempfile
>>> import graphc as gc
>>> w = gc.parameter("w", [1.0, 2.0])
>>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
>>> gc.save_params(path, [w])
>>> w.value = [0.0, 0.0]
>>> gc.load_params(path, [w])
>>> w.value
array([1., 2.], dtype=float32)
"""
from __future__ import annotations

import re

from .errors import FileFormatError, UsageError
from .ir import Tensor, format_shape, user_location
from .npy_archive import ArchiveReader, write_archive

_MEMBER = re.compile(r"[^/\\\x00]{1,1000}\.npy")  # one flat name per parameter


def named_parameters(params) -> dict[str, Tensor]:
    """``params`` (parameters, a dict name -> parameter, or anything with ``.params`` and
    ``.update_params`` such as a Function) as a dict by name; names must be unique."""
    if hasattr(params, "params") and hasattr(params, "update_params"):
        params = list(params.params) + [p for p in params.update_params
                                        if all(p is not q for q in params.params)]
    if isinstance(params, dict):
        params = list(params.values())
    if isinstance(params, Tensor):
        params = [params]
    found: dict[str, Tensor] = {}
    for p in params:
        if not isinstance(p, Tensor) or p.op != "parameter":
            raise UsageError(f"expected parameters, got {p!r} ({user_location()})")
        assert p.name is not None  # parameters are always named
        if p.name in found and found[p.name] is not p:
            raise UsageError(f"two different parameters are named {p.name!r}: a file by name "
                             f"cannot tell them apart; rename one ({user_location()})")
        if not _MEMBER.fullmatch(p.name + ".npy"):
            raise UsageError(f"parameter name {p.name!r} cannot be a file entry (no '/', "
                             f"'\\\\' or NUL) ({user_location()})")
        found[p.name] = p
    return found


def save_params(path, params) -> None:
    """Write the current values of ``params`` (see ``named_parameters``) to ``path`` (.npz)."""
    found = named_parameters(params)
    write_archive(path, {f"{name}.npy": p.value for name, p in found.items()})


def load_params(path, params) -> None:
    """Set ``params`` from the file at ``path``: every name must be there with the same
    shape and dtype, and the file must hold no other name; otherwise nothing changes."""
    found = named_parameters(params)
    problems, values = [], {}
    with ArchiveReader(path, f"parameter file {str(path)!r}",
                       lambda member: _MEMBER.fullmatch(member) is not None) as reader:
        in_file = {name[:-4] for name in reader.names}
        missing = sorted(set(found) - in_file)
        extra = sorted(in_file - set(found))
        if missing:
            problems.append(f"missing parameter(s) {missing}")
        if extra:
            problems.append(f"the file has parameter(s) not being loaded: {extra}")
        for name in sorted(set(found) & in_file):
            p, value = found[name], reader.array(f"{name}.npy")
            if value.shape != p.value.shape or value.dtype != p.dtype:
                problems.append(f"{name!r} is {value.dtype}{format_shape(value.shape)} in "
                                f"the file, the parameter is "
                                f"{p.dtype}{format_shape(p.value.shape)}")
            values[name] = value
    if problems:
        raise FileFormatError(f"load_params {str(path)!r}: " + "; ".join(problems)
                              + " (no parameter was changed)")
    for name, value in values.items():
        state = found[name].state
        assert state is not None  # a parameter always has its state
        state.value = value
