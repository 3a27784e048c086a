"""Argument checks shared by the public functions.

Every check raises a ``TypeError`` or ``ValueError`` whose message names the argument
and says what was expected, so that bad input never turns into a silent NaN.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import torch

DISTRIBUTIONS = ("bernoulli", "categorical")


def check_tensor(x, name: str) -> torch.Tensor:
    """``x`` must be a floating-point tensor without NaN."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (e.g. torch.float32), got dtype {x.dtype}; "
            f"convert it with {name}.float()"
        )
    # One cheap reduction first: the sum is NaN whenever an entry is NaN (or +inf
    # meets -inf), and only then is the exact, more expensive scan needed.
    if torch.isnan(x.detach().sum()) and torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN")
    return x


def check_choice(value, name: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_dist(dist) -> str:
    return check_choice(dist, "dist", DISTRIBUTIONS)


def check_positive(value, name: str) -> float | torch.Tensor:
    """A positive finite number (or a tensor of them), such as a temperature."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a float or a floating-point tensor, got {value.dtype}")
        if not (torch.isfinite(value).all() and (value > 0).all()):
            raise ValueError(f"{name} must be positive and finite, got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def check_temperature(tau, dtype: torch.dtype) -> float | torch.Tensor:
    """A positive, finite temperature that stays a normal number in ``dtype``: scores are
    divided by it, and a ``tau`` that underflows (1e-50 in float32) would turn them into
    inf and NaN."""
    check_positive(tau, "tau")
    smallest = torch.finfo(dtype).tiny
    if (torch.as_tensor(tau, dtype=torch.float64) < smallest).any():
        raise ValueError(
            f"tau={tau!r} is too small for {dtype} (below {smallest:.3g}, it underflows); "
            "use a larger temperature"
        )
    return tau


def check_count(value, name: str, minimum: int = 1) -> int:
    """A whole number (a Python or NumPy integer, not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_logits(logits, dist: str, name: str = "logits") -> torch.Tensor:
    """Logits of independent Bernoulli variables (any shape, at least one entry) or of
    categorical variables (categories in the last dimension, at least two)."""
    check_tensor(logits, name)
    check_dist(dist)
    if logits.numel() == 0:
        raise ValueError(f"{name} must have at least one entry, got shape {tuple(logits.shape)}")
    if dist == "categorical":
        if logits.dim() == 0 or logits.shape[-1] < 2:
            raise ValueError(
                f"{name} for dist='categorical' must have shape (..., K) with K >= 2 categories "
                f"in the last dimension, got shape {tuple(logits.shape)}"
            )
        if torch.isposinf(logits).any():
            raise ValueError(
                f"{name} for dist='categorical' must not contain +inf (only -inf, to mask a category)"
            )
        if torch.isneginf(logits).all(dim=-1).any():
            raise ValueError(f"{name} has a row where every category is -inf (masked out)")
    elif torch.isinf(logits).any():
        raise ValueError(
            f"{name} for dist='bernoulli' must be finite; use a large finite value instead of inf"
        )
    return logits


def check_generator(generator) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    return generator


def check_dim(dim, x: torch.Tensor, name: str = "dim") -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    if not -x.dim() <= dim < max(x.dim(), 1):
        raise ValueError(f"{name}={dim} is out of range for a tensor with {x.dim()} dimensions")
    return dim
