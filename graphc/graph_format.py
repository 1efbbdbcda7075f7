"""The graph file format: a zip holding ``graph.json`` (a versioned description of the
nodes) and ``arrays/<k>.npy`` (constants and parameter values), data only.

``graph.json``::

    {"format": "graphc-graph", "version": 1,
     "nodes": [{"op": "placeholder", "name": "x", "dims": ["?7.0", 3], "dtype": "float32"},
               {"op": "parameter", "name": "W", "dims": [3, 4], "dtype": "float32",
                "value": 0},                                  # arrays/0.npy
               {"op": "matmul", "inputs": [0, 1], "dims": ["?7.0", 4], "dtype": "float32"},
               {"op": "sum", "inputs": [2], "attrs": {"axes": {"tuple": [{"int": 0}]},
                "keepdims": {"bool": false}}, "dims": [4], "dtype": "float32"}, ...],
     "outputs": [3], "output_structure": "single", "inputs": [0], "updates": [[1, 9]]}

Nodes are in topological order and name their inputs by index; attribute values are
tagged (``graphc.graph_codec``). Reading rebuilds every node through ``bind`` (so each
op's shape rule checks it) and every leaf through the public constructors, with fresh
placeholders whose run-time sizes are renamed consistently; anything unknown,
inconsistent or tampered with is a ``FileFormatError`` naming the node.

Tensors and Functions pickle through this format (``Tensor.__reduce__`` is set here):
their placeholders and parameters travel as separate pickled objects, so pickle's memo
keeps a parameter shared by several pickled tensors shared after loading.

>>> import io, graphc as gc
>>> from graphc.graph_format import read_graph, write_graph
>>> x = gc.placeholder("x", (None,))
>>> buf = io.BytesIO()
>>> _ = write_graph(buf, gc.exp(x) * 2)
>>> g = read_graph(io.BytesIO(buf.getvalue()), "demo")
>>> g.outputs.shape, g.inputs[0].name
((None,), 'x')
"""
from __future__ import annotations

import io
import json
import re
from typing import NoReturn

from .api import constant, element_count, parameter, placeholder
from .bind import OPS, bind
from .errors import FileFormatError, GraphcError, UsageError
from .graph_codec import (SUPPORTED_DTYPES, MAX_DIM, UnsavableAttribute, check_attributes,
                          decode_value, encode_value)
from .ir import Tensor, as_list, fresh_uid, topo_order, user_location
from .npy_archive import ArchiveReader, write_archive

FORMAT = "graphc-graph"
VERSION = 1
GRAPH_MEMBER = "graph.json"
MAX_NODES = 5_000_000
UID_ROOM = 1000   # fresh placeholders start this far below a power of ten, or past it
_ARRAY_MEMBER = re.compile(r"arrays/(0|[1-9][0-9]{0,8})\.npy")
_IDENTITY_LEAVES = ("placeholder", "parameter")   # leaves with an identity of their own
_TOP_KEYS = {"format", "version", "nodes", "outputs", "output_structure", "inputs", "updates"}
_NODE_KEYS = {"op", "dims", "dtype", "inputs", "attrs"}           # keys a node may have
_LEAF_KEYS = {"op", "dims", "dtype", "name", "value", "external"}  # a placeholder or parameter


def _anonymous(d) -> bool:
    return isinstance(d, str) and d.startswith("?")


def _creation_key(p: Tensor) -> str:
    """Placeholders are re-created in the string order of their run-time size names, so
    the fresh names compare as the old ones did (broadcasting two run-time sizes keeps
    the smaller name, which then names that size in generated code)."""
    return min((d for d in p.dims if _anonymous(d)), default="")


