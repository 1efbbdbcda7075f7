"""Generated C-family code for one matrix of a linear-algebra kernel (``kind="linalg"``),
shared by the C and CUDA dialects: Cholesky (Banachiewicz), triangular solves
(substitution), LU with partial pivoting (solve, slogdet), cyclic Jacobi (eigh) and
Householder QR with LAPACK's sign convention (dlarfg), row-major, one matrix per loop
iteration (C) or per thread (CUDA). The C dialect calls LAPACK instead for large
matrices when it is available (``c_lapack``).

Every name these snippets declare starts with ``la_`` (a reserved family). The caller
provides ``la_a`` (the matrix), ``la_b`` (the right-hand side, solves), ``la_out``, the
scratch ``la_w`` (``scratch(spec)[0]`` elements) and ``la_piv`` (``scratch(spec)[1]``
indices), and an ``int64_t la_info`` set to 0; a failure sets ``la_info`` nonzero.

>>> spec = {"op": "cholesky", "n": 2, "m": 2, "k": 0, "attrs": {}}
>>> "la_info = 1" in "\\n".join(matrix_code(spec, "double", "sqrt", "fabs"))
True
"""
from __future__ import annotations


def out_size(spec: dict) -> int:
    """Elements of one matrix's output."""
    op, n, m, k = spec["op"], spec["n"], spec["m"], spec["k"]
    if op in ("cholesky", "eigh_vectors"):
        return n * n
    if op in ("solve", "solve_triangular"):
        return n * k
    if op in ("logabsdet", "det_sign"):
        return 1
    if op == "eigvalsh":
        return n
    kk = min(m, n)
    return m * kk if op == "qr_q" else kk * n


def in_sizes(spec: dict) -> list:
    """Elements of one matrix of each input."""
    n, m, k = spec["n"], spec["m"], spec["k"]
    if spec["op"] in ("solve", "solve_triangular"):
        return [n * n, n * k]
    return [m * n]


def scratch(spec: dict) -> tuple[int, int]:
    """(scratch elements of the value type, pivot indices) one matrix needs."""
    op, n, m = spec["op"], spec["n"], spec["m"]
    if op in ("solve", "logabsdet", "det_sign"):
        return n * n, n
    if op in ("eigvalsh", "eigh_vectors"):
        return 2 * n * n, 0
    if op in ("qr_q", "qr_r"):
        return m * n + min(m, n), 0
    return 0, 0


def flops(spec: dict) -> int:
    """Rough work per matrix (for the parallel threshold)."""
    n, m, k = spec["n"], spec["m"], spec["k"]
    if spec["op"] in ("eigvalsh", "eigh_vectors"):
        return 20 * n ** 3
    if spec["op"] == "solve_triangular":
        return n * n * k
    return max(m, n) * n * n + n * n * k


def matrix_code(spec: dict, T: str, sqrt: str, fabs: str) -> list:
    """C lines computing one matrix's output (see the module docstring)."""
    return _BODIES[spec["op"]](spec, T, sqrt, fabs)


def _cholesky(spec, T, sqrt, fabs):
    n = spec["n"]
    return [
        f"for (int64_t la_i = 0; la_i < {n}; ++la_i)",
        f"    for (int64_t la_j = 0; la_j < {n}; ++la_j)",
        f"        la_out[la_i * {n} + la_j] = la_j <= la_i ? la_a[la_i * {n} + la_j] : ({T})0;",
        f"for (int64_t la_j = 0; la_j < {n} && !la_info; ++la_j) {{",
        f"    {T} la_s = la_out[la_j * {n} + la_j];",
        "    for (int64_t la_p = 0; la_p < la_j; ++la_p)",
        f"        la_s -= la_out[la_j * {n} + la_p] * la_out[la_j * {n} + la_p];",
        "    if (!(la_s > 0)) { la_info = 1; break; }   /* not positive definite (or NaN) */",
        f"    const {T} la_d = {sqrt}(la_s);",
        f"    la_out[la_j * {n} + la_j] = la_d;",
        f"    for (int64_t la_i = la_j + 1; la_i < {n}; ++la_i) {{",
        f"        {T} la_t = la_out[la_i * {n} + la_j];",
        "        for (int64_t la_p = 0; la_p < la_j; ++la_p)",
        f"            la_t -= la_out[la_i * {n} + la_p] * la_out[la_j * {n} + la_p];",
        f"        la_out[la_i * {n} + la_j] = la_t / la_d;",
        "    }",
        "}",
    ]


