"""``einsum`` and ``tensordot`` lowered to transpose, reshape, matmul, sum and broadcast.

Operands are contracted pairwise, left to right. For each pair the indices fall into
batch (in both, kept), contracted (in both, summed), and free (in one only, kept);
indices in one operand only that nothing later needs are summed first. The pair is
transposed to ``(batch, free, contracted)`` / ``(batch, contracted, free)``, each group
flattened to one axis, and multiplied with one ``matmul`` (a GEMM), so the result fuses
and differentiates like any graph. Free indices holding several run-time (``None``)
sizes stay leading axes of a batched matmul; a contracted group like that cannot be
flattened, and that pair falls back to a broadcast multiply and a sum.

A repeated index within one operand (``"ii->i"``, a diagonal) is a multiply by an
identity mask and a sum; ``...`` broadcasts as in NumPy.

>>> import graphc as gc
>>> a = gc.placeholder("a", (None, 3, 4))
>>> b = gc.placeholder("b", (4, 5))
>>> gc.einsum("nij,jk->nik", a, b).shape, gc.tensordot(a, b, axes=1).shape
((None, 3, 5), (None, 3, 5))
"""
from __future__ import annotations

import math
import numbers
import string
from typing import Any

import numpy as np

from ..errors import ShapeError, UsageError
from ..ir import Tensor, format_shape, user_location
from .data import constant, lift
from .structure import matmul, reshape, sum, transpose


def _group_size(dims: list):
    """One axis standing for ``dims`` (1 for none), or None when it cannot be formed."""
    if len(dims) == 1:
        return dims[0]
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)
    return None


def _sizes(t: Tensor, letters: str) -> dict:
    return dict(zip(letters, t.dims))


def _sum_out(t: Tensor, letters: str, keep: set) -> tuple[Tensor, str]:
    """Sum the axes whose index nothing later needs."""
    axes = tuple(k for k, c in enumerate(letters) if c not in keep)
    if not axes:
        return t, letters
    return sum(t, axes), "".join(c for c in letters if c in keep)


def _arrange(t: Tensor, letters: str, order: str) -> Tensor:
    return transpose(t, tuple(letters.index(c) for c in order))


def _contract_pair(a: Tensor, la: str, b: Tensor, lb: str, keep: set) -> tuple[Tensor, str]:
    a, la = _sum_out(a, la, keep | set(lb))
    b, lb = _sum_out(b, lb, keep | set(la))
    size = {**_sizes(a, la), **_sizes(b, lb)}
    free_a = "".join(c for c in la if c not in lb)
    free_b = "".join(c for c in lb if c not in la)
    if _group_size([size[c] for c in free_b]) is None:  # only a's free group may stay wide
        (a, la, free_a), (b, lb, free_b) = (b, lb, free_b), (a, la, free_a)
    batch = "".join(c for c in la if c in lb and c in keep)
    contracted = "".join(c for c in la if c in lb and c not in keep)
    k, fb = (_group_size([size[c] for c in g]) for g in (contracted, free_b))
    fa = _group_size([size[c] for c in free_a])
    if k is None or fb is None:  # several run-time sizes in one group: no GEMM shape
        out = "".join(dict.fromkeys(batch + free_a + free_b + contracted))
        prod = _broadcast_as(a, la, out, size) * _broadcast_as(b, lb, out, size)
        return _sum_out(prod, out, keep)
    # a's free indices as one axis, or (when they hold several run-time sizes) as leading
    # axes that the matmul broadcasts b over
    rows = [fa] if fa is not None else [size[c] for c in free_a]
    lead = [size[c] for c in batch]
    a2 = reshape(_arrange(a, la, batch + free_a + contracted), lead + rows + [k])
    b2 = reshape(_arrange(b, lb, batch + contracted + free_b),
                 lead + [1] * (len(rows) - 1) + [k, fb])
    product = matmul(a2, b2)
    return reshape(product, lead + [size[c] for c in free_a + free_b]), batch + free_a + free_b


def _broadcast_as(t: Tensor, letters: str, out: str, size: dict) -> Tensor:
    """``t`` with its axes in ``out``'s order and size-1 axes for the indices it lacks."""
    order = "".join(c for c in out if c in letters)
    return reshape(_arrange(t, letters, order), [size[c] if c in letters else 1 for c in out])


def _take_diagonals(t: Tensor, letters: str) -> tuple[Tensor, str]:
    """Resolve an index repeated within one operand: multiply by an identity mask over the
    two axes and sum the second away (``x[i, i]``)."""
    while len(set(letters)) < len(letters):
        c = next(c for c in letters if letters.count(c) > 1)
        p = letters.index(c)
        q = letters.index(c, p + 1)
        n = t.dims[p]
        if isinstance(n, str) or t.dims[q] != n:
            raise ShapeError(f"einsum: repeated index {c!r} needs equal, known sizes, got "
                             f"{format_shape(t.dims)} ({user_location()})")
        mask_dims = [1] * t.ndim
        mask_dims[p] = mask_dims[q] = n
        t = sum(t * constant(np.eye(n, dtype=t.dtype).reshape(mask_dims)), q)
        letters = letters[:q] + letters[q + 1:]
    return t, letters


