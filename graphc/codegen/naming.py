"""User names -> safe, unique, readable identifiers for generated Python and C.

No user string reaches generated source unescaped: identifiers go through
``sanitize_names`` (ASCII letters, digits and ``_`` only), and any other text that
must appear (comments, string literals) goes through ``comment_text`` or ``repr``.

>>> sanitize_names(["x", "x", "class", "2nd layer", "poids é"], reserved={"np"})
['x', 'x_1', 'class_1', 'v_2nd_layer', 'poids_e']
"""
from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from typing import Iterable

PYTHON_RESERVED: frozenset[str] = frozenset(
    set(keyword.kwlist) | set(getattr(keyword, "softkwlist", ())) | set(dir(builtins)))

C_RESERVED: frozenset[str] = frozenset("""
    auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while _Bool _Complex _Imaginary bool true false
    NULL main printf malloc free memcpy memset size_t int32_t int64_t uint8_t
    exp log sin cos tan tanh sqrt fabs pow fmax fmin log1p expm1 expf logf sinf cosf tanhf
    sqrtf fabsf powf fmaxf fminf log1pf expm1f
    __global__ __device__ __host__ __shared__ __constant__ __restrict__ threadIdx blockIdx
    blockDim gridDim warpSize dim3 cudaMalloc cudaFree cudaMemcpy
    class namespace template typename new delete this private public protected virtual
    operator friend using try catch throw
""".split())

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]+")
_PLAIN = re.compile(r"[A-Za-z](?:_?[A-Za-z0-9])*")   # what _base would return unchanged


def _base(name: str) -> str:
    """A readable ASCII identifier stem for one user string (maybe empty)."""
    if isinstance(name, str) and _PLAIN.fullmatch(name):
        return name   # already a stem (every generated name is one): nothing to clean
    # NFKD splits accented letters into letter + combining mark; dropping the
    # non-ASCII remainder keeps "é" readable as "e" instead of an escape.
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = _NOT_IDENT.sub("_", text).strip("_")
    text = re.sub(r"__+", "_", text)
    if not text:
        return "v"
    if text[0].isdigit():
        text = "v_" + text
    return text


def sanitize_names(names: list[str], reserved: Iterable[str] = (), max_len: int = 40,
                   ) -> list[str]:
    """Unique identifiers, one per name, valid in Python and C, in the same order.

    The first occurrence of a name keeps its stem; later ones (and stems that hit
    ``reserved``, a keyword, or an already-given identifier) get ``_1``, ``_2``...
    Long names are truncated to ``max_len`` characters, keeping the suffix that
    makes them unique. Deterministic: the same list gives the same result.

    >>> sanitize_names(["a b", "a_b", "for", "q'\\n\\"x"], reserved=set())
    ['a_b', 'a_b_1', 'for_1', 'q_x']
    >>> len(sanitize_names(["y" * 5000])[0])
    40
    """
    if max_len < 8:
        raise ValueError("max_len must be at least 8")
    taken = set(reserved) | PYTHON_RESERVED | C_RESERVED
    out: list[str] = []
    for name in names:
        stem = _base(name)[:max_len].rstrip("_") or "v"
        candidate, k = stem, 0
        while candidate in taken or candidate.startswith("__"):
            k += 1
            suffix = f"_{k}"
            candidate = stem[:max_len - len(suffix)].rstrip("_") + suffix
        taken.add(candidate)
        out.append(candidate)
    return out


def comment_text(text: str, max_len: int = 200) -> str:
    """``text`` made safe for a one-line comment in Python or C (ASCII, no line breaks,
    no ``*/``), shortened to ``max_len`` characters."""
    # escapes only lengthen the text, so its first max_len + 1 characters decide it
    safe = str(text)[:max_len + 1]
    if not (safe.isascii() and safe.isprintable()):   # the common case needs no pass
        safe = safe.encode("ascii", "backslashreplace").decode()
        safe = "".join(c if 32 <= ord(c) < 127 else f"\\x{ord(c):02x}" for c in safe)
    safe = safe.replace("*/", "* /").replace("??", "?\\?")  # C comment end, trigraphs
    if len(safe) > max_len:
        safe = safe[:max_len - 3] + "..."
    return safe
