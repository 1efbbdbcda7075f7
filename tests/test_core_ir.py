"""The IR: hash-consing, identity semantics, deep graphs, graph views, printing, shapes
with run-time dims, and dtype promotion."""
import sys

import networkx as nx
import numpy as np
import pytest

import graphc as gc
from graphc.ir import topo_order

# ---- hash-consing and identity -------------------------------------------------------------


def test_structurally_equal_nodes_are_one_node():
    x = gc.placeholder("x", (3,))
    assert (x * 2 + 1) is (x * 2 + 1)
    assert gc.exp(x) is gc.exp(x)
    assert gc.constant([1.0, 2.0]) is gc.constant([1.0, 2.0])
    assert gc.constant([1.0, 2.0]) is not gc.constant([1.0, 2.0], "float64")
    assert x.sum(0) is not x.max(0)


def test_leaves_are_distinct_even_with_equal_names():
    a1, a2 = gc.parameter("a", [1.0]), gc.parameter("a", [1.0])
    p1, p2 = gc.placeholder("x", (2,)), gc.placeholder("x", (2,))
    assert a1 is not a2 and p1 is not p2
    assert (a1 + 1) is not (a2 + 1)


def test_eq_not_overloaded_tensors_are_dict_keys():
    x, y = gc.placeholder("x", (2,)), gc.placeholder("y", (2,))
    assert (x == y) is False and (x == x) is True and (x != y) is True
    d = {x: "x", y: "y", x + y: "sum"}
    assert d[x] == "x" and d[y] == "y" and d[x + y] == "sum"  # x + y is hash-consed
    assert len({x, y, x, y}) == 2
    assert isinstance(gc.equal(x, y), gc.Tensor) and gc.equal(x, y).dtype == np.bool_


def test_parameter_value_is_state():
    p = gc.parameter("p", [1.0, 2.0])
    assert p.value.dtype == np.float32
    p.value = [3.0, 4.0]
    np.testing.assert_array_equal(gc.evaluate(p * 2), [6.0, 8.0])
    with pytest.raises(gc.ShapeError, match=r"\(2,\)"):
        p.value = [1.0, 2.0, 3.0]
    with pytest.raises(gc.GraphcError):
        (p * 2).value = 1.0
    out = gc.evaluate(p)  # the caller may write into results: never the state itself
    out[0] = 100
    assert p.value[0] == 3.0
    c = gc.constant([1.0, 2.0])
    out = gc.evaluate(c)
    out[0] = 5
    assert c.value[0] == 1.0
    out = gc.evaluate(gc.stop_gradient(p))
    out[1] = -1
    assert p.value[1] == 4.0


# ---- deep graphs under the default recursion limit ----------------------------------------

DEPTH = 10_000


