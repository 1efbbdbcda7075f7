"""The NumPy renderer: a ``Program`` -> one readable Python module.

The module has a ``workspace(dims...)`` function that allocates the scratch buffers
of the memory plan (``graphc.passes.memory``), ``ws[0]``, ``ws[1]``..., and a
``compute(inputs..., params..., dims..., ws)`` function that computes every output and
every new parameter value in one pass, writing each intermediate into its planned
buffer (in place over an operand when the plan shows the operand is dead):
``t5 = np.sin(t4, ws[3])`` (a ufunc's last positional argument is its ``out``).
Only the outputs and new parameter values get fresh memory each call, so a
steady-state training step allocates little. The same text, written next to a ``.npz``
of the parameter values, is the standalone export: it imports only numpy, and ``load()``
returns a callable used exactly like the compiled ``Function``.

How each primitive is spelled in NumPy lives in ``numpy_spelling.NUMPY_OPS`` (one
entry per op); what the op *means* is its reference ``impl`` in ``graphc.ops``.
``numpy_backend`` loads the module and runs it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..bind import ops_where
from ..errors import CompileError
from ..ir import Tensor
from ..passes.memory import MemoryPlan, Step, Value, plan_memory
from ..ops.linalg import FAILURES as LINALG_FAILURES
from ..printing import const_text, formula_text
from ..printing.linalg import failure_message
from .base import Program
from .naming import comment_text, sanitize_names
from ..control.primitives import group_key
from .numpy_spelling import HELPERS, NUMPY_OPS, Spelling, defined_names

LEAVES = ops_where(kind="leaf")
_RESERVED = ({"np", "os", "ws", "compute", "workspace", "load", "Model", "CONST", "INPUTS",
              "PARAMS", "UPDATES", "OUTPUTS", "DIMS", "READS", "LOOPS"}
             | {name for text in HELPERS.values() for name in defined_names(text)})
_DIM_SOURCES = LEAVES | ops_where(sizes=True)  # ops that bring sizes in
INLINE_CONST_MAX = 16        # larger constants go to the values file
_COMMENT_MAX = 120           # a node's formula comment is cut here (long constants)
_DTYPE_NAMES: dict = {}


_NO_ATTRS: dict = {}   # the attributes of a node that has none (read, never written)
# a Value or Step from all its fields, made in C (the named tuples' own constructors are
# Python functions, a noticeable cost once per node of a big graph)
_value = functools.partial(tuple.__new__, Value)
_step = functools.partial(tuple.__new__, Step)


def _dtype_name(dtype) -> str:
    """``dtype.name``, remembered: NumPy computes the name anew on every access, which
    is a noticeable cost once per node of a 20,000-node graph."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = np.dtype(dtype).name
    return name


# ---- literals ---------------------------------------------------------------------------------

def _elem(v, dtype: np.dtype) -> str:
    """The bare literal of one value (exact: the shortest text that reads back the same)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "True" if bool(v) else "False"
    if dtype.kind in "iu":
        return str(int(v))
    x = dtype.type(v)
    if np.isnan(x):
        return "np.nan"
    if np.isinf(x):
        return "np.inf" if x > 0 else "-np.inf"
    return str(x) if dtype == np.float32 else repr(float(x))


def _scalar(v, dtype: np.dtype) -> str:
    """A literal of ``dtype``: Python floats are float64 and bools are bools; other
    dtypes are spelled out so NumPy computes in the graph's dtype."""
    dtype = np.dtype(dtype)
    text = _elem(v, dtype)
    if dtype.kind == "b" or dtype == np.float64:
        return text
    return f"np.{_dtype_name(dtype)}({text})"


def _scalar_stem(v, dtype: np.dtype) -> str:
    """The name of a typed scalar made at import: its dtype and value (``f32_9`` for
    ``np.float32(9.0)``, ``f32_m0_5`` for -0.5, ``i64_3``)."""
    dtype = np.dtype(dtype)
    value = _elem(v, dtype).replace("np.", "").replace("-", "m").replace(".", "_")
    value = value[:-2] if value.endswith("_0") else value
    return f"{dtype.kind}{dtype.itemsize * 8}_{value}"


