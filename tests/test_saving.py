"""gc.save / gc.load (the graph file format), parameter files, hostile files, and pickling
tensors and Functions (multiprocessing with spawn)."""
from __future__ import annotations

import io
import itertools
import json
import multiprocessing
import pathlib
import pickle
import zipfile

import numpy as np
import pytest

import graphc as gc
from graphc.errors import FileFormatError, UsageError
from graphc.ir import topo_order
from helpers_backends import HAVE_C

RNG = np.random.default_rng(7)
X = RNG.normal(size=(6, 3))
Y = np.array([0, 1, 2, 3, 0, 1])


def training_step():
    """A small classifier's training step (two run-time batch sizes that broadcasting
    unifies, constants, reductions, reshapes, Adam's state and step counter)."""
    x = gc.placeholder("x", (None, 3), "float64")
    y = gc.placeholder("y", (None,), "int64")
    W = gc.parameter("W", RNG.normal(size=(3, 4)))
    b = gc.parameter("b", np.zeros(4))
    loss = gc.cross_entropy(gc.tanh(x @ W + b), y) + 1e-3 * (W * W).sum()
    return loss, [x, y], gc.optim.adam(loss, [W, b], lr=0.05)


def losses(f, steps=3):
    return [float(f(x=X, y=Y)) for _ in range(steps)]


def saved_bytes(outputs, inputs=None, updates=None) -> bytes:
    buf = io.BytesIO()
    gc.graph_format.write_graph(buf, outputs, inputs, updates)
    return buf.getvalue()


# ---- round trips -----------------------------------------------------------------------------

def test_round_trip_gives_identical_code_and_losses(tmp_path):
    loss, inputs, updates = training_step()
    path = tmp_path / "step.graphc"
    gc.save(path, loss, inputs=inputs, updates=updates)
    g = gc.load(path)
    assert [i.name for i in g.inputs] == ["x", "y"]
    assert sorted(p.name for p in g.updates) == sorted(p.name for p in updates)
    assert all(p not in updates for p in g.updates)          # fresh parameters
    f = gc.compile(loss, inputs=inputs, updates=updates)
    f2 = gc.compile(g.outputs, inputs=g.inputs, updates=g.updates)
    assert f2.source == f.source
    assert losses(f2) == losses(f)
    if HAVE_C:
        c1 = gc.compile(loss, inputs=inputs, updates=updates, backend="c")
        c2 = gc.compile(g.outputs, inputs=g.inputs, updates=g.updates, backend="c")
        assert c2.source == c1.source


def test_loading_twice_gives_independent_graphs(tmp_path):
    loss, inputs, updates = training_step()
    path = tmp_path / "step.graphc"
    gc.save(path, loss, inputs=inputs, updates=updates)
    g1, g2 = gc.load(path), gc.load(path)
    assert g1.inputs[0] is not g2.inputs[0]
    assert g1.inputs[0].dims[0] != g2.inputs[0].dims[0]     # fresh run-time sizes
    f1 = gc.compile(g1.outputs, inputs=g1.inputs, updates=g1.updates)
    f1(x=X, y=Y)                                               # trains g1's parameters only
    p1 = {p.name: p.value for p in g1.updates}
    p2 = {p.name: p.value for p in g2.updates}
    assert not np.array_equal(p1["W"], p2["W"])


def test_output_structures_and_attribute_values_survive():
    x = gc.placeholder("x", ("batch", 2), "float32")
    odd = gc.clip(x, -np.inf, 3.5).reshape(2, "batch").T
    for outputs in (odd, [odd, x.sum(axis=1)], (gc.exp(x),)):
        g = gc.graph_format.read_graph(io.BytesIO(saved_bytes(outputs)), "test")
        assert type(g.outputs) is type(outputs)
        assert g.inputs[0].dims == ("batch", 2)                # named sizes keep their name
        feed = np.arange(6, dtype=np.float32).reshape(3, 2)
        want, got = gc.evaluate(outputs, {x: feed}), gc.evaluate(g.outputs, {g.inputs[0]: feed})
        for w, v in zip(gc.ir.as_list(want), gc.ir.as_list(got)):
            np.testing.assert_array_equal(w, v)


def test_unsavable_attribute_is_refused_at_save_time():
    x = gc.placeholder("x", (2,))
    node = gc.ir.Tensor.make("sum", (x,), {"axes": (0,), "keepdims": False, "colour": 1j},
                             (), x.dtype)
    with pytest.raises(FileFormatError, match="colour"):
        saved_bytes(node)


# ---- parameter files -------------------------------------------------------------------------

