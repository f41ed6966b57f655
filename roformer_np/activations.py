"""Activation functions by the names Hugging Face's ``ACT2FN`` uses in ``config.hidden_act``.

Each maps an array to an array of the same shape and dtype. ``prelu`` and ``xielu`` carry learned
parameters in Hugging Face and are not supported; ``selu`` is not in Hugging Face's table (its docstring
lists it, but loading such a config fails there) and is provided here with PyTorch's constants.
"""

from __future__ import annotations

import math
import sys
from typing import Callable

import numpy as np

Array = np.ndarray

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
# float32 elements erf may compute through libm one Python call at a time (~0.2 us each), without the compiled
# kernels, before importing scipy.special (0.2-0.3 s): a short run never pays for the import
_libm_budget = 1 << 16
_ERF_ULPS = 64  # how far (in float64 ulps) libm's and scipy's float64 erf may be apart, with a wide margin
_libm_erf = np.frompyfunc(math.erf, 1, 1)


def _scipy_erf() -> Callable[[Array], Array]:
    from scipy.special import erf  # imported on first use: it costs 0.05-0.3 s at start-up

    return erf


def _erf_float32_libm(x: Array) -> Array:
    """scipy's float32 erf without scipy: libm's float64 erf rounded to float32, as scipy rounds its own.

    The two float64 results may differ in their last bits, which changes the float32 only if they lie on
    either side of a rounding midpoint: elements whose float64 result is within ``_ERF_ULPS`` ulps of one
    (about 1 in 4 million) are recomputed by scipy, so the result is scipy's bit for bit. (Checked for every
    float32 below 4 in magnitude, against scipy 1.17: the rounding alone agreed everywhere; 722 were resent.)
    """
    x = np.asarray(x)
    native = _native_libm_erf()
    with np.errstate(invalid="ignore"):  # a signalling NaN widens quietly, as in scipy's loop
        wide = x.astype(np.float64)
        wide = native(wide) if native is not None else np.asarray(_libm_erf(wide), dtype=np.float64)
    out = wide.astype(np.float32)
    margin = _ERF_ULPS * np.spacing(np.abs(wide))
    unsure = ((wide - margin).astype(np.float32) != out) | ((wide + margin).astype(np.float32) != out)
    if unsure.any():
        out[unsure] = _scipy_erf()(x[unsure])
    return out if out.ndim else out[()]


def _native_libm_erf() -> Callable[[Array], Array] | None:
    """The compiled kernels' vectorised libm erf (the same values as ``math.erf``), once they are imported."""
    module = sys.modules.get("roformer_np._native.kernels")
    return getattr(module, "libm_erf", None)


def erf(x: Array) -> Array:
    """``scipy.special.erf``, bit for bit. Float32 arrays go through libm instead while scipy.special is not yet
    imported: the quick start's prediction head never pays for importing scipy (0.2-0.3 s). With the compiled
    kernels loaded that path costs a few ns per element, so it is always taken (a generation no longer stalls
    on the import after ~85 tokens); without them (a Python call per element) only within ``_libm_budget``."""
    global _libm_budget
    if getattr(x, "dtype", None) == np.float32 and "scipy.special" not in sys.modules:
        if _native_libm_erf() is not None:
            return _erf_float32_libm(x)
        if x.size <= _libm_budget:
            _libm_budget -= x.size
            return _erf_float32_libm(x)
    return _scipy_erf()(x)


def _c(x: Array, value: float) -> np.generic:
    """A scalar in x's dtype, so float32 arrays are never upcast by Python floats."""
    return x.dtype.type(value)


def gelu(x: Array) -> Array:
    """Exact GELU: x * Phi(x) = x/2 * (1 + erf(x / sqrt 2))."""
    return x * _c(x, 0.5) * (_c(x, 1.0) + erf(x * _c(x, 1.0 / math.sqrt(2.0))))


def gelu_tanh(x: Array) -> Array:
    """The tanh approximation (gelu_new, gelu_accurate, gelu_pytorch_tanh)."""
    inner = _c(x, _SQRT_2_OVER_PI) * (x + _c(x, 0.044715) * x * x * x)
    return _c(x, 0.5) * x * (_c(x, 1.0) + np.tanh(inner))


def gelu_fast(x: Array) -> Array:
    inner = x * _c(x, 0.7978845608) * (_c(x, 1.0) + _c(x, 0.044715) * x * x)
    return _c(x, 0.5) * x * (_c(x, 1.0) + np.tanh(inner))


def sigmoid(x: Array) -> Array:
    # exp of a non-positive number only: no overflow warnings for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, _c(x, 1.0) / (_c(x, 1.0) + e), e / (_c(x, 1.0) + e)).astype(x.dtype, copy=False)


def quick_gelu(x: Array) -> Array:
    return x * sigmoid(_c(x, 1.702) * x)


def gelu_10(x: Array) -> Array:
    return np.clip(gelu(x), _c(x, -10.0), _c(x, 10.0))


def relu(x: Array) -> Array:
    return np.maximum(x, _c(x, 0.0))


def relu2(x: Array) -> Array:
    r = relu(x)
    return r * r


def relu6(x: Array) -> Array:
    return np.clip(x, _c(x, 0.0), _c(x, 6.0))


def leaky_relu(x: Array) -> Array:
    return np.where(x >= 0, x, x * _c(x, 0.01))


def silu(x: Array) -> Array:
    return x * sigmoid(x)


def softplus(x: Array) -> Array:
    # PyTorch's softplus returns x itself above threshold 20
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, _c(x, 20.0)))))


def mish(x: Array) -> Array:
    return x * np.tanh(softplus(x))


def selu(x: Array) -> Array:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return _c(x, scale) * np.where(x > 0, x, _c(x, alpha) * np.expm1(np.minimum(x, _c(x, 0.0))))


def laplace(x: Array) -> Array:
    mu, sigma = 0.707107, 0.282095
    z = (x - _c(x, mu)) / _c(x, sigma * math.sqrt(2.0))
    return _c(x, 0.5) * (_c(x, 1.0) + erf(z))


def linear(x: Array) -> Array:
    return x


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "gelu": gelu,
    "gelu_python": gelu,
    "gelu_10": gelu_10,
    "gelu_new": gelu_tanh,
    "gelu_accurate": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "gelu_fast": gelu_fast,
    "quick_gelu": quick_gelu,
    "relu": relu,
    "relu2": relu2,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "silu": silu,
    "swish": silu,
    "mish": mish,
    "selu": selu,
    "laplace": laplace,
    "linear": linear,
}


def get_activation(name: str) -> Callable[[Array], Array]:
    """The activation called ``name``; ``ValueError`` listing the choices when unknown."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"hidden_act {name!r} is not supported; choose one of {sorted(ACTIVATIONS)}") from None
