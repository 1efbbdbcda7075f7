"""gc.compile and Function: inputs, feeds, validation, parameters, updates, cache, source."""
from __future__ import annotations

import keyword

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.codegen.naming import comment_text, sanitize_names


def _x_w():
    x = gc.placeholder("x", (None, 3), "float64")
    w = gc.parameter("w", np.arange(3.0))
    return x, w


# ---- inputs and feeds ---------------------------------------------------------------------------

def test_default_input_order_is_first_appearance_in_topo_order():
    a = gc.placeholder("a", (2,))
    b = gc.placeholder("b", (2,))
    f = gc.compile([b * 2 + a])
    assert [p.name for p in f.inputs] == [p.name for p in gc.topo_order([b * 2 + a])
                                          if p.op == "placeholder"]
    assert [p.name for p in f.inputs] == ["b", "a"]


def test_positional_keyword_and_mixed_feeds_agree_with_interpreter():
    a = gc.placeholder("a", (2,), "float64")
    b = gc.placeholder("b", (2,), "float64")
    y = a - 2 * b
    f = gc.compile(y, inputs=[a, b])
    av, bv = np.array([1.0, 2.0]), np.array([5.0, 7.0])
    want = gc.evaluate(y, {a: av, b: bv})
    for got in (f(av, bv), f(a=av, b=bv), f(av, b=bv), f(b=bv, a=av)):
        np.testing.assert_array_equal(got, want)


def test_feed_errors_name_placeholder_and_shapes():
    x, w = _x_w()
    f = gc.compile(x @ w, inputs=[x])
    with pytest.raises(gc.FeedError, match=r"'x'.*\(None, 3\).*\(4, 2\)"):
        f(np.ones((4, 2)))
    with pytest.raises(gc.FeedError, match=r"'x'.*rank 2.*rank 1"):
        f(np.ones(3))
    with pytest.raises(gc.FeedError, match="missing input 'x'"):
        f()
    with pytest.raises(gc.FeedError, match="unknown input 'y'"):
        f(np.ones((1, 3)), y=1)
    with pytest.raises(gc.FeedError, match="both by position and by keyword"):
        f(np.ones((1, 3)), x=np.ones((1, 3)))
    with pytest.raises(gc.FeedError, match="positional"):
        f(np.ones((1, 3)), np.ones((1, 3)))
    labels = gc.placeholder("labels", (None,), "int64")
    g = gc.compile(gc.cast(labels, "float64") * 2, inputs=[labels])
    with pytest.raises(gc.FeedError, match="'labels'.*int64.*float64"):
        g(np.array([1.5]))


def test_inconsistent_run_time_sizes_are_a_feed_error():
    x = gc.placeholder("x", (None, 3))
    labels = gc.placeholder("labels", (None,), "int64")
    f = gc.compile(gc.cross_entropy(x, labels), inputs=[x, labels])
    f(np.zeros((4, 3), np.float32), np.zeros(4, np.int64))
    with pytest.raises(gc.FeedError, match="'labels'.*5.*'x'.*4|'x'.*4.*'labels'.*5"):
        f(np.zeros((4, 3), np.float32), np.zeros(5, np.int64))


def test_missing_input_in_explicit_inputs_is_a_compile_error():
    a = gc.placeholder("a", (2,))
    b = gc.placeholder("b", (2,))
    with pytest.raises(gc.CompileError, match=r"\['b'\]"):
        gc.compile(a + b, inputs=[a])


def test_named_dims_bind_across_inputs():
    x = gc.placeholder("x", ("batch", 2), "float64")
    y = gc.placeholder("y", ("batch",), "float64")
    out = gc.sum(x, 1) * y
    f = gc.compile(out, inputs=[x, y])
    xv, yv = np.ones((5, 2)), np.arange(5.0)
    np.testing.assert_array_equal(f(xv, yv), gc.evaluate(out, {x: xv, y: yv}))
    with pytest.raises(gc.FeedError, match="batch"):
        f(np.ones((5, 2)), np.arange(4.0))


def test_output_structure_single_list_tuple():
    x = gc.placeholder("x", (2,), "float64")
    v = np.array([1.0, 2.0])
    assert isinstance(gc.compile(x * 2)(v), np.ndarray)
    assert isinstance(gc.compile([x * 2, x + 1])(v), list)
    assert isinstance(gc.compile((x * 2, x + 1))(v), tuple)


# ---- parameters and updates -------------------------------------------------------------------