def _expand_ellipses(subscripts: str, operands: list[Tensor]) -> tuple[list[str], str | None]:
    """Per-operand index strings and the output's (None when implicit), ``...`` replaced by
    capital letters aligned from the right (NumPy broadcasting)."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    specs = inputs.split(",")
    if len(specs) != len(operands):
        raise UsageError(f"einsum: {len(specs)} operand subscripts for {len(operands)} "
                         f"operands ({user_location()})")
    for s in specs + [output]:
        if any(c not in string.ascii_lowercase for c in s.replace("...", "")):
            raise UsageError(f"einsum: subscripts use lowercase letters and '...', got "
                             f"{subscripts!r} ({user_location()})")
    widths = [t.ndim - len(s.replace("...", "")) if "..." in s else 0
              for s, t in zip(specs, operands)]
    spare = string.ascii_uppercase[:max(widths + [0])]
    specs = [s.replace("...", spare[len(spare) - w:]) for s, w in zip(specs, widths)]
    if not arrow:
        return specs, None
    return specs, output.replace("...", spare)


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation with NumPy's subscripts (``np.einsum``): explicit (``"ij,jk->ik"``)
    or implicit output (the indices seen once, sorted), repeated indices within an operand
    (diagonals), and ``...`` broadcasting. Lowered to matmuls, so one GEMM per pair.

    >>> import graphc as gc
    >>> a = gc.constant([[1., 2.], [3., 4.]], "float64")
    >>> gc.evaluate(gc.einsum("ij,jk", a, a)), gc.evaluate(gc.einsum("ii", a))
    (array([[ 7., 10.],
           [15., 22.]]), array(5.))
    >>> gc.evaluate(gc.einsum("...i,...i->...", a, a))
    array([ 5., 25.])
    """
    tensors = lift(list(operands))
    if not tensors:
        raise UsageError(f"einsum: needs at least one operand ({user_location()})")
    specs, output = _expand_ellipses(subscripts, tensors)
    for s, t in zip(specs, tensors):
        if len(s) != t.ndim:
            raise ShapeError(f"einsum: subscripts {s!r} do not fit an operand of shape "
                             f"{format_shape(t.dims)} ({user_location()})")
    if output is None:
        seen = "".join(specs)
        output = "".join(sorted(c for c in set(seen) if c.isupper())) + \
            "".join(sorted(c for c in set(seen) if c.islower() and seen.count(c) == 1))
    size: dict = {}
    pairs = []
    for s, t in zip(specs, tensors):
        t, s = _take_diagonals(t, s)
        pairs.append((t, s))
        for c, d in zip(s, t.dims):
            if c in size and d != size[c] and 1 not in (d, size[c]) and not (
                    isinstance(d, str) and isinstance(size[c], str)):
                raise ShapeError(f"einsum: index {c!r} has sizes {size[c]} and {d} "
                                 f"({user_location()})")
            if c not in size or size[c] == 1:
                size[c] = d
    if any(c not in size for c in output) or len(set(output)) < len(output):
        raise UsageError(f"einsum: output subscripts {output!r} must be distinct indices of "
                         f"the operands ({user_location()})")
    pairs = [_drop_broadcast_ones(t, s, size) for t, s in pairs]
    t, letters = pairs[0]
    for k, (u, lu) in enumerate(pairs[1:], start=1):
        later = set(output).union(*(set(s) for _, s in pairs[k + 1:]))
        t, letters = _contract_pair(t, letters, u, lu, later)
    t, letters = _sum_out(t, letters, set(output))
    return _arrange(t, letters, output)


def _drop_broadcast_ones(t: Tensor, letters: str, size: dict) -> tuple[Tensor, str]:
    """An axis of size 1 where the index is larger elsewhere broadcasts: drop it, so the
    index belongs to the other operands only (the same sum, without a size mismatch)."""
    drop = [k for k, c in enumerate(letters) if t.dims[k] == 1 and size[c] != 1]
    if not drop:
        return t, letters
    return (reshape(t, [d for k, d in enumerate(t.dims) if k not in drop]),
            "".join(c for k, c in enumerate(letters) if k not in drop))


def tensordot(a, b, axes=2) -> Tensor:
    """Sum products over ``axes`` (``np.tensordot``): an int N (the last N axes of ``a``
    with the first N of ``b``) or a pair of axis lists.

    >>> import graphc as gc
    >>> a, b = gc.placeholder("a", (3, 4, 5)), gc.placeholder("b", (5, 4, 2))
    >>> gc.tensordot(a, b, axes=([1, 2], [1, 0])).shape
    (3, 2)
    """
    a, b = lift([a, b])
    if isinstance(axes, numbers.Integral):
        axes_a, axes_b = list(range(a.ndim - int(axes), a.ndim)), list(range(int(axes)))
    else:
        axes_a, axes_b = axes
        axes_a = [int(axes_a)] if isinstance(axes_a, numbers.Integral) else list(axes_a)
        axes_b = [int(axes_b)] if isinstance(axes_b, numbers.Integral) else list(axes_b)
    if len(axes_a) != len(axes_b) or not all(
            -t.ndim <= k < t.ndim for t, ks in ((a, axes_a), (b, axes_b)) for k in ks):
        raise ShapeError(f"tensordot: axes {axes!r} do not fit shapes {format_shape(a.dims)} "
                         f"and {format_shape(b.dims)} ({user_location()})")
    letters = iter(string.ascii_lowercase)
    la = [next(letters) for _ in range(a.ndim)]
    lb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(axes_a, axes_b):
        lb[j % b.ndim] = la[i % a.ndim]
    out = [c for c in la if c not in lb] + [c for c in lb if c not in la]
    return einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)
