"""Fit the polynomial coefficients in kernels/elementary.py and print them as Python.

A development tool, not part of the package: it needs mpmath (pip install mpmath), and
its output is pasted into kernels/elementary.py. Run: python tools/fit_elementary.py

Each polynomial is a Chebyshev fit (mpmath.chebyfit, in 50-digit arithmetic) on the
interval its caller reduces to. A fit spreads the error evenly over the interval, where a
Taylor series puts it all at the ends, so the same error needs fewer terms: for
expm1(r)/r on |r| <= ln2/2, degree 10 instead of Taylor's 12 in float64. A fit holds only
on its interval, so only a polynomial whose argument is reduced into it can be one
(log1p's series is not: see kernels/elementary.py).

The function is near 1 on its interval, so the absolute error printed is also the
relative error, to compare with half an ulp: 1.1e-16 (float64) and 6.0e-8 (float32).
"""

import mpmath as mp

mp.mp.dps = 50

# (name, function, interval, number of coefficients for float64 and float32)
FITS = [
    # expm1(r) = r·P(r) with |r| <= ln2/2 (elementary._reduce_*).
    ("EXPM1", lambda r: mp.expm1(r) / r if r else mp.mpf(1), (-mp.ln2 / 2, mp.ln2 / 2), (11, 6)),
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