def test_parameters_are_shared_between_functions():
    x, w = _x_w()
    y = x @ w
    predict = gc.compile(y, inputs=[x])
    step = gc.compile(y, inputs=[x], updates={w: w + 1.0})
    xv = np.ones((2, 3))
    before = predict(xv)
    step(xv)
    np.testing.assert_array_equal(w.value, np.arange(3.0) + 1)
    np.testing.assert_allclose(predict(xv), before + 3.0)
    w.value = np.zeros(3)
    np.testing.assert_array_equal(predict(xv), gc.evaluate(y, {x: xv}))


def test_nothing_written_when_a_call_fails():
    x, w = _x_w()
    step = gc.compile(gc.sum(x @ w), inputs=[x], updates={w: w * 2.0})
    with pytest.raises(gc.FeedError):
        step(np.ones((2, 4)))
    np.testing.assert_array_equal(w.value, np.arange(3.0))
    checked = gc.compile(gc.sum(x @ w), inputs=[x], updates={w: w / gc.sum(x * 0.0)},
                         check_numerics=True)
    with pytest.raises(gc.NumericsError):
        checked(np.ones((2, 3)))
    np.testing.assert_array_equal(w.value, np.arange(3.0))


def test_failure_inside_the_backend_writes_nothing(monkeypatch):
    x, w = _x_w()
    v = gc.parameter("v", [1.0, 2.0])
    step = gc.compile(gc.sum(x @ w), inputs=[x], updates={w: w * 2.0, v: v + 1.0})

    def boom(*a, **k):
        raise RuntimeError("backend failed")
    monkeypatch.setattr(step, "_exe", boom)
    with pytest.raises(RuntimeError):
        step(np.ones((2, 3)))
    np.testing.assert_array_equal(w.value, np.arange(3.0))
    np.testing.assert_array_equal(v.value, [1.0, 2.0])


def test_update_errors():
    x, w = _x_w()
    with pytest.raises(gc.CompileError, match="parameters"):
        gc.compile(x, updates={x: x})
    with pytest.raises(gc.ShapeError, match="'w'.*\\(2,\\).*\\(3,\\)"):
        gc.compile(x, updates={w: gc.constant([1.0, 2.0], "float64")})


def test_update_only_function_and_constant_updates():
    w = gc.parameter("w", [1.0, 2.0])
    count = gc.parameter("count", 0.0)
    f = gc.compile([], updates={w: w * 3.0, count: count + 1.0})
    assert f() == []
    f()
    np.testing.assert_allclose(w.value, [9.0, 18.0])
    np.testing.assert_allclose(count.value, 2.0)
    g = gc.compile([], updates={w: 0.5})    # broadcast constant
    g()
    np.testing.assert_allclose(w.value, [0.5, 0.5])


def test_update_state_does_not_alias_outputs_or_feeds():
    x = gc.placeholder("x", (2,), "float32")
    w = gc.parameter("w", [0.0, 0.0])
    f = gc.compile(w + 1.0, inputs=[x], updates={w: x})
    feed = np.array([1.0, 2.0], np.float32)
    f(feed)
    feed[:] = 99.0
    np.testing.assert_array_equal(w.value, [1.0, 2.0])
    g = gc.compile(w * 2.0, updates={w: w * 2.0})
    out = g()
    out[:] = -1.0
    np.testing.assert_array_equal(w.value, [2.0, 4.0])


def test_concurrent_calls_share_scratch_buffers_safely():
    import threading

    x = gc.placeholder("x", (None, 8), "float64")
    y = gc.sum(gc.tanh(x) * gc.exp(-x), axis=1)
    f = gc.compile(y, inputs=[x])
    rng = np.random.default_rng(0)
    feeds = [rng.normal(size=(64, 8)) for _ in range(4)]
    want = [gc.evaluate(y, {x: v}) for v in feeds]
    errors = []

    def worker(k):
        for _ in range(50):
            if not np.allclose(f(feeds[k]), want[k], rtol=1e-12):
                errors.append(k)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---- cache, determinism, source ----------------------------------------------------------------

def test_compile_cache_reuses_the_first_result():
    x, w = _x_w()
    f1 = gc.compile(x @ w, inputs=[x])
    f2 = gc.compile(x @ w, inputs=[x])
    assert f1 is f2
    f3 = gc.compile(x @ w, inputs=[x], updates={w: w * 1.5})
    assert f3 is not f1


def _build_same_graph():
    x = gc.placeholder("x", (None, 3))
    w = gc.parameter("w", np.ones((3, 2), np.float32))
    loss = gc.mean(gc.tanh(x @ w) ** 2)
    return gc.compile(loss, updates={w: w - 0.1 * gc.grad(loss, w)})


