"""Weight initialisers, with PyTorch's names (``torch.nn.init``): each fills a tensor in place.

Why initialisation matters: a layer y = W x sums fan_in products, so with
independent zero-mean weights of variance s**2 the output variance is
fan_in * s**2 times the input's.  Stack layers and the signal explodes or dies
unless fan_in * s**2 is about 1 (times a gain that makes up for what the
activation removes):

* **Xavier / Glorot** (tanh, sigmoid, linear): Var(w) = gain**2 * 2 / (fan_in + fan_out),
  a compromise between keeping forward activations and backward gradients steady.
  Keras's default (``glorot_uniform``).
* **Kaiming / He** (ReLU family): Var(w) = gain**2 / fan (fan_in by default); ReLU
  zeroes half of its inputs, which gain = sqrt(2) compensates.

A uniform distribution on [-b, b] has variance b**2 / 3, so the uniform variants
use b = sqrt(3) * std.  For a convolution weight (out, in, kh, kw) the fans are
in*kh*kw and out*kh*kw: each output sums over a whole receptive field.

Every initialiser takes an optional ``generator`` (a ``numpy.random.Generator``);
by default it draws from minigrad's default generator, so ``minigrad.manual_seed(0)``
makes model construction reproducible.  Values are drawn directly in the tensor's
dtype (float32): no float64 detour.
"""
import math

import numpy as np

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "glorot_uniform_", "glorot_normal_", "he_uniform_", "he_normal_",
]


def default_generator() -> np.random.Generator:
    """minigrad's default generator, looked up at call time: ``manual_seed`` replaces it."""
    from ..random import default_generator as current

    return current()


def _array(tensor) -> np.ndarray:
    return tensor.data if hasattr(tensor, "data") and not isinstance(tensor, np.ndarray) else tensor


def _fill(tensor, values: np.ndarray):
    array = _array(tensor)
    np.copyto(array, values, casting="unsafe")
    return tensor


def _float_dtype(array: np.ndarray):
    return array.dtype if array.dtype in (np.float32, np.float64) else np.float32


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """fan_in, fan_out of a weight (out, in, *kernel): in * prod(kernel), out * prod(kernel)."""
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out need a weight of at least 2 dimensions, got shape {shape}")
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor by which an activation's output std should be scaled back up.

    linear/sigmoid/conv: 1; tanh: 5/3; relu: sqrt(2); leaky_relu with slope a: sqrt(2 / (1 + a**2)).
    """
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with U(a, b)."""
    array = _array(tensor)
    rng = generator if generator is not None else default_generator()
    u = rng.random(array.shape, dtype=_float_dtype(array))
    return _fill(tensor, a + (b - a) * u)


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with N(mean, std**2)."""
    array = _array(tensor)
    rng = generator if generator is not None else default_generator()
    z = rng.standard_normal(array.shape, dtype=_float_dtype(array))
    return _fill(tensor, mean + std * z)


def constant_(tensor, value: float):
    return _fill(tensor, value)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan); with the defaults gain = sqrt(2) (ReLU).

    ``a`` is the negative slope of the leaky ReLU that follows.  PyTorch's layers
    call this with a = sqrt(5), which gives b = 1 / sqrt(fan_in).
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None):
    """He normal: N(0, std**2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


# Keras's names for the same distributions.
glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_


def he_uniform_(tensor, generator=None):
    """Keras's he_uniform: U(-b, b), b = sqrt(6 / fan_in)."""
    return kaiming_uniform_(tensor, 0.0, "fan_in", "relu", generator)


def he_normal_(tensor, generator=None):
    """He normal for ReLU: N(0, 2 / fan_in).  (Keras truncates its normal; this one does not.)"""
    return kaiming_normal_(tensor, 0.0, "fan_in", "relu", generator)