def _array_literal(arr: np.ndarray) -> str:
    flat = ", ".join(_elem(v, arr.dtype) for v in arr.reshape(-1))
    text = f"np.array([{flat}], dtype=np.{_dtype_name(arr.dtype)})"
    return text if arr.ndim == 1 else f"{text}.reshape({tuple(arr.shape)!r})"


def _scalar_value(n: Tensor):
    if n.op == "constant" and n.attr("value").array.ndim == 0:
        return n.attr("value").array.item()
    return None


def _variant(n: Tensor) -> str:
    """The ``NUMPY_OPS`` key for node ``n``: its op, or a cheaper exact special case."""
    if n.op == "where" and n.dtype.kind == "f":
        s, z = _scalar_value(n.inputs[1]), _scalar_value(n.inputs[2])
        if z is None or z != 0 or np.signbit(z):
            return n.op
        if s is not None and np.isfinite(s) and s > 0:
            return "where_mask"
        if n.inputs[0].dtype.kind == "b" and n.inputs[1].dtype == n.dtype:
            return "where_zero"
    return n.op


def _const_comment(n: Tensor) -> str:
    arr = n.attr("value").array
    if arr.ndim == 0:
        return _elem(arr, arr.dtype)
    return const_text(n) or f"const{tuple(arr.shape)}"


# ---- rendering --------------------------------------------------------------------------------

@dataclass
class Rendered:
    text: str
    plan: MemoryPlan
    dim_keys: tuple           # symbolic dims, in compute()'s argument order
    consts: dict              # values-file key -> array (large constants)
    n_lines: int
    n_steps: int
    loops: list = field(default_factory=list)   # (a node of each loop, results it needs)


def _dims_text(dims, dim_names: dict) -> str:
    parts = [dim_names[d] if isinstance(d, str) else str(d) for d in dims]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _wrap_tuple(names: list[str], indent: str, width: int = 88) -> list[str]:
    """``a, b, c`` split over lines of at most ``width`` characters, for a tuple display."""
    lines, cur = [], ""
    for n in names:
        piece = n + ", "
        if cur and len(indent) + 4 + len(cur) + len(piece) > width:
            lines.append(indent + "    " + cur.rstrip())
            cur = ""
        cur += piece
    if cur:
        lines.append(indent + "    " + cur.rstrip())
    return lines


def module_name(name: str) -> str:
    """The generated module's name: the program's, as an identifier."""
    return sanitize_names([name or "graph"], set())[0]


