"""How each primitive is spelled in NumPy: ``NUMPY_OPS``, a registry keyed by op name
(checked complete against the op declarations by tests/test_codegen_registries.py), and
``HELPERS``, the functions a spelling may call, pasted into the generated module (which
must not import graphc: erf/erfc embed ``graphc.special``, NumPy only). What an op
*means* is its reference ``impl`` in ``graphc.ops``.

>>> NUMPY_OPS["exp"].template
'np.exp({0}, {out})'
>>> sorted(defined_names(HELPERS["_sigmoid"]))
['_sigmoid']
"""
from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass

from .. import philox, special


@dataclass(frozen=True)
class Spelling:
    """One op's NumPy spelling.

    ``template`` is one or more statements (``;``-separated) with operands ``{0}``,
    ``{1}``..., the destination ``{out}`` and the node's attributes by name. ``kind``:
    ``inplace`` (elementwise; may write over a dead operand), ``out`` (writes ``{out}``,
    which must not overlap an operand), ``view`` (an expression that returns a view),
    ``loop`` (no template: the renderer calls the loop's runner, ``numpy_loops``).
    ``helper`` names a function of ``HELPERS`` the template calls. ``returns_out``: the
    template is one call that returns ``{out}`` (NumPy's ``out=`` convention), so the
    renderer can bind the result name and fill the buffer in one statement. ``fresh``:
    the same call without ``{out}`` (a ufunc), for a result that escapes as a new array
    when its operands already have its dtype: NumPy allocates it faster than
    ``np.empty`` passed as ``out``.
    """

    template: str
    kind: str = "inplace"
    helper: str | None = None
    returns_out: bool = False
    fresh: str | None = None


def _ufunc(name: str, arity: int, positional_out: bool = True) -> Spelling:
    # the output buffer is the ufunc's positional out argument, ``np.sin(t4, ws[3])``:
    # one keyword less per line is a quarter less for Python to compile in a big module
    # (NumPy deprecates it for maximum/minimum only, which keep ``out=``)
    args = ", ".join("{%d}" % k for k in range(arity))
    out = "{out}" if positional_out else "out={out}"
    return Spelling(f"np.{name}({args}, {out})", returns_out=True,
                    fresh=f"np.{name}({args})")


