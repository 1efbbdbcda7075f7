"""Reading graphs: str(t) is NumPy notation (oracle: executing the printed text with NumPy
gives gc.evaluate's values), gc.show listings, gc.expr, gc.latex. (The modules' doctests
run in tests/test_doctests.py.)"""
from __future__ import annotations

import re
import sys
import time

import numpy as np
import pytest
import sympy
from hypothesis import assume, given, settings, strategies as st

import graphc as gc
from graphc.ir import topo_order

F64 = "float64"

# What a reader needs to run the printed formulas: NumPy plus the few graphc names.
NUMPY_NAMES = dict(
    exp=np.exp, log=np.log, sin=np.sin, cos=np.cos, tanh=np.tanh, sqrt=np.sqrt, abs=np.abs,
    sign=np.sign, log1p=np.log1p, expm1=np.expm1, maximum=np.maximum, minimum=np.minimum,
    where=np.where, sum=np.sum, max=np.max, broadcast_to=np.broadcast_to,
    sigmoid=lambda v: 1 / (1 + np.exp(-v)), stop_gradient=lambda v: v,
    one_hot=lambda y, d: (np.asarray(y)[..., None] == np.arange(d)).astype(np.float64),
    float32=np.float32, float64=np.float64, int32=np.int32, int64=np.int64, array=np.array,
    inf=np.inf, nan=np.nan)


def run_text(text: str, feeds: dict, extra: dict | None = None):
    """Execute a printed formula (let lines, then the result) with NumPy."""
    feeds = {k.name if isinstance(k, gc.Tensor) else k: np.asarray(v) for k, v in feeds.items()}
    ns = dict(NUMPY_NAMES, **feeds, **(extra or {}))
    *lets, last = text.split("\n")
    for line in lets:
        name, rhs = line.split(" = ", 1)
        assert re.fullmatch(r"t\d+", name), line
        ns[name] = eval(rhs, ns)  # noqa: S307 (our own printed formula)
    return eval(last, ns)  # noqa: S307


def check_text(t, feeds: dict, extra=None):
    text = str(t)
    got = run_text(text, feeds, extra)
    used = {n.name for n in topo_order(t) if n.op == "placeholder"}
    # by tensor, every feed may be given (it binds run-time sizes); by name only those used
    want = gc.evaluate(t, {k: v for k, v in feeds.items() if not isinstance(k, str) or k in used})
    np.testing.assert_allclose(np.broadcast_to(got, want.shape), want, rtol=1e-6, atol=1e-12,
                               err_msg=text)
    assert np.shape(got) == want.shape, text
    return text


# ---- str(t): NumPy notation that runs ------------------------------------------------------

def _mlp():
    rng = np.random.default_rng(0)
    x = gc.placeholder("x", (None, 4), F64)
    y = gc.placeholder("y", (None,), "int64")
    W = gc.parameter("W", rng.normal(0, 0.5, (4, 3)))
    b = gc.parameter("b", rng.normal(0, 0.5, (3,)))
    loss = gc.cross_entropy(gc.tanh(x @ W + b), y)
    feeds = {"x": rng.normal(size=(5, 4)), "y": rng.integers(0, 3, 5),
             "W": W.value, "b": b.value}
    return x, y, W, b, loss, feeds


def test_mlp_gradient_reads_well_and_runs():
    x, y, W, b, loss, feeds = _mlp()
    dW, db = gc.grad(loss, [W, b])
    for t in (loss, dW, db):
        text = check_text(t, {k: v for k, v in feeds.items()})
        # no internal spellings: run-time sizes, broadcast chains and reshapes read as NumPy
        for clumsy in ("size(", "None", "broadcast_to(reshape", "reshape(broadcast", "?"):
            assert clumsy not in text, text
        assert max(len(line) for line in text.splitlines()) <= 110, text
    text = str(dW)
    assert text.splitlines()[-1].startswith("x.T @ ")
    assert "x.shape[0]" in text
    names = re.findall(r"^(t\d+) = ", text, flags=re.M)
    assert names == [f"t{k}" for k in range(1, len(names) + 1)]  # consecutive numbering
    assert str(db).splitlines()[-1].startswith("sum(") and "axis=0" in str(db)