def render(program: Program) -> Rendered:
    """The module text for ``program`` (deterministic: same graph -> same bytes)."""
    order = program.topo_order()
    inputs = list(program.inputs)
    params = list(program.params)
    extra_params = [p for p in program.update_params if p not in params]
    extra_params = list(dict.fromkeys(extra_params))

    # symbolic dims: from the inputs first (they are bound there), then the rest
    dim_keys: list[str] = []
    dim_owner: dict[str, str] = {}
    for p in inputs:
        for axis, d in enumerate(p.dims):
            if isinstance(d, str) and d not in dim_owner:
                dim_keys.append(d)
                dim_owner[d] = d if not d.startswith("?") else f"{p.name}_dim{axis}"
    for n in order:
        if n.op not in _DIM_SOURCES:   # its dims come from its inputs, checked before it
            continue
        for d in (*n.dims, *(n.attr("shape") or ())):
            if isinstance(d, str) and d not in dim_owner:
                raise CompileError(
                    f"the size {d if not d.startswith('?') else 'None'} used by {n.op} "
                    f"(created at {n.location}) is not a dimension of any input; add the "
                    f"placeholder that has it to inputs")

    # names: user names first so they keep their spelling, then generated ones
    leaves = inputs + params + extra_params
    const_nodes = [n for n in order if n.op == "constant" and n.attr("value").array.ndim]
    inner = [n for n in order if n.op not in LEAVES or n.op == "shape_size"]
    out_pos: dict[int, int] = {}
    for k, o in enumerate(program.outputs):
        out_pos.setdefault(id(o), k)
    upd_pos: dict[int, int] = {}
    for k, u in enumerate(program.updates):
        upd_pos.setdefault(id(u), k)
    # typed scalars (``np.float32(9.0)``) are made once at import: made per call, each
    # costs about as much as a small ufunc call
    scalar_text: dict[int, str] = {}
    typed: dict[str, str] = {}   # literal -> the stem of its name (``f32_9`` for 9.0)
    typed_arrays: dict[str, str] = {}   # literal -> its 0-d array (``np.array(9.0, ...)``)
    for n in order:
        if n.op == "constant" and n.attr("value").array.ndim == 0:
            value = n.attr("value").array
            text = scalar_text[id(n)] = _scalar(value, n.dtype)
            if text.startswith("np.") and text not in typed:
                typed[text] = _scalar_stem(value, n.dtype)
                typed_arrays[text] = (f"np.array({_elem(value, n.dtype)}, "
                                      f"np.{_dtype_name(n.dtype)})")
    raw = [p.name or "input" for p in leaves] + [dim_owner[d] for d in dim_keys]
    raw += ["C"] * len(const_nodes)
    raw += list(typed.values())
    for k, n in enumerate(inner):
        if id(n) in out_pos:
            raw.append(f"out{out_pos[id(n)]}")
        elif id(n) in upd_pos:
            p = program.update_params[upd_pos[id(n)]]
            raw.append(f"{p.name}_new")
        else:
            raw.append(f"t{k + 1}")
    names_list = sanitize_names(raw, _RESERVED)
    it = iter(names_list)
    names: dict[int, str] = {}
    for n in leaves:
        names[id(n)] = next(it)
    dim_names = {d: next(it) for d in dim_keys}
    const_names = [next(it) for _ in const_nodes]
    typed_names = {text: next(it) for text in typed}
    inner_names = list(it)   # (compute() below meets the same nodes in the same order)
    names.update(zip(map(id, inner), inner_names))

    # constants: scalars inline, small arrays as module constants, large ones in the file
    # the code of each operand: leaves and computed nodes are their names; constants below
    # join the same table (one entry per node of a big graph is enough)
    code_of: dict[int, str] = names
    # typed scalars as 0-d arrays: a ufunc takes one about twice as fast as a NumPy
    # scalar (nothing writes them: outputs go to planned buffers or new arrays)
    const_lines = [f"{name} = {typed_arrays[text]}" for text, name in typed_names.items()]
    consts = {}
    for k, text in scalar_text.items():
        code_of[k] = typed_names.get(text, text)
    for n, cname in zip(const_nodes, const_names):
        arr = n.attr("value").array
        if arr.size <= INLINE_CONST_MAX:
            const_lines.append(f"{cname} = {_array_literal(arr)}")
            code_of[id(n)] = cname
        else:
            consts[cname] = np.array(arr)
            code_of[id(n)] = f"CONST[{cname!r}]"

    # memory plan over the computed nodes
    root_ids = set(out_pos) | set(upd_pos)
    steps, keep = [], []
    emit: list[tuple[Tensor, Spelling | None]] = []   # compute()'s nodes, in order
    for n in order:
        op = n.op
        if op in LEAVES:
            if op == "shape_size":
                emit.append((n, None))
            continue
        sp = NUMPY_OPS.get(op)
        if sp is None:
            raise CompileError(f"the numpy backend has no spelling for op {op!r}")
        if op == "where":
            sp = NUMPY_OPS[_variant(n)]
        k = id(n)
        emit.append((n, sp))
        kind = sp.kind
        dtype = _DTYPE_NAMES.get(n.dtype) or _dtype_name(n.dtype)
        if kind == "view":
            v = _value((k, dtype, n.dims, "view", id(n.inputs[0])))
        elif kind == "loop":   # a loop's results are new arrays (numpy_loops)
            v = _value((k, dtype, n.dims, "fresh", None))
        else:
            v = _value((k, dtype, n.dims, "buffer", None))
        steps.append(_step(([v], list(map(id, n.inputs)), kind == "inplace")))
        if k in root_ids:
            keep.append(k)
    plan = plan_memory(steps, keep=keep)

    helpers = sorted({sp.helper for _, sp in emit if sp is not None and sp.helper})
    dim_args = [dim_names[d] for d in dim_keys]

    # ---- workspace() ----
    # one entry per scratch buffer (not per value): compute() names each value where it
    # is made, ``t5 = np.sin(t4, ws[3])``, so no table of values is built or unpacked
    n_in_buffers = len(plan.buffer_of)   # every key is a computed node's
    ws = [f"def workspace({', '.join(dim_args)}):",
          f'    """Scratch memory: {len(plan.buffers)} buffers shared by {n_in_buffers} '
          f'values (allocated once per set of sizes)."""']
    if plan.buffers:
        ws.append("    return (")
        k, bufs = 0, plan.buffers
        while k < len(bufs):   # a run of same-shape buffers is one line, however long
            j = k
            while j + 1 < len(bufs) and bufs[j + 1].dims == bufs[k].dims \
                    and bufs[j + 1].dtype == bufs[k].dtype:
                j += 1
            empty = f"np.empty({_dims_text(bufs[k].dims, dim_names)}, np.{bufs[k].dtype})"
            if j == k:
                ws.append(f"        {empty},  # ws[{k}]")
            else:
                ws.append(f"        *[{empty} for _ in range({j - k + 1})],  # ws[{k}:{j + 1}]")
            k = j + 1
        ws.append("    )")
    else:
        ws.append("    return ()")

    # ---- compute() ----
    args = [names[id(p)] for p in inputs + params] + dim_args + ["ws"]
    body = []
    buffer_of, buffers = plan.buffer_of, plan.buffers
    loops: dict = {}   # group_key -> (index in LOOPS, a node, results read)
    ws_text = [f"ws[{b}]" for b in range(len(buffers))]
    fresh_text: dict = {}   # (dims, dtype) -> a new array's text
    for (n, sp), name in zip(emit, inner_names):
        op = n.op
        if sp is None:   # shape_size
            prod = " * ".join(_dims_text(n.attr("shape"), dim_names)[1:-1].rstrip(",")
                              .split(", ")) or "1"
            body.append(f"    {name} = np.{_dtype_name(n.dtype)}({prod})")
            continue
        k = id(n)
        ins = n.inputs
        operands = [code_of[id(i)] for i in ins]
        attrs = _NO_ATTRS
        if n.attrs:
            attrs = {}
            for a, v in n.attrs:
                if a == "shape":
                    attrs[a] = _dims_text(v, dim_names)
                elif a == "dtype":
                    attrs[a] = f"np.{_dtype_name(np.dtype(v))}"
                else:
                    attrs[a] = repr(v)
        if op in LINALG_FAILURES:   # the message of a run-time failure names the input
            attrs = {**attrs, "message": repr(failure_message(n))}
        # (an operand's code is its name, except for constants)
        formula, _ = formula_text(n, [(_const_comment(i), 9) if i.op == "constant"
                                      else (c, 9) for i, c in zip(ins, operands)])
        body.append("    # " + comment_text(f"{name} = {formula}", _COMMENT_MAX))
        kind = sp.kind
        if kind == "view":
            body.append(f"    {name} = {sp.template.format(*operands, **attrs)}")
            continue
        if kind == "loop":   # run once per group of results, the others read .last
            key = group_key(n)
            seen = loops.get(key)
            if seen is None:
                seen = loops[key] = (len(loops), n, set())
                call = f"LOOPS[{seen[0]}].run({', '.join(operands)})"
            else:
                call = f"LOOPS[{seen[0]}].last"
            seen[2].add(n.attr("output"))
            body.append(f"    {name} = {call}[{n.attr('output')}]")
            continue
        b = buffer_of.get(k)
        if b is None and sp.fresh and n.dims and all(i.dtype == n.dtype for i in n.inputs):
            # escapes, and NumPy's own result has its dtype and shape (a 0-d result
            # would be a NumPy scalar: those keep the np.empty below)
            body.append(f"    {name} = {sp.fresh.format(*operands, **attrs)}")
            continue
        if b is None:   # escapes: new memory each call
            dest = fresh_text.get((n.dims, n.dtype))
            if dest is None:
                dest = fresh_text[(n.dims, n.dtype)] = (
                    f"np.empty({_dims_text(n.dims, dim_names)}, np.{_dtype_name(n.dtype)})")
        elif buffers[b].dims == n.dims:
            dest = ws_text[b]
        else:           # same element count, another shape: a view of the buffer
            dest = f"ws[{b}].reshape({_dims_text(n.dims, dim_names)})"
        if sp.returns_out:
            body.append(f"    {name} = {sp.template.format(*operands, out=dest, **attrs)}")
            continue
        body.append(f"    {name} = {dest}")
        for stmt in sp.template.format(*operands, out=name, **attrs).split("; "):
            body.append(f"    {stmt}")

    def result(node: Tensor) -> str:
        text = code_of[id(node)]
        if node.op == "constant":
            return f"np.array({text})"  # a copy: callers may write into outputs
        return text

    outs = ", ".join(result(o) for o in program.outputs)
    ups = ", ".join(result(u) for u in program.updates)
    tup = lambda s, k: f"({s}{',' if k == 1 else ''})"  # noqa: E731
    body.append(f"    return {tup(outs, len(program.outputs))}, "
                f"{tup(ups, len(program.updates))}")
    doc = (f'    """Compute the {len(program.outputs)} output(s) and '
           f'{len(program.updates)} new parameter value(s) of one call."""')
    compute = [f"def compute({', '.join(args)}):", doc] + body

    # ---- standalone runtime tables ----
    def dims_table(p):
        return "(" + "".join(f"{dim_names[d]!r}, " if isinstance(d, str) else f"{d}, "
                             for d in p.dims) + ")"

    all_params = params + extra_params
    tables = [
        "# ---- standalone use: f = load(); outputs = f(*inputs, **feeds) -----------------",
        "# (user names appear only as escaped string literals)",
        "INPUTS = (  # (placeholder name, dtype, dims: int or the name of a run-time size)",
    ]
    for p in inputs:
        tables.append(f"    ({p.name!r}, {p.dtype.name!r}, {dims_table(p)}),")
    tables.append(")")
    tables.append("PARAMS = (  # (parameter name, key in the values file, dtype, shape)")
    for p in all_params:
        tables.append(f"    ({p.name!r}, {names[id(p)]!r}, {p.dtype.name!r}, "
                      f"{tuple(p.dims)!r}),")
    tables.append(")")
    tables.append(f"READS = {len(params)}  # compute() takes the first READS parameters")
    upd_idx = [all_params.index(p) for p in program.update_params]
    tables.append(f"UPDATES = {tuple(upd_idx)!r}  # PARAMS index of each new value")
    tables.append(f"DIMS = {tuple(dim_args)!r}")
    tables.append(f"OUTPUTS = {program.options.get('output_structure', 'list')!r}")
    tables.append(f"CONST_KEYS = {tuple(sorted(consts))!r}")

    header = [
        f'"""{module_name(program.name)}: generated by graphc (NumPy backend).',
        "",
        "compute() runs the whole graph (forward and backward share intermediates);",
        "workspace() allocates its scratch buffers. Standalone: ``f = load()`` reads the",
        "parameter values from the .npz file beside this one; ``f(*inputs, **feeds)``",
        "returns the outputs and applies the parameter updates.",
        '"""',
        "import os",
        "",
        "import numpy as np",
        "",
        "CONST = {}  # large constants, filled from the values file",
    ] + (["LOOPS = []  # loop runners (graphc.codegen.numpy_loops), filled when loaded"]
         if loops else [])
    parts = ["\n".join(header)]
    if const_lines:
        parts.append("\n".join(const_lines))
    for h in helpers:
        parts.append(HELPERS[h].rstrip("\n"))
    parts += ["\n".join(ws), "\n".join(compute), "\n".join(tables), _RUNTIME.strip("\n")]
    text = "\n\n\n".join(parts) + "\n"
    return Rendered(text, plan, tuple(dim_keys), consts, text.count("\n"), len(steps),
                    [(n, needed) for _, n, needed in loops.values()])


