"""Size and age limits of the compile cache: what ``graphc cache info|prune`` report and
remove, and the sweep ``cache.store`` runs after each write.

What a cache directory holds (see ``cache``): entries (``<key><suffix>`` files),
precompiled headers (``pch-*`` folders), sources kept for failed compiles
(``failed/<key>/``), lock files (``locks/``) and leftovers of writers that crashed
(``.tmp-*``). Entries and precompiled headers are evicted least recently used first
(an entry's access time is set on every use) when the cache is over its
cap; failed-compile folders, locks and leftovers are deleted once older than their
age limit. Nothing here imports the rest of graphc: callers pass the directory and
the paths that must stay (those this process is using).

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / ("a" * 64 + ".so")).write_bytes(b"x" * 100)
>>> summarize(root).entries, summarize(root).total_bytes
(1, 100)
>>> [item.path.name for item in prune(root, max_bytes=50)] == ["a" * 64 + ".so"]
True
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_MAX_BYTES = 1 << 30
FAILED_MAX_AGE_S = 7 * 86400   # kept sources stay long enough to read the error they name
LEFTOVER_MAX_AGE_S = 86400     # a writer never takes a day: older temp files are orphans
LOCK_MAX_AGE_S = 7 * 86400

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in ``text``: a number with an optional K, M, G or T (powers of 1024; "iB"
    or "B" may follow).

    >>> parse_size("1G"), parse_size("500MiB"), parse_size("4096")
    (1073741824, 524288000, 4096)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {text!r} (expected e.g. 500M, 2G or a byte count)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def max_bytes() -> int:
    """The cap from ``GRAPHC_CACHE_MAX_BYTES`` (default 1 GiB; 0 means no cap)."""
    text = os.environ.get("GRAPHC_CACHE_MAX_BYTES")
    return DEFAULT_MAX_BYTES if text is None or not text.strip() else parse_size(text)


@dataclass(frozen=True)
class Item:
    """One removable thing in the cache: kind is entry, pch, failed, lock or leftover."""
    path: pathlib.Path
    kind: str
    size: int
    last_use: float


@dataclass(frozen=True)
class Summary:
    """What ``graphc cache info`` prints."""
    root: pathlib.Path
    entries: int
    total_bytes: int
    largest: Item | None
    oldest: Item | None
    failed: int


def tree_size(path: pathlib.Path) -> int:
    if not path.is_dir() or path.is_symlink():
        with contextlib.suppress(OSError):
            return path.lstat().st_size
        return 0
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _mtime(path: pathlib.Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def last_use(path: pathlib.Path) -> float:
    """When an entry was last used: ``cache.lookup`` sets its access time (its modification
    time stays the build time); a noatime mount leaves the later of the two."""
    try:
        st = path.lstat()
    except OSError:
        return 0.0
    return max(st.st_atime, st.st_mtime)


def _children(path: pathlib.Path) -> list[pathlib.Path]:
    try:
        return list(path.iterdir())
    except OSError:
        return []


def scan(root: pathlib.Path) -> list[Item]:
    """Every item in the cache directory ``root`` (missing or unreadable: none)."""
    items = []
    for p in _children(root):
        name = p.name
        if name.startswith(".tmp"):
            items.append(Item(p, "leftover", tree_size(p), _mtime(p)))
        elif name == "failed" and p.is_dir():
            items += [Item(q, "failed", tree_size(q), _mtime(q)) for q in _children(p)]
        elif name == "locks" and p.is_dir():
            items += [Item(q, "lock", tree_size(q), _mtime(q)) for q in _children(p)]
        elif name.startswith("pch-") and p.is_dir():
            last = last_use(p / "ok") or _mtime(p)  # build.emulation_pch_dir touches "ok"
            items.append(Item(p, "pch", tree_size(p), last))
        else:
            items.append(Item(p, "entry", tree_size(p), last_use(p)))
    return items


def summarize(root: pathlib.Path) -> Summary:
    items = scan(root)
    cached = [i for i in items if i.kind in ("entry", "pch")]
    return Summary(root=root, entries=len(cached), total_bytes=sum(i.size for i in items),
                   largest=max(cached, key=lambda i: i.size, default=None),
                   oldest=min(cached, key=lambda i: i.last_use, default=None),
                   failed=sum(i.kind == "failed" for i in items))


def remove(item: Item) -> bool:
    """Delete one item; False if it could not be (gone already, or not ours to delete)."""
    try:
        if item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path)
        else:
            item.path.unlink()
        return True
    except OSError:
        return False


def prune(root: pathlib.Path, *, max_bytes: int | None = None, older_than_s: float | None = None,
          protected: Iterable[str] = (), now: float | None = None) -> list[Item]:
    """Delete from ``root``: failed-compile folders and locks older than 7 days and
    leftovers older than a day; entries unused for ``older_than_s``; then the least
    recently used entries until the total is at most ``max_bytes`` (None: no limit).
    Paths in ``protected`` (as ``str(path.resolve())``) are never deleted. Returns what
    was deleted."""
    now = time.time() if now is None else now
    keep = set(protected)
    age_limit = {"failed": FAILED_MAX_AGE_S, "lock": LOCK_MAX_AGE_S,
                 "leftover": LEFTOVER_MAX_AGE_S}
    removed, remaining = [], []
    for item in scan(root):
        limit = age_limit.get(item.kind, older_than_s)
        if str(item.path.resolve()) in keep:
            remaining.append(item)
        elif limit is not None and now - item.last_use > limit and remove(item):
            removed.append(item)
        else:
            remaining.append(item)
    if max_bytes is not None and max_bytes > 0:
        total = sum(i.size for i in remaining)
        candidates = sorted((i for i in remaining if i.kind in ("entry", "pch")
                             and str(i.path.resolve()) not in keep), key=lambda i: i.last_use)
        for item in candidates:
            if total <= max_bytes:
                break
            if remove(item):
                removed.append(item)
                total -= item.size
    return removed
