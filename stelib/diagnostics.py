"""Bias and variance of a gradient estimator, measured against the exact gradient (chapter 4)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._validation import check_count, check_generator, check_logits
from .exact import exact_gradient


@dataclass(frozen=True)
class GradientStats:
    r"""Summary of ``n_trials`` independent gradient estimates :math:`\hat g_1, \dots, \hat g_T`.

    Attributes:
        exact: the exact gradient :math:`g` (by enumeration).
        mean: :math:`\bar g = \frac{1}{T}\sum_t \hat g_t`.
        bias: :math:`\bar g - g`, per coordinate.
        variance: the unbiased sample variance of each coordinate.
        total_variance: the sum of ``variance`` over coordinates (trace of the covariance).
        std_error: the standard error of ``mean``, :math:`\sqrt{\mathrm{variance}/T}`.
        mse: :math:`\frac{1}{T}\sum_t \lVert \hat g_t - g \rVert^2`.
        cosine: cosine similarity between ``mean`` and ``exact``.
        sign_agreement: the fraction of single estimates and coordinates whose sign
            matches the exact gradient's (how often one draw points the right way).
        samples: every estimate, shape ``(n_trials, *logits.shape)``.
    """

    exact: torch.Tensor
    mean: torch.Tensor
    bias: torch.Tensor
    variance: torch.Tensor
    total_variance: float
    std_error: torch.Tensor
    mse: float
    cosine: float
    sign_agreement: float
    n_trials: int
    samples: torch.Tensor

    def max_bias_in_std_errors(self) -> float:
        """The largest ``|bias| / std_error`` over coordinates.

        Where every estimate was identical (``std_error`` 0), a bias within floating-point
        rounding of the values counts as none and any larger bias as infinitely many
        standard errors."""
        ratio = self.bias.abs() / self.std_error
        rounding = (
            16 * torch.finfo(self.mean.dtype).eps * torch.maximum(self.mean.abs(), self.exact.abs())
        )
        ratio = torch.where(self.bias.abs() <= rounding, torch.zeros_like(ratio), ratio)
        return float(ratio.max())


def estimates(
    estimator: Callable,
    f: Callable,
    logits: torch.Tensor,
    *,
    n_trials: int,
    generator: torch.Generator | None = None,
    **options,
) -> torch.Tensor:
    """``n_trials`` independent gradients of ``estimator`` with respect to ``logits``,
    stacked, shape ``(n_trials, *logits.shape)``. Introduced in chapter 4."""
    if not callable(estimator):
        raise TypeError(f"estimator must be callable, got {type(estimator).__name__}")
    check_count(n_trials, "n_trials")
    check_generator(generator)
    out = torch.empty(n_trials, *logits.shape, dtype=logits.dtype)
    for t in range(n_trials):
        leaf = logits.detach().requires_grad_(True)
        surrogate = estimator(f, leaf, generator=generator, **options)
        (grad,) = torch.autograd.grad(surrogate, leaf, allow_unused=True)
        out[t] = 0.0 if grad is None else grad
    return out


def gradient_stats(
    estimator: Callable,
    f: Callable,
    logits: torch.Tensor,
    *,
    n_trials: int,
    generator: torch.Generator | None = None,
    **options,
) -> GradientStats:
    r"""Bias, variance, cosine similarity and sign agreement of an estimator's gradient.

    Runs ``estimator(f, logits, generator=generator, **options)`` ``n_trials`` times and
    compares the gradients with :func:`stelib.exact.exact_gradient` (``options["dist"]``
    selects the distribution, default Bernoulli). A bias is significant when it exceeds
    a few standard errors: see :meth:`GradientStats.max_bias_in_std_errors`. This is how
    the book backs every claim about bias and variance with numbers (in the spirit of
    Mohamed et al. 2020). Introduced in chapter 4.
    """
    dist = options.get("dist", "bernoulli")
    check_logits(logits, dist)
    check_count(n_trials, "n_trials", minimum=2)
    exact = exact_gradient(f, logits, dist=dist)
    samples = estimates(estimator, f, logits, n_trials=n_trials, generator=generator, **options)
    mean = samples.mean(0)
    variance = samples.var(0, unbiased=True)
    norm = mean.norm() * exact.norm()
    cosine = float((mean * exact).sum() / norm) if norm > 0 else math.nan
    return GradientStats(
        exact=exact,
        mean=mean,
        bias=mean - exact,
        variance=variance,
        total_variance=float(variance.sum()),
        std_error=(variance / n_trials).sqrt(),
        mse=float(((samples - exact) ** 2).reshape(n_trials, -1).sum(-1).mean()),
        cosine=cosine,
        sign_agreement=float((torch.sign(samples) == torch.sign(exact)).double().mean()),
        n_trials=n_trials,
        samples=samples,
    )