NUMPY_OPS: dict[str, Spelling] = {
    "neg": _ufunc("negative", 1),
    "exp": _ufunc("exp", 1),
    "log": _ufunc("log", 1),
    "sin": _ufunc("sin", 1),
    "cos": _ufunc("cos", 1),
    "tanh": _ufunc("tanh", 1),
    "sigmoid": Spelling("_sigmoid({0}, out={out})", "out", helper="_sigmoid"),
    "softplus": Spelling("np.logaddexp(0, {0}, {out})", returns_out=True),
    "sqrt": _ufunc("sqrt", 1),
    "abs": _ufunc("abs", 1),
    "sign": _ufunc("sign", 1),
    "log1p": _ufunc("log1p", 1),
    "expm1": _ufunc("expm1", 1),
    "erf": Spelling("np.copyto({out}, erf({0}))", "out", helper="special"),
    "erfc": Spelling("np.copyto({out}, erfc({0}))", "out", helper="special"),
    "erfinv": Spelling("np.copyto({out}, erfinv({0}))", "out", helper="special"),
    "stop_gradient": Spelling("{0}", "view"),
    "add": _ufunc("add", 2),
    "sub": _ufunc("subtract", 2),
    "mul": _ufunc("multiply", 2),
    "div": _ufunc("true_divide", 2),
    "pow": _ufunc("power", 2),
    "maximum": _ufunc("maximum", 2, positional_out=False),
    "minimum": _ufunc("minimum", 2, positional_out=False),
    "less": _ufunc("less", 2),
    "less_equal": _ufunc("less_equal", 2),
    "greater": _ufunc("greater", 2),
    "greater_equal": _ufunc("greater_equal", 2),
    "equal": _ufunc("equal", 2),
    "not_equal": _ufunc("not_equal", 2),
    "where": Spelling("np.copyto({out}, {2}); np.copyto({out}, {1}, where={0})", "out"),
    # where(c, s, 0.0) for a finite s > 0 (a mask, e.g. relu's derivative): c * s is
    # exact there (True * s == s, False * s == +0.0) and one pass instead of two
    "where_mask": Spelling("np.multiply({0}, {1}, out={out})", "out", returns_out=True),
    # where(c, x, 0.0): a mask multiplied into x's bits (NumPy's masked copy runs up to
    # 10x slower on an irregular mask, such as relu's)
    "where_zero": Spelling("_select_zero({0}, {1}, {out})", "out", helper="_select_zero"),
    "cast": Spelling("np.copyto({out}, {0}, casting='unsafe')", "out"),
    "sum": Spelling("np.sum({0}, axis={axes}, keepdims={keepdims}, out={out})", "out",
                    returns_out=True),
    "max": Spelling("np.max({0}, axis={axes}, keepdims={keepdims}, out={out})", "out",
                    returns_out=True),
    "reshape": Spelling("np.reshape({0}, {shape})", "view"),
    "transpose": Spelling("np.transpose({0}, {perm})", "view"),
    "broadcast_to": Spelling("np.broadcast_to({0}, {shape})", "view"),
    "matmul": Spelling("np.matmul({0}, {1}, out={out})", "out", returns_out=True),
    "random_uniform": Spelling("{out}[...] = philox_uniform({0}, {1}, {shape}, {dtype})",
                               "out", helper="philox"),
    "one_hot": Spelling("np.equal({0}[..., None], np.arange({depth}), out={out})", "out",
                        returns_out=True),
    "slice": Spelling("_slice({0}, {starts}, {steps}, {shape})", "view", helper="_slice"),
    "pad": Spelling("_pad({0}, {lo}, {interior}, {fill}, {out})", "out", helper="_pad"),
    "gather": Spelling("_gather({0}, {1}, {axis}, {out})", "out", helper="_gather"),
    "check_index": Spelling("_check_index({0}, {size}, {what})", "view", helper="_check_index"),
    "scatter": Spelling("_scatter({0}, {1}, {axis}, {combine}, {out})", "out",
                        helper="_scatter"),
    # loops and branches: a call of a runner over the compiled body (codegen/numpy_loops)
    "scan": Spelling("", "loop"),
    "while_loop": Spelling("", "loop"),
    "switch": Spelling("", "loop"),
    "cumsum": Spelling("_scan(np.add, {0}, {axis}, {reverse}, {out})", "out", helper="_scan"),
    "cumprod": Spelling("_scan(np.multiply, {0}, {axis}, {reverse}, {out})", "out",
                        helper="_scan"),
    "logcumsumexp": Spelling("_scan(np.logaddexp, {0}, {axis}, {reverse}, {out})", "out",
                             helper="_scan"),
    "cummax": Spelling("_extreme(np.maximum, {0}, {axis}, {reverse}, {index}, {out})", "out",
                       helper="_extreme"),
    "cummin": Spelling("_extreme(np.minimum, {0}, {axis}, {reverse}, {index}, {out})", "out",
                       helper="_extreme"),
    "argsort": Spelling("_argsort({0}, {axis}, {descending}, {count}, {out})", "out",
                        helper="_argsort"),
    # linear algebra (numpy.linalg, batched); {message} names the op and its input
    "cholesky": Spelling("_cholesky({0}, {out}, {message})", "out", helper="_linalg"),
    "solve": Spelling("_solve({0}, {1}, {out}, {message})", "out", helper="_linalg"),
    "solve_triangular": Spelling("_solve_triangular({0}, {1}, {lower}, {trans}, "
                                 "{unit_diagonal}, {out}, {message})", "out", helper="_linalg"),
    "logabsdet": Spelling("np.copyto({out}, np.linalg.slogdet({0})[1])", "out"),
    "det_sign": Spelling("np.copyto({out}, np.linalg.slogdet({0})[0])", "out"),
    "eigvalsh": Spelling("np.copyto({out}, np.linalg.eigvalsh({0}))", "out"),
    "eigh_vectors": Spelling("_eigh_vectors({0}, {out})", "out", helper="_linalg"),
    "qr_q": Spelling("np.copyto({out}, np.linalg.qr({0})[0])", "out"),
    "qr_r": Spelling("np.copyto({out}, np.linalg.qr({0})[1])", "out"),
}


def embedded_source(module) -> str:
    """A NumPy-only module's code (after its docstring and ``import numpy as np``), to be
    pasted into a generated module that must not import graphc."""
    text = inspect.getsource(module)
    tree = ast.parse(text)
    start = next(n.end_lineno or n.lineno for n in tree.body if isinstance(n, ast.Import)
                 and [a.name for a in n.names] == ["numpy"])
    # its export list would restrict the generated module's own
    dropped = {line for n in tree.body if isinstance(n, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)
               for line in range(n.lineno, (n.end_lineno or n.lineno) + 1)}
    lines = [line for k, line in enumerate(text.splitlines(), 1)
             if k > start and k not in dropped]
    body = "\n".join(lines).strip("\n")
    return f"# ---- {module.__name__}, embedded (NumPy only) ----\n{body}\n"