def test_shared_subexpressions_become_lets():
    x = gc.placeholder("x", (3,), F64)
    h = gc.exp(x) + 1.0
    y = gc.sin(h) * h + gc.sum(h)
    text = check_text(y, {"x": np.array([0.1, 0.2, 0.3])})
    assert text.splitlines()[0] == "t1 = exp(x) + 1"
    assert text.count("exp(") == 1 and text.count("t1") == 4


def test_user_names_never_clash_with_let_names():
    t1 = gc.placeholder("t1", (2,), F64)
    h = gc.exp(t1)
    y = h * h
    text = check_text(y, {"t1": np.array([0.5, 1.0])})
    assert text.splitlines()[0] == "t2 = exp(t1)"


def test_named_and_anonymous_runtime_sizes():
    x = gc.placeholder("x", ("batch", 3), F64)
    z = gc.placeholder("z", (2, None), F64)
    text = check_text(gc.mean(x, axis=0) + gc.mean(z), {"x": np.ones((4, 3)) * 2,
                                                         "z": np.arange(6.).reshape(2, 3)},
                      extra={"batch": 4})
    assert "batch" in text and "z.shape[1]" in text and "None" not in text


def test_runtime_size_of_an_input_outside_the_graph():
    """d sum(2x)/dx no longer contains x, but its shape is still written after x."""
    x = gc.placeholder("x", (None, 3), F64)
    g = gc.grad(gc.sum(2.0 * x), x)
    assert not any(n is x for n in topo_order(g))
    text = check_text(g, {x: np.zeros((5, 3))})
    assert text == "broadcast_to(2, (x.shape[0], 3))"


@pytest.mark.parametrize("build", [
    lambda a, b: a.T @ b,
    lambda a, b: gc.transpose(gc.reshape(a, (3, 1, 2)), (1, 2, 0)),
    lambda a, b: gc.reshape(gc.sum(a, axis=1), (1, 3, 1)) * 2.0,
    lambda a, b: gc.broadcast_to(gc.sum(a * a, axis=0, keepdims=True), (4, 3, 2)),
    lambda a, b: gc.max(a, axis=0) - gc.min(b, axis=(0, 1), keepdims=True),
    lambda a, b: gc.where(a > 0.5, a ** 2.0, -a) / (1.0 + gc.abs(a)),
    lambda a, b: gc.softmax(a @ b.T) @ gc.cast(gc.greater(b, 0.0), F64),
    lambda a, b: gc.logsumexp(a, axis=0),
    lambda a, b: -(-a) - (a - (b @ a.T) @ a) ** 2.0 ** 0.5 * -a,
])
def test_formula_text_runs_in_numpy(build):
    rng = np.random.default_rng(1)
    a = gc.placeholder("a", (3, 2), F64)
    b = gc.placeholder("b", (3, 2), F64)
    check_text(build(a, b), {"a": rng.uniform(-1, 1, (3, 2)), "b": rng.uniform(-1, 1, (3, 2))})


def test_precedence_round_trips():
    """Operator precedence: the printed text parses back to the same values."""
    x = gc.placeholder("x", (3,), F64)
    y = gc.placeholder("y", (3,), F64)
    exprs = [x - (y - x), (x - y) - x, x / (y / x), (x / y) / x, -x ** 2.0, (-x) ** 2.0,
             x ** (y ** 2.0), (x ** y) ** 2.0, -(x * y), x * (y + x), (x + y) * x, -(x - y),
             x @ y * 2.0, 2.0 * (x @ y), gc.neg(gc.neg(x)), x - -y]
    feeds = {"x": np.array([0.5, 1.5, 2.0]), "y": np.array([1.25, 0.75, 3.0])}
    for e in exprs:
        check_text(e, feeds)


def test_matmul_mixed_with_products_is_parenthesised():
    a = gc.placeholder("a", (2, 2), F64)
    b = gc.placeholder("b", (2, 2), F64)
    feeds = {"a": np.array([[1., 2.], [3., 4.]]), "b": np.array([[0.5, -1.], [2., 0.25]])}
    for e, want in [((a * 2.0) @ b, "(a * 2) @ b"), (2.0 * (a @ b), "2 * (a @ b)"),
                    ((a @ b) * a, "(a @ b) * a"), (a @ (b * a), "a @ (b * a)"),
                    (a @ b @ a, "a @ b @ a"), (a @ (b @ a), "a @ (b @ a)"),
                    (-(a @ b), "-(a @ b)"), ((a @ b) / a, "(a @ b) / a")]:
        assert check_text(e, feeds) == want