def substitution(n: int, k: int, lower: bool, unit: bool, elem, T: str, x: str = "la_out") -> list:
    """Solve ``M @ X = X`` in place for triangular ``M`` (``elem(i, p)``: its C element),
    ``X`` row-major n x k."""
    lines = [f"for (int64_t la_c = 0; la_c < {k}; ++la_c) {{"]
    if lower:
        lines += [f"    for (int64_t la_i = 0; la_i < {n}; ++la_i) {{",
                  f"        {T} la_s = {x}[la_i * {k} + la_c];",
                  "        for (int64_t la_p = 0; la_p < la_i; ++la_p)"]
    else:
        lines += [f"    for (int64_t la_i = {n} - 1; la_i >= 0; --la_i) {{",
                  f"        {T} la_s = {x}[la_i * {k} + la_c];",
                  f"        for (int64_t la_p = la_i + 1; la_p < {n}; ++la_p)"]
    lines += [f"            la_s -= {elem('la_i', 'la_p')} * {x}[la_p * {k} + la_c];",
              f"        {x}[la_i * {k} + la_c] = "
              + ("la_s;" if unit else f"la_s / {elem('la_i', 'la_i')};"),
              "    }", "}"]
    return lines


def _solve_triangular(spec, T, sqrt, fabs):
    n, k, attrs = spec["n"], spec["k"], spec["attrs"]
    lower, trans, unit = attrs["lower"], attrs["trans"], attrs["unit_diagonal"]
    lines = [f"for (int64_t la_i = 0; la_i < {n * k}; ++la_i) la_out[la_i] = la_b[la_i];"]
    if not unit:
        lines.append(f"for (int64_t la_i = 0; la_i < {n}; ++la_i) "
                     f"if (la_a[la_i * {n} + la_i] == 0) la_info = 1;   /* singular */")
    if trans:
        def elem(i, p):
            return f"la_a[{p} * {n} + {i}]"
    else:
        def elem(i, p):
            return f"la_a[{i} * {n} + {p}]"
    return lines + ["if (!la_info) {"] + ["    " + x for x in substitution(
        n, k, lower != bool(trans), unit, elem, T)] + ["}"]


def lu_code(n: int, T: str, fabs: str) -> list:
    """LU with partial pivoting of ``la_a`` into ``la_w`` (row swaps in ``la_piv``); a zero
    pivot sets ``la_info`` (LAPACK's getrf: the factorization still completes)."""
    return [
        f"for (int64_t la_i = 0; la_i < {n * n}; ++la_i) la_w[la_i] = la_a[la_i];",
        f"for (int64_t la_j = 0; la_j < {n}; ++la_j) {{",
        "    int64_t la_p = la_j;",
        f"    for (int64_t la_i = la_j + 1; la_i < {n}; ++la_i)",
        f"        if ({fabs}(la_w[la_i * {n} + la_j]) > {fabs}(la_w[la_p * {n} + la_j])) la_p = la_i;",
        "    la_piv[la_j] = la_p;",
        f"    if (la_w[la_p * {n} + la_j] == 0) {{ if (!la_info) la_info = la_j + 1; continue; }}",
        "    if (la_p != la_j)",
        f"        for (int64_t la_c = 0; la_c < {n}; ++la_c) {{",
        f"            const {T} la_t = la_w[la_j * {n} + la_c];",
        f"            la_w[la_j * {n} + la_c] = la_w[la_p * {n} + la_c];",
        f"            la_w[la_p * {n} + la_c] = la_t;",
        "        }",
        f"    for (int64_t la_i = la_j + 1; la_i < {n}; ++la_i) {{",
        f"        const {T} la_l = la_w[la_i * {n} + la_j] / la_w[la_j * {n} + la_j];",
        f"        la_w[la_i * {n} + la_j] = la_l;",
        f"        for (int64_t la_c = la_j + 1; la_c < {n}; ++la_c)",
        f"            la_w[la_i * {n} + la_c] -= la_l * la_w[la_j * {n} + la_c];",
        "    }",
        "}",
    ]


