"""Derive the polynomial coefficients used by graphc/special.py (erf, erfc).

    python benchmarks/gen_special_coefficients.py     # prints the constants block

The printed block is pasted verbatim into graphc/special.py; rerunning this script
must reproduce it exactly. It needs only mpmath (shipped with SymPy) and runs in a
few seconds.

Method: each target function is interpolated at Chebyshev points (``mpmath.chebyfit``,
160-bit arithmetic), which is within a small factor of the minimax polynomial; the
monomial coefficients are rounded to float64 and the rounded polynomial is then
checked against the function on a dense grid, again in 160-bit arithmetic, so the
reported error includes the coefficient rounding (float64 evaluation error is not
included: that is what tests/test_special.py measures).

  * ``ERF_SMALL``: p(t) = erf(sqrt(t)) / sqrt(t) - 1 on t = x^2 in [0, 0.84375^2];
    special.py evaluates erf(x) = x + x * p(x^2) there.
  * ``ERFCX_PIECES``: erfcx(a) = exp(a^2) * erfc(a) on [lo, hi] pieces covering
    [0.5, 28], each a polynomial in t = a - mid (mid the piece's midpoint; the
    subtraction is exact because every piece has hi <= 3 lo). special.py evaluates
    erfc(a) = exp(-a^2) * erfcx(a) there.
  * ``LN2_HIGH``, ``LN2_LOW``: ln 2 split so that special.py can scale exp(-a^2) by
    2^128 (as exp(128 ln 2 - a^2)) where the result would otherwise be subnormal.
"""
from __future__ import annotations

import mpmath as mp

WORKING_BITS = 160
TOLERANCE = 4e-18  # relative error of the rounded polynomial; float64 half-ulp is 1.1e-16
SMALL_LIMIT = 0.84375  # erf uses x + x*p(x^2) below this |x|
ERFCX_EDGES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.5, 10.5, 15.0, 21.0, 28.0)
GRID_POINTS = 2000  # per piece, for the check of the rounded coefficients


def erfcx(a):
    """The scaled complementary error function exp(a^2) erfc(a), in mpmath."""
    return mp.erfc(a) * mp.exp(a * a)


def erf_small_correction(t):
    """p(t) = erf(sqrt t)/sqrt t - 1, with its limit 2/sqrt(pi) - 1 at t = 0."""
    if t == 0:
        return 2 / mp.sqrt(mp.pi) - 1
    root = mp.sqrt(t)
    return mp.erf(root) / root - 1


def chebyshev_fit(function, lo, hi, scale):
    """Ascending mpmath coefficients of the shortest Chebyshev interpolant of `function`
    on [lo, hi] within TOLERANCE * scale."""
    for count in range(4, 30):
        descending, error = mp.chebyfit(function, [lo, hi], count, error=True)
        if error / scale < TOLERANCE:
            return list(reversed(descending))
    raise RuntimeError(f"no polynomial fit on [{lo}, {hi}] within {TOLERANCE}")


def rounded_error(function, lo, hi, coefficients):
    """Max |polynomial(t) - function(t)| on a grid of [lo, hi], for the given
    (already float64-rounded) ascending coefficients, evaluated exactly."""
    descending = [mp.mpf(c) for c in reversed(coefficients)]
    return max(abs(mp.polyval(descending, t) - function(t))
               for t in mp.linspace(lo, hi, GRID_POINTS))


def format_tuple(values, indent):
    """Float64 values as a Python tuple literal, three per line (repr round-trips)."""
    lines = []
    for start in range(0, len(values), 3):
        lines.append(indent + " ".join(f"{v!r}," for v in values[start:start + 3]))
    return "(\n" + "\n".join(lines) + "\n" + indent[:-4] + ")"


def main():
    mp.mp.prec = WORKING_BITS
    small_max_t = mp.mpf(SMALL_LIMIT) ** 2
    # erf(x)/x >= 0.9 on the range, so an absolute error in p is a relative one in erf;
    # rounding p(0) costs at most 0.06 ulp of erf, so no float64 pair is needed here
    small = [float(c) for c in chebyshev_fit(erf_small_correction, 0, small_max_t, 1)]
    small_error = rounded_error(erf_small_correction, 0, small_max_t, small)
    print(f"# erf(x) = x + x*p(x^2), |x| < {SMALL_LIMIT}: p ascending in t = x^2;"
          f" max |error| {float(small_error):.1e}")
    print(f"ERF_SMALL = {format_tuple(small, ' ' * 4)}")
    print()
    print("# erfcx(a) = exp(a^2) erfc(a) on [lo, hi): (lo, hi, mid, low part of the constant")
    print("# term, coefficients ascending in a - mid); the constant term is a float64 pair")
    print("# because its rounding alone could cost half an ulp of erfc")
    print("ERFCX_PIECES = (")
    for lo, hi in zip(ERFCX_EDGES, ERFCX_EDGES[1:]):
        mid = (lo + hi) / 2
        function = lambda t, mid=mid: erfcx(mid + t)
        smallest = erfcx(mp.mpf(hi))  # erfcx decreases: its smallest value is at hi
        exact = chebyshev_fit(function, lo - mid, hi - mid, smallest)
        coefficients = [float(c) for c in exact]
        constant_low = float(exact[0] - coefficients[0])
        error = rounded_error(function, lo - mid, hi - mid,
                              [mp.mpf(coefficients[0]) + constant_low] + coefficients[1:])
        print(f"    # [{lo}, {hi}): {len(coefficients)} terms,"
              f" max relative error {float(error / smallest):.1e}")
        print(f"    ({lo!r}, {hi!r}, {mid!r}, {constant_low!r},"
              f" {format_tuple(coefficients, ' ' * 8)}),")
    print(")")
    print()
    # ln 2 as a float64 pair whose high part has 30 fraction bits, so that
    # 128 * LN2_HIGH - z*z is exact for the z special.py scales (16 <= z < 28)
    ln2_high = float(mp.floor(mp.log(2) * 2 ** 30)) / 2 ** 30
    print(f"LN2_HIGH = {ln2_high!r}")
    print(f"LN2_LOW = {float(mp.log(2) - ln2_high)!r}")


if __name__ == "__main__":
    main()