def defined_names(source: str) -> set:
    """The top-level names a helper's source defines (reserved in generated modules)."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


# an IndexError naming the first index outside [0, size) (NumPy would wrap negatives)
_INDEX_CHECK = """\
    if idx.size and (idx.min() < 0 or idx.max() >= {size}):
        bad = idx[(idx < 0) | (idx >= {size})].flat[0]
        raise IndexError(f"{op}: index {{bad}} is out of bounds for axis {{axis}} of size "
                         f"{{{size}}}")
"""

# helper name -> source pasted into the module when a spelling needs it
HELPERS: dict[str, str] = {
    "_linalg": '''\
def _columns(a, b):
    """b as one-column matrices when it is a stack of vectors (one axis less than a)."""
    return b[..., None] if b.ndim == a.ndim - 1 else b


def _cholesky(a, out, message):
    try:
        np.copyto(out, np.linalg.cholesky(a))
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(message) from None


def _solve(a, b, out, message):
    try:
        np.copyto(out, np.linalg.solve(a, _columns(a, b)).reshape(out.shape))
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(message) from None


def _solve_triangular(a, b, lower, trans, unit_diagonal, out, message):
    """SciPy's solve_triangular without SciPy: a blocked substitution reading one
    triangle of a."""
    if not unit_diagonal and np.any(np.diagonal(a, axis1=-2, axis2=-1) == 0):
        raise np.linalg.LinAlgError(message)
    t = np.swapaxes(a, -1, -2) if trans else a
    rhs = _columns(a, b)
    x = np.array(np.broadcast_to(rhs, np.broadcast_shapes(a.shape[:-2] + (1, 1), rhs.shape)),
                 dtype=np.result_type(a, b))
    _substitute(t, x, lower != bool(trans), unit_diagonal)
    np.copyto(out, x.reshape(out.shape))


def _substitute(t, x, lower, unit):
    """t y = x with t read as triangular (``unit``: ones on its diagonal), y written over
    x: halves solved in turn, the coupling as one matmul (a triangular solve's flops,
    mostly in GEMM: NumPy has no trsm, and an LU of t would cost twice as much again);
    blocks of 64 by np.linalg.solve on their triangle."""
    n = t.shape[-1]
    if n <= 64:
        block = np.tril(t) if lower else np.triu(t)
        if unit:
            np.einsum("...ii->...i", block)[...] = 1
        x[...] = np.linalg.solve(block, x)
        return
    h = n // 2
    first, second = (slice(None, h), slice(h, None)) if lower else (slice(h, None),
                                                                     slice(None, h))
    _substitute(t[..., first, first], x[..., first, :], lower, unit)
    x[..., second, :] -= t[..., second, first] @ x[..., first, :]
    _substitute(t[..., second, second], x[..., second, :], lower, unit)


def _eigh_vectors(a, out):
    """Eigenvectors, each one's entry of largest magnitude made positive."""
    v = np.linalg.eigh(a)[1]
    big = np.argmax(np.abs(v), axis=-2)[..., None, :]
    s = np.sign(np.take_along_axis(v, big, axis=-2))
    np.multiply(v, np.where(s == 0, 1, s), out=out)
''',
    "_select_zero": '''\
def _select_zero(c, x, out):
    """where(c, x, 0.0) exact to the bit (NaN, inf, -0.0 kept where c holds) without a
    branch per element: x's bits AND all-ones where c holds, all-zeros elsewhere."""
    bits = out.view(f"i{out.itemsize}")
    np.multiply(c, bits.dtype.type(-1), out=bits)   # a typed -1: no int64 detour
    np.bitwise_and(bits, np.asarray(x).view(bits.dtype), out=bits)
''',
    "_sigmoid": '''\
def _sigmoid(x, out):
    """1 / (1 + exp(-x)) in place, four passes and no temporaries: below x = -88
    (float32) exp overflows to inf and the result is exactly 0, as it should be; the
    overflow is silent because compute() runs under np.errstate(all="ignore")."""
    np.negative(x, out=out)
    np.exp(out, out=out)
    np.add(out, 1, out=out)
    np.divide(1, out, out=out)
''',
    "special": embedded_source(special),   # erf, erfc, erfinv without SciPy
    "philox": embedded_source(philox),     # random_uniform, the same bits as C and CUDA
    "_slice": '''\
