"""Fit the polynomial coefficients in kernels/elementary.py and print them as Python.

A development tool, not part of the package: it needs mpmath (pip install mpmath), and
its output is pasted into kernels/elementary.py. Run: python tools/fit_elementary.py

Each polynomial is a Chebyshev fit (mpmath.chebyfit, in 50-digit arithmetic) on the
interval its caller reduces to. A fit spreads the error evenly over the interval, where a
Taylor series puts it all at the ends, so the same error needs fewer terms: for
expm1(r)/r on |r| <= ln2/2, degree 10 instead of Taylor's 12 in float64, and for
2·atanh(s)/s as a polynomial in s² <= 1/9, 10 terms instead of 18.

A fit holds only on its interval, and outside it the error grows fast, so every caller
must reduce its argument into the interval first (elementary.log does, before log1p).

The printed error is absolute. expm1(r)/r is near 1 on its interval, so there it is also
the relative error; the atanh series is near 2, so there it is twice the relative error.
Compare the relative error with half an ulp: 1.1e-16 (float64) and 6.0e-8 (float32).
"""

import mpmath as mp

mp.mp.dps = 50

# (name, function, interval, number of coefficients for float64 and float32)
FITS = [
    # expm1(r) = r·P(r) with |r| <= ln2/2 (elementary._reduction).
    ("EXPM1", lambda r: mp.expm1(r) / r if r else mp.mpf(1), (-mp.ln2 / 2, mp.ln2 / 2), (11, 6)),
    # log1p(t) = s·Q(s²) with s = t/(2 + t). t is in [0, 1] for the softplus in the binary
    # loss, and in [√½ - 1, √2 - 1] for elementary.log's mantissa: s² <= 1/9 covers both.
    ("ATANH", lambda v: 2 * mp.atanh(mp.sqrt(v)) / mp.sqrt(v) if v else mp.mpf(2), (0, mp.mpf(1) / 9), (10, 5)),
]


def main():
    for name, f, interval, counts in FITS:
        for dtype, n in zip(("F64", "F32"), counts):
            coefficients, error = mp.chebyfit(f, interval, n, error=True)
            digits = 17 if dtype == "F64" else 9
            values = ", ".join(mp.nstr(c, digits, strip_zeros=False) for c in coefficients)
            print(f"# {n} coefficients, highest degree first; fit error {mp.nstr(error, 3)}")
            print(f"_{name}_{dtype} = ({values})")


if __name__ == "__main__":
    main()
