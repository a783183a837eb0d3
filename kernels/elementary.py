"""Vectorisable exp, tanh, sigmoid and log1p for float32 and float64 scalars.

The llvmlite wheels ship without SVML, so math.exp / np.tanh inside a loop become scalar
libm calls (about 20 ns an element) and the loop cannot vectorise. These versions use only
arithmetic, a floor and a bit cast: a range reduction x = n*ln2 + r with |r| <= ln2/2, a
Taylor polynomial for expm1(r), and 2**n built directly from its exponent bits. LLVM turns
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
def _f64_from_bits(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (no conversion)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret the bits of an int32 as a float32 (no conversion)."""
    if bits != types.int32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


_F = np.float32
_I = np.int32

# Taylor coefficients of expm1(r) = r*(1 + r/2 + r^2/6 + ...), highest degree first.
# |r| <= ln2/2 = 0.347; the first dropped term is below 4e-18 (float64, degree 13) and
# 5e-9 (float32, degree 7), both well under half an ulp.
_EXPM1_F64 = tuple(1.0 / np.prod(np.arange(1.0, k + 1.0)) for k in range(13, 0, -1))
_EXPM1_F32 = tuple(_F(1.0 / np.prod(np.arange(1.0, k + 1.0))) for k in range(7, 0, -1))
# 2*atanh(s) = 2*(s + s^3/3 + s^5/5 + ...), as a polynomial in s^2, highest first.
# log1p is only ever called on [0, 1], where s = t/(2+t) <= 1/3 and s^2 <= 1/9.
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


@_scalar
def _reduce_f64(x):
    """x = n*ln2 + r; returns (n as a float, 2**n, expm1(r))."""
    n = np.floor(x * _LOG2E + 0.5)
    r = x - n * _LN2_HI_F64 - n * _LN2_LO_F64
    p = 0.0
    for c in _EXPM1_F64:
        p = p * r + c
    scale = _f64_from_bits((np.int64(n) + 1023) << 52)
    return scale, p * r


@_scalar
def _reduce_f32(x):
    n = np.floor(x * _F(_LOG2E) + _F(0.5))
    r = x - n * _LN2_HI_F32 - n * _LN2_LO_F32
    p = _F(0.0)
    for c in _EXPM1_F32:
        p = p * r + c
    # Numba widens int32 shifts to int64; the value fits in 31 bits, so narrow it back.
    scale = _f32_from_bits(_I((_I(n) + _I(127)) << _I(23)))
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
    """log(1 + t) for t in [0, 1] only (the range softplus needs)."""
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
