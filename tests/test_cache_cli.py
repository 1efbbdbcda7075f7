"""``graphc cache info|clear|prune`` and the cache's size and age limits."""
from __future__ import annotations

import os
import time

import pytest

from graphc import cli
from graphc.codegen import cache, cache_maintenance


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    d = tmp_path / "graphc-cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(d))
    return d


def aged(path, days: float):
    t = time.time() - days * 86400
    os.utime(path, (t, t))
    return path


def entry(n: int, size: int, days_unused: float):
    return aged(cache.store(f"{n:064x}", ".so", b"x" * size), days_unused)


def test_info_reports_location_entries_size_largest_oldest(cache_root, capsys):
    entry(1, 1000, days_unused=3)
    entry(2, 5000, days_unused=1)
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(cache_root) in out and "entries:     2" in out
    assert f"{2:064x}.so" in out.split("largest:")[1].splitlines()[0]
    assert f"{1:064x}.so" in out.split("oldest:")[1].splitlines()[0]
    assert "3.0 days" in out


def test_prune_max_size_evicts_least_recently_used_first(cache_root, capsys):
    old, middle, new = (entry(k, 4096, days_unused=d) for k, d in ((1, 9), (2, 5), (3, 1)))
    assert cli.main(["cache", "prune", "--max-size", "9K"]) == 0
    assert not old.exists() and middle.exists() and new.exists()
    assert "removed 1 items" in capsys.readouterr().out


def test_prune_older_than_days(cache_root):
    old, new = entry(1, 10, days_unused=40), entry(2, 10, days_unused=2)
    assert cli.main(["cache", "prune", "--older-than", "30"]) == 0
    assert not old.exists() and new.exists()


def test_failed_compile_folders_and_leftovers_expire(cache_root):
    fresh = cache_root / "failed" / "fresh"
    stale = cache_root / "failed" / "stale"
    for d in (fresh, stale):
        d.mkdir(parents=True)
        (d / "kernel.c").write_text("int broken(")
    aged(stale, 8)
    leftover = cache_root / ".tmp-crashed-writer.so"
    leftover.write_bytes(b"half")
    aged(leftover, 2)
    entry(1, 10, days_unused=0)  # any write sweeps (opportunistically)
    assert fresh.exists() and not stale.exists() and not leftover.exists()


def test_a_write_over_the_cap_evicts_the_least_recently_used(cache_root, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_MAX_BYTES", "10K")
    first, second = entry(1, 4000, days_unused=2), entry(2, 4000, days_unused=1)
    assert cache.lookup(f"{1:064x}", ".so") == first  # a use: now the most recent
    third = cache.store(f"{3:064x}", ".so", b"x" * 4000)
    assert first.exists() and not second.exists() and third.exists()


def test_clear_and_bad_arguments(cache_root, capsys):
    entry(1, 10, days_unused=0)
    assert cli.main(["cache", "clear"]) == 0
    assert list(cache_root.iterdir()) == []
    assert cli.main(["cache", "prune", "--max-size", "lots"]) == 2
    assert cli.main(["cache"]) == 2
    assert "not a size" in capsys.readouterr().err


def test_size_parsing():
    assert cache_maintenance.parse_size("2G") == 2 << 30
    assert cache_maintenance.parse_size("1.5k") == 1536
    with pytest.raises(ValueError):
        cache_maintenance.parse_size("-1")


def test_a_directory_at_an_entry_s_path_is_rebuilt(cache_root):
    key = f"{7:064x}"
    (cache.cache_dir() / f"{key}.so").mkdir()
    p = cache.get_or_build(key, ".so", lambda: b"rebuilt")
    assert cache.read_entry(p) == b"rebuilt"


def test_an_unwritable_cache_falls_back_to_a_private_one(cache_root, monkeypatch):
    cache.cache_dir()
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root ignores modes
    with pytest.warns(RuntimeWarning, match="not writable.*GRAPHC_CACHE_DIR"):
        p = cache.get_or_build(f"{8:064x}", ".so", lambda: b"still works")
    assert cache.read_entry(p) == b"still works" and cache_root not in p.parents


def test_a_hung_lock_holder_does_not_block_forever(cache_root, monkeypatch):
    import fcntl
    monkeypatch.setenv("GRAPHC_CACHE_LOCK_WAIT_S", "0.2")
    key = f"{9:064x}"
    (cache.cache_dir() / "locks").mkdir()
    with open(cache_root / "locks" / f"{key}.lock", "w") as holder:
        holder.write("4242")
        holder.flush()
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)  # another open file: flock conflicts
        with pytest.warns(RuntimeWarning, match="pid 4242"):
            p = cache.get_or_build(key, ".so", lambda: b"built anyway")
    assert cache.read_entry(p) == b"built anyway"
