"""Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011),
the counter-based generator of cuRAND, JAX and PyTorch, vectorized in NumPy only (the
numpy backend embeds this module in generated code, which must not import graphc).

A draw is a pure function of (key, call counter, flat element index): the 128-bit Philox
counter is (index low word, index high word, call low word, call high word), the key is
the 64-bit ``key``'s two 32-bit words, and a draw uses the first output word.
The C-family prelude computes the same function per element, so every backend gives
the same bits.

>>> [hex(int(w)) for w in philox4x32_10([0, 0, 0, 0], [0, 0])]
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""
from __future__ import annotations

import numpy as np

PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57     # round multipliers
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85     # Weyl key increments
_LOW32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(counter, key):
    """The four output words (uint32 arrays) for counter words ``counter[0..3]`` and key
    words ``key[0..1]`` (arrays or ints of uint32 values, broadcast together)."""
    c = [np.asarray(w, np.uint64) & _LOW32 for w in counter]
    k0, k1 = (np.asarray(w, np.uint64) & _LOW32 for w in key)
    for rnd in range(10):
        if rnd:  # the key is bumped before every round but the first
            k0 = (k0 + np.uint64(PHILOX_W0)) & _LOW32
            k1 = (k1 + np.uint64(PHILOX_W1)) & _LOW32
        p0 = np.uint64(PHILOX_M0) * c[0]   # < 2**64: exact in uint64 (mulhi = p >> 32)
        p1 = np.uint64(PHILOX_M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & _LOW32,
             (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & _LOW32]
    return [w.astype(np.uint32) for w in c]


def philox_uniform(call, key, shape, dtype):
    """Uniform numbers in [0, 1) of ``shape``: the first word of Philox at counter (flat
    index, ``call``) and key ``key``. float32 takes the word's top 24 bits, float64 all 32
    (k * 2**-24 or k * 2**-32: exact in either type, so no backend rounds anything)."""
    index = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.uint64)
    call = np.uint64(int(call) & 0xFFFFFFFFFFFFFFFF)
    key = int(key) & 0xFFFFFFFFFFFFFFFF
    bits = philox4x32_10([index, index >> np.uint64(32), call, call >> np.uint64(32)],
                         [key & 0xFFFFFFFF, key >> 32])[0]
    if np.dtype(dtype) == np.float32:
        out = (bits >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)
    else:
        out = bits.astype(np.float64) * 2.0 ** -32
    return out.reshape(shape)