class LoadedGraph:
    """What ``gc.load`` returns: ``outputs`` (as saved: a tensor, a list or a tuple),
    ``inputs`` (placeholders, in order) and ``updates`` ({parameter: new value}), ready for
    ``gc.compile(g.outputs, inputs=g.inputs, updates=g.updates)``."""

    def __init__(self, outputs, inputs: list, updates: dict):
        self.outputs, self.inputs, self.updates = outputs, inputs, updates

    def __repr__(self) -> str:
        return (f"<graphc.LoadedGraph {len(as_list(self.outputs))} output(s), "
                f"{len(self.inputs)} input(s), {len(self.updates)} update(s)>")


# ---- writing -------------------------------------------------------------------------------

def _update_pairs(updates) -> list[tuple[Tensor, Tensor]]:
    if updates is None:
        return []
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates)
    out = []
    for item in pairs:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], Tensor)
                and item[0].op == "parameter"):
            raise UsageError(f"save: updates must map parameters to new values "
                             f"({user_location()})")
        p, v = item
        out.append((p, v if isinstance(v, Tensor) else constant(v, p.dtype)))
    return out


def write_graph(target, outputs, inputs=None, updates=None, *,
                external_leaves: bool = False) -> list[Tensor]:
    """Write the graph of ``outputs`` (and ``updates``) to ``target`` (a path or a binary
    file). With ``external_leaves`` placeholders and parameters are written as references
    only and returned, in the order they must be re-created (pickling sends them apart)."""
    structure = ("single" if isinstance(outputs, Tensor) else
                 "tuple" if isinstance(outputs, tuple) else "list")
    outs = as_list(outputs)
    pairs = _update_pairs(updates)
    for t in outs + [v for _, v in pairs]:
        if not isinstance(t, Tensor):
            raise UsageError(f"save: outputs must be tensors, got {type(t).__name__} "
                             f"({user_location()})")
    if inputs is None:  # as gc.compile infers them
        inputs = [n for n in topo_order(outs + [v for _, v in pairs]) if n.op == "placeholder"]
    inputs = as_list(inputs)
    if not all(isinstance(i, Tensor) and i.op == "placeholder" for i in inputs):
        raise UsageError(f"save: inputs must be placeholders ({user_location()})")
    order = topo_order(outs + [t for pair in pairs for t in pair] + inputs)
    index = {id(n): k for k, n in enumerate(order)}
    leaves = sorted((n for n in order if n.op in _IDENTITY_LEAVES),
                    key=lambda n: (n.op != "placeholder", _creation_key(n)))
    leaf_index = {id(n): k for k, n in enumerate(leaves)}
    arrays: list = []
    nodes = [_node_record(n, index, arrays, leaf_index if external_leaves else None)
             for n in order]
    doc = {"format": FORMAT, "version": VERSION, "nodes": nodes,
           "outputs": [index[id(o)] for o in outs], "output_structure": structure,
           "inputs": [index[id(i)] for i in inputs],
           "updates": [[index[id(p)], index[id(v)]] for p, v in pairs]}
    members = {GRAPH_MEMBER: json.dumps(doc, sort_keys=True, allow_nan=False)}
    members.update({f"arrays/{k}.npy": a for k, a in enumerate(arrays)})
    write_archive(target, members)
    return leaves if external_leaves else []


def _node_record(n: Tensor, index: dict, arrays: list, leaf_index: dict | None) -> dict:
    rec = {"op": n.op, "dims": list(n.dims), "dtype": n.dtype.name}
    if n.op in _IDENTITY_LEAVES:
        rec["name"] = n.name
        if leaf_index is not None:
            rec["external"] = leaf_index[id(n)]
        elif n.op == "parameter":
            arrays.append(n.value)
            rec["value"] = len(arrays) - 1
        return rec
    if n.inputs:
        rec["inputs"] = [index[id(i)] for i in n.inputs]
    attrs = dict(n.attrs)
    try:
        check_attributes(OPS[n.op], attrs)
        if attrs:
            rec["attrs"] = {k: encode_value(v, arrays) for k, v in attrs.items()}
    except FileFormatError as e:
        raise UnsavableAttribute(f"save: cannot save the {n.op} node created at "
                                 f"{n.location}: {e}") from None
    return rec


