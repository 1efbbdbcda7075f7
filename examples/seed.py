"""The tutorial graphc grows from (PyTorch's tensors + autograd intro), done ahead of time.

Run:  python examples/seed.py

Each step builds a graph first, then compiles it (``gc.compile``: optimization passes,
generated NumPy code) and runs it. ``gc.evaluate`` (the reference interpreter) would
give the same numbers.
"""
import numpy as np

import graphc as gc


def run(outputs):
    """Compile and run a graph that has no placeholders (the one place that picks the engine)."""
    return gc.compile(outputs)()


def step(title):
    print(f"\n== {title} ==")


# 1. A tensor from data ---------------------------------------------------------------------
step("1. a tensor from data")
t = gc.constant([[9, 8], [7, 6]])
print("t =", t, " shape", t.shape, " dtype", t.dtype)   # a graph node that holds its data
print("value:", run(t).tolist())

# 2. E = 3*a**3 - b**2 with a, b parameters ----------------------------------------------------
step("2. E = 3*a**3 - b**2")
a = gc.parameter("a", [2., 4.])
b = gc.parameter("b", [7., 5.])
E = 3 * a**3 - b**2
print("E =", E)
print("E(a, b) =", run(E))

# 3. Gradients, like E.backward(gradient=torch.tensor([1., 1.])) ------------------------------
step("3. gradients dE/da, dE/db with seed [1, 1]")
da, db = gc.grad(E, [a, b], seed=gc.constant([1., 1.]))
ga, gb = run([da, db])
print("a.grad =", ga)      # [ 36. 144.]
print("b.grad =", gb)      # [-14. -10.]
print("dE/da =", gc.expr(da))   # 9*a**2
print("dE/db =", gc.expr(db))   # -2*b
assert np.allclose(ga, 9 * a.value**2) and np.allclose(gb, -2 * b.value)
print("optimized gradient graph:")
print(gc.show(gc.optimize([da, db])))

# 4. A one-layer MLP: the gradient graph, listed -----------------------------------------------
step("4. one MLP layer: loss and its gradient graph")
rng = np.random.default_rng(0)
x = gc.placeholder("x", (None, 4))          # a batch of any size
labels = gc.placeholder("labels", (None,), "int32")
W = gc.parameter("W", rng.normal(0, 0.5, (4, 3)).astype(np.float32))
bias = gc.parameter("bias", np.zeros(3, np.float32))
loss = gc.cross_entropy(gc.relu(x @ W + bias), labels)
dW, dbias = gc.grad(loss, [W, bias])
print(gc.show([loss, dW, dbias]))
feeds = {x: rng.normal(size=(5, 4)), labels: rng.integers(0, 3, size=5)}
lv, gw, gbias = gc.compile([loss, dW, dbias])(**{"x": feeds[x], "labels": feeds[labels]})
print("loss on a batch of 5 =", lv, "  |dW| =", np.abs(gw).sum(), "  dbias =", gbias)