def _solve(spec, T, sqrt, fabs):
    n, k = spec["n"], spec["k"]
    lines = lu_code(n, T, fabs)
    lines += [f"for (int64_t la_i = 0; la_i < {n * k}; ++la_i) la_out[la_i] = la_b[la_i];",
              "if (!la_info) {",
              f"    for (int64_t la_j = 0; la_j < {n}; ++la_j)",
              "        if (la_piv[la_j] != la_j)",
              f"            for (int64_t la_c = 0; la_c < {k}; ++la_c) {{",
              f"                const {T} la_t = la_out[la_j * {k} + la_c];",
              f"                la_out[la_j * {k} + la_c] = la_out[la_piv[la_j] * {k} + la_c];",
              f"                la_out[la_piv[la_j] * {k} + la_c] = la_t;",
              "            }"]

    def elem(i, p):
        return f"la_w[{i} * {n} + {p}]"
    lines += ["    " + x for x in substitution(n, k, True, True, elem, T)]
    lines += ["    " + x for x in substitution(n, k, False, False, elem, T)]
    return lines + ["}"]


def _slogdet(which):
    def body(spec, T, sqrt, fabs):
        n = spec["n"]
        log = "logf" if T == "float" else "log"
        lines = lu_code(n, T, fabs)
        lines += [f"{T} la_sign = 1, la_logabs = 0;",
                  f"for (int64_t la_j = 0; la_j < {n}; ++la_j) {{",
                  f"    const {T} la_u = la_w[la_j * {n} + la_j];",
                  "    if (la_piv[la_j] != la_j) la_sign = -la_sign;",
                  "    if (la_u < 0) la_sign = -la_sign;",
                  f"    la_logabs += {log}({fabs}(la_u));",
                  "}",
                  "if (la_info) { la_sign = 0; la_logabs = -GC_INFINITY; }   /* singular */",
                  "la_info = 0;   /* a determinant of 0 is a value, not a failure */",
                  f"la_out[0] = {'la_sign' if which == 'det_sign' else 'la_logabs'};"]
        return lines
    return body


def jacobi_code(n: int, T: str, sqrt: str, fabs: str) -> list:
    """Cyclic Jacobi on the symmetric matrix whose lower triangle is ``la_a``: eigenvalues
    on the diagonal of ``la_w`` (n x n), eigenvectors in the columns of ``la_w + n*n``,
    sorted ascending; each eigenvector's entry of largest magnitude made positive."""
    nn = n * n
    return [
        f"{T}* la_A = la_w;",
        f"{T}* la_V = la_w + {nn};",
        f"for (int64_t la_i = 0; la_i < {n}; ++la_i)",
        f"    for (int64_t la_j = 0; la_j < {n}; ++la_j) {{",
        f"        la_A[la_i * {n} + la_j] = la_j <= la_i ? la_a[la_i * {n} + la_j] "
        f": la_a[la_j * {n} + la_i];",
        f"        la_V[la_i * {n} + la_j] = la_i == la_j;",
        "    }",
        "for (int la_sweep = 0; la_sweep < 100; ++la_sweep) {",
        "    int la_rotated = 0;",
        f"    for (int64_t la_p = 0; la_p < {n}; ++la_p)",
        f"    for (int64_t la_q = la_p + 1; la_q < {n}; ++la_q) {{",
        f"        const {T} la_apq = la_A[la_p * {n} + la_q];",
        f"        const {T} la_app = la_A[la_p * {n} + la_p], la_aqq = la_A[la_q * {n} + la_q];",
        "        if (la_apq == 0) continue;",
        f"        const {T} la_g = 100 * {fabs}(la_apq);",
        "        /* negligible next to both diagonal entries: zero it (Numerical Recipes) */",
        f"        if (la_sweep > 3 && {fabs}(la_app) + la_g == {fabs}(la_app) && "
        f"{fabs}(la_aqq) + la_g == {fabs}(la_aqq)) {{",
        f"            la_A[la_p * {n} + la_q] = la_A[la_q * {n} + la_p] = 0;",
        "            continue;",
        "        }",
        "        la_rotated = 1;",
        f"        const {T} la_theta = (la_aqq - la_app) / (2 * la_apq);",
        f"        {T} la_t = 1 / ({fabs}(la_theta) + {sqrt}(la_theta * la_theta + 1));",
        "        if (la_theta < 0) la_t = -la_t;",
        f"        const {T} la_c = 1 / {sqrt}(la_t * la_t + 1), la_s = la_t * la_c;",
        "        /* A <- J^T A J on rows and columns p, q (symmetric: both halves at once) */",
        f"        for (int64_t la_k = 0; la_k < {n}; ++la_k) {{",
        f"            const {T} la_v = la_V[la_k * {n} + la_p], la_u = la_V[la_k * {n} + la_q];",
        f"            la_V[la_k * {n} + la_p] = la_c * la_v - la_s * la_u;",
        f"            la_V[la_k * {n} + la_q] = la_s * la_v + la_c * la_u;",
        "            if (la_k == la_p || la_k == la_q) continue;",
        f"            const {T} la_x = la_A[la_k * {n} + la_p], la_y = la_A[la_k * {n} + la_q];",
        f"            la_A[la_k * {n} + la_p] = la_A[la_p * {n} + la_k] = la_c * la_x - la_s * la_y;",
        f"            la_A[la_k * {n} + la_q] = la_A[la_q * {n} + la_k] = la_s * la_x + la_c * la_y;",
        "        }",
        f"        la_A[la_p * {n} + la_p] = la_app - la_t * la_apq;",
        f"        la_A[la_q * {n} + la_q] = la_aqq + la_t * la_apq;",
        f"        la_A[la_p * {n} + la_q] = la_A[la_q * {n} + la_p] = 0;",
        "    }",
        "    if (!la_rotated) break;",
        "}",
    ] + sort_and_sign(n, T, fabs, "la_A", n + 1, "la_V")