def _slice(x, starts, steps, shape):
    """x[start + i * step] on each axis: NumPy basic slicing (a view)."""
    return x[tuple(slice(a, a + n * s if a + n * s >= 0 else None, s)
                   for a, s, n in zip(starts, steps, shape))]
''',
    "_pad": '''\
def _pad(x, lo, interior, fill, out):
    """x placed at lo + i * (interior + 1) on each axis of out, which is fill elsewhere."""
    out.fill(fill)
    out[tuple(slice(a, a + n + max(n - 1, 0) * i, i + 1)
              for a, n, i in zip(lo, x.shape, interior))] = x
''',
    "_gather": '''\
def _gather(x, idx, axis, out):
    """np.take(x, idx, axis) into out, indices checked."""
''' + _INDEX_CHECK.format(size="x.shape[axis]", op="gather") + '''\
    np.take(x, idx, axis=axis, out=out)
''',
    "_check_index": '''\
class CheckIndexError(ValueError):
    """A value a check_index refused (graphc raises it as its EvalError)."""


def _check_index(x, size, what):
    """x itself, each element required in [0, size) (labels computed in the graph)."""
    bad = (x < 0) | (x >= size)
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0]) if np.ndim(x) else ()
        raise CheckIndexError(f"{what} holds {np.asarray(x)[index]} at index {index}")
    return x
''',
    "_scatter": '''\
def _scatter(u, idx, axis, combine, out):
    """out = the identity of combine; then out[..., idx[j], ...] (+ * min max)= u[..., j, ...]
    with duplicates combined (np.add.at and its kin, which NumPy 2 runs faster than a
    sort + reduceat; out is contiguous: views write it)."""
''' + _INDEX_CHECK.format(size="out.shape[axis]", op="scatter") + '''\
    ufunc = {"add": np.add, "mul": np.multiply, "min": np.minimum, "max": np.maximum}[combine]
    if combine in ("add", "mul"):
        out.fill(combine == "mul")
    elif out.dtype.kind == "f":
        out.fill(np.inf if combine == "min" else -np.inf)
    else:
        info = np.iinfo(out.dtype)
        out.fill(info.max if combine == "min" else info.min)
    rows = u.reshape(out.shape[:axis] + (idx.size,) + out.shape[axis + 1:])
    ufunc.at(np.moveaxis(out, axis, 0), idx.reshape(-1), np.moveaxis(rows, axis, 0))
''',
    "_scan": '''\
def _scan(ufunc, x, axis, reverse, out):
    """ufunc.accumulate along axis into out (np.cumsum is np.add's; reverse: from the
    end, through flipped views)."""
    if x.shape[axis]:
        if reverse:
            ufunc.accumulate(np.flip(x, axis), axis=axis, dtype=out.dtype,
                             out=np.flip(out, axis))
        else:
            ufunc.accumulate(x, axis=axis, dtype=out.dtype, out=out)
''',
    "_extreme": '''\
def _extreme(ufunc, x, axis, reverse, index, out):
    """np.maximum/minimum.accumulate along axis into out; index: where the running
    extreme is (the latest element that set or tied it; once NaN, the first NaN)."""
    if reverse:
        x, out = np.flip(x, axis), np.flip(out, axis)
    n = x.shape[axis]
    if n == 0:
        return
    if not index:
        ufunc.accumulate(x, axis=axis, dtype=out.dtype, out=out)
        return
    m = ufunc.accumulate(x, axis=axis)
    before = np.concatenate([np.take(m, [0], axis=axis),
                             np.take(m, np.arange(n - 1), axis=axis)], axis)
    holds = (x == m) | (np.isnan(x) & ~np.isnan(before) if x.dtype.kind == "f" else False)
    holds[(slice(None),) * axis + (slice(0, 1),)] = True
    iota = np.arange(n).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    np.maximum.accumulate(np.where(holds, iota, -1), axis=axis, out=out)
    if reverse:
        np.subtract(n - 1, out, out=out)
''',
    "_argsort": '''\
def _argsort(x, axis, descending, count, out):
    """Stable argsort along axis into out: NaN last; descending: NumPy's order reversed
    (NaN first), ties still in index order; the first count (None: all)."""
    if not descending:
        order = np.argsort(x, axis=axis, kind="stable")
    else:
        order = x.shape[axis] - 1 - np.flip(
            np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    out[...] = order[(slice(None),) * axis + (slice(0, out.shape[axis]),)]
''',
}
