"""Hostile user names: graphs whose placeholder and parameter names are quotes, newlines,
comment terminators, preprocessor lines, keywords, unicode, 5,000 characters, code, or
collide after sanitising. For every available backend they compile, run (same values as
the interpreter), export, and execute nothing (a name that would create a marker file if
it ever ran as code leaves no file behind)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc

from test_fuzz_differential import BACKENDS, BACKEND_IDS

ALL = BACKENDS
IDS = BACKEND_IDS or ["numpy"]


def hostile_names(marker: str) -> list[str]:
    """Names that break naive code generators; ``marker`` is a path that must not appear."""
    py = f"__import__('os').system('touch {marker}_py')"
    return [
        'quote"double', "quote'single", "'''triple", 'back\\slash',
        "new\nline", "carriage\rreturn", "tab\tname",
        "*/ int evil = 1; /*", "// line comment", "# hash comment",
        "#include <stdlib.h>\nint main(){system(\"touch " + marker + "_c\");}",
        f'"); system("touch {marker}_c2"); ("', py,
        f"x\n{py}\n#", f"{{{{{py}}}}}", "${HOME}", "%s%n%x",
        "class", "def", "lambda", "None", "return", "import", "np", "numpy", "float",
        "int", "main", "for", "__global__", "threadIdx", "out", "self",
        "λ", "über", "变量", "🙂", "e\u0301",  # unicode, a combining accent
        "x" * 5000, "", " ", "0starts_with_digit", "x-1", "x 1", "x_1", "x.1",
        "a\x00nul", "\u202eevil",  # a NUL byte, a right-to-left override
    ]


def build_graph(names: list[str], dtype="float64"):
    """Each name a placeholder (every other one a parameter); one output and one gradient."""
    rng = np.random.default_rng(0)
    leaves, feeds, total = [], {}, None
    for k, name in enumerate(names):
        if k % 2:
            t = gc.parameter(name, rng.uniform(0.5, 1.5, 3).astype(dtype))
        else:
            t = gc.placeholder(name, (3,), dtype)
            feeds[t] = rng.uniform(0.5, 1.5, 3).astype(dtype)
        leaves.append(t)
        term = gc.exp(t) * float(k + 1)
        total = term if total is None else total + term
    loss = gc.sum(gc.log(total))
    params = [t for t in leaves if t.op == "parameter"]
    grads = gc.grad(loss, params)
    return leaves, params, feeds, [loss, total] + grads


@pytest.fixture
def marker(tmp_path):
    path = str(tmp_path / "PWNED")
    yield path
    left = [p for p in os.listdir(tmp_path) if p.startswith("PWNED")]
    assert not left, f"a name was executed as code: {left}"


@pytest.mark.parametrize("backend,options", ALL, ids=IDS)
def test_hostile_names_compile_run_and_match(backend, options, marker):
    names = hostile_names(marker)
    leaves, params, feeds, outs = build_graph(names)
    ref = gc.evaluate(outs, feeds)
    f = gc.compile(outs, backend=backend, **options,
                   updates={p: p - 0.01 * g for p, g in zip(params, outs[2:])})
    placeholders = [t for t in leaves if t.op == "placeholder"]
    got = f(*[feeds[t] for t in placeholders])
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    for text in f.source.values():
        for name in names:
            if any(c in name for c in "\n\r\x00") and len(name) > 1:
                assert name not in text, f"raw name {name!r} reached the source"
        assert "\x00" not in text and "\u202e" not in text
        # user text survives only inside Python string literals (repr) or comments: in
        # the code itself there are just sanitised identifiers
        assert "touch " + marker not in code_outside_literals(text, backend)


def code_outside_literals(text: str, backend: str) -> str:
    """The source without its string literals and comments (Python via tokenize)."""
    if backend != "numpy":
        return text  # C/CUDA sources may not contain user text at all, even in strings
    import io
    import tokenize
    toks = tokenize.generate_tokens(io.StringIO(text).readline)
    return " ".join(t.string for t in toks if t.type not in (tokenize.STRING, tokenize.COMMENT))


@pytest.mark.parametrize("backend,options", ALL, ids=IDS)
def test_names_that_collide_after_sanitising(backend, options, marker):
    """a-b, a b, a_b, a.b, a/b ... all want the identifier a_b: each keeps its own value."""
    names = ["a-b", "a b", "a_b", "a.b", "a/b", "a\nb", "a_b_1", "a_b_2", "A_B", "a__b"]
    leaves, params, feeds, outs = build_graph(names)
    ref = gc.evaluate(outs, feeds)
    f = gc.compile(outs, backend=backend, **options)
    got = f(*[feeds[t] for t in leaves if t.op == "placeholder"])
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    # keyword feeding by the user's own (unsanitised) names works too
    got_kw = f(**{t.name: feeds[t] for t in leaves if t.op == "placeholder"})
    for g, r in zip(got_kw, ref):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend,options", ALL, ids=IDS)
def test_hostile_names_export(backend, options, marker, tmp_path):
    names = hostile_names(marker)
    leaves, params, feeds, outs = build_graph(names)
    f = gc.compile(outs[:2], backend=backend, **options)
    out_dir = tmp_path / "export"
    try:
        paths = f.export(str(out_dir), name="model")
    except NotImplementedError:
        pytest.skip(f"{backend} has no export")
    assert paths and all(os.path.exists(p) for p in paths)
    if backend != "numpy":
        return  # the native exports are compiled and run by their own tests
    placeholders = [t for t in leaves if t.op == "placeholder"]
    np.savez(tmp_path / "feeds.npz", *[feeds[t] for t in placeholders])
    ref = gc.evaluate(outs[:2], feeds)
    np.savez(tmp_path / "ref.npz", *ref)
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(out_dir)!r})
        import model
        fn = model.load()
        feeds = np.load({str(tmp_path / 'feeds.npz')!r})
        ref = np.load({str(tmp_path / 'ref.npz')!r})
        got = fn(*[feeds[f'arr_{{k}}'] for k in range(len(feeds.files))])
        for k, g in enumerate(got):
            np.testing.assert_allclose(g, ref[f'arr_{{k}}'], rtol=1e-10)
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]


def test_printing_and_dot_keep_names_inert(marker):
    """show/str/DOT text are for people: names appear, but quoted/escaped in DOT."""
    names = hostile_names(marker)
    leaves, _, _, outs = build_graph(names[:12])
    dot = gc.to_dot(outs[0])
    for line in dot.splitlines()[3:-1]:
        assert line.startswith("  n") and line.endswith(";"), line
    listing, formula = gc.show(outs[0]), str(outs[0])
    # one line per node whatever the names hold (control characters are escapes), and
    # every name readable in both texts
    body = listing.splitlines()[1:]
    assert all(line.startswith(("  t", "  return")) or line == "}" for line in body), listing
    for name in names[:12]:
        shown = name.encode("unicode_escape").decode("ascii").replace("\\\\", "\\")
        assert shown in listing and shown in formula, name
    assert not any(os.path.exists(marker + suffix) for suffix in ("_py", "_c", "_c2"))