_RUNTIME = '''
class Model:
    """The compiled step: call it like the graphc Function it was exported from.

    Its scratch buffers are reused between calls: use one Model per thread.
    """

    def __init__(self, values):
        self.values = {key: np.array(values[key], dtype=dtype)
                       for _, key, dtype, _ in PARAMS}
        self._ws = {}

    def value(self, name):
        """The current value of the parameter called ``name``."""
        for pname, key, _, _ in PARAMS:
            if pname == name or key == name:
                return self.values[key]
        raise KeyError(name)

    def _feeds(self, args, feeds):
        if len(args) > len(INPUTS):
            raise TypeError(f"takes {len(INPUTS)} inputs, got {len(args)}")
        given = dict(zip([i[0] for i in INPUTS], args))
        for k, v in feeds.items():
            if k not in [i[0] for i in INPUTS]:
                raise TypeError(f"unknown input {k!r}; inputs are {[i[0] for i in INPUTS]}")
            if k in given:
                raise TypeError(f"input {k!r} given twice")
            given[k] = v
        arrays, sizes = [], {}
        for name, dtype, dims in INPUTS:
            if name not in given:
                raise TypeError(f"missing input {name!r}")
            a = np.asarray(given[name])
            if a.dtype.kind not in "biuf" or (np.dtype(dtype).kind in "biu"
                                              and a.dtype.kind == "f"):
                raise TypeError(f"input {name!r}: expected {dtype}, got {a.dtype}")
            want = tuple(None if isinstance(d, str) else d for d in dims)
            if a.ndim != len(dims):
                raise ValueError(f"input {name!r}: expected shape {want}, got {a.shape}")
            for d, n in zip(dims, a.shape):
                if isinstance(d, str):
                    if sizes.setdefault(d, n) != n:
                        raise ValueError(f"input {name!r}: size {n} conflicts with "
                                         f"{sizes[d]} given elsewhere for {d}")
                elif d != n:
                    raise ValueError(f"input {name!r}: expected shape {want}, got {a.shape}")
            arrays.append(a.astype(dtype, copy=False))
        return arrays, tuple(sizes[d] for d in DIMS)

    def __call__(self, *args, **feeds):
        arrays, sizes = self._feeds(args, feeds)
        ws = self._ws.get(sizes)
        if ws is None:
            self._ws = {sizes: workspace(*sizes)}  # keep one set: memory stays bounded
            ws = self._ws[sizes]
        params = [self.values[p[1]] for p in PARAMS[:READS]]
        with np.errstate(all="ignore"):
            outs, new = compute(*arrays, *params, *sizes, ws)
        # all new values were computed from the old ones; now switch them all at once
        for k, v in zip(UPDATES, new):
            key = PARAMS[k][1]
            self.values[key] = np.array(v, dtype=PARAMS[k][2])
        if OUTPUTS == "single":
            return outs[0]
        return tuple(outs) if OUTPUTS == "tuple" else list(outs)


def load(path=None):
    """The step with the parameter values saved beside this file (or at ``path``)."""
    if path is None:
        path = os.path.splitext(os.path.abspath(__file__))[0] + ".npz"
    with np.load(path) as values:
        CONST.update({k: values[k] for k in CONST_KEYS})
        return Model({p[1]: values[p[1]] for p in PARAMS})
'''


# ---- the executable -----------------------------------------------------------------------------