def test_same_graph_gives_same_bytes():
    a, b = _build_same_graph(), _build_same_graph()
    assert a is not b     # different parameters: different graphs
    assert a.source == b.source


def test_source_is_readable_python_with_comments():
    f = _build_same_graph()
    (name, text), = f.source.items()
    assert name.endswith(".py")
    compile(text, name, "exec")
    assert "def compute(x, w, x_dim0, ws):" in text
    assert "# " in text and "np.matmul(x, w, out=" in text
    assert "import graphc" not in text


def test_stats_and_print():
    f = _build_same_graph()
    s = f.stats
    for key in ("passes", "nodes_before", "nodes_after", "buffers", "peak_bytes",
                "intermediate_bytes"):
        assert key in s
    assert s["nodes_after"] <= s["nodes_before"]
    text = str(f)
    assert "graphc.Function numpy" in text and "buffers=" in text


def test_hostile_names_are_sanitised():
    evil = 'x"\nimport os; os.system("echo pwned")  # \u00e9\u2603'
    names = [evil, "class", "x", "x", "y" * 5000, "", "ws", "np", "1st"]
    phs = [gc.placeholder(n, (2,), "float64") for n in names]
    total = phs[0]
    for p in phs[1:]:
        total = total + p
    f = gc.compile(total, inputs=phs)
    vals = [np.full(2, float(k)) for k in range(len(phs))]
    np.testing.assert_array_equal(f(*vals), gc.evaluate(total, dict(zip(phs, vals))))
    text = next(iter(f.source.values()))
    assert all(not line.lstrip().startswith("import os;") for line in text.splitlines())
    code = [line for line in text.splitlines() if "'" not in line and '"' not in line]
    assert max(len(line) for line in code) < 200   # identifiers are truncated
    compile(text, "m.py", "exec")
    # feeding by the hostile name still works; a hostile module name is sanitised too
    g = gc.compile(phs[0] * 2.0, name='m"""\n' + evil)
    (module_name, module_text), = g.source.items()
    assert module_name.isascii() and module_name[:-3].isidentifier()
    compile(module_text, module_name, "exec")
    np.testing.assert_array_equal(g(**{evil: vals[1]}), vals[1] * 2.0)


def test_deep_graph_compiles_iteratively():
    x = gc.placeholder("x", (2,), "float64")
    y = x
    for k in range(10000):
        y = gc.sin(y) if k % 2 else y * 1.0001
    f = gc.compile(y, inputs=[x], opt_level=0)
    v = np.array([0.3, 0.7])
    np.testing.assert_allclose(f(v), gc.evaluate(y, {x: v}), rtol=1e-12)


# ---- naming ----------------------------------------------------------------------------------

def test_sanitize_names_examples():
    assert sanitize_names(["x", "x", "x_1"], set()) == ["x", "x_1", "x_1_1"]
    assert sanitize_names(["for", "int", "np"], {"np"}) == ["for_1", "int_1", "np_1"]
    assert sanitize_names(["caf\u00e9", "\u2603", "a-b c"], set()) == ["cafe", "v", "a_b_c"]
    long = sanitize_names(["z" * 5000, "z" * 5000], set(), max_len=40)
    assert [len(n) for n in long] == [40, 40] and long[0] != long[1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=12))
def test_sanitize_names_gives_unique_identifiers(names):
    out = sanitize_names(names, {"np", "ws"}, max_len=20)
    assert len(out) == len(names) and len(set(out)) == len(out)
    for n in out:
        assert n.isidentifier() and n.isascii() and not keyword.iskeyword(n)
        assert n not in {"np", "ws"} and len(n) <= 20 and not n.startswith("__")
    assert sanitize_names(names, {"np", "ws"}, max_len=20) == out


def test_comment_text_is_one_safe_line():
    text = comment_text("a\nb\r*/ \u00e9" + "x" * 500)
    assert "\n" not in text and "\r" not in text and "*/" not in text and text.isascii()
    assert len(text) <= 200


# ---- examples (small sizes) ---------------------------------------------------------------------

@pytest.mark.parametrize("script,check", [
    ("mlp_train.py", lambda acc: acc >= 0.9),
    ("linear_regression.py", lambda err: err < 1e-6),
])
def test_examples_run_small(monkeypatch, capsys, script, check):
    import pathlib
    import runpy

    monkeypatch.setenv("GRAPHC_EXAMPLE_SMALL", "1")
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / script
    namespace = runpy.run_path(str(path), run_name="example")
    assert check(namespace["main"]())
    assert "loss" in capsys.readouterr().out
