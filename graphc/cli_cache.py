"""``graphc cache info|clear|prune``: look at and tidy the compile cache.

    graphc cache info                       # location, entries, total size, largest, oldest
    graphc cache prune --max-size 200M      # evict least recently used entries down to 200 MiB
    graphc cache prune --older-than 30      # delete entries unused for 30 days
    graphc cache clear                      # delete everything

Every prune also deletes sources kept for failed compiles after 7 days, stale lock files
and leftovers of crashed writers. The cache lives in GRAPHC_CACHE_DIR (else
$XDG_CACHE_HOME/graphc, else ~/.cache/graphc); it is capped at GRAPHC_CACHE_MAX_BYTES
(default 1 GiB) by least-recently-used eviction after each compile.
"""
from __future__ import annotations

import argparse
import time

CACHE_HELP = __doc__.split("\n\n", 1)[1]


def human_size(n: float) -> str:
    """A byte count for people.

    >>> human_size(1536), human_size(3 << 30)
    ('1.5 KiB', '3.0 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _age(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:.1f} days" if days >= 1 else f"{seconds / 3600:.1f} hours"


def cmd_cache(args: argparse.Namespace, *, usage_error: type[Exception]) -> int:
    from .codegen import cache, cache_maintenance
    root = cache.cache_dir()
    if args.action == "clear":
        print(f"removed {cache.clear()} items from {root}")
        return 0
    if args.action == "prune":
        try:
            cap = None if args.max_size is None else cache_maintenance.parse_size(args.max_size)
        except ValueError as e:
            raise usage_error(str(e)) from e
        older = None if args.older_than is None else args.older_than * 86400
        removed = cache_maintenance.prune(root, max_bytes=cap, older_than_s=older,
                                          protected=cache.loaded_paths())
        freed = sum(i.size for i in removed)
        print(f"removed {len(removed)} items ({human_size(freed)}) from {root}")
        return 0
    s = cache_maintenance.summarize(root)
    now = time.time()
    print(f"location:    {s.root}")
    print(f"entries:     {s.entries}")
    print(f"total size:  {human_size(s.total_bytes)} "
          f"(cap {human_size(cache_maintenance.max_bytes())}, GRAPHC_CACHE_MAX_BYTES)")
    if s.largest is not None:
        print(f"largest:     {s.largest.path.name} ({human_size(s.largest.size)})")
    if s.oldest is not None:
        print(f"oldest:      {s.oldest.path.name} (last used {_age(now - s.oldest.last_use)} ago)")
    print(f"failed compiles kept: {s.failed} (deleted after "
          f"{cache_maintenance.FAILED_MAX_AGE_S // 86400} days)")
    return 0


def add_cache_parser(sub, *, usage_error: type[Exception]) -> None:
    """Add ``cache`` to the ``graphc`` subcommands."""
    p = sub.add_parser("cache", help="show or tidy the compile cache (info, clear, prune)",
                       description="Show or tidy graphc's compile cache.\n\n" + CACHE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True,
                               parser_class=type(p))
    actions.add_parser("info", help="location, entries, total size, largest and oldest entry")
    actions.add_parser("clear", help="delete everything in the cache")
    q = actions.add_parser("prune", help="delete old or least recently used entries")
    q.add_argument("--max-size", metavar="SIZE", default=None,
                   help="evict least recently used entries until the cache fits (e.g. 500M, 2G)")
    q.add_argument("--older-than", metavar="DAYS", type=float, default=None,
                   help="delete entries not used for DAYS days")
    p.set_defaults(func=lambda args: cmd_cache(args, usage_error=usage_error))
