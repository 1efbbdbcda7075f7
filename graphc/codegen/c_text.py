"""The C text of graphc's ops, types and literals, shared by every C-family dialect.

``OP_TEXT`` spells each op that becomes an instruction (``{0}``, ``{1}``... its operands,
``{exp}``, ``{log}``... math functions the dialect names per dtype: ``expf`` for float32
in C); ``SCAN_TEXT`` a scan's accumulator; the Philox and erfinv preludes; ``ctype`` and
``c_literal`` the types and literals. The renderer (``c_family``) turns kernel IR into C
with them; nothing here knows a kernel.

>>> OP_TEXT["mul"].format("v1", "v2")
'(v1 * v2)'
>>> ctype("float32"), c_literal(0.5, "float32"), c_literal(float("inf"), "float64")
('float', '0.5f', '((double)INFINITY)')
"""
from __future__ import annotations

import string

import numpy as np

C_TYPES = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
           "bool": "bool", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t"}
COMMENT_LEN = 160

# C text of each op that becomes an instruction: {0}, {1}... the operands, {dtype} the
# result's C type, {exp}, {log}... a math function (named per dtype by the dialect)
OP_TEXT: dict[str, str] = {
    "neg": "(-{0})",
    "exp": "{exp}({0})",
    "log": "{log}({0})",
    "sin": "{sin}({0})",
    "cos": "{cos}({0})",
    "tanh": "{tanh}({0})",
    "sigmoid": "(1 / (1 + {exp}(-({0}))))",
    "softplus": "(({0} > 0 ? {0} : 0) + {log1p}({exp}(-{fabs}({0}))))",
    "sqrt": "{sqrt}({0})",
    "abs": "{fabs}({0})",
    "sign": "(({0} > 0) - ({0} < 0))",
    "log1p": "{log1p}({0})",
    "expm1": "{expm1}({0})",
    "erf": "{erf}({0})",
    "erfc": "{erfc}({0})",
    "erfinv": "{erfinv}({0})",   # not in libm: gc_erfinv (ERFINV_TEXT)
    "stop_gradient": "{0}",
    "check_index": "{0}",   # the value; kernel_ir lowers its check to a data_index
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "div": "({0} / {1})",
    "pow": "{pow}({0}, {1})",
    "maximum": "({0} > {1} ? {0} : {1})",
    "minimum": "({0} < {1} ? {0} : {1})",
    "less": "({0} < {1})",
    "less_equal": "({0} <= {1})",
    "greater": "({0} > {1})",
    "greater_equal": "({0} >= {1})",
    "equal": "({0} == {1})",
    "not_equal": "({0} != {1})",
    "where": "({0} ? {1} : {2})",
    "cast": "(({dtype}){0})",
    "one_hot": "(({dtype})({0} == {1}))",
    "random_uniform": "graphc_philox_uniform_{dtype}({0}, {1}, {2})",
}

# a scan's accumulator: its start value and one step, ``{acc}`` combined with the line's
# next value ``{v}`` ({exp}... math names per dtype as in OP_TEXT; {ln2} log(2) in the
# dtype). logcumsumexp steps as NumPy's logaddexp does (equal operands: + log 2, which
# keeps -inf and +inf; else the larger plus log1p(exp(-difference))), so NaN propagates
SCAN_TEXT: dict[str, tuple[str, str]] = {
    "cumsum": ("0", "{acc} + {v}"),
    "cumprod": ("1", "{acc} * {v}"),
    # {lowest}/{highest}: the dtype's -inf/+inf (its least/greatest integer); NaN sticks
    "cummax": ("{lowest}", "(({acc} != {acc} || {acc} >= {v}) ? {acc} : {v})"),
    "cummin": ("{highest}", "(({acc} != {acc} || {acc} <= {v}) ? {acc} : {v})"),
    "logcumsumexp": ("(-GC_INFINITY)",
                     "({acc} == {v} ? {acc} + {ln2} : {acc} > {v} ? "
                     "{acc} + {log1p}({exp}({v} - {acc})) : {v} + {log1p}({exp}({acc} - {v})))"),
}

# a sort's order: does key {a} come strictly before key {b}? (NaN largest: last when
# ascending, first when descending; equal keys keep their index order: the sort is stable)
SORT_BEFORE = {False: "({a} < {b} || ({a} == {a} && {b} != {b}))",
               True: "({a} > {b} || ({a} != {a} && {b} == {b}))"}

# random_uniform per element: Philox-4x32-10 at counter (flat index, call), key ``key``, the
# first word, as float k * 2**-24 (top 24 bits) or double k * 2**-32: the same function as
# graphc.philox (NumPy), so every backend draws the same bits; QUAL is the dialect's
# function qualifier (device code in CUDA)
PHILOX_TEXT = """\
QUAL uint32_t graphc_philox_word0(uint64_t call, uint64_t key, uint64_t index) {
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
    uint32_t c2 = (uint32_t)call, c3 = (uint32_t)(call >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; ++r) {   /* no branch: the loop unrolls and vectorizes */
        const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        c1 = (uint32_t)p1;
        c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c3 = (uint32_t)p0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;   /* the key of the next round */
    }
    return c0;
}
QUAL float graphc_philox_uniform_float(int64_t call, int64_t key, int64_t index) {
    return (float)(graphc_philox_word0((uint64_t)call, (uint64_t)key, (uint64_t)index) >> 8)
           * 5.9604644775390625e-08f;
}
QUAL double graphc_philox_uniform_double(int64_t call, int64_t key, int64_t index) {
    return (double)graphc_philox_word0((uint64_t)call, (uint64_t)key, (uint64_t)index)
           * 2.3283064365386963e-10;
}
"""


