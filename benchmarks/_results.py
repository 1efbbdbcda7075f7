"""benchmarks/RESULTS.md is shared: each benchmark script owns one marked section of it."""
from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().with_name("RESULTS.md")


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section between ``<!-- name:begin -->`` and
    ``<!-- name:end -->`` of ``path``, keeping every other section as it is."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text() if path.exists() else "# graphc benchmark results\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else \
        old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new)


def ratio_table(rows: list, digits: int = 1) -> list[str]:
    """Markdown lines of ``(implementation, seconds)`` rows, the first row being NumPy by
    hand: milliseconds, the ratio to it and the ratio to "JAX jit" (when measured)."""
    base = rows[0][1]
    jax_time = dict(rows).get("JAX jit")
    lines = ["| implementation | ms | vs NumPy | vs JAX jit |", "|---|---:|---:|---:|"]
    for name, t in rows:
        vs_jax = f"{t / jax_time:.2f}x" if jax_time else "-"
        lines.append(f"| {name} | {t * 1e3:.{digits}f} | {t / base:.2f}x | {vs_jax} |")
    return lines
