"""Differential fuzzing: random graphs (tests/strategies.py) checked against the oracles.

* ``gc.hvp`` (a gradient of a gradient graph) against central differences of ``gc.grad``
  (h = 1e-4 and 1e-5, rtol = atol = 1e-4, non-smooth points skipped);
* ``gc.grad`` against central finite differences in float64 (random directions), and
  ``gc.jvp`` (forward mode) against ``gc.grad`` along the same directions (rtol 1e-9);
* float32 against float64 (continuous graphs only);
* every pass in ``graphc/passes`` and the whole pipeline preserving values;
* every available backend (numpy, c, cuda with ``device="emulate"``) against the
  reference interpreter, forward and backward (first and second order), with a training
  update; the exported NumPy module against the compiled function.

Documented tolerances. Let S = 1 + max |v| over every intermediate value v of the
float64 reference evaluation (the scale at which rounding happens). An element
``got`` is accepted against ``ref`` when ``|got - ref| <= rtol*|ref| + atol*S`` with

* float64, any backend/pass vs interpreter:  rtol = atol = 1e-9
* float32, any backend/pass vs interpreter:  rtol = atol = 2e-4
* float32 graph vs the float64 graph:        rtol = atol = 2e-3
* finite differences (float64, h = 1e-6 and 1e-5, central):  rtol = atol = 1e-5
  (points where the two step sizes disagree are non-smooth and skipped).

CI runs each property ``GRAPHC_CI_EXAMPLES`` (25) times; ``pytest -m fuzz`` runs the same
properties ``GRAPHC_FUZZ_EXAMPLES`` (2000) times each.
"""
from __future__ import annotations

import importlib
import os
import pkgutil

import numpy as np
import pytest
from hypothesis import given

import graphc as gc
from graphc.ops import OPS

from helpers_backends import BACKEND_IDS, BACKENDS, each_backend  # noqa: F401 (re-exported)
from strategies import CI, COVERS, FUZZ, KINDS, Recipe, built_from, feeds_for, recipes

RUN_COUNTS: dict[str, int] = {}
# rtol = atol/S for a result of this dtype against the interpreter (see the docstring);
# chosen by the result's dtype: a float64 graph may hold float32 parts (casts)
TOL = {"float64": 1e-9, "float32": 2e-4}


def tol_for(node) -> float:
    """The tolerance of the least precise float dtype ``node`` is computed through (a float64
    result of a float32 part has float32 precision)."""
    kinds = {n.dtype.name for n in gc.topo_order([node]) if n.dtype.kind == "f"}
    return max((TOL[k] for k in kinds if k in TOL), default=TOL["float64"])