def sort_and_sign(n: int, T: str, fabs: str, w: str, wstride: int, V: str) -> list:
    """Eigenvalues ``w[i * wstride]`` sorted ascending with the columns of ``V`` (n x n),
    then each column's entry of largest magnitude (the first on a tie) made positive."""
    return [
        f"for (int64_t la_i = 0; la_i < {n}; ++la_i) {{   /* selection sort, ascending */",
        "    int64_t la_m = la_i;",
        f"    for (int64_t la_j = la_i + 1; la_j < {n}; ++la_j)",
        f"        if ({w}[la_j * {wstride}] < {w}[la_m * {wstride}]) la_m = la_j;",
        "    if (la_m != la_i) {",
        f"        const {T} la_t = {w}[la_i * {wstride}];",
        f"        {w}[la_i * {wstride}] = {w}[la_m * {wstride}];",
        f"        {w}[la_m * {wstride}] = la_t;",
        f"        for (int64_t la_k = 0; la_k < {n}; ++la_k) {{",
        f"            const {T} la_x = {V}[la_k * {n} + la_i];",
        f"            {V}[la_k * {n} + la_i] = {V}[la_k * {n} + la_m];",
        f"            {V}[la_k * {n} + la_m] = la_x;",
        "        }",
        "    }",
        "}",
        f"for (int64_t la_j = 0; la_j < {n}; ++la_j) {{",
        "    int64_t la_m = 0;",
        f"    for (int64_t la_k = 1; la_k < {n}; ++la_k)",
        f"        if ({fabs}({V}[la_k * {n} + la_j]) > {fabs}({V}[la_m * {n} + la_j])) la_m = la_k;",
        f"    if ({V}[la_m * {n} + la_j] < 0)",
        f"        for (int64_t la_k = 0; la_k < {n}; ++la_k) "
        f"{V}[la_k * {n} + la_j] = -{V}[la_k * {n} + la_j];",
        "}",
    ]


def _eigvalsh(spec, T, sqrt, fabs):
    n = spec["n"]
    return jacobi_code(n, T, sqrt, fabs) + [
        f"for (int64_t la_i = 0; la_i < {n}; ++la_i) la_out[la_i] = la_A[la_i * {n + 1}];"]


def _eigh_vectors(spec, T, sqrt, fabs):
    n = spec["n"]
    return jacobi_code(n, T, sqrt, fabs) + [
        f"for (int64_t la_i = 0; la_i < {n * n}; ++la_i) la_out[la_i] = la_V[la_i];"]


