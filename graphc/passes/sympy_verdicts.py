"""SymPy's verdicts on elementwise clusters, kept in graphc's compile cache.

The SymPy pass asks SymPy for a cheaper form of each small cluster of a graph; importing
SymPy and simplifying costs about half a second in a fresh process, so a graph compiled
before would pay it again for answers it already had. A verdict (the cheaper form as
plain data, or None: nothing cheaper) is stored as a cache entry keyed by the cluster's
formula and the graphc and SymPy versions, and read back before SymPy is imported: a
graph whose clusters were all seen compiles without importing SymPy at all.

The store is best effort: an unreadable, unwritable or corrupted entry is a miss, never
an error, and the result is the same either way (a verdict is a pure function of its key).

>>> import os, tempfile
>>> os.environ["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp()
>>> key = ("<f4", (("exp", (("v", 0),)),))
>>> load(key) is MISSING
True
>>> store(key, ("exp", ("v", 0)))
>>> load(key)
('exp', ('v', 0))
>>> del os.environ["GRAPHC_CACHE_DIR"]
"""
from __future__ import annotations

import json

MISSING = object()   # no verdict stored (None is a verdict: nothing cheaper)
SUFFIX = ".sympy-verdict"
_versions: tuple | None = None


def _key(cluster: tuple) -> str:
    """The entry's key: the cluster, SymPy's version (read without importing SymPy) and
    the text of the pass that judges (its cost model and recipes)."""
    global _versions
    from ..codegen import cache
    if _versions is None:
        import hashlib
        import importlib.util
        import pathlib
        # SymPy's release.py names its version (importlib.metadata scans every installed
        # distribution: 20 ms, most of a cached compile)
        spec = importlib.util.find_spec("sympy")
        release = (pathlib.Path(spec.origin).with_name("release.py")
                   if spec is not None and spec.origin else None)
        sympy_version = release.read_text() if release is not None and release.is_file() \
            else "?"
        judge = pathlib.Path(__file__).with_name("sympy_simplify.py").read_bytes()
        _versions = ("sympy-verdict-v1", sympy_version, hashlib.sha256(judge).hexdigest())
    return cache.make_key(_versions, repr(cluster))


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def load(cluster: tuple):
    """The stored verdict on ``cluster`` (a recipe or None), or ``MISSING``."""
    from ..codegen import cache
    try:
        path = cache.lookup(_key(cluster), SUFFIX)
        payload = cache.read_entry(path) if path is not None else None
        return MISSING if payload is None else _tuples(json.loads(payload))
    except Exception:   # noqa: BLE001  (a cache problem is a miss: SymPy answers again)
        return MISSING


def store(cluster: tuple, verdict) -> None:
    """Keep ``verdict`` (a recipe of plain tuples, strings and floats, or None)."""
    from ..codegen import cache
    try:
        cache.store(_key(cluster), SUFFIX, json.dumps(verdict).encode())
    except Exception:   # noqa: BLE001  (a read-only cache: the verdict is just not kept)
        pass
