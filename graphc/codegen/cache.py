"""The on-disk compile cache shared by the C and CUDA backends (and an in-process one).

Layout: one directory (``GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else
``~/.cache/graphc``). A directory graphc creates gets owner-only permissions (0700);
an existing directory keeps the permissions its owner gave it, but one that other
users may write to is refused (entries are code graphc executes). An entry is one file
named ``<key><suffix>`` whose bytes are the payload (e.g. a shared library) followed by
a fixed-size trailer holding the payload's sha256. Entries are written to a temp file
in the same directory and renamed over the final name (``os.replace``, atomic), so a
reader sees a whole old entry, a whole new one, or none. A reader checks the trailer:
a truncated or corrupted entry is deleted and rebuilt, never loaded (so is anything
else found at an entry's path, e.g. a directory). ELF and Mach-O loaders ignore bytes
after the image, so a verified entry is dlopen-ed in place.

Concurrent builders of the same key serialise on an advisory lock file (POSIX), so 8
processes compiling one graph at once compile it once. A lock dies with its process;
a builder that waits longer than ``GRAPHC_CACHE_LOCK_WAIT_S`` (default 300) for a hung
holder warns (naming the holder's pid) and builds anyway: the rename is atomic, so
parallel builders still leave one correct entry.

Size and age (see ``cache_maintenance`` and ``graphc cache info|clear|prune``):
  * the cache is capped at ``GRAPHC_CACHE_MAX_BYTES`` (default 1 GiB; suffixes K, M, G
    accepted; ``0`` = no cap). Every use of an entry sets its access time (its
    modification time stays the build time);
    after each write the least recently used entries are deleted until the cache fits,
    never an entry this process is writing or has loaded;
  * the sources kept for failed compiles (``failed/``, named in the error message) and
    leftovers of crashed writers are deleted after 7 days by the same sweep and by
    ``graphc cache prune``.

An unwritable cache directory (read-only file system, another owner's permissions) is
not an error: graphc warns once and uses a private temporary cache for the rest of the
process (deleted at exit), so compiles work but are not kept. If even that cannot be
written, a CompileError says so and names GRAPHC_CACHE_DIR.

Compiled libraries are dlopen-ed once per process while in use, and dlclose-d when the
last object using one (the Functions built on it) is gone: see ``load_library``.

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

import _ctypes
import atexit
import contextlib
import ctypes
import errno
import hashlib
import os
import pathlib
import shutil
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator

from ..errors import CompileError
from . import cache_maintenance

_MAGIC = b"\n#GRAPHC-CACHE-ENTRY v1 sha256="
_TRAILER_LEN = len(_MAGIC) + 64 + 1

# resolved path -> loaded library, while anything uses it (see load_library)
_loaded: weakref.WeakValueDictionary[str, ctypes.CDLL] = weakref.WeakValueDictionary()
_loaded_lock = threading.Lock()
_fallbacks: dict[pathlib.Path, pathlib.Path] = {}  # unwritable configured dir -> private one
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def configured_dir() -> pathlib.Path:
    """Where the cache should be, from the environment (it may not exist yet)."""
    env = os.environ.get("GRAPHC_CACHE_DIR")
    if env:
        return pathlib.Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "graphc"


def cache_dir() -> pathlib.Path:
    """The cache directory, created owner-only (0700) if missing.

    Refuses (CompileError) a directory owned by another user or writable by others:
    entries are code we will execute, so nobody else may be able to place them. An
    existing directory's permissions are never changed. An unwritable one is replaced,
    for this process, by a private temporary directory (with a one-time warning).
    """
    d = configured_dir()
    if d in _fallbacks:
        return _fallbacks[d]
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)  # only what it creates gets 0700
        st = d.stat()
    except OSError as e:
        raise CompileError(f"cannot create the graphc compile cache {d}: {e} "
                           f"(set GRAPHC_CACHE_DIR to a writable directory)") from e
    if hasattr(os, "getuid"):
        if st.st_uid != os.getuid():
            raise CompileError(f"compile cache {d} belongs to another user; set GRAPHC_CACHE_DIR "
                               f"to a directory of your own")
        if st.st_mode & 0o022:
            raise CompileError(f"compile cache {d} is writable by other users, who could place "
                               f"code graphc would run; run 'chmod go-w {d}' or set "
                               f"GRAPHC_CACHE_DIR to a directory of your own")
    if not os.access(d, os.W_OK | os.X_OK):
        return fall_back(d, "permission denied")
    return d


def fall_back(configured: pathlib.Path, reason: object) -> pathlib.Path:
    """Use a private temporary cache instead of the unwritable ``configured`` one for the
    rest of this process (deleted at exit); warns once per directory."""
    if configured not in _fallbacks:
        private = pathlib.Path(tempfile.mkdtemp(prefix="graphc-cache-"))
        atexit.register(shutil.rmtree, private, ignore_errors=True)
        _fallbacks[configured] = private
        warnings.warn(f"graphc: the compile cache {configured} is not writable ({reason}); "
                      f"compiling into a temporary cache {private} that is deleted at exit. "
                      f"Set GRAPHC_CACHE_DIR to a writable directory to keep compiled code "
                      f"between runs.", RuntimeWarning, stacklevel=3)
    return _fallbacks[configured]


def _unwritable(err: OSError) -> bool:
    return isinstance(err, PermissionError) or err.errno in _NOT_WRITABLE


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
    """Path of a verified entry, marked as just used; anything else at that path (a bad
    entry, a directory) is removed so that it gets rebuilt."""
    path = entry_path(key, suffix)
    if not os.path.lexists(path):
        return None
    if read_entry(path) is not None:
        with contextlib.suppress(OSError):  # least-recently-used eviction goes by atime
            os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))
        return path
    cache_maintenance.remove(cache_maintenance.Item(path, "entry", 0, 0.0))
    return None


def store(key: str, suffix: str, payload: bytes) -> pathlib.Path:
    """Write an entry atomically (temp file in the same directory, then rename), then
    evict least recently used entries if the cache is over its cap."""
    d = cache_dir()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{key[:16]}-", suffix=suffix, dir=d)
    except OSError as e:
        if not _unwritable(e) or d in _fallbacks.values():
            raise CompileError(f"cannot write to the graphc compile cache {d}: {e} "
                               f"(set GRAPHC_CACHE_DIR to a writable directory)") from e
        fall_back(d, e)
        return store(key, suffix, payload)  # again, in the private fallback directory
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.write(_trailer(payload))
            f.flush()
            os.fsync(f.fileno())
        final = d / f"{key}{suffix}"
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)  # not an entry: something else was left at its path
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    cache_maintenance.prune(d, max_bytes=cache_maintenance.max_bytes(),
                            protected={str(final.resolve()), *loaded_paths()})
    return final


def lock_wait_s() -> float:
    return float(os.environ.get("GRAPHC_CACHE_LOCK_WAIT_S", "300"))


@contextlib.contextmanager
def build_lock(key: str) -> Iterator[None]:
    """Exclusive advisory lock per key across processes (no-op where unsupported).

    Waits at most ``lock_wait_s()`` for another holder, then warns and goes on without
    the lock (a hung holder must not block compiles; atomic renames keep the cache whole).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    lock_path = cache_dir() / "locks" / f"{key}.lock"
    try:
        lock_path.parent.mkdir(mode=0o700, exist_ok=True)
        lock_path.touch(mode=0o600)
    except OSError:
        yield  # an unwritable cache: store() falls back or says so
        return
    with open(lock_path, "a+") as f:
        deadline = time.monotonic() + lock_wait_s()
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    f.seek(0)
                    holder = f.read().strip() or "unknown"
                    warnings.warn(f"graphc: the cache lock {f.name} is still held (by pid "
                                  f"{holder}) after {lock_wait_s():g} s; building without it",
                                  RuntimeWarning, stacklevel=3)
                    locked = False
                    break
                time.sleep(0.05)
        if locked:
            f.truncate(0)
            f.write(str(os.getpid()))
            f.flush()
        try:
            yield
        finally:
            if locked:
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
    """dlopen ``path`` once per process while it is in use; dlclose it after the last use.

    Later calls return the same CDLL as long as anything holds it (a function taken from
    it holds it too). When the CDLL is garbage collected the library is closed, so a
    process compiling thousands of distinct graphs keeps only the libraries of the
    Functions still alive mapped.
    """
    p = str(pathlib.Path(path).resolve())
    with _loaded_lock:
        lib = _loaded.get(p)
        if lib is None:
            try:
                lib = ctypes.CDLL(p)
            except OSError as e:
                raise CompileError(f"cannot load compiled library {p}: {e}") from e
            _pin_thread_runtimes()
            # not at exit: the process is going away, and closing then only adds work
            weakref.finalize(lib, _ctypes.dlclose, lib._handle).atexit = False
            _loaded[p] = lib
        return lib


# OpenMP runtimes keep a pool of worker threads; dlclose-ing the last library that needs
# one unmaps its code under those (parked) threads, which crash when they wake. So the
# first library that brings one in pins it for the life of the process.
THREAD_RUNTIMES = ("libgomp", "libomp", "libiomp")
_pinned: dict[str, ctypes.CDLL] = {}


def _pin_thread_runtimes() -> None:
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if "/lib" in line}
    except OSError:  # no /proc (macOS): libraries there are never unmapped by dlclose anyway
        return
    for path in paths:
        name = os.path.basename(path)
        if name.startswith(THREAD_RUNTIMES) and path not in _pinned:
            with contextlib.suppress(OSError):
                _pinned[path] = ctypes.CDLL(path)


def loaded_paths() -> set[str]:
    """Resolved paths of the libraries this process has loaded and still uses."""
    with _loaded_lock:
        return set(_loaded.keys())


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
