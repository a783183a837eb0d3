"""Vectorisable exp, tanh, sigmoid, log1p and log for float32 and float64 scalars.

The llvmlite wheels ship without SVML, so math.exp / np.tanh inside a loop become scalar
libm calls (about 20 ns an element) and the loop cannot vectorise. These versions use only
arithmetic and bit casts: a range reduction x = n*ln2 + r with |r| <= ln2/2, a fitted
polynomial for expm1(r), and 2**n built directly from its exponent bits. LLVM turns
a loop over them into packed FMAs. log takes the exponent from the bits in the same way and
runs log1p on the mantissa. Errors against NumPy are measured in tests/test_elementary.py.

Every function keeps its argument's precision: float32 in, float32 out, float32 arithmetic.
Use the dispatching names (exp, tanh, sigmoid, log1p, log) inside kernels.

Inputs are clamped where the result has already saturated, so the bit tricks never see an
exponent out of range. The clamps are written "hi if x > hi else x" on purpose: a NaN fails
every comparison and therefore passes through unchanged, so a NaN in the hidden layer still
reaches the cost, where divergence is detected.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

from .config import FASTMATH

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


@intrinsic
def _split_exponent(typingctx, x):
    """(k, f) with x = 2**k · f, f in [√½, √2) and k an integer as a float of x's type, for
    positive normal x.

    x's bits are (e + bias) << p | M, for x = 2**e · (1 + M/2**p). Adding 2**p - M√2, with
    M√2 the mantissa bits of √2, carries into the exponent field exactly when M >= M√2, that
    is when 1 + M/2**p >= √2; k is then e + 1, else e. The low p bits left are M - M√2 (mod
    2**p), and adding √½'s bits back gives f: 2**-1 · (1 + M/2**p) after a carry, else 1 +
    M/2**p. Integer adds, a mask and a shift; no branch, so the loop stays vectorised.
    """
    if x not in (types.float64, types.float32):
        return None
    bits, bias, sqrt_half = (52, 1023, 0x3FE6A09E667F3BCD) if x == types.float64 else (23, 127, 0x3F3504F3)
    as_int = ir.IntType(64 if bits == 52 else 32)
    mantissa_mask = (1 << bits) - 1
    to_next_binade = (1 << bits) - (sqrt_half & mantissa_mask)

    def codegen(context, builder, sig, args):
        (value,) = args
        moved = builder.add(builder.bitcast(value, as_int), as_int(to_next_binade))
        k = builder.sub(builder.lshr(moved, as_int(bits)), as_int(bias))
        f = builder.add(builder.and_(moved, as_int(mantissa_mask)), as_int(sqrt_half))
        pair = (builder.sitofp(k, value.type), builder.bitcast(f, value.type))
        return context.make_tuple(builder, sig.return_type, pair)

    return types.UniTuple(x, 2)(x), codegen


_F = np.float32

# Polynomial coefficients, highest degree first, from tools/fit_elementary.py: Chebyshev
# fits, which need fewer terms than Taylor series for the same error (see that script).
# Each fit error below is relative, against half an ulp: 1.1e-16 (float64), 6.0e-8 (float32).
# expm1(r) = r·P(r) for |r| <= ln2/2. Fit errors 1.8e-17 (float64) and 1.1e-8 (float32).
_EXPM1_F64 = (
    2.5105206373957011e-8, 2.7626357241447223e-7, 2.7557255425746434e-6, 2.4801504346997687e-5,
    0.00019841269874800492, 0.0013888888932488598, 0.0083333333333261409, 0.041666666666573143,
    0.16666666666666671, 0.50000000000000056, 1.0,
)  # fmt: skip
_EXPM1_F32 = tuple(_F(c) for c in (0.00139336410, 0.00836914849, 0.0416664650, 0.166665053, 0.500000001, 1.0))
# log1p(t) = s·Q(s²) with s = t/(2 + t) (Q(s²) = 2·atanh(s)/s), for s² <= 1/9, that is t
# in [-1/2, 1]. Its callers stay inside: t in [0, 1] for the softplus in the binary loss,
# and [√½ - 1, √2 - 1] for log's mantissa. Fit errors 4.9e-17 and 4.2e-9, relative.
_ATANH_F64 = (
    0.17780763826113303, 0.098807890487647862, 0.13591305485579894, 0.15363676248891634,
    0.18182859800473911, 0.22222190861346284, 0.28571429111657160, 0.39999999995287600,
    0.66666666666682574, 2.0,
)  # fmt: skip
_ATANH_F32 = tuple(_F(c) for c in (0.281577784, 0.279651577, 0.400245952, 0.666663216, 2.0))

_LOG2E = 1.4426950408889634
# ln2 split in two so that n*_LN2_HI is exact for |n| < 2**20.
_LN2_HI_F64 = 0.6931471803691238
_LN2_LO_F64 = 1.9082149292705877e-10
_LN2_HI_F32 = _F(0.693145752)
_LN2_LO_F32 = _F(1.42860677e-06)


_SHIFTER_F64 = 1.5 * 2.0**52 + 1023
_SHIFTER_F32 = _F(1.5 * 2.0**23 + 127)


def _reduction(ln2_hi, ln2_lo, shifter, expm1, by=1):
    """The range reduction of by·x, for by a power of two, from x.

    The returned function maps x to (2**n, expm1(r)) with by·x = n*ln2 + r, n an integer
    and |r| <= ln2/2. It needs 2**n normal: -708 <= by·x <= 709 in float64, -87 <= by·x
    <= 88 in float32.

    by = 2 is tanh's expm1(2|x|). Its r is computed halved, as (x - n*ln2_hi/2) - n*ln2_lo/2,
    and the polynomial's degree-k coefficient is multiplied by 2**(k+1) to take that half.
    Every step is then the by = 1 step scaled by a power of two, which is exact, so the bits
    are the same as reducing 2|x| itself, and the doubling's multiply is gone.
    """
    one = shifter / shifter  # 1 in the float type of the constants
    log2e = one * (_LOG2E * by)
    ln2_hi, ln2_lo = ln2_hi / by, ln2_lo / by
    coefficients = tuple(c * one * by ** (len(expm1) - i) for i, c in enumerate(expm1))
    zero = one - one

    @_scalar
    def reduce(x):
        n, scale = _round_with_power(x * log2e, shifter)
        r = x - n * ln2_hi - n * ln2_lo
        p = zero
        for c in coefficients:
            p = p * r + c
        return scale, p * r

    return reduce


_reduce_f64 = _reduction(_LN2_HI_F64, _LN2_LO_F64, _SHIFTER_F64, _EXPM1_F64)
_reduce_f32 = _reduction(_LN2_HI_F32, _LN2_LO_F32, _SHIFTER_F32, _EXPM1_F32)
_reduce_double_f64 = _reduction(_LN2_HI_F64, _LN2_LO_F64, _SHIFTER_F64, _EXPM1_F64, by=2)
_reduce_double_f32 = _reduction(_LN2_HI_F32, _LN2_LO_F32, _SHIFTER_F32, _EXPM1_F32, by=2)


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
    a = abs(x)
    a = 20.0 if a > 20.0 else a
    scale, q = _reduce_double_f64(a)
    e = scale * q + (scale - 1.0)
    return np.copysign(e / (e + 2.0), x)


@_scalar
def _tanh_f32(x):
    a = abs(x)
    a = _F(10.0) if a > _F(10.0) else a
    scale, q = _reduce_double_f32(a)
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
    """log(1 + t) for t in [-1/2, 1] (see _ATANH_F64); wrong beyond."""
    s = t / (2.0 + t)
    s2 = s * s
    p = 0.0
    for c in _ATANH_F64:
        p = p * s2 + c
    return s * p


@_scalar
def _log1p_f32(t):
    s = t / (_F(2.0) + t)
    s2 = s * s
    p = _F(0.0)
    for c in _ATANH_F32:
        p = p * s2 + c
    return s * p


# log(x) = k·ln2 + log1p(f - 1) for x = 2**k · f, f in [√½, √2): f - 1 is exact, and inside
# log1p's interval. For positive normal x; +inf and NaN pass through (the select), so that a
# NaN still reaches the cost. k·ln2 is added in two parts, as in _reduce_f64.
@_scalar
def _log_f64(x):
    k, f = _split_exponent(x)
    y = k * _LN2_HI_F64 + (k * _LN2_LO_F64 + _log1p_f64(f - 1.0))
    return y if x < np.inf else x


@_scalar
def _log_f32(x):
    k, f = _split_exponent(x)
    y = k * _LN2_HI_F32 + (k * _LN2_LO_F32 + _log1p_f32(f - _F(1.0)))
    return y if x < _F(np.inf) else x


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
log = _by_dtype(_log_f64, _log_f32)
