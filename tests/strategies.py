"""Hypothesis strategies that generate random graphc graphs over the whole op set.

A drawn ``Recipe`` is plain data (leaf specs + a list of steps) that can be *built*
in float32 or float64, so the same random graph can be compared across dtypes,
backends and passes. Each step calls a public ``gc`` function on earlier pool
entries (broadcasting, keepdims, every matmul variant, ``None`` and named run-time
dims, comparisons, casts, composites). While drawing, the recipe is built in float64
and evaluated with the reference interpreter so that domain-sensitive ops (log,
sqrt, div, pow, exp) get inputs where they are finite: the guard is itself recorded
as ordinary steps (``x*x + 0.5``), so replaying a recipe needs no values.

``Recipe.source()`` prints the recipe as a runnable Python snippet: shrunk failures
are pasted into ``tests/test_regressions.py`` from it.

Profiles: ``ci`` (default, small) and ``fuzz`` (``pytest -m fuzz``; the example count
comes from ``GRAPHC_FUZZ_EXAMPLES``, default 2000).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import graphc as gc

# ---- settings profiles ---------------------------------------------------------------------

CI_EXAMPLES = int(os.environ.get("GRAPHC_CI_EXAMPLES", "25"))
FUZZ_EXAMPLES = int(os.environ.get("GRAPHC_FUZZ_EXAMPLES", "2000"))
# CI draws the same examples every run (reproducible, never flaky); GRAPHC_HYPOTHESIS_RANDOM=1
# draws fresh ones, and the long fuzz profile always does (that is where new bugs come from)
RANDOM = os.environ.get("GRAPHC_HYPOTHESIS_RANDOM") == "1"
_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=not RANDOM, **_COMMON)
settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES, derandomize=False, **_COMMON)
CI = settings.get_profile("ci")
FUZZ = settings.get_profile("fuzz")

# ---- recipe data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """An earlier pool entry (leaf or step result)."""

    index: int

    def __repr__(self) -> str:
        return f"t{self.index}"


@dataclass(frozen=True)
class Data:
    """Random data of a concrete shape, reproducible from ``seed``."""

    seed: int
    shape: tuple
    low: float = -2.0
    high: float = 2.0
    integer: bool = False

    def array(self, dtype) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        if self.integer:
            return rng.integers(int(self.low), int(self.high), self.shape).astype(dtype)
        # round through float32 so float32 and float64 builds see the same numbers
        return rng.uniform(self.low, self.high, self.shape).astype(np.float32).astype(dtype)

    def source(self, dtype_expr: str) -> str:
        if self.integer:
            return (f"np.random.default_rng({self.seed}).integers({int(self.low)}, "
                    f"{int(self.high)}, {self.shape}).astype({dtype_expr})")
        return (f"np.random.default_rng({self.seed}).uniform({self.low}, {self.high}, "
                f"{self.shape}).astype(np.float32).astype({dtype_expr})")


@dataclass(frozen=True)
class Leaf:
    kind: str            # "placeholder" | "parameter" | "constant"
    name: str
    dims: tuple          # static dims: int, None (anonymous run-time) or a name
    data: Data           # the value (parameter/constant) or the feed (placeholder)
    int_dtype: bool = False


@dataclass(frozen=True)
class Step:
    fn: str              # a function of the ``gc`` namespace (or "T", "@")
    args: tuple
    kwargs: tuple = ()


@dataclass
class Recipe:
    items: list = field(default_factory=list)         # Leaf | Step, in pool order
    outputs: list[int] = field(default_factory=list)  # pool indices

    @property
    def leaves(self) -> list[Leaf]:
        return [i for i in self.items if isinstance(i, Leaf)]

    # ---- building ----------------------------------------------------------------
    def build(self, dtype="float64") -> "Built":
        """Build the graph in ``dtype``; returns tensors, leaves and feeds."""
        dtype = np.dtype(dtype)
        pool: list[gc.Tensor] = []
        feeds: dict[str, np.ndarray] = {}
        for item in self.items:
            if isinstance(item, Leaf):
                t, feed = _make_leaf(item, dtype)
                if feed is not None:
                    feeds[item.name] = feed
                pool.append(t)
            else:
                pool.append(_apply(item, pool, dtype))
        leaves = [pool[k] for k, i in enumerate(self.items) if isinstance(i, Leaf)]
        return Built(self, dtype, pool, leaves, [pool[k] for k in self.outputs], feeds)

    def source(self, dtype="float64") -> str:
        """The recipe as a Python snippet that builds ``outputs`` (for regression tests)."""
        dt = f"np.{np.dtype(dtype).name}"
        lines = []
        feeds = []
        for k, item in enumerate(self.items):
            if isinstance(item, Step):
                lines.append(f"t{k} = {_step_source(item, dt)}")
                continue
            ldt = "np.int64" if item.int_dtype else dt
            if item.kind == "placeholder":
                lines.append(f"t{k} = gc.placeholder({item.name!r}, {item.dims!r}, {ldt})")
                feeds.append(f"{item.name!r}: {item.data.source(ldt)}")
            elif item.kind == "parameter":
                lines.append(f"t{k} = gc.parameter({item.name!r}, {item.data.source(ldt)})")
            else:
                lines.append(f"t{k} = gc.constant({item.data.source(ldt)})")
        lines.append(f"outputs = [{', '.join(f't{k}' for k in self.outputs)}]")
        lines.append(f"feeds = {{{', '.join(feeds)}}}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "Recipe:\n" + self.source()


@dataclass
class Built:
    recipe: Recipe
    dtype: np.dtype
    pool: list
    leaves: list
    outputs: list
    feeds: dict

    def feeds_for(self, outputs) -> dict:
        return feeds_for(outputs, self.feeds)

    @property
    def float_leaves(self) -> list:
        """Placeholders and parameters of float dtype (what gradients are taken w.r.t.)."""
        return [t for t in self.leaves
                if t.op in ("placeholder", "parameter") and t.dtype.kind == "f"]


def built_from(outputs, feeds: dict | None = None) -> "Built":
    """A ``Built`` for a hand-written graph (regression tests): leaves found by traversal."""
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    order = gc.topo_order(outs)
    leaves = [n for n in order if n.op in ("placeholder", "parameter")]
    dtype = max((n.dtype for n in outs), key=lambda d: d.itemsize)
    return Built(None, dtype, order, leaves, outs, dict(feeds or {}))


def feeds_for(outputs, feeds: dict) -> dict:
    """The feeds of the placeholders ``outputs`` actually read (graphc rejects unknown names)."""
    names = {n.name for n in gc.topo_order(outputs) if n.op == "placeholder"}
    return {k: v for k, v in feeds.items() if k in names}


def _make_leaf(leaf: Leaf, dtype: np.dtype):
    dt = np.dtype("int64") if leaf.int_dtype else dtype
    value = leaf.data.array(dt)
    if leaf.kind == "placeholder":
        return gc.placeholder(leaf.name, leaf.dims, dt), value
    if leaf.kind == "parameter":
        return gc.parameter(leaf.name, value), None
    return gc.constant(value), None


def _refs(a) -> list:
    """The pool entries an argument reads (a Ref, or a tuple of them: concatenate's list)."""
    if isinstance(a, Ref):
        return [a]
    return [x for x in a if isinstance(x, Ref)] if isinstance(a, tuple) else []


def _resolve(a, pool, dtype):
    if isinstance(a, Ref):
        return pool[a.index]
    if isinstance(a, tuple) and a and all(isinstance(x, Ref) for x in a):
        return [pool[x.index] for x in a]
    if isinstance(a, Data):
        return gc.constant(a.array(dtype))
    if isinstance(a, str) and a == "$dtype":
        return dtype.name
    if isinstance(a, tuple) and a and a[0] == "$dims":
        # pool[k].dims with ``extra`` inserted at ``pos`` (run-time dims kept by name)
        _, k, pos, extra = a
        return pool[k].dims[:pos] + tuple(extra) + pool[k].dims[pos:]
    return a


def _apply(step: Step, pool, dtype) -> gc.Tensor:
    args = [_resolve(a, pool, dtype) for a in step.args]
    kwargs = {k: _resolve(v, pool, dtype) for k, v in step.kwargs}
    if step.fn == "T":
        return args[0].T
    if step.fn == "@":
        return args[0] @ args[1]
    if step.fn == "[]":
        return args[0][args[1]]
    if step.fn.startswith("at."):   # x.at[idx].multiply/min/max(v): a scatter's combines
        return getattr(args[0].at[args[1]], step.fn[3:])(args[2])
    if step.fn == "top_k_values":
        return gc.top_k(*args, **kwargs)[0]
    # "linalg.qr[1]": a function of a gc namespace, one item of the tuple it returns
    name, _, item = step.fn.partition("[")
    fn = gc
    for part in name.split("."):
        fn = getattr(fn, part)
    out = fn(*args, **kwargs)
    return out[int(item[:-1])] if item else out


def _arg_source(a, dt: str) -> str:
    if isinstance(a, Data):
        return f"gc.constant({a.source(dt)})"
    if isinstance(a, str) and a == "$dtype":
        return dt
    if isinstance(a, tuple) and a and a[0] == "$dims":
        _, k, pos, extra = a
        return f"t{k}.dims[:{pos}] + {tuple(extra)!r} + t{k}.dims[{pos}:]"
    return repr(a)


def _step_source(step: Step, dt: str) -> str:
    args = [_arg_source(a, dt) for a in step.args]
    args += [f"{k}={_arg_source(v, dt)}" for k, v in step.kwargs]
    if step.fn == "T":
        return f"{args[0]}.T"
    if step.fn == "@":
        return f"{args[0]} @ {args[1]}"
    if step.fn == "[]":
        return f"{args[0]}[{args[1]}]"
    if step.fn.startswith("at."):
        return f"{args[0]}.at[{args[1]}].{step.fn[3:]}({args[2]})"
    if step.fn == "top_k_values":
        return f"gc.top_k({', '.join(args)})[0]"
    name, _, item = step.fn.partition("[")
    return f"gc.{name}({', '.join(args)})" + (f"[{item}" if item else "")


# ---- drawing -----------------------------------------------------------------------------------

UNARY = ["neg", "exp", "log", "sin", "cos", "tanh", "sigmoid", "sqrt", "abs", "sign", "log1p",
         "expm1", "relu", "softplus", "square", "erf", "erfc", "erfinv"]
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
COMPARE = ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"]
KINDS = ["unary", "binary", "scalar", "where", "mask", "reduce", "composite", "transpose",
         "reshape", "broadcast", "matmul", "one_hot", "cross_entropy", "clip", "cast_f32", "cast_int",
         "stop_gradient", "slice", "pad", "gather", "random", "scan", "sort", "linalg"]

# which primitive each drawn kind exercises (checked against graphc.ops.OPS by a test,
# so a newly declared primitive without fuzz coverage fails loudly)
COVERS = set(UNARY) | set(BINARY) | set(COMPARE) | {"stop_gradient",
    "where", "cast", "sum", "max", "reshape", "transpose", "broadcast_to", "matmul",
    "one_hot", "placeholder", "parameter", "constant", "shape_size", "slice", "pad", "gather",
    "scatter", "random_uniform", "check_index", "cumsum", "cumprod", "logcumsumexp",
    "cummax", "cummin", "argsort", "cholesky", "solve_triangular", "solve",
    "logabsdet", "det_sign", "eigvalsh", "eigh_vectors", "qr_q", "qr_r"}
# loops and branches take functions, not tensors: tests/test_control_flow.py and the backend
# suite's cases cover them (every result against the interpreter, gradients against FD)
COVERS |= {"scan", "while_loop", "switch"}
# linear algebra: drawn on a positive-definite matrix made from an entry (``linalg_step``)
LINALG = ["solve", "cholesky", "det", "eigvalsh", "eigh", "qr_q", "qr_r"]


class _Drawer:
    """Grows a recipe step by step, keeping float64 values to steer away from NaN/Inf."""

    def __init__(self, draw, allow_symbolic: bool, max_leaves: int):
        self.draw = draw
        self.recipe = Recipe()
        self.values: list[np.ndarray] = []
        self.built: list[gc.Tensor] = []
        self.feeds: dict[str, np.ndarray] = {}
        self.seed = draw(st.integers(0, 2**31 - 1))
        ndim = draw(st.sampled_from([2, 1, 3, 2, 0]))  # shrinks towards 2-D
        self.base = tuple(draw(st.lists(st.integers(2, 4), min_size=ndim, max_size=ndim)))
        self.base_kind = tuple(draw(st.sampled_from(["int", "none", "named"]))
                               if allow_symbolic else "int" for _ in self.base)
        self.n_leaves = 0
        for _ in range(draw(st.integers(1, max_leaves))):
            self.add_leaf(draw(st.sampled_from(["placeholder", "placeholder", "parameter"])))

    # ---- pool --------------------------------------------------------------------
    def fresh_seed(self) -> int:
        self.seed = (self.seed * 1103515245 + 12345) % 2**31
        return self.seed

    def add_leaf(self, kind: str, shape=None, dims=None, integer=False, high=2.0) -> int:
        draw = self.draw
        name = f"{'x' if kind == 'placeholder' else 'p'}{self.n_leaves}"
        self.n_leaves += 1
        if shape is None:
            # a suffix of the base shape, some axes squeezed to 1 (broadcasting)
            keep = draw(st.integers(0, len(self.base)))
            shape, dims = [], []
            for a in range(len(self.base) - keep, len(self.base)):
                if draw(st.integers(0, 4)) == 0:
                    shape.append(1)
                    dims.append(1)
                else:
                    shape.append(self.base[a])
                    k = self.base_kind[a] if kind == "placeholder" else "int"
                    dims.append(self.base[a] if k == "int" else None if k == "none" else f"n{a}")
        shape = tuple(shape)
        dims = tuple(shape if dims is None else dims)
        data = Data(self.fresh_seed(), shape, 0 if integer else -high, high, integer)
        leaf = Leaf(kind, name, dims, data, integer)
        t, feed = _make_leaf(leaf, np.dtype("float64"))
        if feed is not None:
            self.feeds[leaf.name] = feed
        self.recipe.items.append(leaf)
        self.built.append(t)
        self.values.append(feed if feed is not None else t.value)
        return len(self.built) - 1

    def push(self, fn: str, *args, **kwargs) -> int:
        step = Step(fn, tuple(args), tuple(sorted(kwargs.items())))
        t = _apply(step, self.built, np.dtype("float64"))
        value = np.asarray(gc.evaluate(t, feeds_for(t, self.feeds)))
        assert gc.ir.dims_match(t.dims, value.shape), \
            f"{fn}: static shape {t.shape} but the interpreter gave shape {value.shape}"
        self.recipe.items.append(step)
        self.built.append(t)
        self.values.append(value)
        return len(self.built) - 1

    def float_entries(self) -> list[int]:
        return [k for k, t in enumerate(self.built) if t.dtype.kind == "f"]

    def pick(self) -> int:
        cands = self.float_entries()
        # mostly the newest entry, so graphs grow deep rather than wide
        how = self.draw(st.sampled_from(["last", "recent", "any"]))
        return cands[-1] if how == "last" else self.draw(
            st.sampled_from(cands[-3:] if how == "recent" else cands))

    def partner(self, k: int) -> int:
        return self.draw(st.sampled_from([j for j in self.float_entries()
                                          if self.compatible(k, j)]))

    # ---- guards (recorded as ordinary steps) ---------------------------------------
    def positive(self, k: int, low: float = 0.1) -> int:
        v = self.values[k]
        if v.size and np.min(v) > low and np.max(v) < 100:
            return k
        k = self.small(k, 30)
        return self.push("add", Ref(self.push("mul", Ref(k), Ref(k))), 0.5)

    def small(self, k: int, bound: float = 8.0) -> int:
        v = self.values[k]
        if v.size == 0 or np.max(np.abs(v)) < bound:
            return k
        return self.push("tanh", Ref(k))

    def compatible(self, a: int, b: int) -> bool:
        """Static shapes broadcast without clashing names, and concrete shapes broadcast
        (so a run-time dim against a known size matches it at run time)."""
        try:
            np.broadcast_shapes(self.values[a].shape, self.values[b].shape)
        except ValueError:
            return False
        da, db = self.built[a].dims, self.built[b].dims
        for x, y in zip(reversed(da), reversed(db)):
            if isinstance(x, str) and isinstance(y, str) and x != y \
                    and not x.startswith("?") and not y.startswith("?"):
                return False
        return True

    # ---- steps -------------------------------------------------------------------
    def step(self, kind: str) -> None:
        draw = self.draw
        k = self.pick()
        t = self.built[k]
        if kind == "unary":
            fn = draw(st.sampled_from(UNARY))
            if fn in ("log", "sqrt"):
                k = self.positive(k)
            elif fn == "log1p":
                k = self.push("square", Ref(self.small(k)))
            elif fn in ("exp", "expm1"):
                k = self.small(k)
            elif fn == "square":
                k = self.small(k, 100)
            elif fn == "erfinv":   # inside (-1, 1), clear of the poles
                k = self.push("mul", Ref(self.push("tanh", Ref(k))), 0.9)
            self.push(fn, Ref(k))
        elif kind == "binary":
            fn = draw(st.sampled_from(BINARY))
            j = self.partner(k)
            if fn == "div":
                v = self.values[j]
                if v.size == 0 or np.min(np.abs(v)) < 0.2 or np.max(np.abs(v)) > 1e3:
                    j = self.positive(j)
            elif fn == "pow":
                k, j = self.positive(k), self.small(j, 3.0)
            elif fn == "mul":
                k, j = self.small(k, 100), self.small(j, 100)
            if fn not in ("div", "pow") and draw(st.booleans()):
                k, j = j, k
            self.push(fn, Ref(k), Ref(j))
        elif kind == "scalar":
            fn = draw(st.sampled_from(["add", "sub", "mul", "div", "pow"]))
            c = draw(st.sampled_from([0.5, 2.0, 3.0, -1.0, 1.5, 0.0, 1.0, -2.5]))
            if fn == "pow":
                self.push("pow", Ref(self.positive(k)), c)
            elif fn == "div":
                self.push("div", Ref(k), c if c != 0.0 else 4.0)
            elif draw(st.booleans()):
                self.push(fn, c, Ref(self.small(k, 100)))
            else:
                self.push(fn, Ref(self.small(k, 100)), c)
        elif kind == "where":
            a = self.partner(k)
            b = self.draw(st.sampled_from([j for j in self.float_entries()
                                           if self.compatible(k, j) and self.compatible(a, j)]))
            cond = self.push(draw(st.sampled_from(COMPARE)), Ref(k), Ref(a))
            if draw(st.booleans()):
                self.push("where", Ref(cond), Ref(a), Ref(b))
            else:
                self.push("where", Ref(cond), Ref(b), draw(st.sampled_from([0.0, 1.5])))
        elif kind == "mask":
            j = self.partner(k)
            cond = self.push(draw(st.sampled_from(COMPARE)), Ref(k), Ref(j))
            self.push("mul", Ref(self.push("cast", Ref(cond), "$dtype")), Ref(k))
        elif kind == "reduce":
            if t.ndim == 0:
                return
            # max/min of no elements has no value (NumPy raises): only sums of empty arrays
            fn = draw(st.sampled_from(["sum", "max", "mean", "min"] if self.values[k].size
                                      else ["sum"]))
            axis = draw(st.one_of(st.none(), st.integers(-t.ndim, t.ndim - 1),
                                  st.lists(st.integers(0, t.ndim - 1), min_size=1,
                                           max_size=t.ndim, unique=True).map(tuple)))
            self.push(fn, Ref(k), axis, draw(st.booleans()))
        elif kind == "composite":
            if t.ndim == 0:
                return
            fn = draw(st.sampled_from(["logsumexp", "softmax", "log_softmax", "softplus"]))
            axis = draw(st.integers(-t.ndim, t.ndim - 1))
            if fn == "logsumexp":
                self.push(fn, Ref(k), axis, draw(st.booleans()))
            elif fn == "softplus":
                self.push(fn, Ref(k))
            else:
                self.push(fn, Ref(k), axis)
        elif kind == "stop_gradient":
            self.push("stop_gradient", Ref(k))
        elif kind == "clip":
            self.push("clip", Ref(k), -0.5, 1.0)
        elif kind == "cast_f32":   # a round trip through float32 (rounds float64 graphs)
            self.push("cast", Ref(self.push("cast", Ref(k), "float32")), "$dtype")
        elif kind == "cast_int":   # float -> int32 -> float (truncation: no gradient)
            k = self.small(k, 100)
            self.push("cast", Ref(self.push("cast", Ref(k), "int32")), "$dtype")
        elif kind == "transpose":
            if t.ndim < 2:
                return
            if draw(st.booleans()):
                self.push("T", Ref(k))
            else:
                self.push("transpose", Ref(k), tuple(draw(st.permutations(range(t.ndim)))))
        elif kind == "reshape":
            if all(isinstance(d, int) for d in t.dims) and draw(st.booleans()):
                self.push("reshape", Ref(k), (-1,))
            else:  # insert a 1 (works with run-time dims too)
                self.push("reshape", Ref(k), ("$dims", k, draw(st.integers(0, t.ndim)), (1,)))
        elif kind == "broadcast":
            self.push("broadcast_to", Ref(k), ("$dims", k, 0, (draw(st.integers(2, 3)),)))
        elif kind == "matmul":
            self.matmul(k)
        elif kind == "one_hot":    # an embedding-like lookup: sum(one_hot(labels) * w, -1)
            depth = draw(st.integers(2, 4))
            lab = self.add_label_leaf(self.values[k].shape, t.dims, depth)
            oh = self.push("one_hot", Ref(lab), depth, "$dtype")
            w = self.add_leaf("parameter", shape=(depth,))
            emb = self.push("sum", Ref(self.push("mul", Ref(oh), Ref(w))), -1, False)
            self.push("add", Ref(emb), Ref(k))
        elif kind == "random":     # noise of the entry's shape at a drawn counter and key
            if any(isinstance(d, str) for d in t.dims):
                return   # pushed alone, the noise could not be evaluated (no feed sizes it)
            call, key = draw(st.integers(0, 2**40)), draw(st.integers(0, 2**62))
            noise = self.push("random_uniform", call, key, ("$dims", k, 0, ()), "$dtype")
            self.push("add", Ref(k), Ref(noise))
        elif kind == "slice":      # NumPy basic indexing: steps (negative too), ints, None
            index = []
            for d in t.dims:
                if isinstance(d, str) or d == 0:
                    index.append(slice(None))
                elif draw(st.integers(0, 3)) == 0:
                    index.append(draw(st.integers(-d, d - 1)))
                else:
                    step = draw(st.sampled_from([1, 1, 2, -1, -2]))
                    sl = slice(draw(st.one_of(st.none(), st.integers(-d, d))),
                               draw(st.one_of(st.none(), st.integers(-d - 1, d))), step)
                    # empty results are tested in test_indexing; here later steps (max,
                    # mean) need at least one element
                    index.append(sl if len(range(*sl.indices(d))) else slice(None))
            if draw(st.booleans()):
                index.insert(draw(st.integers(0, len(index))), None)
            self.push("[]", Ref(k), tuple(index))
        elif kind == "pad":        # pad, or concatenate (a sum of pads)
            static = [a for a, d in enumerate(t.dims) if isinstance(d, int)]
            if not static:
                return
            axis = draw(st.sampled_from(static))
            if draw(st.booleans()):
                widths = [(0, 0)] * t.ndim
                widths[axis] = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                self.push("pad", Ref(k), tuple(widths),
                          constant_values=draw(st.sampled_from([0.0, 1.5])))
            else:
                other = self.push("mul", Ref(k), draw(st.sampled_from([2.0, -0.5])))
                self.push("concatenate", (Ref(k), Ref(other)), axis)
        elif kind == "gather":     # take rows at drawn indices, add them back elsewhere
            static = [a for a, d in enumerate(t.dims) if isinstance(d, int) and d > 0]
            if not static:
                return
            axis = draw(st.sampled_from(static))
            count = draw(st.integers(1, 4))   # empty takes: tests/test_gather.py
            idx = self.add_leaf("placeholder", shape=(count,), integer=True, high=t.dims[axis])
            rows = self.push("take", Ref(k), Ref(idx), axis)
            if draw(st.booleans()):
                rows = self.push("mul", Ref(rows), draw(st.sampled_from([2.0, -0.5])))
                how = draw(st.sampled_from(["add", "multiply", "min", "max"]))
                if how == "add" or axis != 0:
                    self.push("scatter_add", Ref(k), Ref(idx), Ref(rows), axis)
                else:   # duplicates combined: the scatter's mul, min and max
                    self.push(f"at.{how}", Ref(k), Ref(idx), Ref(rows))
        elif kind == "scan":       # running sums, products, log-sum-exps along an axis
            if t.ndim == 0:
                return
            fn = draw(st.sampled_from(["cumsum", "cumprod", "logcumsumexp", "cummax",
                                       "cummin"]))
            axis = draw(st.integers(-t.ndim, t.ndim - 1))
            if fn == "cumprod":
                k = self.small(k, 1.5)
            self.push(fn, Ref(k), axis)
        elif kind == "sort":       # sort (any axis) or top_k values (a known last axis)
            if t.ndim == 0:
                return
            if draw(st.booleans()) or not isinstance(t.dims[-1], int) or not t.dims[-1]:
                self.push("sort", Ref(k), draw(st.integers(-t.ndim, t.ndim - 1)))
            else:
                self.push("top_k_values", Ref(k), draw(st.integers(1, t.dims[-1])))
        elif kind == "linalg":
            self.linalg_step(k)
        elif kind == "cross_entropy":
            if t.ndim == 0 or not isinstance(t.dims[-1], int) or t.dims[-1] < 2:
                return
            lab = self.add_label_leaf(self.values[k].shape[:-1], t.dims[:-1], t.dims[-1])
            if draw(st.booleans()):   # labels computed in the graph: a check_index
                lab = self.push("add", Ref(lab), 0)
            self.push("cross_entropy", Ref(k), Ref(lab))

    def linalg_step(self, k: int) -> None:
        """``S = outer(t, t) + diag(d+1, ..., 2d)`` per row ``t`` of the entry (positive
        definite, distinct eigenvalues), then one linalg op whose result, brought back to
        the entry's shape, is added to it."""
        draw = self.draw
        t = self.built[k]
        if t.ndim == 0 or not isinstance(t.dims[-1], int) or not 1 <= t.dims[-1] <= 5:
            return
        k = self.small(k, 2)
        d = t.dims[-1]
        col = self.push("reshape", Ref(k), ("$dims", k, t.ndim, (1,)))
        row = self.push("reshape", Ref(k), ("$dims", k, t.ndim - 1, (1,)))
        diag = self.push("linalg.diag", [float(d + 1 + j) for j in range(d)])
        spd = self.push("add", Ref(self.push("mul", Ref(col), Ref(row))), Ref(diag))
        op = draw(st.sampled_from(LINALG))
        # right-hand sides as one-column matrices (NumPy: a 1-D b alone is a vector)
        if op == "solve":
            out = self.push("linalg.solve", Ref(spd), Ref(col))
            out = self.push("sum", Ref(out), -1)
        elif op == "cholesky":
            lower = self.push("linalg.cholesky", Ref(spd))
            out = self.push("linalg.solve_triangular", Ref(lower), Ref(col), lower=True,
                            trans=draw(st.sampled_from([0, 1])))
            out = self.push("sum", Ref(out), -1)
        elif op == "det":   # det(S / d): sign and log|det|; a scalar per matrix
            scaled = self.push("mul", Ref(spd), 1.0 / d)
            out = self.push("linalg.det", Ref(scaled))
            out = self.push("reshape", Ref(out), ("$dims", out, t.ndim - 1, (1,)))
        elif op == "eigvalsh":
            out = self.push("linalg.eigvalsh", Ref(spd))
        else:               # a matrix factor, applied to the entry: sum(M * t[..., None, :], -1)
            fn = {"eigh": "linalg.eigh[1]", "qr_q": "linalg.qr[0]", "qr_r": "linalg.qr[1]"}[op]
            m = self.push(fn, Ref(spd))
            out = self.push("sum", Ref(self.push("mul", Ref(m), Ref(row))), -1)
        self.push("add", Ref(k), Ref(out))

    def add_label_leaf(self, shape, dims, depth) -> int:
        # anonymous run-time dims cannot be named again: labels take the named ones and
        # the concrete size where the logits' dim is anonymous
        dims = tuple(s if isinstance(d, str) and d.startswith("?") else d
                     for d, s in zip(dims, shape))
        return self.add_leaf("placeholder", shape=tuple(shape), dims=dims, integer=True,
                             high=depth)

    def matmul(self, k: int) -> None:
        draw = self.draw
        if self.built[k].ndim == 0:
            return
        k = self.small(k, 30)
        t, v = self.built[k], self.values[k]
        j = draw(st.integers(1, 3))
        variant = draw(st.sampled_from(["right", "left", "vec", "vec_left", "self", "batched"]))
        if t.ndim == 1 and variant in ("left", "self", "batched"):
            variant = "right"
        if variant == "self":       # t @ swapaxes(t): both operands from the graph
            perm = tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2)
            self.push("matmul", Ref(k), Ref(self.push("transpose", Ref(k), perm)))
        elif variant == "left":     # (j, m) @ (..., m, n)
            b = self.add_leaf("parameter", shape=(j, v.shape[-2]))
            self.push("matmul", Ref(b), Ref(k))
        elif variant == "vec":      # (..., k) @ (k,)
            self.push("@", Ref(k), Ref(self.add_leaf("parameter", shape=(v.shape[-1],))))
        elif variant == "vec_left" and t.ndim >= 2:  # (m,) @ (..., m, n)
            self.push("@", Ref(self.add_leaf("parameter", shape=(v.shape[-2],))), Ref(k))
        elif variant == "batched":  # (b..., m, k) @ (b..., k, j): batch dims on both sides
            b = self.add_leaf("parameter", shape=tuple(v.shape[:-2]) + (v.shape[-1], j))
            self.push("matmul", Ref(k), Ref(b))
        else:                       # (..., k) @ (k, j)
            self.push("@", Ref(k), Ref(self.add_leaf("parameter", shape=(v.shape[-1], j))))


@st.composite
def recipes(draw, max_steps: int = 6, allow_symbolic: bool = True, max_leaves: int = 3,
            kinds=tuple(KINDS)) -> Recipe:
    """A random graph recipe (see the module docstring)."""
    d = _Drawer(draw, allow_symbolic, max_leaves)
    for _ in range(draw(st.integers(min(3, max_steps), max_steps))):
        d.step(draw(st.sampled_from(kinds)))
    results = [k for k in d.float_entries() if isinstance(d.recipe.items[k], Step)]
    if not results:
        results = [d.push("mul", Ref(d.float_entries()[0]), 1.5)]
    # outputs: the results nothing later reads (so every step is in the graph), at most 3
    used = {r.index for item in d.recipe.items if isinstance(item, Step)
            for a in item.args for r in _refs(a)}
    sinks = [k for k in results if k not in used] or [results[-1]]
    d.recipe.outputs = sinks[-3:]
    return d.recipe