def householder_code(m: int, n: int, T: str, sqrt: str, fabs: str) -> list:
    """Householder QR of ``la_a`` (m x n) in ``la_w`` as LAPACK's dgeqrf leaves it (R on
    and above the diagonal, the reflectors' tails below, ``tau`` after the matrix);
    dlarfg's convention ``beta = -sign(alpha) * norm``, so R's signs are LAPACK's."""
    k = min(m, n)
    return [
        f"{T}* la_tau = la_w + {m * n};",
        f"for (int64_t la_i = 0; la_i < {m * n}; ++la_i) la_w[la_i] = la_a[la_i];",
        f"for (int64_t la_j = 0; la_j < {k}; ++la_j) {{",
        f"    const {T} la_alpha = la_w[la_j * {n} + la_j];",
        f"    {T} la_xn = 0;",
        f"    for (int64_t la_i = la_j + 1; la_i < {m}; ++la_i)",
        f"        la_xn += la_w[la_i * {n} + la_j] * la_w[la_i * {n} + la_j];",
        "    if (la_xn == 0) { la_tau[la_j] = 0; continue; }   /* H = I */",
        f"    {T} la_beta = {sqrt}(la_alpha * la_alpha + la_xn);",
        "    if (la_alpha >= 0) la_beta = -la_beta;",
        "    la_tau[la_j] = (la_beta - la_alpha) / la_beta;",
        f"    const {T} la_scale = 1 / (la_alpha - la_beta);",
        f"    for (int64_t la_i = la_j + 1; la_i < {m}; ++la_i) la_w[la_i * {n} + la_j] *= la_scale;",
        f"    la_w[la_j * {n} + la_j] = la_beta;",
        f"    for (int64_t la_c = la_j + 1; la_c < {n}; ++la_c) {{   /* H R[j:, c] */",
        f"        {T} la_d = la_w[la_j * {n} + la_c];",
        f"        for (int64_t la_i = la_j + 1; la_i < {m}; ++la_i)",
        f"            la_d += la_w[la_i * {n} + la_j] * la_w[la_i * {n} + la_c];",
        "        la_d *= la_tau[la_j];",
        f"        la_w[la_j * {n} + la_c] -= la_d;",
        f"        for (int64_t la_i = la_j + 1; la_i < {m}; ++la_i)",
        f"            la_w[la_i * {n} + la_c] -= la_d * la_w[la_i * {n} + la_j];",
        "    }",
        "}",
    ]


def _qr_r(spec, T, sqrt, fabs):
    m, n = spec["m"], spec["n"]
    return householder_code(m, n, T, sqrt, fabs) + [
        f"for (int64_t la_i = 0; la_i < {min(m, n)}; ++la_i)",
        f"    for (int64_t la_j = 0; la_j < {n}; ++la_j)",
        f"        la_out[la_i * {n} + la_j] = la_j >= la_i ? la_w[la_i * {n} + la_j] : ({T})0;"]


def _qr_q(spec, T, sqrt, fabs):
    m, n = spec["m"], spec["n"]
    k = min(m, n)
    return householder_code(m, n, T, sqrt, fabs) + [
        "/* Q = H_0 ... H_{k-1} applied to the first k columns of I, last reflector first */",
        f"for (int64_t la_i = 0; la_i < {m}; ++la_i)",
        f"    for (int64_t la_c = 0; la_c < {k}; ++la_c) la_out[la_i * {k} + la_c] = la_i == la_c;",
        f"for (int64_t la_j = {k} - 1; la_j >= 0; --la_j)",
        f"    for (int64_t la_c = la_j; la_c < {k}; ++la_c) {{",
        f"        {T} la_d = la_out[la_j * {k} + la_c];",
        f"        for (int64_t la_i = la_j + 1; la_i < {m}; ++la_i)",
        f"            la_d += la_w[la_i * {n} + la_j] * la_out[la_i * {k} + la_c];",
        "        la_d *= la_tau[la_j];",
        f"        la_out[la_j * {k} + la_c] -= la_d;",
        f"        for (int64_t la_i = la_j + 1; la_i < {m}; ++la_i)",
        f"            la_out[la_i * {k} + la_c] -= la_d * la_w[la_i * {n} + la_j];",
        "    }",
    ]


_BODIES = {"cholesky": _cholesky, "solve_triangular": _solve_triangular, "solve": _solve,
           "logabsdet": _slogdet("logabsdet"), "det_sign": _slogdet("det_sign"),
           "eigvalsh": _eigvalsh, "eigh_vectors": _eigh_vectors, "qr_q": _qr_q, "qr_r": _qr_r}
