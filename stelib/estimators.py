r"""Stochastic gradient estimators written as surrogate losses.

Every estimator has one signature::

    estimator(f, logits, *, dist="bernoulli", n_samples=1, generator=None, **options)

It draws ``n_samples`` samples ``z ~ p(logits)``, calls ``f`` once on all of them (shape
``(n_samples, *logits.shape)``, one-hot in the last dimension for categorical
variables) and returns a scalar *surrogate*. Its value is the Monte Carlo estimate of
:math:`\mathbb{E}[f(z)]`; ``surrogate.backward()`` writes the estimator's gradient into
``logits.grad`` and into any parameters of ``f``.

Batches. ``logits`` may have any shape: every entry (Bernoulli) or every row of the
last dimension (categorical) is an independent variable. ``f`` returns either one
loss per sample, shape ``(n_samples,)``, or one loss per example, shape
``(n_samples, *batch)`` where ``batch`` is a prefix of the variables' shape, such as
``(B,)`` for logits of shape ``(B, d)``. In the second case example ``b``'s loss must
depend only on the variables ``logits[b]``: score-function estimators then weight each
example's score by its own loss (and leave-one-out baselines are per example), which
removes the cross-talk variance of one shared loss. The surrogate is the sum over
examples of the mean over samples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import gumbel as _gumbel
from ._validation import check_count, check_dist, check_generator, check_logits, check_positive
from .exact import evaluate, log_prob
from .ste import straight_through as _straight_through_op


def _validate(f, logits, dist, n_samples, generator) -> None:
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    check_dist(dist)
    check_logits(logits, dist)
    check_count(n_samples, "n_samples")
    check_generator(generator)


def _expand(logits: torch.Tensor, n_samples: int) -> torch.Tensor:
    return logits.expand(n_samples, *logits.shape)


def sample(
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Exact samples ``z ~ p(logits)``, shape ``(n_samples, *logits.shape)``, without gradient.

    Bernoulli: ``1[u < sigmoid(logits)]``; categorical: Gumbel-max one-hot samples.
    Introduced in chapter 4.
    """
    check_dist(dist)
    check_logits(logits, dist)
    check_count(n_samples, "n_samples")
    check_generator(generator)
    with torch.no_grad():
        expanded = _expand(logits.detach(), n_samples)
        if dist == "categorical":
            return _gumbel.gumbel_max(expanded, generator=generator)
        u = torch.rand(expanded.shape, generator=generator, dtype=logits.dtype, device=logits.device)
        return (u < torch.sigmoid(expanded)).to(logits.dtype)


def _per_example(values: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """Sum per-variable values (shape ``(n, *variables)``) down to the shape of ``losses``."""
    n = values.shape[0]
    batch = losses.shape[1:]
    return values.reshape(n, *batch, -1).sum(-1)


def _baseline(baseline, losses: torch.Tensor) -> torch.Tensor | float:
    losses = losses.detach()
    if baseline is None:
        return 0.0
    if isinstance(baseline, str):
        if baseline != "rloo":
            raise ValueError(f"baseline must be None, 'rloo', a number or a tensor, got {baseline!r}")
        n = losses.shape[0]
        if n < 2:
            raise ValueError("baseline='rloo' needs n_samples >= 2 (it averages the other samples)")
        return (losses.sum(0, keepdim=True) - losses) / (n - 1)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float, torch.Tensor)):
        raise TypeError(f"baseline must be None, 'rloo', a number or a tensor, got {type(baseline).__name__}")
    baseline = torch.as_tensor(baseline, dtype=losses.dtype, device=losses.device).detach()
    try:
        torch.broadcast_shapes(baseline.shape, losses.shape[1:])
    except RuntimeError as error:
        raise ValueError(
            f"baseline of shape {tuple(baseline.shape)} does not broadcast to the per-example "
            f"losses of shape {tuple(losses.shape[1:])}"
        ) from error
    if not torch.isfinite(baseline).all():
        raise ValueError("baseline must be finite")
    return baseline


def score_function_surrogate(
    losses: torch.Tensor, log_probs: torch.Tensor, baseline=None
) -> torch.Tensor:
    r"""The REINFORCE surrogate from per-sample losses and log-probabilities.

    .. math:: s = \frac{1}{n}\sum_i \Bigl[f(z_i) + \mathrm{sg}\bigl(f(z_i) - b_i\bigr)
              \bigl(\log p(z_i) - \mathrm{sg}(\log p(z_i))\bigr)\Bigr]

    Its value is the sample mean of ``losses``; its gradient is the score-function
    estimate plus the pathwise gradient of ``losses`` (for parameters inside ``f``).
    Shapes: ``losses`` and ``log_probs`` are both ``(n, *batch)``. Introduced in chapter 4.
    """
    b = _baseline(baseline, losses)
    centred = losses.detach() - b
    return (losses + centred * (log_probs - log_probs.detach())).mean(0).sum()


