"""The repository's text files hold no leftover merge-conflict markers.

A conflicted merge once committed ``<<<<<<< HEAD`` blocks into the README, the
architecture guide and the benchmark results; nothing else would notice, since Markdown
renders them as text.
"""
from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEXT_SUFFIXES = {".md", ".py", ".toml", ".cfg", ".c", ".h", ".cu", ".txt", ".yml", ".json"}
SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def _text_files():
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if (path.suffix in TEXT_SUFFIXES and path.is_file() and not parts & SKIPPED_DIRS
                and not any(p.endswith(".egg-info") for p in parts)):
            yield path


def test_the_walk_sees_the_documents():
    names = {p.relative_to(ROOT).as_posix() for p in _text_files()}
    assert {"README.md", "docs/architecture.md", "benchmarks/RESULTS.md"} <= names


def test_no_merge_conflict_markers():
    conflicted = [f"{p.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
                  for p in _text_files()
                  for text in [p.read_text(errors="replace")]
                  for m in MARKER.finditer(text)]
    assert not conflicted, "merge-conflict markers left in: " + ", ".join(conflicted)


def test_the_mutation_smoke_list_still_matches_the_sources():
    """tests/mutation_smoke.py mutates exact snippets: one that moved (a refactor) would
    only show when someone runs it; here it fails at once."""
    import mutation_smoke

    assert mutation_smoke.check_snippets(ROOT, mutation_smoke.MUTATIONS) == []