def test_gradients_of_random_graphs_print_as_runnable_numpy():
    rng = np.random.default_rng(2)
    x = gc.placeholder("x", (None, 3), F64)
    W = gc.placeholder("W", (3, 2), F64)
    v = gc.placeholder("v", (2,), F64)
    y = gc.sum(gc.sigmoid(x @ W + v) * gc.max(x, axis=1, keepdims=True)) / gc.mean(v * v)
    feeds = {"x": rng.normal(size=(4, 3)), "W": rng.normal(size=(3, 2)), "v": rng.normal(size=2)}
    for g in gc.grad(y, [x, W, v]):
        check_text(g, feeds)


def printing_graph(ops, a, b, c):
    """A random graph over a (2, 3), b (3,), c (None, 1) from hypothesis-drawn steps."""
    pool = [a, b, c]
    for kind, i, j in ops:
        p, q = pool[i % len(pool)], pool[j % len(pool)]
        if kind == 0:
            pool.append(p + q if gc.ir.broadcast_dims([p.dims, q.dims]) else p + 1.0)
        elif kind == 1:
            pool.append(p * q if gc.ir.broadcast_dims([p.dims, q.dims]) else p * 2.0)
        elif kind == 2:
            pool.append(gc.tanh(p))
        elif kind == 3:
            pool.append(gc.sum(p, axis=-1, keepdims=bool(j % 2)) if p.ndim else p)
        elif kind == 4:
            pool.append(p.T)
        elif kind == 5:
            pool.append(gc.max(p, axis=0) if p.ndim else p)
        elif kind == 6:
            pool.append(gc.mean(p))
        elif kind == 7:
            pool.append(gc.exp(-p * p))
        elif kind == 8:
            pool.append(gc.reshape(p, (-1,)) if all(isinstance(d, int) for d in p.dims) else p)
        else:
            pool.append(gc.where(p > 0.0, p, q) if gc.ir.broadcast_dims([p.dims, q.dims]) else p)
    return pool[-1]


def test_property_str_of_graph_and_its_gradient_runs():
    """str() of random graphs and of their gradients runs in NumPy and gives the
    interpreter's values. Draws that no feed can run are discarded, and only those: at
    least 20 of the 30 examples must reach the comparison."""
    compared = []

    @settings(max_examples=30, deadline=None)
    @given(ops=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 50), st.integers(0, 50)),
                        min_size=1, max_size=7))
    def run(ops):
        a = gc.placeholder("a", (2, 3), F64)
        b = gc.placeholder("b", (3,), F64)
        c = gc.placeholder("c", (None, 1), F64)
        out = printing_graph(ops, a, b, c)
        feeds = {a: np.array([[0.3, -1.2, 0.7], [1.1, 0.2, -0.4]]), b: np.array([0.5, -0.9, 1.3]),
                 c: np.array([[0.25], [-0.6]])}
        extra = {"N": 2}  # c's run-time size, for formulas that no longer mention c
        try:
            value = gc.evaluate(out, feeds)
        except gc.EvalError as e:
            # c's run-time size was unified with 3 by broadcasting: this feed (2 rows) cannot
            # run it. Any other failure of the interpreter is a bug and propagates.
            if "could not be broadcast" not in str(e):
                raise
            assume(False)
        check_text(out, feeds, extra)
        used = [t for t in (a, b, c) if any(n is t for n in topo_order(out))]
        if out.dtype.kind == "f" and used:
            seed = np.full(np.shape(value), 0.5)
            for g in gc.grad(out, used, seed=gc.constant(seed)):
                check_text(g, feeds, extra)
        compared.append(len(ops))

    run()
    assert len(compared) >= 20, f"only {len(compared)} of 30 random graphs were compared"