def test_params_round_trip_and_all_or_nothing(tmp_path):
    loss, inputs, updates = training_step()
    f = gc.compile(loss, inputs=inputs, updates=updates)
    path = tmp_path / "params.npz"
    f.save_params(path)
    saved = {p.name: p.value.copy() for p in f.params + f.update_params}
    f(x=X, y=Y)
    f.load_params(path)
    for p in f.params + f.update_params:
        np.testing.assert_array_equal(p.value, saved[p.name])
    with np.load(path, allow_pickle=False) as npz:            # a plain .npz
        assert sorted(npz.files) == sorted(saved)

    W = next(p for p in updates if p.name == "W")
    other = gc.parameter("W", np.zeros((4, 3)))                # wrong shape
    before = W.value.copy()
    cases = {"missing parameter": [W, gc.parameter("nope", 1.0)],
             "not being loaded": [W],
             "float64.*the parameter is float64\\(4, 3\\)": [other] + [
                 p for p in f.params + f.update_params if p.name != "W"],
             "int32": [gc.parameter("W", np.zeros((3, 4), np.int32))] + [
                 p for p in f.params + f.update_params if p.name != "W"]}
    for message, params in cases.items():
        with pytest.raises(FileFormatError, match=message):
            gc.load_params(path, params)
    np.testing.assert_array_equal(W.value, before)
    np.testing.assert_array_equal(other.value, np.zeros((4, 3)))
    with pytest.raises(UsageError, match="two different parameters"):
        gc.save_params(path, [W, other])


# ---- hostile and corrupted files ------------------------------------------------------------

def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def edit_json(data: bytes, change) -> bytes:
    members = members_of(data)
    doc = json.loads(members["graph.json"])
    change(doc)
    members["graph.json"] = json.dumps(doc).encode()
    return zip_of(members)


def node_index(doc, op):
    return next(k for k, n in enumerate(doc["nodes"]) if n["op"] == op)


