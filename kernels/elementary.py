"""Vectorisable exp, tanh, sigmoid and log1p for float32 and float64 scalars.

The llvmlite wheels ship without SVML, so math.exp / np.tanh inside a loop become scalar
libm calls (about 20 ns an element) and the loop cannot vectorise. These versions use only
arithmetic and bit casts: a range reduction x = n*ln2 + r with |r| <= ln2/2, a fitted
polynomial for expm1(r), and 2**n built directly from its exponent bits. LLVM turns
a loop over them into packed FMAs. Errors against NumPy are measured in tests/test_elementary.py.

Every function keeps its argument's precision: float32 in, float32 out, float32 arithmetic.
Use the dispatching names (exp, expm1, tanh, sigmoid, log1p) inside kernels.

Inputs are clamped where the result has already saturated, so the bit tricks never see an
exponent out of range. The clamps are written "hi if x > hi else x" on purpose: a NaN fails
every comparison and therefore passes through unchanged, so a NaN in the hidden layer still
reaches the cost, where divergence is detected.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

from ._config import FASTMATH

# Options for the scalar helpers, which are compiled into (and cached with) their callers.
_SCALAR_OPTIONS = dict(fastmath=FASTMATH, error_model="numpy")
_scalar = register_jitable(**_SCALAR_OPTIONS)


@intrinsic
def _round_with_power(typingctx, x, shifter):
    """(n, 2**n) for n = x rounded to the nearest integer, both as floats of x's type;
    shifter is 1.5·2**p + bias, p the mantissa bits (52 or 23) and bias the exponent bias
    (1023 or 127). Needs bias + n in [1, 2·bias].

    t = x + shifter lands where the spacing of floats is 1, so the addition itself rounds
    x, and n = t - shifter is exact. t's low mantissa bits then hold bias + n, the biased
    exponent of 2**n: shifted up by p they are 2**n's bits (the bits above shift out).
    Three vector µops, against floor, a conversion to an integer, an add and a shift.

    Written here, not in Python, because both additions must stay unoptimised: the
    kernels' fast-math flags allow LLVM to fold (x + shifter) - shifter into x.
    """
    if x != shifter or x not in (types.float64, types.float32):
        return None
    bits = 52 if x == types.float64 else 23

    def codegen(context, builder, sig, args):
        value, shift = args
        t = builder.fadd(value, shift)  # no fast-math flags: see above
        n = builder.fsub(t, shift)
        as_int = ir.IntType(64 if bits == 52 else 32)
        power = builder.bitcast(builder.shl(builder.bitcast(t, as_int), as_int(bits)), t.type)
        return context.make_tuple(builder, sig.return_type, (n, power))

    return types.UniTuple(x, 2)(x, shifter), codegen


_F = np.float32

# Polynomial coefficients, highest degree first, from tools/fit_elementary.py: Chebyshev
# fits, which need fewer terms than Taylor series for the same error (see that script).
# The printed fit errors are relative, against half an ulp of 1.1e-16 (float64) and 6.0e-8
# (float32).
# expm1(r) = r·P(r) for |r| <= ln2/2. Fit errors 1.8e-17 (float64) and 1.1e-8 (float32).
_EXPM1_F64 = (
    2.5105206373957011e-8, 2.7626357241447223e-7, 2.7557255425746434e-6, 2.4801504346997687e-5,
    0.00019841269874800492, 0.0013888888932488598, 0.0083333333333261409, 0.041666666666573143,
    0.16666666666666671, 0.50000000000000056, 1.0,
)  # fmt: skip
_EXPM1_F32 = tuple(_F(c) for c in (0.00139336410, 0.00836914849, 0.0416664650, 0.166665053, 0.500000001, 1.0))
# 2*atanh(s) = 2*(s + s^3/3 + s^5/5 + ...), as a polynomial in s^2, highest first: a
# Taylor series, not a fit. log1p's callers pass t in [0, 1] (s <= 1/3), except
# loss.log_sum_exp, which passes t = s - 1 for a softmax sum s in [1, n_y]: s reaches
# (n_y - 1)/(n_y + 1) there, past any fitted interval, and the series degrades more gently.
# The float64 Horner recurrence runs over two 9-term tuples: one 18-term loop is past what
# LLVM fully unrolls, and a loop it does not unroll does not vectorise (18 ns an element
# against 1 ns).
_ATANH_F64_HI = tuple(1.0 / (2 * k + 1) for k in range(17, 8, -1))
_ATANH_F64_LO = tuple(1.0 / (2 * k + 1) for k in range(8, -1, -1))
_ATANH_F32 = tuple(_F(1.0 / (2 * k + 1)) for k in range(8, -1, -1))

_LOG2E = 1.4426950408889634
# ln2 split in two so that n*_LN2_HI is exact for |n| < 2**20.
_LN2_HI_F64 = 0.6931471803691238
_LN2_LO_F64 = 1.9082149292705877e-10
_LN2_HI_F32 = _F(0.693145752)
_LN2_LO_F32 = _F(1.42860677e-06)


_SHIFTER_F64 = 1.5 * 2.0**52 + 1023
_SHIFTER_F32 = _F(1.5 * 2.0**23 + 127)


@_scalar
def _reduce_f64(x):
    """x = n*ln2 + r with n an integer and |r| <= ln2/2; returns (2**n, expm1(r)).
    Needs |x| <= 708 (2**n normal)."""
    n, scale = _round_with_power(x * _LOG2E, _SHIFTER_F64)
    r = x - n * _LN2_HI_F64 - n * _LN2_LO_F64
    p = 0.0
    for c in _EXPM1_F64:
        p = p * r + c
    return scale, p * r


@_scalar
def _reduce_f32(x):
    n, scale = _round_with_power(x * _F(_LOG2E), _SHIFTER_F32)
    r = x - n * _LN2_HI_F32 - n * _LN2_LO_F32
    p = _F(0.0)
    for c in _EXPM1_F32:
        p = p * r + c
    return scale, p * r


@_scalar
def _exp_f64(x):
    # Beyond these bounds 2**n leaves the normal range; every caller has saturated by then.
    x = 709.0 if x > 709.0 else x
    x = -708.0 if x < -708.0 else x
    scale, q = _reduce_f64(x)
    return scale + scale * q


@_scalar
def _exp_f32(x):
    x = _F(88.0) if x > _F(88.0) else x
    x = _F(-87.0) if x < _F(-87.0) else x
    scale, q = _reduce_f32(x)
    return scale + scale * q


@_scalar
def _tanh_f64(x):
    # tanh|x| = e/(e + 2) with e = expm1(2|x|); expm1 keeps full relative precision near 0,
    # where 1 - 2/(exp(2x) + 1) would cancel. tanh(20) rounds to 1 in float64.
    a = 2.0 * abs(x)
    a = 40.0 if a > 40.0 else a
    scale, q = _reduce_f64(a)
    e = scale * q + (scale - 1.0)
    return np.copysign(e / (e + 2.0), x)


@_scalar
def _tanh_f32(x):
    a = _F(2.0) * abs(x)
    a = _F(20.0) if a > _F(20.0) else a
    scale, q = _reduce_f32(a)
    e = scale * q + (scale - _F(1.0))
    return np.copysign(e / (e + _F(2.0)), x)


@_scalar
def _sigmoid_f64(x):
    return 1.0 / (1.0 + _exp_f64(-x))


@_scalar
def _sigmoid_f32(x):
    return _F(1.0) / (_F(1.0) + _exp_f32(-x))


@_scalar
def _log1p_f64(t):
    """log(1 + t) for t >= 0; within 4 ulp for t in [0, 1] (the range softplus needs), less
    accurate beyond (see _ATANH_F64_HI)."""
    s = t / (2.0 + t)
    s2 = s * s
    p = 0.0
    for c in _ATANH_F64_HI:
        p = p * s2 + c
    for c in _ATANH_F64_LO:
        p = p * s2 + c
    return 2.0 * s * p


@_scalar
def _log1p_f32(t):
    s = t / (_F(2.0) + t)
    s2 = s * s
    p = _F(0.0)
    for c in _ATANH_F32:
        p = p * s2 + c
    return _F(2.0) * s * p


def _by_dtype(f64_impl, f32_impl):
    """A name usable inside njit code that picks the implementation for the argument's type."""

    def stub(x):
        raise NotImplementedError(f"{stub.__name__} is only callable from compiled code")

    stub.__name__ = f64_impl.__name__.replace("_f64", "").lstrip("_")

    @overload(stub, jit_options=_SCALAR_OPTIONS)
    def _select(x):
        if x == types.float64:
            return lambda x: f64_impl(x)
        if x == types.float32:
            return lambda x: f32_impl(x)
        return None

    return stub


exp = _by_dtype(_exp_f64, _exp_f32)
tanh = _by_dtype(_tanh_f64, _tanh_f32)
sigmoid = _by_dtype(_sigmoid_f64, _sigmoid_f32)
log1p = _by_dtype(_log1p_f64, _log1p_f32)
