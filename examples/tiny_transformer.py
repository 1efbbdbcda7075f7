"""A one-block transformer learns a counting language: one compiled call per Adam step.

Each sequence counts modulo 16 with its own stride (``3 6 9 12 15 2 5 ...`` has stride 3);
predicting the next token needs the previous token as well as the current one, so the model
must learn to attend backwards. The model is the usual pre-norm block: token and position
embeddings (``gc.nn.embedding``, i.e. ``E[tokens]``), ``layer_norm``, causal
``scaled_dot_product_attention``, a GELU MLP, tied output embeddings and
``cross_entropy`` over the positions whose answer is determined (from the third token on).
The batch size is a run-time dim, so the same compiled step trains and evaluates.

    python examples/tiny_transformer.py                  # next-token accuracy ~100%
    GRAPHC_EXAMPLE_SMALL=1 python examples/tiny_transformer.py   # a few seconds, for tests
"""
from __future__ import annotations

import os
import time

import numpy as np

import graphc as gc

SMALL = os.environ.get("GRAPHC_EXAMPLE_SMALL") == "1"
VOCAB, LENGTH, WIDTH = 16, 10, 32
STEPS = 150 if SMALL else 600
BATCH, LR = 64, 3e-3


def counting_sequences(n: int, rng: np.random.Generator) -> np.ndarray:
    start = rng.integers(0, VOCAB, size=(n, 1))
    stride = rng.integers(1, 4, size=(n, 1))
    return (start + stride * np.arange(LENGTH)) % VOCAB


def build(rng: np.random.Generator):
    """The training step (loss out, Adam updates in) and the accuracy function."""
    tokens = gc.placeholder("tokens", (None, LENGTH), "int64")

    def weight(name, *shape, scale=None):
        scale = scale if scale is not None else shape[0] ** -0.5
        return gc.parameter(name, (scale * rng.standard_normal(shape)).astype(np.float32))

    E, P = weight("E", VOCAB, WIDTH, scale=0.5), weight("P", LENGTH, WIDTH, scale=0.5)
    Wq, Wk, Wv, Wo = (weight(n, WIDTH, WIDTH) for n in ("Wq", "Wk", "Wv", "Wo"))
    W1, W2 = weight("W1", WIDTH, 4 * WIDTH), weight("W2", 4 * WIDTH, WIDTH)
    params = [E, P, Wq, Wk, Wv, Wo, W1, W2]

    x = gc.nn.embedding(tokens, E) + P
    h = gc.nn.layer_norm(x, WIDTH)
    x = x + gc.nn.scaled_dot_product_attention(h @ Wq, h @ Wk, h @ Wv, is_causal=True) @ Wo
    x = x + gc.nn.gelu(gc.nn.layer_norm(x, WIDTH) @ W1) @ W2
    logits = gc.nn.layer_norm(x, WIDTH) @ E.T          # tied input/output embeddings
    known = logits[:, 1:-1]                              # positions whose next token is determined
    targets = tokens[:, 2:]
    loss = gc.cross_entropy(known, targets)
    accuracy = gc.mean(gc.cast(gc.equal(gc.argmax(known, axis=-1), targets), "float32"))
    step = gc.compile(loss, inputs=[tokens], updates=gc.optim.adam(loss, params, lr=LR))
    evaluate = gc.compile([loss, accuracy], inputs=[tokens])
    return step, evaluate


def main() -> float:
    rng = np.random.default_rng(0)
    step, evaluate = build(rng)
    held_out = counting_sequences(512, np.random.default_rng(1))
    t0 = time.perf_counter()
    for k in range(STEPS):
        loss = step(counting_sequences(BATCH, rng))
        if k % 50 == 0 or k == STEPS - 1:
            print(f"step {k:4d}  loss {float(loss):.4f}")
    seconds = time.perf_counter() - t0
    test_loss, accuracy = evaluate(held_out)
    print(f"{STEPS} steps in {seconds:.1f} s; held-out loss {float(test_loss):.4f}, "
          f"next-token accuracy {float(accuracy):.3f}")
    print(f"RESULT accuracy={float(accuracy):.4f} loss={float(test_loss):.4f}")
    return float(accuracy)


if __name__ == "__main__":
    main()