class Exploit:
    """Unpickling this would create the marker file: proof that something ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def npy_bytes(array, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def with_member(data: bytes, name: str, payload: bytes) -> bytes:
    members = members_of(data)
    members[name] = payload
    return zip_of(members)


def hostile_cases(tmp_path):
    loss, inputs, updates = training_step()
    good = saved_bytes(loss, inputs, updates)
    marker = tmp_path / "ran"
    array_name = next(n for n in members_of(good) if n.startswith("arrays/"))
    big = io.BytesIO()
    np.lib.format.write_array_header_1_0(big, {"descr": "<f8", "fortran_order": False,
                                               "shape": (10 ** 12,)})
    big.write(np.zeros(3).tobytes())

    def set_node(op, key, value):
        return lambda doc: doc["nodes"][node_index(doc, op)].__setitem__(key, value)

    def set_attr(op, key, value):
        return lambda doc: doc["nodes"][node_index(doc, op)]["attrs"].__setitem__(key, value)

    return {
        "truncated": (good[:len(good) // 2], "not a readable zip"),
        "bad json": (with_member(good, "graph.json", b"{\"format\": "), "not valid JSON"),
        "unknown op": (edit_json(good, set_node("tanh", "op", "launch_missiles")),
                       "unknown op 'launch_missiles'"),
        "wrong version": (edit_json(good, lambda d: d.__setitem__("version", 99)),
                          "version 99 is not supported"),
        "attribute type": (edit_json(good, set_attr("sum", "keepdims", {"int": 1})),
                           "attribute 'keepdims' must be a bool"),
        "shape rule": (edit_json(good, lambda d: next(n for n in d["nodes"] if n.get(
            "name") == "x").__setitem__("dims", [n for n in d["nodes"] if n.get(
                "name") == "x"][0]["dims"][:1] + [5])),
                       "refused by its shape rule: matmul"),
        "traversal path": (with_member(good, "../../evil.npy", npy_bytes(np.zeros(1))),
                           "unexpected member '../../evil.npy'"),
        "absolute path": (with_member(good, "/tmp/evil.npy", npy_bytes(np.zeros(1))),
                          "unexpected member '/tmp/evil.npy'"),
        "pickle payload": (with_member(good, array_name, npy_bytes(
            np.array([Exploit(str(marker))], dtype=object), allow_pickle=True)),
            "holds dtype object"),
        "huge shape": (with_member(good, array_name, big.getvalue()),
                       "declares shape \\(1000000000000,\\)"),
        "input out of range": (edit_json(good, set_node("tanh", "inputs", [999])),
                               "input index 999 is out of range"),
        "compressed array": (deflated(good, array_name), "is compressed"),
        "unexpected key": (edit_json(good, set_node("placeholder", "attrs", {})),
                           "\\(placeholder\\) unexpected key\\(s\\) \\['attrs'\\]"),
    }, marker


def deflated(data: bytes, name: str) -> bytes:
    """``data`` with member ``name`` compressed (a decompression bomb's shape)."""
    members = members_of(data)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for member, payload in members.items():
            zf.writestr(member, payload, compress_type=zipfile.ZIP_DEFLATED if member == name
                        else zipfile.ZIP_STORED)
    return buf.getvalue()


def test_hostile_files_are_clear_errors_and_run_nothing(tmp_path):
    cases, marker = hostile_cases(tmp_path)
    for label, (data, message) in cases.items():
        path = tmp_path / f"{label.replace(' ', '_')}.graphc"
        path.write_bytes(data)
        with pytest.raises(FileFormatError, match=message):
            gc.load(path)
    assert not marker.exists()
    assert not (tmp_path.parent / "evil.npy").exists()


# ---- pickling -------------------------------------------------------------------------------

def test_pickled_tensors_share_their_parameters():
    loss, inputs, updates = training_step()
    W = next(p for p in updates if p.name == "W")
    loaded_W, loaded_loss, loaded_update = pickle.loads(pickle.dumps([W, loss, updates[W]]))
    params = {id(n) for t in (loaded_loss, loaded_update) for n in topo_order(t)
              if n.op == "parameter" and n.name == "W"}
    assert params == {id(loaded_W)}
    np.testing.assert_array_equal(loaded_W.value, W.value)
    feeds = {p: v for p, v in zip(inputs, (X, Y))}
    loaded_inputs = {n.name: n for n in topo_order(loaded_loss) if n.op == "placeholder"}
    got = gc.evaluate(loaded_loss, {loaded_inputs["x"]: X, loaded_inputs["y"]: Y})
    assert got == gc.evaluate(loss, feeds)


def train_in_worker(step, steps):
    """Runs in a spawned process: the Function arrives pickled, compiles there."""
    out = [float(step(x=X, y=Y)) for _ in range(steps)]
    return out, {p.name: p.value for p in step.update_params}


def evaluate_in_worker(tensor):
    """Runs in a spawned process: the tensor (and its parameters' values) arrives pickled."""
    return gc.evaluate(tensor, {"x": X, "y": Y})


def test_tensor_and_function_through_multiprocessing_spawn():
    loss, inputs, updates = training_step()
    f = gc.compile(loss, inputs=inputs, updates=updates)
    f(x=X, y=Y)
    data = pickle.dumps(f)
    assert b"ctypes" not in data and b"CDLL" not in data
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        remote_loss = pool.apply(evaluate_in_worker, (loss,))
        remote_losses, remote_params = pool.apply(train_in_worker, (f, 2))
    assert remote_loss == gc.evaluate(loss, {"x": X, "y": Y})
    assert remote_losses == losses(f, 2)
    for p in f.update_params:
        np.testing.assert_array_equal(remote_params[p.name], p.value)


def test_every_op_attribute_has_a_file_rule():
    """A new op whose attribute the graph format cannot check fails here, naming it."""
    from graphc.bind import OPS
    from graphc.graph_codec import ATTRIBUTE_RULES, op_attribute_names
    missing = {f"{op.name}.{a}" for op in OPS.values() for a in op_attribute_names(op)
               if a not in ATTRIBUTE_RULES}
    assert not missing, f"graphc/graph_codec.py ATTRIBUTE_RULES lacks {sorted(missing)}"


def next_uid_below_a_power_of_ten(by: int) -> None:
    """Make the next placeholder's uid ``10**k - by`` (k: past every uid made so far; the
    counter only moves forward, so uids stay unique)."""
    power = 10 ** len(str(gc.ir.fresh_uid() + by))
    gc.ir._uid_counter = itertools.count(power - by)


def test_run_time_size_names_keep_their_order_across_a_power_of_ten():
    """x's and y's batch sizes unify in broadcasting, named after the smaller string: with
    uids 999 and 1000 that is y's ("?1000.0" < "?999.0"). The loaded graph must choose
    the same one, whatever uids its fresh placeholders get."""
    next_uid_below_a_power_of_ten(1)
    x = gc.placeholder("x", (None, 4), "float64")
    y = gc.placeholder("y", (None,), "int64")
    loss = gc.cross_entropy(x * 2.0, y)
    assert len(str(x.attr("uid"))) != len(str(y.attr("uid")))
    data = saved_bytes(loss, [x, y])
    f = gc.compile(loss, inputs=[x, y])
    for by in (1, 2, 3):               # uids the loaded placeholders could take straddle one
        next_uid_below_a_power_of_ten(by)
        g = gc.graph_format.read_graph(io.BytesIO(data), "test")
        f2 = gc.compile(g.outputs, inputs=g.inputs)
        assert f2.source == f.source
    assert f2(X[:, :1] * np.ones(4), Y) == f(X[:, :1] * np.ones(4), Y)


def test_pickled_function_keeps_size_names_ordered_across_a_power_of_ten():
    next_uid_below_a_power_of_ten(1)
    x = gc.placeholder("x", (None, 4), "float64")
    y = gc.placeholder("y", (None,), "int64")
    f = gc.compile(gc.cross_entropy(x * 2.0, y), inputs=[x, y])
    data = pickle.dumps(f)
    next_uid_below_a_power_of_ten(2)    # each placeholder arrives in its own archive
    assert pickle.loads(data).source == f.source
