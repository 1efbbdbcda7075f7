"""Nested containers of tensors (pytrees): tuples, lists, dicts, ``None`` and leaves.

Loops and branches take and return such structures; they are flattened to a list of
tensors for the graph and rebuilt for the user. Dict keys are sorted (as JAX does).

>>> leaves, tree = flatten({"h": 1, "c": (2, None)})
>>> leaves, unflatten(tree, ["a", "b"])
([2, 1], {'c': ('a', None), 'h': 'b'})
>>> paths(tree)
["['c'][0]", "['h']"]
"""
from __future__ import annotations


def flatten(tree):
    """``(leaves, treedef)``: leaves in order; ``None`` is an empty subtree."""
    leaves: list = []

    def walk(t):
        if t is None:
            return ("none",)
        if isinstance(t, (tuple, list)):
            return ("tuple" if isinstance(t, tuple) else "list", [walk(c) for c in t])
        if isinstance(t, dict):
            keys = sorted(t)
            return ("dict", keys, [walk(t[k]) for k in keys])
        leaves.append(t)
        return ("leaf",)

    return leaves, walk(tree)


def unflatten(treedef, leaves):
    it = iter(leaves)

    def build(d):
        if d[0] == "none":
            return None
        if d[0] == "leaf":
            return next(it)
        if d[0] == "dict":
            return {k: build(c) for k, c in zip(d[1], d[2])}
        items = [build(c) for c in d[1]]
        return tuple(items) if d[0] == "tuple" else items

    return build(treedef)


def paths(treedef, prefix: str = "") -> list[str]:
    """Each leaf's path, as an index expression (``[0]['h']``), for error messages."""
    if treedef[0] == "leaf":
        return [prefix]
    if treedef[0] == "none":
        return []
    if treedef[0] == "dict":
        return [p for k, c in zip(treedef[1], treedef[2]) for p in paths(c, f"{prefix}[{k!r}]")]
    return [p for k, c in enumerate(treedef[1]) for p in paths(c, f"{prefix}[{k}]")]


def describe(treedef) -> str:
    """The structure in words (``(leaf, [leaf, leaf])``)."""
    if treedef[0] in ("leaf", "none"):
        return "tensor" if treedef[0] == "leaf" else "None"
    if treedef[0] == "dict":
        items = (f"{k!r}: {describe(c)}" for k, c in zip(treedef[1], treedef[2]))
        return "{" + ", ".join(items) + "}"
    inner = ", ".join(describe(c) for c in treedef[1])
    return f"({inner}{',' if len(treedef[1]) == 1 else ''})" if treedef[0] == "tuple" \
        else f"[{inner}]"