# erfinv (libm has none; CUDA's erfinv is not in the emulation): the algorithm of
# graphc.special.erfinv, so every backend computes the same function. Giles' single
# precision guess, then four steps: Halley's on erf(y) = |x| for |x| < 0.5, else
# Newton's on log(erfc(y)) = log(1 - |x|) (1 - |x| exact; the tails keep their
# relative precision). float32: computed in double, rounded once (as NumPy's).
ERFINV_TEXT = """\
QUAL double gc_erfinv(double x) {
    const double a = fabs(x);
    if (!(a < 1.0)) return a == 1.0 ? copysign((double)GC_INFINITY, x) : (double)NAN;
    double w = -log((1.0 - a) * (1.0 + a)), p;
    if (w < 5.0) {
        w = w - 2.5;
        p = 2.81022636e-08;
        p = p * w + 3.43273939e-07; p = p * w + -3.5233877e-06; p = p * w + -4.39150654e-06;
        p = p * w + 0.00021858087; p = p * w + -0.00125372503; p = p * w + -0.00417768164;
        p = p * w + 0.246640727; p = p * w + 1.50140941;
    } else {
        w = sqrt(w) - 3.0;
        p = -0.000200214257;
        p = p * w + 0.000100950558; p = p * w + 0.00134934322; p = p * w + -0.00367342844;
        p = p * w + 0.00573950773; p = p * w + -0.0076224613; p = p * w + 0.00943887047;
        p = p * w + 1.00167406; p = p * w + 2.83297682;
    }
    double y = p * a;
    const int near_zero = a < 0.5;
    const double log_rest = log(near_zero ? 1.0 : 1.0 - a);
    for (int step = 0; step < 4; ++step) {
        const double slope = 1.1283791670955126 * exp(-y * y);
        if (near_zero) {
            const double q = (erf(y) - a) / slope;
            y = y - q / (1.0 + y * q);
        } else {
            const double rest = erfc(y);
            y = y + (log(rest) - log_rest) * rest / slope;
        }
    }
    return copysign(y, x);
}
QUAL float gc_erfinvf(float x) { return (float)gc_erfinv((double)x); }
"""


def erfinv_text(qual: str) -> str:
    """``gc_erfinv``/``gc_erfinvf``, each qualified by ``qual``."""
    return ERFINV_TEXT.replace("QUAL", qual)


def philox_text(qual: str) -> str:
    """The Philox functions ``random_uniform`` calls, each qualified by ``qual``."""
    return PHILOX_TEXT.replace("QUAL", qual)

# the libm (double) functions OP_TEXT calls, read from its fields
LIBM_FUNCTIONS: tuple = tuple(sorted(
    {field for text in OP_TEXT.values() for _, field, _, _ in string.Formatter().parse(text)
     if field and not field.isdigit() and field != "dtype"}))

# each libm function's float32 variant (C99 and CUDA spell them alike)
FLOAT32_MATH: dict[str, str] = {
    "exp": "expf", "log": "logf", "sin": "sinf", "cos": "cosf", "tanh": "tanhf",
    "sqrt": "sqrtf", "fabs": "fabsf", "log1p": "log1pf", "expm1": "expm1f", "pow": "powf",
    "erf": "erff", "erfc": "erfcf", "erfinv": "gc_erfinvf",
}
# functions graphc brings itself (the prelude's), per libm-style name: their float64 name
GRAPHC_MATH64: dict[str, str] = {"erfinv": "gc_erfinv"}


def ctype(dtype) -> str:
    """The C type of a NumPy dtype (``ctype("float32") == "float"``)."""
    try:
        return _CTYPE_OF[dtype]   # asked per instruction: np.dtype(...).name is slow
    except (KeyError, TypeError):
        name = C_TYPES[np.dtype(dtype).name]
    try:
        _CTYPE_OF[dtype] = name
    except TypeError:
        pass   # unhashable
    return name


_CTYPE_OF: dict = {}


def c_literal(value, dtype) -> str:
    """``value`` as a C literal of ``dtype`` (``1.5f``, ``((double)INFINITY)``...)."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        x = float(value)
        if np.isnan(x):
            return "NAN" if dt.itemsize == 8 else "((float)NAN)"
        if np.isinf(x):
            t = "INFINITY" if x > 0 else "(-INFINITY)"
            return t if dt.itemsize == 4 else f"((double){t})"
        if dt.itemsize == 4:
            text = str(np.float32(x))
            if "e" not in text and "." not in text:
                text += ".0"
            return f"{text}f"
        text = repr(x)
        return text if ("." in text or "e" in text) else text + ".0"
    if dt.kind == "b":
        return "true" if bool(value) else "false"
    return f"(({ctype(dt)}){int(value)}LL)"