def reinforce(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    baseline=None,
) -> torch.Tensor:
    r"""REINFORCE, the score-function (log-derivative) estimator.

    .. math:: \nabla_\ell\, \mathbb{E}[f(z)] = \mathbb{E}\bigl[(f(z) - b)\,
              \nabla_\ell \log p_\ell(z)\bigr] \approx \frac{1}{n} \sum_{i=1}^n
              (f(z_i) - b_i)\, \nabla_\ell \log p_\ell(z_i).

    For a Bernoulli-logistic unit the score is :math:`z - \sigma(\ell)`. Unbiased for any
    baseline :math:`b` independent of :math:`z_i`: ``None`` (:math:`b = 0`), a number or a
    tensor broadcastable to the per-example losses (for example a moving average the
    caller keeps), or ``"rloo"``, the leave-one-out mean
    :math:`b_i = \frac{1}{n-1}\sum_{j \ne i} f(z_j)` (Kool, van Hoof and Welling 2019).
    ``f`` needs no gradient: it may be a black box. Williams (1992). Introduced in chapter 4.
    """
    _validate(f, logits, dist, n_samples, generator)
    z = sample(logits, dist=dist, n_samples=n_samples, generator=generator)
    losses = evaluate(f, z, logits, dist)
    log_probs = _per_example(log_prob(z, logits, dist), losses)
    return score_function_surrogate(losses, log_probs, baseline)


def straight_through(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The stochastic straight-through estimator: exact samples forward, the mean's derivative backward.

    Bernoulli: :math:`z \sim \mathrm{Bern}(\sigma(\ell))` in the forward pass, and in the
    backward pass :math:`\partial z/\partial \ell := \sigma'(\ell)`, the derivative of
    :math:`\mathbb{E}[z] = \sigma(\ell)`, so the gradient is
    :math:`\frac{\partial f}{\partial z}\,\sigma(\ell)(1-\sigma(\ell))` (Bengio, Leonard and
    Courville 2013). Categorical: a one-hot sample forward, the Jacobian of
    :math:`\mathrm{softmax}(\ell)` backward. Biased unless ``f`` is linear. Introduced in
    chapter 2.
    """
    _validate(f, logits, dist, n_samples, generator)
    hard = sample(logits, dist=dist, n_samples=n_samples, generator=generator)
    mean = torch.sigmoid(logits) if dist == "bernoulli" else torch.softmax(logits, dim=-1)
    z = _straight_through_op(hard, mean.expand_as(hard))
    return evaluate(f, z, logits, dist).mean(0).sum()


def _relaxed(f, logits, dist, n_samples, generator, tau, hard) -> torch.Tensor:
    _validate(f, logits, dist, n_samples, generator)
    check_positive(tau, "tau")
    expanded = _expand(logits, n_samples)
    if dist == "bernoulli":
        z = _gumbel.binary_concrete(expanded, tau, hard=hard, generator=generator)
    else:
        z = _gumbel.gumbel_softmax(expanded, tau, hard=hard, generator=generator)
    return evaluate(f, z, logits, dist).mean(0).sum()


def gumbel_softmax(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    tau: float = 1.0,
) -> torch.Tensor:
    r"""The relaxed (Concrete / Gumbel-softmax) estimator: ``f`` evaluated on relaxed samples.

    Bernoulli: :math:`y = \sigma((\ell + \log u - \log(1-u))/\tau)`; categorical:
    :math:`y = \mathrm{softmax}((\ell + g)/\tau)`. The gradient is the pathwise gradient
    of :math:`f(y)`, and the surrogate's value estimates the *relaxed* loss
    :math:`\mathbb{E}[f(y)]`, not :math:`\mathbb{E}[f(z)]`: the difference is the
    relaxation gap (chapter 3). Biased for every :math:`\tau > 0`. Jang, Gu and Poole
    (2017); Maddison, Mnih and Teh (2017). Introduced in chapter 3.
    """
    return _relaxed(f, logits, dist, n_samples, generator, tau, hard=False)


def st_gumbel_softmax(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    tau: float = 1.0,
) -> torch.Tensor:
    r"""Straight-through Gumbel-softmax: the exact discrete sample forward, the relaxed
    sample's gradient backward.

    The forward sample is :math:`\mathbf{1}[y > 1/2]` (Bernoulli) or
    :math:`\mathrm{onehot}(\arg\max y)` (categorical), exact samples of :math:`p_\ell`, so the
    surrogate's value is an unbiased estimate of :math:`\mathbb{E}[f(z)]`; the gradient is
    that of :math:`f` at the hard sample, times the Jacobian of the relaxed sample.
    Jang, Gu and Poole (2017). Introduced in chapter 3.
    """
    return _relaxed(f, logits, dist, n_samples, generator, tau, hard=True)


def supports(estimator: Callable, dist: str) -> bool:
    """Whether ``estimator`` handles ``dist`` (its ``dists`` attribute; all do both unless
    they say otherwise)."""
    return dist in getattr(estimator, "dists", ("bernoulli", "categorical"))


for _estimator in (reinforce, straight_through, gumbel_softmax, st_gumbel_softmax):
    _estimator.dists = ("bernoulli", "categorical")

ESTIMATORS: dict[str, Callable[..., torch.Tensor]] = {
    "reinforce": reinforce,
    "straight_through": straight_through,
    "gumbel_softmax": gumbel_softmax,
    "st_gumbel_softmax": st_gumbel_softmax,
}
"""Every estimator by name, so notebooks and benchmarks can loop over them; each has a
``dists`` attribute naming the distributions it handles (see :func:`supports`)."""
