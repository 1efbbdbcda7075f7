r"""User names -> safe, unique, readable identifiers for generated Python and C.

No user string reaches generated source unescaped: identifiers go through
``sanitize_names`` (ASCII letters, digits and ``_`` only), and any other text that
must appear (comments, string literals) goes through ``comment_text`` or ``repr``.

Generated code has one naming scope: a renderer describes every identifier it emits
and every name its headers bring in as a ``Scope`` (fixed names plus families such
as ``v<digits>``), and user names are placed after it, so a user name that collides
gets a suffix.

>>> sanitize_names(["x", "x", "class", "2nd layer", "poids é"], reserved={"np"})
['x', 'x_1', 'class_1', 'v_2nd_layer', 'poids_e']
>>> sanitize_names(["v1", "R", "w"], reserved=Scope(frozenset({"R"}), (r"v\d+",)))
['u_v1', 'R_1', 'w']
"""
from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

PYTHON_RESERVED: frozenset[str] = frozenset(
    set(keyword.kwlist) | set(getattr(keyword, "softkwlist", ())) | set(dir(builtins)))

# C and C++ keywords, and what the C-family headers (<math.h>, <stdint.h>, <stdbool.h>,
# <string.h>, <stdio.h>, <stdlib.h>, <errno.h>, CUDA) declare that generated code or the
# headers' macros use: a user name equal to one would shadow it or be macro-expanded
C_RESERVED: frozenset[str] = frozenset("""
    auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while _Bool _Complex _Imaginary bool true false
    class namespace template typename new delete this private public protected virtual
    operator friend using try catch throw alignas alignof constexpr decltype noexcept
    nullptr static_assert thread_local explicit mutable export co_await co_return co_yield
    concept requires consteval constinit char8_t char16_t char32_t wchar_t and or not xor
    bitand bitor compl and_eq or_eq xor_eq not_eq std asm typeid static_cast const_cast
    dynamic_cast reinterpret_cast goto final override import module inline _Alignas
    _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local
    NULL NAN INFINITY HUGE_VAL HUGE_VALF errno EDOM ERANGE EOF FILE stdin stdout stderr
    M_PI M_E assert main printf fprintf snprintf sprintf puts fopen fread fwrite fclose
    malloc calloc realloc free exit abort getenv atoi atol memcpy memmove memset memcmp
    strlen strcmp strcpy size_t ptrdiff_t intptr_t uintptr_t int8_t int16_t int32_t
    int64_t uint8_t uint16_t uint32_t uint64_t INT32_MAX INT64_MAX INT64_MIN UINT32_MAX
    acos asin atan atan2 cosh sinh acosh asinh atanh exp2 exp10 log2 log10 cbrt hypot
    floor ceil round trunc fmod remainder copysign nan isnan isinf isfinite signbit
    fma fdim lgamma tgamma ldexp frexp modf rint lrint nearbyint scalbn
    __global__ __device__ __host__ __shared__ __constant__ __restrict__ threadIdx blockIdx
    blockDim gridDim warpSize dim3 uint3 float2 float4 int2 int4 double2 atomicAdd
    atomicCAS atomicExch atomicMax atomicMin atomicSub rsqrt rsqrtf
    cudaMalloc cudaFree cudaMemcpy
""".split())

# names whose families belong to graphc's headers and runtime: gc_*, GC_*, graphc_*,
# cuda*/CUDA*, and the float/long double variants of libm functions
C_RESERVED_FAMILIES: tuple = (r"(gc|GC|graphc|GRAPHC|cuda|CUDA|cu)[A-Z_].*", r"__.*")


@dataclass(frozen=True)
class Scope:
    r"""Identifiers generated code already uses: fixed ``names`` and ``families``
    (regular expressions a whole identifier matches, such as ``r"v\d+"``)."""

    names: frozenset = frozenset()
    families: tuple = ()

    def __contains__(self, name: str) -> bool:
        return name in self.names or any(re.fullmatch(f, name) for f in self.families)

    def __or__(self, other: "Scope") -> "Scope":
        return Scope(self.names | other.names,
                     self.families + tuple(f for f in other.families if f not in self.families))

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


def sanitize_names(names: list[str], reserved: Iterable[str] | Scope = (), max_len: int = 40,
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
    scope = reserved if isinstance(reserved, Scope) else Scope(frozenset(reserved))
    taken = set(scope.names) | PYTHON_RESERVED | C_RESERVED
    families = re.compile("|".join(f"(?:{f})" for f in scope.families)) if scope.families else None
    out: list[str] = []
    plain = _PLAIN.fullmatch
    for name in names:
        if type(name) is str and len(name) <= max_len and plain(name):
            stem = name   # already a stem (every generated name is one)
        else:
            stem = _base(name)[:max_len].rstrip("_") or "v"
        if families is not None and families.fullmatch(stem):
            # a suffix would stay in the family (c0_1 is a constant too): mark it as the user's
            stem = ("u_" + stem)[:max_len].rstrip("_")
        candidate, k = stem, 0
        while candidate in taken or candidate.startswith("__") or (
                families is not None and families.fullmatch(candidate)):
            k += 1
            suffix = f"_{k}"
            candidate = stem[:max_len - len(suffix)].rstrip("_") + suffix
            if families is not None and families.fullmatch(candidate) and \
                    not stem.startswith("u_"):
                # the suffixed forms are a family's (a reserved "off" beside "off_\d+"):
                # counting on would never leave it, so the name becomes the user's
                stem, k = ("u_" + stem)[:max_len].rstrip("_"), 0
                candidate = stem
        taken.add(candidate)
        out.append(candidate)
    return out


def comment_text(text: str, max_len: int = 200) -> str:
    """``text`` made safe for a one-line comment in Python or C (ASCII, no line breaks,
    no ``*/``), shortened to ``max_len`` characters."""
    if (type(text) is str and len(text) <= max_len and text.isascii() and text.isprintable()
            and "*/" not in text and "??" not in text):
        return text   # the common case: nothing to escape or cut
    # escapes only lengthen the text, so its first max_len + 1 characters decide it
    safe = str(text)[:max_len + 1]
    if not (safe.isascii() and safe.isprintable()):   # the common case needs no pass
        safe = safe.encode("ascii", "backslashreplace").decode()
        safe = "".join(c if 32 <= ord(c) < 127 else f"\\x{ord(c):02x}" for c in safe)
    safe = safe.replace("*/", "* /").replace("??", "?\\?")  # C comment end, trigraphs
    if len(safe) > max_len:
        safe = safe[:max_len - 3] + "..."
    return safe
