r"""Exact ground truth by enumeration (chapter 1 onwards).

For a small number of discrete variables the expected loss

.. math:: \mathcal{L}(\ell) = \mathbb{E}_{z \sim p_\ell}[f(z)] = \sum_{z} p_\ell(z)\, f(z)

is a finite sum, so it and its gradient can be computed exactly with autograd. Every
estimator in the book is compared against these numbers.

The convention for ``f`` is the estimators' one: ``f`` receives all outcomes stacked
along a leading dimension, shape ``(N, *logits.shape)`` (one-hot in the last dimension
for categorical variables), and returns one loss per outcome, shape ``(N,)``, or a
loss per example, shape ``(N, *batch)``, which is summed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._validation import check_dist, check_logits

MAX_OUTCOMES = 2**16
"""The largest number of joint outcomes ``expectation`` will enumerate."""


def num_outcomes(logits: torch.Tensor, dist: str = "bernoulli") -> int:
    """The number of joint outcomes: ``2**d`` for ``d`` Bernoulli variables and ``K**m``
    for ``m`` categorical variables with ``K`` categories. Introduced in chapter 1."""
    check_dist(dist)
    if dist == "bernoulli":
        return 2 ** logits.numel()
    k = logits.shape[-1]
    return k ** (logits.numel() // k)


def _check_enumerable(logits: torch.Tensor, dist: str) -> None:
    n = num_outcomes(logits, dist)
    if n > MAX_OUTCOMES:
        raise ValueError(
            f"logits of shape {tuple(logits.shape)} with dist={dist!r} have {n} joint outcomes; "
            f"exact enumeration is limited to MAX_OUTCOMES={MAX_OUTCOMES}. Use a smaller problem "
            "or a Monte Carlo estimate (stelib.diagnostics)."
        )


def outcomes(logits: torch.Tensor, dist: str = "bernoulli") -> torch.Tensor:
    """Every joint outcome, shape ``(N, *logits.shape)``, in lexicographic order
    (the first variable varies slowest). Introduced in chapter 1."""
    check_logits(logits, dist)
    _check_enumerable(logits, dist)
    kwargs = {"dtype": logits.dtype, "device": logits.device}
    if dist == "bernoulli":
        d = logits.numel()
        index = torch.arange(2**d, device=logits.device)
        bits = (index[:, None] >> torch.arange(d - 1, -1, -1, device=logits.device)) & 1
        return bits.to(**kwargs).reshape(-1, *logits.shape)
    k = logits.shape[-1]
    m = logits.numel() // k
    index = torch.arange(k**m, device=logits.device)
    powers = k ** torch.arange(m - 1, -1, -1, device=logits.device)
    digits = (index[:, None] // powers) % k
    return F.one_hot(digits, k).to(**kwargs).reshape(-1, *logits.shape)


def log_prob(z: torch.Tensor, logits: torch.Tensor, dist: str = "bernoulli") -> torch.Tensor:
    r"""Log-probability of each variable's value, differentiable in ``logits``.

    Bernoulli: :math:`z \log \sigma(\ell) + (1 - z) \log \sigma(-\ell)`, shape of ``z``.
    Categorical: :math:`\log \mathrm{softmax}(\ell)_{k}` for the one-hot ``z``, shape
    ``z.shape[:-1]``. ``z`` may carry extra leading (sample) dimensions. The log-derivative
    of the Bernoulli term is the score :math:`z - \sigma(\ell)` (chapter 4).
    """
    if dist == "bernoulli":
        return z * F.logsigmoid(logits) + (1 - z) * F.logsigmoid(-logits)
    log_p = torch.log_softmax(logits, dim=-1).expand_as(z)
    return torch.where(z > 0, log_p, torch.zeros_like(log_p)).sum(-1)


def joint_log_prob(z: torch.Tensor, logits: torch.Tensor, dist: str = "bernoulli") -> torch.Tensor:
    """Log-probability of each joint outcome in ``z`` (shape ``(N, *logits.shape)``), shape ``(N,)``."""
    return log_prob(z, logits, dist).reshape(z.shape[0], -1).sum(-1)


def evaluate(f: Callable, z: torch.Tensor, logits: torch.Tensor, dist: str) -> torch.Tensor:
    """Call ``f`` on a stack of outcomes and check its answer: one loss per outcome, or
    one per example (shape ``(N, *batch)``, ``batch`` a prefix of the variables' shape)."""
    losses = f(z)
    if not isinstance(losses, torch.Tensor):
        try:
            losses = torch.as_tensor(losses, dtype=logits.dtype, device=logits.device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"f must return a tensor of losses, got {type(losses).__name__}"
            ) from error
    variable_shape = logits.shape if dist == "bernoulli" else logits.shape[:-1]
    n = z.shape[0]
    batch = tuple(losses.shape[1:])
    if losses.dim() == 0 or losses.shape[0] != n or batch != tuple(variable_shape[: len(batch)]):
        raise ValueError(
            f"f must return one loss per sample, shape ({n},), or one per example, shape "
            f"({n}, *batch) with batch a prefix of {tuple(variable_shape)}; got {tuple(losses.shape)}"
        )
    if not losses.is_floating_point():
        losses = losses.to(logits.dtype)
    if torch.isnan(losses).any():
        raise ValueError("f returned NaN for some samples")
    return losses


def expectation(f: Callable, logits: torch.Tensor, *, dist: str = "bernoulli") -> torch.Tensor:
    r"""The exact expected loss :math:`\sum_z p_\ell(z) f(z)` by enumeration.

    ``dist="bernoulli"``: the entries of ``logits`` (any shape, typically ``(d,)``) are the
    logits of independent Bernoulli variables, :math:`z \in \{0, 1\}^d`, ``2**d`` outcomes.
    ``dist="categorical"``: ``logits`` has shape ``(K,)`` or ``(d, K)``; each row is an
    independent categorical variable with a one-hot value, ``K**d`` outcomes.

    The result is differentiable with respect to ``logits`` and to any parameters
    inside ``f``. Problems with more than :data:`MAX_OUTCOMES` outcomes are refused.
    Introduced in chapter 1.

    Args:
        f: loss, called once with all outcomes, shape ``(N, *logits.shape)``.
        logits: distribution parameters, floating point.
        dist: ``"bernoulli"`` or ``"categorical"``.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    check_logits(logits, dist)
    z = outcomes(logits.detach(), dist)
    losses = evaluate(f, z, logits, dist).reshape(z.shape[0], -1).sum(-1)
    weights = joint_log_prob(z, logits, dist).exp()
    return (weights * losses).sum()


def exact_gradient(f: Callable, logits: torch.Tensor, *, dist: str = "bernoulli") -> torch.Tensor:
    r"""The exact gradient :math:`\nabla_\ell\, \mathbb{E}_{z \sim p_\ell}[f(z)]`, by enumeration.

    Same conventions and limits as :func:`expectation`; the result has the shape of
    ``logits`` and carries no graph. Introduced in chapter 1.
    """
    check_logits(logits, dist)
    leaf = logits.detach().requires_grad_(True)
    with torch.enable_grad():
        value = expectation(f, leaf, dist=dist)
        (grad,) = torch.autograd.grad(value, leaf, allow_unused=True)
    return torch.zeros_like(leaf) if grad is None else grad.detach()