def test_deep_graph_prints_without_recursion():
    x = gc.placeholder("x", (3,), F64)
    y = x
    for k in range(10_000):
        y = gc.sin(y) + 0.5 if k % 2 else y * 0.999
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        start = time.perf_counter()
        text = str(y)
        listing = gc.show(y)
        assert time.perf_counter() - start < 20
    finally:
        sys.setrecursionlimit(limit)
    assert listing.count("\n") >= 10_000
    assert max(len(line) for line in text.splitlines()) < 200
    x0 = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(run_text(text, {"x": x0}), gc.evaluate(y, {x: x0}), rtol=1e-9)


# ---- show ------------------------------------------------------------------------------------

def test_show_numbers_shown_lines_consecutively():
    x, y, W, b, loss, feeds = _mlp()
    dW, db = gc.grad(loss, [W, b])
    text = gc.show([loss, dW, db])
    defined = re.findall(r"^  (t\d+): ", text, flags=re.M)
    assert defined == [f"t{k}" for k in range(1, len(defined) + 1)]
    computed = [n for n in topo_order([loss, dW, db])
                if n.op not in ("placeholder", "parameter", "constant")]
    assert len(defined) == len(computed)
    assert re.search(r"return t\d+, t\d+, t\d+$", text.splitlines()[-2])
    # every name used is defined before (or is an input)
    seen = {"x", "y", "W", "b"}
    for line in text.splitlines()[1:-2]:
        name, rhs = line.strip().split(": ", 1)
        for ref in re.findall(r"\bt\d+\b", rhs.split(" = ", 1)[1]):
            assert ref in seen, line
        seen.add(name)


def test_show_large_constant_gets_a_line():
    x = gc.placeholder("x", (20,), F64)
    text = gc.show(x * gc.constant(np.arange(20.0)))
    assert "t1: f64[20] = constant(<20 values>)" in text and "t2: f64[20] = mul(x, t1)" in text


# ---- expr and latex ------------------------------------------------------------------------------

def test_expr_runtime_size_symbol():
    x = gc.placeholder("x", (None,), F64)
    e = gc.expr(gc.grad(gc.mean(x * x), x))
    n = sympy.Symbol("x.shape[0]", positive=True, integer=True)
    assert sympy.simplify(e - 2 * sympy.Symbol("x", real=True) / n) == 0


def test_expr_rejects_non_elementwise():
    x = gc.placeholder("x", (3,), F64)
    with pytest.raises(gc.GraphcError, match="not elementwise"):
        gc.expr(gc.sum(x))


def test_latex_of_elementwise_is_sympy_latex():
    a = gc.parameter("a", [2., 4.])
    b = gc.parameter("b", [7., 5.])
    da, db = gc.grad(3 * a**3 - b**2, [a, b], seed=gc.constant([1., 1.]))
    assert gc.latex(da) == sympy.latex(gc.expr(da)) == "9 a^{2}"
    assert gc.latex(db) == "- 2 b"
    assert da._repr_latex_() == "$$9 a^{2}$$"


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0 and s.count(r"\left") == s.count(r"\right")


def test_latex_of_any_graph():
    x, y, W, b, loss, feeds = _mlp()
    dW, db = gc.grad(loss, [W, b])
    for t in (loss, dW, db):
        tex = gc.latex(t)
        assert _balanced(tex), tex
        assert "None" not in tex and "?" not in tex
    tex = gc.latex(dW)
    assert tex.startswith(r"\begin{aligned}") and tex.endswith(r"\end{aligned}")
    assert r"{x}^{\top}" in tex and r"\sum_{\mathrm{axis}=1}" in tex and r"\dim_{0} x" in tex
    assert dW._repr_latex_() == f"$${tex}$$"
    u = gc.placeholder("my_var", (2, 2), F64)
    tex = gc.latex(gc.sum(gc.softmax(u) @ u.T, axis=0))
    assert _balanced(tex) and "my" in tex


def test_textbook_gradients_print_as_runnable_numpy():
    """str() of every textbook partial derivative runs in NumPy to gc.evaluate's value."""
    from test_sympy_textbook import GC, TEXTBOOK

    rng = np.random.default_rng(3)
    for name, (formula, names) in sorted(TEXTBOOK.items()):
        params = [gc.parameter(v, rng.uniform(0.3, 2.0), dtype=F64) for v in names]
        for g in gc.grad(formula(GC, *params), params):
            text = check_text(g, {}, extra={p.name: p.value for p in params})
            assert "None" not in text and "broadcast_to" not in text, (name, text)
