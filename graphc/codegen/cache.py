"""The on-disk compile cache shared by the C and CUDA backends (and an in-process one).

Layout: one directory (``GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else
``~/.cache/graphc``), created owner-only (0700). An entry is one file named
``<key><suffix>`` whose bytes are the payload (e.g. a shared library) followed by a
fixed-size trailer holding the payload's sha256. Entries are written to a temp file
in the same directory and renamed over the final name (``os.replace``, atomic), so a
reader sees a whole old entry, a whole new one, or none. A reader checks the trailer:
a truncated or corrupted entry is deleted and rebuilt, never loaded. ELF and Mach-O
loaders ignore bytes after the image, so a verified entry is dlopen-ed in place.

Concurrent builders of the same key serialise on an advisory lock file (POSIX), so 8
processes compiling one graph at once compile it once; without locking every one of
them would still succeed and leave one correct entry, since the rename is atomic.

Example::

    >>> import tempfile, os
    >>> os.environ["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp()
    >>> k = make_key("c", "int f(void){return 1;}", ("-O3",))
    >>> p = get_or_build(k, ".bin", lambda: b"payload")
    >>> read_entry(p)
    b'payload'
    >>> del os.environ["GRAPHC_CACHE_DIR"]
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import pathlib
import shutil
import tempfile
import threading
from typing import Callable, Iterator

from ..errors import CompileError

_MAGIC = b"\n#GRAPHC-CACHE-ENTRY v1 sha256="
_TRAILER_LEN = len(_MAGIC) + 64 + 1

_loaded: dict[str, ctypes.CDLL] = {}       # key or path -> loaded library, this process
_loaded_lock = threading.Lock()


def cache_dir() -> pathlib.Path:
    """The cache directory, created with owner-only permissions if missing.

    Refuses (CompileError) a directory owned by another user: entries are code we
    will execute, so nobody else may be able to place them.
    """
    env = os.environ.get("GRAPHC_CACHE_DIR")
    if env:
        d = pathlib.Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = pathlib.Path(base) / "graphc"
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = d.stat()
    except OSError as e:
        raise CompileError(f"cannot create the graphc compile cache {d}: {e} "
                           f"(set GRAPHC_CACHE_DIR to a writable directory)") from e
    if hasattr(os, "getuid"):
        if st.st_uid != os.getuid():
            raise CompileError(f"compile cache {d} belongs to another user; set GRAPHC_CACHE_DIR "
                               f"to a directory of your own")
        if st.st_mode & 0o077:
            os.chmod(d, 0o700)  # ours, but readable/writable by others: tighten
    return d


def make_key(*parts: object) -> str:
    """sha256 over the parts (str, bytes, or tuples of str), unambiguously delimited."""
    h = hashlib.sha256()
    for part in parts:
        items = part if isinstance(part, (tuple, list)) else (part,)
        h.update(b"(")
        for item in items:
            b = item if isinstance(item, bytes) else str(item).encode()
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        h.update(b")")
    return h.hexdigest()


def entry_path(key: str, suffix: str) -> pathlib.Path:
    return cache_dir() / f"{key}{suffix}"


def _trailer(payload: bytes) -> bytes:
    return _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"


def read_entry(path: pathlib.Path) -> bytes | None:
    """The payload of a verified entry, or None if missing, truncated or corrupted."""
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError:
        return None
    if len(data) < _TRAILER_LEN:
        return None
    payload, trailer = data[:-_TRAILER_LEN], data[-_TRAILER_LEN:]
    return payload if trailer == _trailer(payload) else None


def lookup(key: str, suffix: str) -> pathlib.Path | None:
    """Path of a verified entry; a bad entry is removed (so it gets rebuilt)."""
    path = entry_path(key, suffix)
    if not path.exists():
        return None
    if read_entry(path) is not None:
        return path
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def store(key: str, suffix: str, payload: bytes) -> pathlib.Path:
    """Write an entry atomically (temp file in the same directory, then rename)."""
    d = cache_dir()
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{key[:16]}-", suffix=suffix, dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.write(_trailer(payload))
            f.flush()
            os.fsync(f.fileno())
        final = d / f"{key}{suffix}"
        os.replace(tmp, final)
        return final
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def build_lock(key: str) -> Iterator[None]:
    """Exclusive advisory lock per key across processes (no-op where unsupported)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    lock_dir = cache_dir() / "locks"
    lock_dir.mkdir(mode=0o700, exist_ok=True)
    with open(lock_dir / f"{key}.lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def get_or_build(key: str, suffix: str, build: Callable[[], bytes]) -> pathlib.Path:
    """Path of the verified entry for ``key``, calling ``build()`` for its bytes if needed."""
    path = lookup(key, suffix)
    if path is not None:
        return path
    with build_lock(key):
        path = lookup(key, suffix)  # another process may have built it meanwhile
        if path is not None:
            return path
        return store(key, suffix, build())


def load_library(path: str | os.PathLike) -> ctypes.CDLL:
    """dlopen ``path`` once per process (later calls return the same CDLL)."""
    p = str(pathlib.Path(path).resolve())
    with _loaded_lock:
        lib = _loaded.get(p)
        if lib is None:
            try:
                lib = ctypes.CDLL(p)
            except OSError as e:
                raise CompileError(f"cannot load compiled library {p}: {e}") from e
            _loaded[p] = lib
        return lib


def clear() -> int:
    """Delete every cache entry, precompiled header and kept failed source.

    Libraries already loaded in this process stay loaded. Returns how many top-level
    items were removed.
    """
    n = 0
    for p in cache_dir().iterdir():
        with contextlib.suppress(OSError):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
            n += 1
    return n