# finite-difference properties skip points within h of a kink (and graphs with no float
# leaf), but at least this share of the possible comparisons must really happen
MIN_COMPARED_SHARE = 0.5
# native backends pay a C compiler run per example: fewer examples in CI
NATIVE_CI = CI.__class__(CI, max_examples=max(3, CI.max_examples // 5))

# graphs that are continuous functions of their inputs (no comparisons, no int casts):
# float32 and float64 can only be compared there
CONTINUOUS_KINDS = tuple(k for k in KINDS if k not in ("where", "mask", "cast_int"))
# rounding through float32 makes a float64 graph piecewise constant at 1e-7 scale, below
# what finite differences can resolve; stop_gradient's zero gradient is by definition
# not the derivative (inside the stable composites it is, and those stay)
SMOOTH_KINDS = tuple(k for k in KINDS if k not in ("cast_f32", "stop_gradient"))


def _count(name: str) -> None:
    RUN_COUNTS[name] = RUN_COUNTS.get(name, 0) + 1


# ---- helpers --------------------------------------------------------------------------------

def ev(outputs, feeds):
    """gc.evaluate with only the feeds the outputs read (graphc rejects unknown names)."""
    return gc.evaluate(outputs, feeds_for(outputs, feeds))


def scale_of(outputs, feeds) -> float:
    """1 + the largest magnitude of any intermediate value (float64 reference)."""
    order = [n for n in gc.topo_order(outputs) if n.dtype.kind == "f"]
    vals = ev(order, feeds) if order else []
    m = 0.0
    for v in vals:
        v = np.asarray(v, dtype=np.float64)
        finite = v[np.isfinite(v)]
        if finite.size:
            m = max(m, float(np.max(np.abs(finite))))
    return 1.0 + m


def assert_close(got, ref, rtol: float, atol: float, what: str) -> None:
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != reference {ref.shape}"
    both_nan = np.isnan(got) & np.isnan(ref)
    same_inf = np.isinf(got) & (got == ref)
    ok = both_nan | same_inf | (np.abs(got - ref) <= rtol * np.abs(ref) + atol)
    if not np.all(ok):
        bad = np.argwhere(~ok)[:5]
        detail = ", ".join(f"{tuple(i)}: got {got[tuple(i)]!r} want {ref[tuple(i)]!r}"
                           for i in bad)
        raise AssertionError(f"{what}: {int((~ok).sum())} of {ok.size} elements differ "
                             f"(rtol={rtol}, atol={atol:.3g}): {detail}")


def with_loss(b):
    """A scalar loss sum_i sum(out_i * cot_i) with random cotangent placeholders."""
    rng = np.random.default_rng(len(b.pool))
    feeds = b.feeds_for(b.outputs)
    values = gc.evaluate(b.outputs, feeds)
    loss = None
    taken = {n.name for n in gc.topo_order(b.outputs) if n.op == "placeholder"}
    prefix = "cot"
    while any(t.startswith(prefix) for t in taken):  # graphs that already hold a loss
        prefix += "_"
    for i, (o, v) in enumerate(zip(b.outputs, values)):
        cot = gc.placeholder(f"{prefix}{i}", o.dims, o.dtype)
        feeds[f"{prefix}{i}"] = rng.standard_normal(np.shape(v)).astype(o.dtype)
        term = gc.sum(o * cot)
        loss = term if loss is None else loss + term
    return loss, feeds


def loss_and_leaves(b, params_only: bool = False):
    """(random scalar loss of ``b``'s outputs, the float leaves it reads, feeds)."""
    loss, feeds = with_loss(b)
    read = {id(n) for n in gc.topo_order([loss])}
    wrt = [t for t in b.float_leaves
           if id(t) in read and (t.op == "parameter" or not params_only)]
    return loss, wrt, feeds


def grad_graph(b):
    """(outputs + gradients of a random loss w.r.t. every float leaf it reads, feeds)."""
    loss, wrt, feeds = loss_and_leaves(b)
    grads = gc.grad(loss, wrt) if wrt else []
    return list(b.outputs) + [loss] + list(grads), wrt, feeds


# ---- properties -----------------------------------------------------------------------------

def check_grad_vs_finite_differences(recipe: Recipe) -> tuple[int, int]:
    _count("grad_vs_fd")
    return check_grad_built(recipe.build("float64"), recipe.source())


def check_grad_built(b, source: str = "") -> tuple[int, int]:
    """gc.grad of a random scalar loss of ``b``'s outputs vs central finite differences
    along two random directions (float64). Returns (directions compared with finite
    differences, directions drawn): a kink within h of the point skips one."""
    loss, wrt, feeds = loss_and_leaves(b)
    if not wrt:
        return 0, 0
    compared, directions = 0, 2
    # evaluated with the loss, as a compiled training step would be (a gradient graph
    # alone may not read the placeholders that bind its run-time dims)
    grads = ev([loss] + gc.grad(loss, wrt), feeds)[1:]
    # forward mode along the same directions: tangents fed like inputs (run-time dims too)
    tangents = [gc.placeholder(f"tangent{i}", t.dims, t.dtype) for i, t in enumerate(wrt)]
    forward = gc.jvp(loss, wrt, tangents)
    rng = np.random.default_rng(7)
    base = {id(t): (feeds[t.name] if t.op == "placeholder" else t.value.copy()) for t in wrt}
    for _ in range(directions):
        dirs = {id(t): rng.standard_normal(np.shape(base[id(t)])) for t in wrt}
        analytic = float(sum(np.sum(g * dirs[id(t)]) for t, g in zip(wrt, grads)))
        jvp_feeds = dict(feeds, **{f"tangent{i}": dirs[id(t)] for i, t in enumerate(wrt)})
        jv = float(ev([loss, forward], jvp_feeds)[1])
        scale = 1 + sum(float(np.sum(np.abs(g * dirs[id(t)]))) for t, g in zip(wrt, grads))
        assert abs(jv - analytic) <= 1e-9 * scale or (np.isnan(jv) and np.isnan(analytic)), (
            f"gc.jvp {jv!r} disagrees with gc.grad {analytic!r} along a direction\n{source}")

        def loss_at(h: float) -> float:
            f = dict(feeds)
            for t in wrt:
                moved = base[id(t)] + h * dirs[id(t)]
                if t.op == "placeholder":
                    f[t.name] = moved
                else:
                    t.value = moved
            try:
                return float(ev(loss, f))
            finally:
                for t in wrt:
                    if t.op == "parameter":
                        t.value = base[id(t)]

        fd = {h: (loss_at(h) - loss_at(-h)) / (2 * h) for h in (1e-5, 1e-6)}
        if not all(np.isfinite(v) for v in fd.values()) or not np.isfinite(analytic):
            continue
        tol = 1e-5 * (1 + abs(fd[1e-5]) + sum(float(np.sum(np.abs(g * dirs[id(t)])))
                                               for t, g in zip(wrt, grads)))
        if abs(fd[1e-5] - fd[1e-6]) > 10 * tol:
            continue  # a kink or jump within h of the point: FD means nothing here
        assert abs(analytic - fd[1e-5]) <= tol, (
            f"gc.grad disagrees with finite differences: directional derivative "
            f"{analytic!r} vs {fd[1e-5]!r} (h=1e-5), {fd[1e-6]!r} (h=1e-6)\n{source}")
        compared += 1
    return compared, directions


def check_hvp_vs_finite_differences(recipe: Recipe) -> tuple[int, int]:
    """Second order: gc.hvp (grad of a gradient graph) vs central differences of gc.grad.
    Returns (elements compared, elements): elements at a kink are skipped."""
    _count("hvp_vs_fd")
    b = recipe.build("float64")
    loss, wrt, feeds = loss_and_leaves(b, params_only=True)
    if not wrt:
        return 0, 0
    compared = total = 0
    rng = np.random.default_rng(11)
    dirs = [rng.standard_normal(t.value.shape) for t in wrt]
    grads = gc.grad(loss, wrt)
    hv = ev([loss] + gc.hvp(loss, wrt, [gc.constant(d) for d in dirs]), feeds)[1:]
    base = [t.value.copy() for t in wrt]

    def grads_at(h: float) -> list:
        try:
            for t, v, d in zip(wrt, base, dirs):
                t.value = v + h * d
            return ev([loss] + grads, feeds)[1:]
        finally:
            for t, v in zip(wrt, base):
                t.value = v

    fd = {h: [(p - m) / (2 * h) for p, m in zip(grads_at(h), grads_at(-h))] for h in (1e-4, 1e-5)}
    for k, t in enumerate(wrt):
        a, f1, f2 = hv[k], fd[1e-4][k], fd[1e-5][k]
        tol = 1e-4 * (1 + np.abs(f1) + np.abs(a))
        smooth = np.abs(f1 - f2) <= 10 * tol
        bad = smooth & np.isfinite(f1) & (np.abs(a - f1) > tol)
        assert not np.any(bad), (
            f"gc.hvp w.r.t. {t.name} disagrees with finite differences of gc.grad: "
            f"{a[bad][:3]} vs {np.asarray(f1)[bad][:3]}\n{recipe.source()}")
        compared += int(np.sum(smooth & np.isfinite(f1)))
        total += int(np.size(f1))
    return compared, total


def check_float32_vs_float64(recipe: Recipe) -> None:
    _count("f32_vs_f64")
    b64, b32 = recipe.build("float64"), recipe.build("float32")
    outs64, wrt64, feeds64 = grad_graph(b64)
    outs32, wrt32, feeds32 = grad_graph(b32)
    ref = ev(outs64, feeds64)
    got = ev(outs32, feeds32)
    s = scale_of(outs64, feeds64)
    for k, (g, r, o) in enumerate(zip(got, ref, outs32)):
        assert np.asarray(g).dtype == o.dtype
        assert_close(g, r, 2e-3, 2e-3 * s, f"float32 vs float64, output {k}\n{recipe.source()}")


# ---- passes ---------------------------------------------------------------------------------

_NOT_PASSES = {"autodiff", "pipeline", "rewrite", "memory", "schedule", "fusion"}


def discover_passes() -> dict:
    """name -> pass function ``fn(outputs) -> outputs``.

    From the pipeline's registry ``PASSES`` (``name -> (opt level, runner(outs, enabled))``)
    when present, each run alone with every pass enabled for its cleanup rules; else
    every module ``graphc/passes/<name>.py`` defining a function ``<name>(outputs)``.
    """
    import graphc.passes as P
    from graphc.passes import pipeline

    table = getattr(pipeline, "PASSES", None)
    if isinstance(table, dict) and table:
        enabled = set(table)

        def wrap(runner):
            if isinstance(runner, tuple):
                runner = next(r for r in runner if callable(r))
                return lambda outs: runner(list(outs), enabled)
            return lambda outs: runner(list(outs))
        return {name: wrap(v) for name, v in table.items()}
    found = {}
    for info in pkgutil.iter_modules(P.__path__):
        if info.name in _NOT_PASSES:
            continue
        try:
            mod = importlib.import_module(f"graphc.passes.{info.name}")
        except Exception:  # a pass still being written must not break the others' checks
            continue
        fn = getattr(mod, info.name, None)
        if callable(fn):
            found[info.name] = fn
    return found


PASSES = discover_passes()


def check_passes_preserve_values(recipe: Recipe, dtype: str = "float64") -> None:
    _count("passes")
    b = recipe.build(dtype)
    outs, _, feeds = grad_graph(b)
    ref = ev(outs, feeds)
    s = scale_of(outs, feeds) if dtype == "float64" else \
        scale_of(*grad_graph(recipe.build("float64"))[::2])
    candidates = dict(PASSES)
    candidates["pipeline"] = lambda o: gc.passes.pipeline.optimize(list(o))
    for name, fn in candidates.items():
        new = fn(list(outs))
        assert len(new) == len(outs), f"pass {name} changed the number of outputs"
        for k, (n, o) in enumerate(zip(new, outs)):
            assert n.dtype == o.dtype, f"pass {name}: output {k} dtype {n.dtype} != {o.dtype}"
            assert gc.ir.dims_match(n.dims, np.shape(ref[k])), \
                f"pass {name}: output {k} shape {n.shape} vs {np.shape(ref[k])}"
        got = ev(new, feeds)
        for k, (g, r) in enumerate(zip(got, ref)):
            tol = tol_for(outs[k])
            assert_close(g, r, tol, tol * s, f"pass {name!r}, output {k}\n{recipe.source()}")


# ---- backends -------------------------------------------------------------------------------

def _as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def check_backend(recipe: Recipe, backend: str, options: dict, dtype: str) -> None:
    _count(f"backend_{backend}")
    s = scale_of(*grad_graph(recipe.build("float64"))[::2])
    check_backend_built(recipe.build(dtype), backend, options, s, recipe.source(dtype))


def check_backend_built(b, backend: str, options: dict, s: float | None = None,
                        source: str = "") -> None:
    """Outputs, a random loss, its gradients and an SGD update, compiled with ``backend``,
    against the interpreter; then a second call must give the same bytes."""
    outs, wrt, feeds = grad_graph(b)
    params = [t for t in wrt if t.op == "parameter"]
    grads = outs[len(b.outputs) + 1:]
    if s is None:
        s = scale_of(outs, feeds)
    dtype = b.dtype.name
    ref = ev(outs, feeds)
    # a training step: p <- p - 0.1 * dloss/dp, applied after the call
    updates = {p: p - 0.1 * grads[wrt.index(p)] for p in params}
    ref_updates = ev(list(updates.values()), feeds) if updates else []
    before = {id(p): p.value.copy() for p in params}
    try:
        f = gc.compile(outs, backend=backend, updates=updates or None, **options)
    except gc.GraphcError as e:
        raise AssertionError(f"{backend} cannot compile a valid graph: {e}\n{source}") from e
    try:
        got = _as_list(f(**feeds_for(outs, feeds)))
        assert len(got) == len(outs)
        for k, (g, r) in enumerate(zip(got, ref)):
            assert np.asarray(g).dtype == outs[k].dtype, \
                f"{backend}: output {k} dtype {np.asarray(g).dtype} != {outs[k].dtype}"
            tol = tol_for(outs[k])
            assert_close(g, r, tol, tol * s, f"{backend} {dtype} output {k}\n{source}")
        for (p, v), r in zip(updates.items(), ref_updates):
            tol = tol_for(v)
            assert_close(p.value, r, tol, tol * s, f"{backend} update of {p.name}\n{source}")
    finally:
        for p in params:
            p.value = before[id(p)]
    if backend == "numpy":
        check_export_matches(f, outs, feeds, got, source)
    # parameters restored: the same call gives the same outputs again (no hidden state)
    again = _as_list(f(**feeds_for(outs, feeds)))
    for k, (g, h) in enumerate(zip(got, again)):
        assert_close(h, g, 1e-12, 0.0, f"{backend}: second call, output {k}")
    for p in params:
        p.value = before[id(p)]


def check_hvp_backend(recipe: Recipe, backend: str, options: dict) -> None:
    """Second-order graphs (hvp) compiled with ``backend`` against the interpreter."""
    _count(f"hvp_backend_{backend}")
    b = recipe.build("float64")
    loss, wrt, feeds = loss_and_leaves(b, params_only=True)
    if not wrt:
        return
    rng = np.random.default_rng(1)
    hv = gc.hvp(loss, wrt, [gc.constant(rng.standard_normal(t.value.shape)) for t in wrt])
    check_backend_built(built_from(list(hv) + [loss], feeds), backend, options, None,
                        recipe.source())


def check_export_matches(f, outs, feeds, got, source: str) -> None:
    """The exported standalone module (imported from its folder) gives ``f``'s outputs."""
    import importlib.util
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        f.export(d, name="fuzzmodel")
        spec = importlib.util.spec_from_file_location("fuzzmodel_export",
                                                      os.path.join(d, "fuzzmodel.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        step = mod.load()
        args = [feeds[p.name] for p in f.inputs]
        exported = _as_list(step(*args))
    for k, (e, g) in enumerate(zip(exported, got)):
        assert_close(e, g, 1e-12, 0.0, f"exported module, output {k}\n{source}")


# ---- tests: CI profile ----------------------------------------------------------------------

def test_strategy_covers_every_primitive():
    """A newly declared op without fuzz coverage fails here."""
    missing = set(OPS) - COVERS
    assert not missing, f"tests/strategies.py does not generate: {sorted(missing)}"


def run_counting_comparisons(profile, strategy, check) -> None:
    """Run ``check`` (returning (compared, possible)) on each recipe hypothesis draws
    under ``profile``; points at a kink are skipped, but at least MIN_COMPARED_SHARE of
    the possible comparisons must really happen."""
    counts = []

    @profile
    @given(strategy)
    def run(recipe):
        counts.append(check(recipe))
    run()
    compared, possible = (sum(c[k] for c in counts) for k in (0, 1))
    assert possible > 0 and compared >= MIN_COMPARED_SHARE * possible, counts


def test_grad_matches_finite_differences():
    """Kinked points are skipped, but most directions must reach a real comparison."""
    run_counting_comparisons(CI, recipes(kinds=SMOOTH_KINDS), check_grad_vs_finite_differences)


def test_hvp_matches_finite_differences():
    """As above, per element of the Hessian-vector product."""
    run_counting_comparisons(CI, recipes(max_steps=4, kinds=SMOOTH_KINDS),
                             check_hvp_vs_finite_differences)


@CI
@given(recipes(kinds=CONTINUOUS_KINDS))
def test_float32_close_to_float64(recipe):
    check_float32_vs_float64(recipe)


@CI
@given(recipes())
def test_passes_preserve_values(recipe):
    check_passes_preserve_values(recipe)


@CI
@given(recipes(kinds=CONTINUOUS_KINDS))
def test_passes_preserve_values_float32(recipe):
    check_passes_preserve_values(recipe, "float32")


@each_backend
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backend_matches_interpreter(backend, options, dtype):
    kinds = KINDS if dtype == "float64" else CONTINUOUS_KINDS

    @(CI if backend == "numpy" else NATIVE_CI)
    @given(recipes(kinds=kinds))
    def run(recipe):
        check_backend(recipe, backend, options, dtype)
    run()


@each_backend
def test_backend_second_order(backend, options):
    @NATIVE_CI
    @given(recipes(max_steps=4, kinds=SMOOTH_KINDS))
    def run(recipe):
        check_hvp_backend(recipe, backend, options)
    run()


# ---- tests: long fuzz profile (pytest -m fuzz) -----------------------------------------------

@pytest.mark.fuzz
def test_fuzz_grad():
    run_counting_comparisons(FUZZ, recipes(max_steps=10, kinds=SMOOTH_KINDS),
                             check_grad_vs_finite_differences)


@pytest.mark.fuzz
def test_fuzz_hvp():
    run_counting_comparisons(FUZZ, recipes(max_steps=6, kinds=SMOOTH_KINDS),
                             check_hvp_vs_finite_differences)


@pytest.mark.fuzz
@FUZZ
@given(recipes(max_steps=10, kinds=CONTINUOUS_KINDS))
def test_fuzz_float32(recipe):
    check_float32_vs_float64(recipe)


@pytest.mark.fuzz
@FUZZ
@given(recipes(max_steps=10))
def test_fuzz_passes(recipe):
    check_passes_preserve_values(recipe)


@pytest.mark.fuzz
@each_backend
def test_fuzz_backends(backend, options):
    @FUZZ
    @given(recipes(max_steps=10), __import__("hypothesis").strategies.sampled_from(
        ["float64", "float32"]))
    def run(recipe, dtype):
        check_backend(recipe, backend, options, dtype)
    run()


def teardown_module(module):
    if os.environ.get("GRAPHC_FUZZ_REPORT"):
        with open(os.environ["GRAPHC_FUZZ_REPORT"], "a") as fh:
            for k, v in sorted(RUN_COUNTS.items()):
                fh.write(f"{k} {v}\n")


@pytest.mark.fuzz
@each_backend
def test_fuzz_backends_second_order(backend, options):
    @FUZZ
    @given(recipes(max_steps=6, kinds=SMOOTH_KINDS))
    def run(recipe):
        check_hvp_backend(recipe, backend, options)
    run()
