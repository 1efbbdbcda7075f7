"""The contract between ``gc.compile`` and the backends.

``gc.compile`` optimizes the graph and hands a backend a ``Program``; the backend
returns an ``Executable``. The ``Function`` the user calls owns everything else:
feed validation, parameter state, atomic updates, the compile cache, stats.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from ..errors import GraphcError
from ..ir import Tensor, topo_order


@dataclass(frozen=True)
class Program:
    """An optimized graph ready for a backend.

    ``outputs`` and ``updates`` are the optimized nodes; ``updates[k]`` is the new
    value of ``update_params[k]``. ``inputs`` are the placeholders in positional
    order; ``params`` are all parameters the graph reads (values passed each call
    in this order).
    """

    name: str
    inputs: tuple[Tensor, ...]
    params: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    update_params: tuple[Tensor, ...] = ()
    updates: tuple[Tensor, ...] = ()
    options: dict = field(default_factory=dict)
    # topo_order(roots), when the compiler has it already (a backend need not walk again)
    order: Sequence[Tensor] | None = field(default=None, compare=False, repr=False)

    @property
    def roots(self) -> list[Tensor]:
        return list(self.outputs) + list(self.updates)

    def topo_order(self) -> list[Tensor]:
        """Every node the roots depend on, inputs first (``graphc.ir.topo_order``)."""
        return list(self.order) if self.order is not None else topo_order(self.roots)


class Executable(Protocol):
    """What a backend builds from a ``Program``."""

    source: dict[str, str]      # file name -> generated text
    stats: dict                 # backend facts (kernels, buffers, peak bytes...)

    def __call__(self, inputs: list[np.ndarray], params: list[np.ndarray],
                 bindings: dict[str, int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Run once: returns (outputs, new values of program.update_params)."""

    def export(self, directory: str, name: str) -> list[str]:
        """Write a standalone artefact; return the paths written."""


# backend name -> "module:function" building an Executable from (Program, options)
BACKENDS: dict[str, str] = {
    "numpy": "graphc.codegen.numpy_backend:build",
    "c": "graphc.codegen.c_backend:build",
    "cuda": "graphc.codegen.cuda_backend:build",
}


# options each backend takes (gc.compile rejects others), beside those every backend takes
BACKEND_OPTIONS: dict[str, tuple[str, ...]] = {
    "numpy": (),
    "c": ("blas",),
    "cuda": ("device",),
}
COMMON_OPTIONS = ("name", "check_numerics", "disable", "dump")


def check_options(backend: str, options: dict) -> None:
    """Reject an unknown backend or an option the chosen backend does not take."""
    if backend not in BACKENDS:
        raise GraphcError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    known = COMMON_OPTIONS + BACKEND_OPTIONS[backend]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise GraphcError(f"compile: unknown option(s) {unknown} for backend={backend!r}; "
                          f"it takes {sorted(known)}")


def backend_builder(name: str) -> Callable[[Program], Executable]:
    if name not in BACKENDS:
        raise GraphcError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}")
    module, func = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), func)
