"""OpenMP threads of the C backend follow the process's CPU affinity (issue 17, item 6).

The C prelude's ``gc_threads()`` (the ``num_threads`` of every parallel kernel) is the
number of CPUs in the affinity mask now, at most OpenMP's own limit: narrowing the
mask after the OpenMP runtime started (``os.sched_setaffinity``, what taskset and
cgroup CPU sets do) narrows the kernels' thread teams too.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from graphc.codegen import probes, toolchain
from graphc.codegen.c_dialect import C
from graphc.codegen.compilers import c_command

pytestmark = [
    pytest.mark.skipif(not toolchain.have_c_compiler(), reason="no C compiler"),
    pytest.mark.skipif(not probes.openmp_available(), reason="no OpenMP"),
    pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity here"),
]

# prints gc_threads() before and after the program narrows its own mask to one CPU,
# and the size of an OpenMP team that asked for gc_threads() threads
PROGRAM = "#define _GNU_SOURCE\n#include <sched.h>\n" + C.prelude + r"""
#include <stdio.h>
static int team(void) {
    int size = 0;
    #pragma omp parallel num_threads(gc_threads())
    {
        #pragma omp single
        size = omp_get_num_threads();
    }
    return size;
}
int main(void) {
    printf("%d %d\n", gc_threads(), team());
    cpu_set_t one;
    CPU_ZERO(&one);
    if (sched_getaffinity(0, sizeof one, &one) != 0) return 2;
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE; ++c) if (CPU_ISSET(c, &one)) { first = c; break; }
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return 3;
    printf("%d %d\n", gc_threads(), team());
    return 0;
}
"""


@pytest.fixture(scope="module")
def program():
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "threads.c"), os.path.join(d, "threads")
        with open(src, "w") as f:
            f.write(PROGRAM)
        r = subprocess.run([*c_command(), "-O1", "-std=c11", "-fopenmp", src, "-o", exe, "-lm"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        yield exe


def run(exe, env_threads=None, cpus=None):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if env_threads is not None:
        env["OMP_NUM_THREADS"] = str(env_threads)
    pre = (lambda: os.sched_setaffinity(0, cpus)) if cpus is not None else None
    r = subprocess.run([exe], capture_output=True, text=True, env=env, preexec_fn=pre)
    assert r.returncode == 0, r.stderr
    return [tuple(int(v) for v in line.split()) for line in r.stdout.split("\n") if line]


def test_threads_follow_a_mask_narrowed_after_start(program):
    cpus = len(os.sched_getaffinity(0))
    before, after = run(program)
    assert before == (cpus, cpus)
    assert after == (1, 1)


def test_omp_num_threads_stays_the_upper_bound(program):
    before, after = run(program, env_threads=1)
    assert before == (1, 1) and after == (1, 1)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU here")
def test_threads_follow_the_mask_at_start(program):
    first = min(os.sched_getaffinity(0))
    before, _ = run(program, cpus={first})
    assert before == (1, 1)


def test_a_compiled_function_under_a_narrowed_mask_is_right():
    """End to end: a parallel-sized kernel run by a process confined to one CPU."""
    code = (
        "import os, numpy as np, graphc as gc\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "x = gc.placeholder('x', (None,))\n"
        "f = gc.compile(gc.tanh(x) * 2, inputs=[x], backend='c')\n"
        "v = np.linspace(-3, 3, 3_000_000, dtype=np.float32)\n"
        "assert np.allclose(f(v), np.tanh(v) * 2, rtol=1e-5, atol=1e-6)\n"
        "print('ok')\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                       timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-3000:]