# ---- reading -------------------------------------------------------------------------------

def read_graph(source, label: str, leaves=None) -> LoadedGraph:
    """Rebuild the graph in ``source`` (a path or a binary file); ``label`` names it in
    errors; ``leaves`` are the placeholders and parameters of a graph written with
    ``external_leaves``."""
    with ArchiveReader(source, label, lambda name: name == GRAPH_MEMBER
                       or bool(_ARRAY_MEMBER.fullmatch(name))) as reader:
        return _read_document(reader, label, leaves)


def _read_document(reader: ArchiveReader, label: str, leaves) -> LoadedGraph:
    try:
        doc = json.loads(reader.text(GRAPH_MEMBER))
    except json.JSONDecodeError as e:
        raise FileFormatError(f"{label}: {GRAPH_MEMBER} is not valid JSON ({e})") from None
    except RecursionError:
        raise FileFormatError(f"{label}: {GRAPH_MEMBER} nests too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FileFormatError(f"{label}: not a graphc graph file (no \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise FileFormatError(f"{label}: graph format version {doc.get('version')!r} is not "
                              f"supported (this graphc reads version {VERSION})")
    if set(doc) != _TOP_KEYS:
        raise FileFormatError(f"{label}: {GRAPH_MEMBER} must have exactly the keys "
                              f"{sorted(_TOP_KEYS)}, got {sorted(doc)}")
    nodes = doc["nodes"]
    if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
        raise FileFormatError(f"{label}: \"nodes\" must be a list of at most {MAX_NODES}")
    return _Rebuild(reader, label, leaves).graph(doc)


class _Rebuild:
    """One reading: the nodes built so far and the renaming of run-time sizes."""

    def __init__(self, reader: ArchiveReader, label: str, leaves):
        self.reader, self.label = reader, label
        self.leaves = None if leaves is None else list(leaves)
        self.dim_map: dict[str, str] = {}
        self.built: list[Tensor] = []

    def fail(self, k: int | None, text: str) -> NoReturn:
        where = self.label if k is None else f"{self.label}: node {k}"
        raise FileFormatError(f"{where}: {text}")

    def graph(self, doc: dict) -> LoadedGraph:
        nodes = doc["nodes"]
        premade = self.placeholders(nodes) if self.leaves is None else {}
        for k, rec in enumerate(nodes):
            self.built.append(premade[k] if k in premade else self.node(k, rec))
        outs = [self.built[k] for k in self.indices(doc["outputs"], "outputs")]
        structure = doc["output_structure"]
        if structure not in ("single", "list", "tuple") or (structure == "single"
                                                            and len(outs) != 1):
            self.fail(None, f"bad output_structure {structure!r} for {len(outs)} output(s)")
        inputs = [self.built[k] for k in self.indices(doc["inputs"], "inputs")]
        if any(i.op != "placeholder" for i in inputs):
            self.fail(None, "an entry of \"inputs\" is not a placeholder")
        updates: dict[Tensor, Tensor] = {}
        if not isinstance(doc["updates"], list):
            self.fail(None, "\"updates\" must be a list of [parameter, value] index pairs")
        for pair in doc["updates"]:
            if not isinstance(pair, list) or len(pair) != 2:
                self.fail(None, "\"updates\" must be a list of [parameter, value] index pairs")
            p, v = (self.built[k] for k in self.indices(pair, "updates"))
            if p.op != "parameter" or p in updates:
                self.fail(None, "an update's key is not a parameter, or one is updated twice")
            updates[p] = v
        outputs = (outs[0] if structure == "single" else
                   tuple(outs) if structure == "tuple" else outs)
        return LoadedGraph(outputs, inputs, updates)

    def indices(self, values, what: str) -> list[int]:
        if not isinstance(values, list) or not all(
                isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(self.built)
                for k in values):
            self.fail(None, f"\"{what}\" must list node indices in 0..{len(self.built) - 1}")
        return values

    # ---- one node ------------------------------------------------------------------------
    def header(self, k: int, rec) -> tuple[str, list, str, list[Tensor]]:
        if not isinstance(rec, dict):
            self.fail(k, "a node must be a JSON object")
        op, dims, dtype = rec.get("op"), rec.get("dims"), rec.get("dtype")
        if not isinstance(op, str) or op not in OPS:
            self.fail(k, f"unknown op {op!r}")
        extra = set(rec) - (_LEAF_KEYS if op in _IDENTITY_LEAVES else _NODE_KEYS)
        if extra:
            self.fail(k, f"({op}) unexpected key(s) {sorted(extra)}")
        if not isinstance(dims, list) or len(dims) > 64 or not all(
                (isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_DIM)
                or (isinstance(d, str) and 0 < len(d) <= 200) for d in dims):
            self.fail(k, f"({op}) bad dims {dims!r}: sizes are ints in 0..2**53 or names")
        if dtype not in SUPPORTED_DTYPES:
            self.fail(k, f"({op}) unsupported dtype {dtype!r}")
        inputs = rec.get("inputs", [])
        if not isinstance(inputs, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in inputs):
            self.fail(k, f"({op}) \"inputs\" must be a list of node indices")
        for i in inputs:
            if not 0 <= i < k:
                self.fail(k, f"({op}) input index {i} is out of range: a node can only use "
                             f"the nodes before it (0..{k - 1})")
        if len(inputs) != OPS[op].arity:
            self.fail(k, f"({op}) takes {OPS[op].arity} input(s), the file gives {len(inputs)}")
        return op, dims, dtype, [self.built[i] for i in inputs]

    def node(self, k: int, rec) -> Tensor:
        op, dims, dtype, inputs = self.header(k, rec)
        if op in _IDENTITY_LEAVES:
            return self.external(k, rec) if self.leaves is not None else self.parameter(k, rec)
        raw = rec.get("attrs", {})
        if not isinstance(raw, dict):
            self.fail(k, f"({op}) \"attrs\" must be an object")
        try:
            attrs = {name: decode_value(v, self.array) for name, v in raw.items()}
            if "shape" in attrs and isinstance(attrs["shape"], tuple):
                attrs["shape"] = tuple(self.new_dim(k, d) for d in attrs["shape"])
            check_attributes(OPS[op], attrs)
        except FileFormatError as e:
            self.fail(k, f"({op}) {e}")
        try:
            if op == "constant":
                node = constant(attrs["value"].array)
            elif op == "shape_size":
                node = element_count(attrs["shape"], attrs["dtype"])
            elif OPS[op].kind == "leaf":
                self.fail(k, f"leaf op {op!r} cannot be read from a file")
            else:
                node = bind(op, *inputs, **attrs)
        except FileFormatError:
            raise
        except (GraphcError, ValueError, TypeError, KeyError, IndexError) as e:
            raise FileFormatError(f"{self.label}: node {k} ({op}) is refused by its shape "
                                  f"rule: {e}") from e
        return self.check(k, node, dims, dtype)

    def check(self, k: int, node: Tensor, dims: list, dtype: str) -> Tensor:
        """The rebuilt node must have the declared dtype and static sizes."""
        declared = tuple(None if _anonymous(d) else d for d in dims)
        if node.dtype.name != dtype or node.shape != declared:
            self.fail(k, f"({node.op}) the file declares {dtype}{declared}, but the op gives "
                         f"{node.dtype.name}{node.shape}")
        return node

    def new_dim(self, k: int, d):
        if not _anonymous(d):
            return d
        if d not in self.dim_map:
            self.fail(k, f"run-time size {d!r} is not a dimension of any placeholder")
        return self.dim_map[d]

    def array(self, index: int):
        if not 0 <= index < 10 ** 9:
            raise FileFormatError(f"array index {index} out of range")
        return self.reader.array(f"arrays/{index}.npy")

    # ---- leaves with an identity ------------------------------------------------------------
    def placeholders(self, nodes: list) -> dict[int, Tensor]:
        """Make every placeholder first, in the order that keeps run-time size names ordered
        as in the file (and with fresh uids of one digit count, for the same reason)."""
        found = [(k, rec) for k, rec in enumerate(nodes)
                 if isinstance(rec, dict) and rec.get("op") == "placeholder"]
        for k, rec in found:
            self.header(k, rec)
        if found:
            # room for these and for the next few hundred: a pickle re-creates its
            # placeholders one archive each, one after the other
            room = len(found) + UID_ROOM
            first = fresh_uid()
            while len(str(first)) != len(str(first + room)):
                first = fresh_uid()  # skip to the next power of ten
        found.sort(key=lambda item: min((d for d in item[1]["dims"] if _anonymous(d)),
                                        default=""))
        made = {}
        for k, rec in found:
            name = rec.get("name")
            if not isinstance(name, str):
                self.fail(k, "(placeholder) needs a string name")
            shape = [self.dim_map.get(d) if _anonymous(d) else d for d in rec["dims"]]
            try:
                node = placeholder(name, shape, rec["dtype"])
            except GraphcError as e:
                self.fail(k, f"(placeholder) {e}")
            for old, new in zip(rec["dims"], node.dims):
                if _anonymous(old):
                    self.dim_map.setdefault(old, new)
            made[k] = node
        return made

    def parameter(self, k: int, rec: dict) -> Tensor:
        name, index = rec.get("name"), rec.get("value")
        if not isinstance(name, str) or not isinstance(index, int) or isinstance(index, bool):
            self.fail(k, "(parameter) needs a string name and a value index")
        value = self.array(index)
        if value.dtype.name != rec["dtype"] or list(value.shape) != rec["dims"]:
            self.fail(k, f"(parameter {name!r}) declares {rec['dtype']}{tuple(rec['dims'])}, "
                         f"but its value is {value.dtype}{value.shape}")
        try:
            return parameter(name, value)
        except GraphcError as e:
            self.fail(k, f"(parameter {name!r}) {e}")

    def external(self, k: int, rec: dict) -> Tensor:
        """A placeholder or parameter sent beside the file (pickling)."""
        j, leaves = rec.get("external"), self.leaves or []
        if not isinstance(j, int) or not 0 <= j < len(leaves):
            self.fail(k, f"({rec['op']}) bad reference to a leaf sent beside the graph")
        leaf = leaves[j]
        if not (isinstance(leaf, Tensor) and leaf.op == rec["op"] and leaf.name == rec.get("name")
                and leaf.dtype.name == rec["dtype"] and len(leaf.dims) == len(rec["dims"])):
            self.fail(k, f"({rec['op']}) the leaf sent beside the graph does not match it")
        for old, new in zip(rec["dims"], leaf.dims):
            if _anonymous(old):
                self.dim_map.setdefault(old, new)
        return self.check(k, leaf, rec["dims"], rec["dtype"])


# ---- pickling ------------------------------------------------------------------------------

def tensor_from_archive(data: bytes, leaves=None) -> Tensor:
    """The tensor pickled by ``Tensor.__reduce__`` (below)."""
    return read_graph(io.BytesIO(data), "pickled tensor", leaves).outputs


def reduce_tensor(t: Tensor):
    """Pickle a tensor as a graph file; its placeholders and parameters go as separate
    objects (pickle's memo then keeps shared ones shared)."""
    buf = io.BytesIO()
    if t.op in _IDENTITY_LEAVES:
        write_graph(buf, t)
        return tensor_from_archive, (buf.getvalue(),)
    leaves = write_graph(buf, t, external_leaves=True)
    return tensor_from_archive, (buf.getvalue(), tuple(leaves))


setattr(Tensor, "__reduce__", reduce_tensor)  # setattr: type checkers refuse assigning to methods