def test_10000_deep_chain():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default; pytest's own frames fit well within
    try:
        x = gc.placeholder("x", (3,), "float64")
        y = x
        for k in range(DEPTH):
            y = gc.sin(y) + 0.5 if k % 2 else y * 0.999
        order = topo_order(y)
        assert len(order) >= DEPTH
        xv = np.array([0.1, 0.2, 0.3])
        want = xv.copy()
        for k in range(DEPTH):
            want = np.sin(want) + 0.5 if k % 2 else want * 0.999
        np.testing.assert_allclose(gc.evaluate(y, {x: xv}), want, rtol=1e-12)
        text = gc.show(y)
        assert text.count("\n") >= DEPTH
        assert len(gc.to_dot(y).splitlines()) > 2 * DEPTH
        g = gc.to_networkx(y)
        assert g.number_of_nodes() == len(order)
        # differentiating walks the whole chain too: d/dx of y = x*1.0001 + 0.001*sin(...)
        z = x
        for k in range(DEPTH // 2):
            z = z * 1.0001 if k % 2 else z + 0.001 * gc.sin(z)
        dz = gc.grad(z.sum(), x)
        v, d = xv.copy(), np.ones(3)
        for k in range(DEPTH // 2):
            v, d = (v * 1.0001, d * 1.0001) if k % 2 else \
                (v + 0.001 * np.sin(v), d * (1 + 0.001 * np.cos(v)))
        np.testing.assert_allclose(gc.evaluate(dz, {x: xv}), d, rtol=1e-10)
        del y, z, dz, order, g  # freeing a deep chain must not recurse either
    finally:
        sys.setrecursionlimit(old)


# ---- graph views -------------------------------------------------------------------------------

def test_topo_order_inputs_first_each_node_once():
    x = gc.placeholder("x", (2,))
    h = gc.exp(x)
    y = h * h + h
    order = topo_order([y, h])
    pos = {id(n): k for k, n in enumerate(order)}
    assert len(pos) == len(order) == 4  # x, exp, mul, add: each once
    for n in order:
        assert all(pos[id(i)] < pos[id(n)] for i in n.inputs)


def test_to_networkx():
    x = gc.placeholder("x", (None, 3))
    W = gc.parameter("W", np.ones((3, 2), np.float32))
    y = gc.relu(x @ W)
    g = gc.to_networkx(y)
    order = topo_order(y)
    assert isinstance(g, nx.MultiDiGraph) and nx.is_directed_acyclic_graph(g)
    assert set(g.nodes) == set(order)
    assert g.nodes[x]["op"] == "placeholder" and g.nodes[y]["shape"] == (None, 2)
    assert g.number_of_edges() == sum(len(n.inputs) for n in order)
    mm = x @ W
    assert sorted(d["index"] for _, _, d in g.in_edges(mm, data=True)) == [0, 1]
    for n in nx.topological_sort(g):
        assert all(i in g.pred[n] for i in n.inputs)


def test_to_dot_escapes_user_names():
    x = gc.placeholder('we"ird\\name\n', (2,))
    dot = gc.to_dot(gc.exp(x))
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert dot.count("->") == 1
    assert 'we\\"ird\\\\name\\n' in dot
    for line in dot.splitlines()[3:-1]:  # every label stays one quoted string per line
        if "label=" in line:
            label = line.split('label="', 1)[1].rsplit('"];', 1)[0]
            assert '"' not in label.replace('\\"', "")


# ---- printing ------------------------------------------------------------------------------

def test_constant_shows_its_values():
    t = gc.constant([[9, 8], [7, 6]])
    assert t.shape == (2, 2) and t.dtype == np.int64
    for text in (repr(t), gc.show(t), str(t)):
        assert all(v in text for v in "9876"), text
    np.testing.assert_array_equal(gc.evaluate(t), [[9, 8], [7, 6]])


def test_repr_shows_name_op_shape_dtype():
    x = gc.placeholder("inputs", (None, 3), "float64")
    r = repr(x)
    assert "inputs" in r and "placeholder" in r and "(None, 3)" in r and "float64" in r
    r = repr(gc.parameter("w", np.zeros((3, 2))))
    assert "'w'" in r and "parameter" in r and "(3, 2)" in r and "float64" in r
    r = repr(gc.exp(x))
    assert "exp" in r and "(None, 3)" in r and "float64" in r and "test_core_ir.py" in r


def test_show_lists_every_computed_node():
    x = gc.placeholder("x", (None, 3))
    W = gc.parameter("W", np.ones((3, 2), np.float32))
    y = gc.softmax(x @ W)
    text = gc.show(y)
    assert "x: f32[None,3]" in text and "W: f32[3,2] param" in text
    computed = [n for n in topo_order(y) if n.op not in ("placeholder", "parameter", "constant")]
    body = [ln for ln in text.splitlines() if " = " in ln]
    assert len(body) == len(computed)
    assert [ln.split(" = ")[1].split("(")[0] for ln in body] == [n.op for n in computed]
    assert "matmul(x, W)" in text
    names = [ln.split(":")[0].strip() for ln in body]
    assert names == [f"t{k}" for k in range(1, len(body) + 1)]  # consecutive over lines shown


# ---- shapes with run-time dims ---------------------------------------------------------------

def test_none_dims_propagate():
    x = gc.placeholder("x", (None, 784))
    W = gc.parameter("W", np.zeros((784, 256), np.float32))
    h = x @ W
    assert h.shape == (None, 256)
    assert (h + np.zeros(256, np.float32)).shape == (None, 256)
    assert h.sum(0).shape == (256,) and h.sum(1).shape == (None,)
    assert h.T.shape == (256, None) and h.mean(-1, keepdims=True).shape == (None, 1)
    assert x.reshape(-1, 28, 28).shape == (None, 28, 28)
    assert gc.softmax(h).shape == (None, 256)
    assert (x.reshape(-1, 28, 28) @ np.ones((28, 5), np.float32)).shape == (None, 28, 5)


def test_named_dims_unify():
    x = gc.placeholder("x", ("batch", 3))
    y = gc.placeholder("y", ("batch", 3))
    z = gc.placeholder("z", (None, 3))
    assert (x + y).shape == ("batch", 3)
    assert (x + z).shape == ("batch", 3) and (z + x).shape == ("batch", 3)
    assert (x @ gc.placeholder("w", (3, "hidden"))).shape == ("batch", "hidden")
    assert (x * gc.placeholder("c", ("batch", 1))).shape == ("batch", 3)
    assert (x + np.ones((1, 3), np.float32)).shape == ("batch", 3)
    assert (x.T @ y).shape == (3, 3)
    with pytest.raises(gc.FeedError, match="batch"):
        gc.evaluate(x + y, {x: np.ones((2, 3)), y: np.ones((4, 3))})


# ---- dtypes --------------------------------------------------------------------------------------

def test_python_floats_default_to_float32():
    assert gc.constant(1.5).dtype == np.float32
    assert gc.constant([1.0, 2.0]).dtype == np.float32
    assert gc.parameter("p", [[1.0]]).dtype == np.float32
    assert gc.constant([1, 2]).dtype == np.int64
    assert gc.constant(True).dtype == np.bool_
    assert (gc.constant([1, 2]) * 0.5).dtype == np.float32


def test_numpy_data_keeps_its_dtype():
    assert gc.constant(np.zeros(2)).dtype == np.float64
    assert gc.parameter("w", np.zeros(2, np.float32)).dtype == np.float32
    assert gc.constant(np.arange(3, dtype=np.int32)).dtype == np.int32
    assert gc.constant(np.float64(1.0)).dtype == np.float64
    x = gc.placeholder("x", (2,))
    assert (x + np.zeros(2)).dtype == np.float64  # a float64 array is strong
    assert (x * np.float32(2)).dtype == np.float32


def test_int_plus_float32_is_float32():
    i = gc.placeholder("i", (2,), "int64")
    f = gc.placeholder("f", (2,))
    assert (i + f).dtype == np.float32 and (f * i).dtype == np.float32
    assert (i + 1).dtype == np.int64 and (i + 1.5).dtype == np.float32
    i32 = gc.placeholder("j", (2,), "int32")
    assert (i32 + 1).dtype == np.int32 and (i32 + i).dtype == np.int64
    assert (i32 / 2).dtype == np.float32 and gc.mean(i32).dtype == np.float32
    got = gc.evaluate(i + f, {i: [1, 2], f: [0.5, 0.25]})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [1.5, 2.25])


def test_float64_throughout():
    x = gc.placeholder("x", (None, 3), "float64")
    W = gc.parameter("W", np.ones((3, 2)))
    y = gc.softmax(gc.tanh(x @ W) * 0.1 + 1) / 3 + gc.logsumexp(x, -1, keepdims=True)
    loss = gc.cross_entropy(y, gc.placeholder("y", (None,), "int32")) + 1e-300
    dW = gc.grad(loss, W)
    for n in topo_order([y, loss, dW]):
        if n.op not in ("one_hot", "placeholder") and n.dtype.kind == "f":
            assert n.dtype == np.float64, (n.op, n.dtype)
    xv = np.full((1, 3), 1 / 3)
    got = gc.evaluate(x * 0.1, {x: xv})
    assert got.dtype == np.float64 and got[0, 0] == xv[0, 0] * 0.1  # 0.1 never rounded
    assert gc.evaluate(loss, {"x": np.ones((2, 3)), "y": [0, 1]}).dtype == np.float64


def test_bool_ops():
    x = gc.placeholder("x", (3,))
    m = (x > 0) * (x < 1)  # logical and
    assert m.dtype == np.bool_
    np.testing.assert_array_equal(gc.evaluate(m, {x: [-1.0, 0.5, 2.0]}), [False, True, False])
