"""The compile cache: location, permissions, keys, atomic verified entries, concurrency."""
from __future__ import annotations

import multiprocessing as mp
import os
import pathlib
import stat
import subprocess
import sys
import textwrap

import pytest

from graphc.codegen import cache, toolchain
from graphc.errors import CompileError

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    d = tmp_path / "nested" / "graphc-cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(d))
    return d


def mode(p: pathlib.Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_location_from_env_created_owner_only(cache_root):
    assert not cache_root.exists()
    assert cache.cache_dir() == cache_root
    assert mode(cache_root) == 0o700


def test_location_respects_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "graphc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "graphc"
    assert mode(tmp_path / "home" / ".cache" / "graphc") == 0o700


def test_an_existing_directory_keeps_its_permissions(cache_root):
    """graphc chmods only what it creates: a user's 0755 directory stays 0755."""
    cache_root.mkdir(parents=True)
    os.chmod(cache_root, 0o755)
    cache.store("b" * 64, ".so", b"payload")
    assert mode(cache_root) == 0o755


def test_a_directory_others_can_write_is_refused_not_changed(cache_root):
    cache_root.mkdir(parents=True)
    os.chmod(cache_root, 0o777)
    with pytest.raises(CompileError, match="writable by other users.*GRAPHC_CACHE_DIR"):
        cache.cache_dir()
    assert mode(cache_root) == 0o777


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="needs root to create a directory owned by another user")
def test_directory_of_another_user_is_refused(cache_root):
    cache_root.mkdir(parents=True)
    os.chown(cache_root, 65534, 65534)
    with pytest.raises(CompileError, match="another user"):
        cache.cache_dir()


def test_key_depends_on_every_part_and_is_unambiguous():
    base = ("c", "int f(void){return 1;}", ("-O3",), "gcc 12")
    k = cache.make_key(*base)
    assert k == cache.make_key(*base)
    for i, changed in enumerate(["cuda", "int f(void){return 2;}", ("-O2",), "gcc 13"]):
        parts = list(base)
        parts[i] = changed
        assert cache.make_key(*parts) != k
    assert cache.make_key("ab", "c") != cache.make_key("a", "bc")
    assert cache.make_key(("a", "b")) != cache.make_key("a", "b")


def test_store_is_atomic_verified_and_private(cache_root):
    payload = os.urandom(10_000)
    p = cache.store("k" * 64, ".so", payload)
    assert cache.read_entry(p) == payload
    assert mode(p) == 0o600
    assert [q.name for q in cache_root.iterdir() if q.name.startswith(".tmp")] == []
    assert cache.lookup("k" * 64, ".so") == p


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "trailer"])
def test_damaged_entry_is_rebuilt_not_loaded(cache_root, damage):
    calls = []

    def build():
        calls.append(1)
        return b"\x7fELF" + bytes(range(256)) * 8

    key = cache.make_key("damage", damage)
    p = cache.get_or_build(key, ".so", build)
    good = p.read_bytes()
    data = bytearray(good)
    if damage == "flip":
        data[100] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:
        data[-10] ^= 0x01
    p.write_bytes(bytes(data))
    assert cache.read_entry(p) is None
    assert cache.lookup(key, ".so") is None and not p.exists()  # bad entry removed
    p2 = cache.get_or_build(key, ".so", build)
    assert len(calls) == 2 and p2.read_bytes() == good


def test_corrupted_shared_library_is_recompiled(cache_root):
    src = "int graphc_cache_test_value(void) { return 1234; }\n"
    p = toolchain.build_shared_library(src, "c", name="corrupt_me")
    good = p.read_bytes()
    p.write_bytes(good[:-200] + b"\0" * 200)
    p2 = toolchain.build_shared_library(src, "c", name="corrupt_me")
    assert p2 == p and p2.read_bytes() == good
    assert toolchain.load_library(p2).graphc_cache_test_value() == 1234


def _hammer(args):
    """Write one entry many times while reading it: every read is whole or absent."""
    root, key, _ = args
    os.environ["GRAPHC_CACHE_DIR"] = root
    payload = b"same-payload" * 50_000  # every writer writes the same bytes, as a compiler would
    bad = 0
    for _ in range(15):
        cache.store(key, ".so", payload)
        got = cache.read_entry(cache.entry_path(key, ".so"))
        if got is not None and got != payload:
            bad += 1
    return bad


def test_concurrent_writers_without_lock_leave_one_valid_entry(cache_root):
    cache.cache_dir()
    key = cache.make_key("race")
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(8) as pool:
        bad = pool.map(_hammer, [(str(cache_root), key, s) for s in range(8)])
    assert bad == [0] * 8
    entries = [q for q in cache_root.iterdir() if q.is_file()]
    assert [q.name for q in entries] == [f"{key}.so"]
    assert cache.read_entry(entries[0]) == b"same-payload" * 50_000


def test_eight_processes_compiling_the_same_library(cache_root):
    script = textwrap.dedent("""
        from graphc.codegen import toolchain
        src = "int graphc_eight(int x) { return 3 * x + 1; }\\n"
        lib = toolchain.compile_and_load(src, "c", name="eight")
        print(lib.graphc_eight(13))
    """)
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache_root), PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for out, err, rc in results:
        assert rc == 0, err
        assert out.strip() == "40"
    libs = [q for q in cache_root.iterdir() if q.suffix == ".so"]
    assert len(libs) == 1 and cache.read_entry(libs[0]) is not None
    assert not [q for q in cache_root.iterdir() if q.name.startswith(".tmp")]


def test_loaded_libraries_are_kept_per_process(cache_root):
    p = toolchain.build_shared_library("int graphc_once(void) { return 7; }\n", "c", name="once")
    assert toolchain.load_library(p) is toolchain.load_library(str(p))


def test_clear_empties_the_cache(cache_root):
    cache.store("a" * 64, ".so", b"x")
    (cache.cache_dir() / "pch-test").mkdir()
    assert cache.clear() == 2
    assert list(cache_root.iterdir()) == []
    assert cache.lookup("a" * 64, ".so") is None


def test_the_test_run_has_its_own_cache(run_cache_dir):
    """tests/conftest.py: one temporary cache for the run, never the user's real one."""
    real = pathlib.Path(os.path.expanduser("~")) / ".cache" / "graphc"
    assert pathlib.Path(run_cache_dir).resolve() != real.resolve()
    assert cache.cache_dir() == pathlib.Path(run_cache_dir)
    p = toolchain.build_shared_library("int graphc_run_cache(void) { return 5; }\n", "c",
                                       name="run_cache")
    assert p.parent == pathlib.Path(run_cache_dir)


def test_cache_under_a_file_cannot_be_created(tmp_path, monkeypatch):
    """GRAPHC_CACHE_DIR below a regular file: a CompileError naming the directory and the
    variable to set, from the cache and from a compile that needs it."""
    import graphc as gc
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(CompileError) as info:
        cache.cache_dir()
    assert str(blocker / "cache") in str(info.value) and "GRAPHC_CACHE_DIR" in str(info.value)
    x = gc.placeholder("x_nocache", (3,), "float64")
    with pytest.raises(CompileError) as info:
        gc.compile(gc.exp(x) * 3.0 + 0.25, backend="c")
    assert str(blocker / "cache") in str(info.value)


def test_a_library_that_cannot_be_loaded(tmp_path):
    bad = tmp_path / "libbroken.so"
    bad.write_bytes(b"\x7fELF but not really a shared object")
    with pytest.raises(CompileError) as info:
        toolchain.load_library(bad)
    assert str(bad) in str(info.value) and "cannot load" in str(info.value)
