"""Toy objectives and small data sets used across the chapters.

Each objective is an :class:`Objective`: a loss ``f`` in the estimators' convention
(samples stacked along a leading dimension), the logits it starts from, and the
distribution. Every data set is synthetic or ships inside scikit-learn, so nothing is
downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from . import exact
from ._validation import check_count, check_tensor
from .ste import SURROGATES, ste_threshold, threshold


def logit(p) -> torch.Tensor:
    r"""The inverse of the sigmoid, :math:`\log p - \log(1 - p)`, as a float tensor."""
    p = torch.as_tensor(p, dtype=torch.get_default_dtype())
    if not ((p > 0) & (p < 1)).all():
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    return torch.log(p) - torch.log1p(-p)


@dataclass
class Objective:
    r"""A loss over discrete variables with its starting point.

    Attributes:
        name: a short label for tables and plots.
        f: the loss, called on samples of shape ``(n, *logits.shape)``; returns ``(n,)``.
        logits: the parameters where the gradient is evaluated or training starts.
        dist: ``"bernoulli"`` or ``"categorical"``.
        description: the formula, for printing.
    """

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    logits: torch.Tensor
    dist: str = "bernoulli"
    description: str = ""

    def expectation(self, logits: torch.Tensor | None = None) -> torch.Tensor:
        """The exact expected loss at ``logits`` (default: the starting point)."""
        return exact.expectation(self.f, self.logits if logits is None else logits, dist=self.dist)

    def exact_gradient(self, logits: torch.Tensor | None = None) -> torch.Tensor:
        """The exact gradient with respect to the logits (default: at the starting point)."""
        return exact.exact_gradient(
            self.f, self.logits if logits is None else logits, dist=self.dist
        )


def quadratic(
    target: float | Sequence[float] = 0.45, p: float | Sequence[float] = 0.5
) -> Objective:
    r"""The quadratic toy :math:`f(b) = \sum_i (b_i - t_i)^2`, :math:`b_i \sim \mathrm{Bern}(\theta_i)`.

    With a single variable, :math:`\mathbb{E}[f] = \theta(1 - 2t) + t^2`, so for
    :math:`t < 1/2` the optimum is :math:`\theta = 0` and the true derivative
    :math:`1 - 2t` is small (0.1 at :math:`t = 0.45`, 0.002 at :math:`t = 0.499`): the
    classic test of REBAR and RELAX (Tucker et al. 2017; Grathwohl et al. 2018), the
    wrong-fixed-point failure of the STE (CURRICULUM d3) and the vanishing signal of
    REINFORCE (d9). Several targets give :math:`D` independent variables (d5).
    Introduced in chapter 4.

    Args:
        target: :math:`t`, a number or one per variable.
        p: the starting probabilities :math:`\theta` (broadcast to the targets).
    """
    t = torch.atleast_1d(torch.as_tensor(target, dtype=torch.get_default_dtype()))
    logits = logit(torch.as_tensor(p, dtype=t.dtype).expand_as(t).clone())

    def f(b: torch.Tensor) -> torch.Tensor:
        return ((b - t) ** 2).sum(-1)

    name = f"quadratic(t={t.tolist()[0]:g})" if t.numel() == 1 else f"quadratic(D={t.numel()})"
    return Objective(name, f, logits, "bernoulli", "f(b) = sum_i (b_i - t_i)^2")


def extension_pair(multilinear: bool = False) -> Objective:
    r"""CURRICULUM d1: the STE depends on how :math:`L` is extended off :math:`\{0,1\}^2`.

    :math:`z_1 \sim \mathrm{Bern}(0.9)`, :math:`z_2 \sim \mathrm{Bern}(0.45)` and
    :math:`L = (z_1 + z_2 - 1)^2`, or its multilinear form :math:`1 - z_1 - z_2 + 2 z_1 z_2`,
    which agrees on every binary point, so :math:`\mathbb{E}[L]` and its exact gradient
    are the same; the straight-through estimates are not. Introduced in chapter 5.
    """
    logits = logit([0.9, 0.45])

    def squared(z: torch.Tensor) -> torch.Tensor:
        return (z[..., 0] + z[..., 1] - 1) ** 2

    def multilinear_form(z: torch.Tensor) -> torch.Tensor:
        return 1 - z[..., 0] - z[..., 1] + 2 * z[..., 0] * z[..., 1]

    if multilinear:
        return Objective(
            "d1 multilinear", multilinear_form, logits, "bernoulli", "L = 1 - z1 - z2 + 2 z1 z2"
        )
    return Objective("d1 squared", squared, logits, "bernoulli", "L = (z1 + z2 - 1)^2")


# --- The lecture's threshold network ------------------------------------------------


@dataclass
class Split:
    """Inputs and targets of one split of a data set."""

    x: torch.Tensor
    y: torch.Tensor


def threshold_task(n_train: int = 512, n_test: int = 512, *, seed: int = 0) -> tuple[Split, Split]:
    r"""Points :math:`x \in [-1, 1]^2` labelled by the XOR of two hidden binary features.

    :math:`h_1 = \mathbf{1}[x_1 + 0.5 x_2 > 0.2]`, :math:`h_2 = \mathbf{1}[x_2 - 0.3 x_1 > -0.1]`,
    :math:`y^* = h_1 \oplus h_2`. A threshold network with two or more binary units
    represents it exactly, but only if the thresholds' parameters :math:`\phi` learn,
    which plain backpropagation cannot do. Introduced in chapter 2.

    Returns:
        ``(train, test)``, each a :class:`Split` with ``x`` of shape ``(n, 2)`` and ``y``
        of shape ``(n,)`` holding 0.0 or 1.0.
    """
    check_count(n_train, "n_train")
    check_count(n_test, "n_test")
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n_train + n_test, 2, generator=generator) * 2 - 1
    h1 = x[:, 0] + 0.5 * x[:, 1] > 0.2
    h2 = x[:, 1] - 0.3 * x[:, 0] > -0.1
    y = (h1 ^ h2).to(x.dtype)
    return Split(x[:n_train], y[:n_train]), Split(x[n_train:], y[n_train:])


THRESHOLD_MODES = ("none", *SURROGATES, "relaxed")


class ThresholdNetwork(nn.Module):
    r"""The lecture's network :math:`y = g_\theta(\mathrm{Threshold}(f_\phi(x)))`.

    :math:`f_\phi` is linear (``n_inputs -> n_units`` scores), :math:`g_\theta` a small
    MLP on the binary code. ``mode`` sets how the threshold is differentiated while
    training: ``"none"`` (autograd, zero gradient for :math:`\phi`), ``"identity"``,
    ``"clipped"`` or ``"sigmoid"`` (straight-through surrogates), or ``"relaxed"``
    (:math:`z = \sigma(f)`, a continuous reference). In evaluation mode (``.eval()``)
    the forward pass always uses the hard threshold. Introduced in chapter 2.
    """

    def __init__(
        self, n_inputs: int = 2, n_units: int = 4, n_hidden: int = 16, mode: str = "identity"
    ):
        super().__init__()
        if mode not in THRESHOLD_MODES:
            raise ValueError(f"mode must be one of {THRESHOLD_MODES}, got {mode!r}")
        self.mode = mode
        self.f_phi = nn.Linear(n_inputs, n_units)
        self.g_theta = nn.Sequential(
            nn.Linear(n_units, n_hidden), nn.ReLU(), nn.Linear(n_hidden, 1)
        )

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The binary code :math:`z` (relaxed in training when ``mode="relaxed"``)."""
        f = self.f_phi(x)
        if not self.training or self.mode == "none":
            return threshold(f)
        if self.mode == "relaxed":
            return torch.sigmoid(f)
        return ste_threshold(f, self.mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The output logit of :math:`y`, shape ``(n,)``."""
        return self.g_theta(self.code(x)).squeeze(-1)


def binary_accuracy(output_logits: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of examples with ``1[output > 0] == y``."""
    return float(((output_logits > 0).to(y.dtype) == y).double().mean())


# --- Digits addition -----------------------------------------------------------------


@dataclass
class DigitPairs:
    """Pairs of 8x8 digit images with their digits and sums.

    ``x1``, ``x2``: images, shape ``(n, 64)``, scaled to [0, 1]; ``d1``, ``d2``: the
    digits (for evaluation only); ``sums``: ``d1 + d2``, the only supervision.
    """

    x1: torch.Tensor
    x2: torch.Tensor
    d1: torch.Tensor
    d2: torch.Tensor
    sums: torch.Tensor

    def __len__(self) -> int:
        return len(self.sums)


def _pairs(images: torch.Tensor, labels: torch.Tensor, n: int, generator) -> DigitPairs:
    i = torch.randint(len(labels), (n,), generator=generator)
    j = torch.randint(len(labels), (n,), generator=generator)
    return DigitPairs(images[i], images[j], labels[i], labels[j], labels[i] + labels[j])


def digits_addition(
    n_train: int = 2000, n_test: int = 1000, *, test_fraction: float = 0.3, seed: int = 0
) -> tuple[DigitPairs, DigitPairs]:
    r"""The digits-addition task: two digit images, a symbolic ``+``, only the sum supervised.

    Built from scikit-learn's bundled 8x8 digits (1797 images, no download), as in
    DeepProbLog's MNIST addition (Manhaeve et al. 2018). The images are split into
    train and test images first, so no test image is seen in training; pairs are then
    drawn at random within each split. Introduced in chapter 4.
    """
    from sklearn.datasets import load_digits

    check_count(n_train, "n_train")
    check_count(n_test, "n_test")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.get_default_dtype()) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    n_test_images = int(len(labels) * test_fraction)
    test_idx, train_idx = order[:n_test_images], order[n_test_images:]
    train = _pairs(images[train_idx], labels[train_idx], n_train, generator)
    test = _pairs(images[test_idx], labels[test_idx], n_test, generator)
    return train, test


def digit_classifier(n_hidden: int = 64) -> nn.Module:
    """A small MLP from a flattened 8x8 image (64 values) to 10 digit logits."""
    return nn.Sequential(nn.Linear(64, n_hidden), nn.ReLU(), nn.Linear(n_hidden, 10))


def sum_log_likelihood(
    logits1: torch.Tensor, logits2: torch.Tensor, sums: torch.Tensor
) -> torch.Tensor:
    r"""Exact marginalisation over the 100 digit pairs:
    :math:`\log P(s) = \log \sum_{i + j = s} p_1(i)\, p_2(j)`, one value per example.

    The gold standard the estimators are compared with (chapter 6).
    """
    check_tensor(logits1, "logits1")
    check_tensor(logits2, "logits2")
    joint = torch.log_softmax(logits1, -1)[:, :, None] + torch.log_softmax(logits2, -1)[:, None, :]
    digit = torch.arange(10, device=logits1.device)
    matches = (digit[:, None] + digit[None, :])[None] == sums[:, None, None]
    return torch.logsumexp(joint.masked_fill(~matches, -math.inf).flatten(1), dim=-1)


def addition_loss(z: torch.Tensor, sums: torch.Tensor, kind: str = "squared") -> torch.Tensor:
    r"""The symbolic program's loss for digit samples ``z`` of shape ``(n, B, 2, 10)`` (one-hot).

    The program reads each one-hot digit as :math:`\sum_k k\, z_k` and adds them.
    ``"squared"``: :math:`(\hat s - s)^2`, differentiable in relaxed ``z``;
    ``"zero_one"``: :math:`\mathbf{1}[\hat s \ne s]`, a black box for REINFORCE.
    Returns per-example losses, shape ``(n, B)``.
    """
    if kind not in ("squared", "zero_one"):
        raise ValueError(f"kind must be 'squared' or 'zero_one', got {kind!r}")
    digit = torch.arange(10, dtype=z.dtype, device=z.device)
    predicted = (z * digit).sum(-1).sum(-1)
    if kind == "squared":
        return (predicted - sums.to(z.dtype)) ** 2
    return (predicted.round() != sums.to(z.dtype)).to(z.dtype)


def digit_accuracy(classifier: nn.Module, pairs: DigitPairs) -> float:
    """The fraction of images in ``pairs`` whose digit the classifier predicts correctly."""
    with torch.no_grad():
        hits = (classifier(pairs.x1).argmax(-1) == pairs.d1).sum() + (
            classifier(pairs.x2).argmax(-1) == pairs.d2
        ).sum()
    return float(hits) / (2 * len(pairs))


def categorical_quadratic(
    target: float = 1.4, n_categories: int = 4, logits: Sequence[float] | None = None
) -> Objective:
    r"""One categorical symbol read as a number: :math:`f(z) = \bigl(\sum_k k\, z_k - t\bigr)^2`.

    :math:`z` is one-hot over the :math:`K` symbols :math:`0, 1, \dots, K-1` (a one-digit
    version of the digits-addition program), so
    :math:`\mathbb{E}[f] = \sum_k \pi_k (k - t)^2` with :math:`\pi = \mathrm{softmax}(\ell)`,
    minimised by putting all mass on the integer closest to :math:`t`. A relaxed sample
    :math:`y` on the simplex can read as a non-integer value :math:`\sum_k k\, y_k = t`,
    which makes the relaxed loss smaller than any discrete one: the relaxation gap.
    Introduced in chapter 3.

    Args:
        target: :math:`t`.
        n_categories: :math:`K \ge 2`.
        logits: the starting logits, length :math:`K` (default: zeros, the uniform law).
    """
    check_count(n_categories, "n_categories", minimum=2)
    if logits is None:
        start = torch.zeros(n_categories)
    else:
        start = torch.as_tensor(logits, dtype=torch.get_default_dtype()).clone()
        if start.shape != (n_categories,):
            raise ValueError(f"logits must have shape ({n_categories},), got {tuple(start.shape)}")
    check_tensor(start, "logits")
    values = torch.arange(n_categories, dtype=start.dtype)
    t = float(target)

    def f(z: torch.Tensor) -> torch.Tensor:
        return ((z * values).sum(-1) - t) ** 2

    return Objective(
        f"categorical_quadratic(t={t:g}, K={n_categories})",
        f,
        start,
        "categorical",
        "f(z) = (sum_k k z_k - t)^2",
    )


def random_multilinear(
    d: int = 4, *, scale: float = 1.0, generator: torch.Generator | None = None
) -> Objective:
    r"""A random multilinear loss over :math:`d` independent Bernoulli variables.

    .. math:: L(z) = \sum_{S \subseteq \{1, \dots, d\}} c_S \prod_{i \in S} z_i,
              \qquad c_S \sim \mathcal{N}(0, \mathrm{scale}^2),

    with starting logits :math:`a_i \sim \mathcal{N}(0, 1)`, all drawn from
    ``generator``. Every function on :math:`\{0, 1\}^d` has exactly one such form, and
    it is affine in each :math:`z_i` separately, so :math:`\partial L / \partial z_i`
    does not depend on :math:`z_i`. For :math:`z_i \sim \mathrm{Bern}(\sigma(a_i))`
    this gives the single-layer straight-through identity
    :math:`\partial\, \mathbb{E}[L] / \partial a_i = \sigma'(a_i)\,
    \mathbb{E}[\partial L / \partial z_i]`: the true derivative is a positive multiple
    of the expected identity-STE derivative (Bengio, Leonard and Courville 2013).
    ``f`` accepts ``z`` of shape ``(..., d)``, binary or real, and returns shape
    ``(...)``. Introduced in chapter 2.

    Args:
        d: the number of variables, 1 to 10.
        scale: the standard deviation of the coefficients :math:`c_S`.
        generator: the source of randomness for the coefficients and the logits.
    """
    from ._validation import check_generator, check_positive

    check_count(d, "d")
    if d > 10:
        raise ValueError(f"d must be at most 10 (2**d monomials and 2**d outcomes), got {d}")
    check_positive(scale, "scale")
    check_generator(generator)
    index = torch.arange(2**d)
    masks = ((index[:, None] >> torch.arange(d - 1, -1, -1)) & 1).bool()
    coefficients = scale * torch.randn(2**d, generator=generator)
    logits = torch.randn(d, generator=generator)

    def f(z: torch.Tensor) -> torch.Tensor:
        monomials = torch.where(masks, z[..., None, :], torch.ones_like(z[..., None, :]))
        return monomials.prod(-1) @ coefficients.to(z.dtype)

    return Objective(
        f"random_multilinear(d={d})",
        f,
        logits,
        "bernoulli",
        "L(z) = sum_S c_S prod_{i in S} z_i",
    )


# --- The lecture's failure case: dependent binary units (chapter 5, CURRICULUM d2) ----------

DEPENDENT_PAIR_BACKWARDS = ("none", "identity", "sigmoid")
"""How :func:`dependent_pair_ste` differentiates the second unit's sampling step."""


def dependent_pair_expectation(
    logit1: torch.Tensor, *, a: float = 4.0, c: float = 8.0, w: float = 3.0
) -> torch.Tensor:
    r"""The exact expected loss of two *dependent* binary units, by enumeration.

    :math:`z_1 \sim \mathrm{Bern}(p_1)` with :math:`p_1 = \sigma(\ell_1)`,
    :math:`z_2 \mid z_1 \sim \mathrm{Bern}(\sigma(a - c z_1))` and :math:`L = z_1 + w z_2`
    (the lecture's failure case with :math:`a = 4`, :math:`c = 8`, :math:`w = 3`). Summing
    over the four outcomes,

    .. math:: \mathbb{E}[L] = \sum_{z_1, z_2} p(z_1)\, p(z_2 \mid z_1)\, (z_1 + w z_2)
              = p_1 \bigl(1 + w\, \sigma(a - c)\bigr) + (1 - p_1)\, w\, \sigma(a),

    so :math:`\mathrm{d}\mathbb{E}[L] / \mathrm{d}p_1 = 1 + w\,(\sigma(a - c) - \sigma(a))`,
    negative for the defaults: raising :math:`p_1` lowers the loss because
    :math:`z_1 = 1` almost always switches :math:`z_2` off. Differentiable in ``logit1``
    (any shape; the result has its shape). Introduced in chapter 5.

    Args:
        logit1: :math:`\ell_1`, the first unit's logit, floating point.
        a, c: the second unit's logit is :math:`a - c z_1`.
        w: the weight of :math:`z_2` in the loss.
    """
    check_tensor(logit1, "logit1")
    kwargs = {"dtype": logit1.dtype, "device": logit1.device}
    z1 = torch.tensor([0.0, 0.0, 1.0, 1.0], **kwargs)
    z2 = torch.tensor([0.0, 1.0, 0.0, 1.0], **kwargs)
    p1 = torch.sigmoid(logit1)[..., None]
    q = torch.sigmoid(a - c * z1)
    prob = (z1 * p1 + (1 - z1) * (1 - p1)) * (z2 * q + (1 - z2) * (1 - q))
    return (prob * (z1 + w * z2)).sum(-1)


def dependent_pair_ste(
    logit1: torch.Tensor,
    *,
    backward: str = "identity",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    a: float = 4.0,
    c: float = 8.0,
    w: float = 3.0,
) -> torch.Tensor:
    r"""A straight-through surrogate for the dependent pair of :func:`dependent_pair_expectation`.

    Forward: exact samples :math:`z_1 = \mathbf{1}[u_1 < \sigma(\ell_1)]`, then
    :math:`a_2 = a - c z_1` and :math:`z_2 = \mathbf{1}[u_2 < \sigma(a_2)]`, and the
    surrogate's value is the sample mean of :math:`L = z_1 + w z_2`. Backward: the first
    unit is straight-through as in :func:`stelib.estimators.straight_through`
    (:math:`\partial z_1 / \partial \ell_1 := \sigma'(\ell_1)`, the identity with respect
    to :math:`p_1`); the second unit's sampling step gets

    - ``"none"``: no gradient, so :math:`z_2` is treated as independent of :math:`z_1`;
    - ``"identity"``: :math:`\partial z_2 / \partial a_2 := 1`;
    - ``"sigmoid"``: :math:`\partial z_2 / \partial a_2 := \sigma'(a_2)` (sigmoid-adjusted).

    The gradient with respect to ``logit1`` is therefore
    :math:`\sigma'(\ell_1)\,\bigl(1 - w\, c\, s(a_2)\bigr)` with :math:`s = 0`, :math:`1`
    or :math:`\sigma'` respectively, averaged over the samples. Compare it with the exact
    gradient of :func:`dependent_pair_expectation`. Introduced in chapter 5.

    Args:
        logit1: :math:`\ell_1`, floating point, any shape (independent copies).
        backward: one of ``"none"``, ``"identity"``, ``"sigmoid"``.
        n_samples: the number of samples averaged.
        generator: a ``torch.Generator`` for reproducible draws.
        a, c, w: as in :func:`dependent_pair_expectation`.
    """
    from ._validation import check_choice, check_generator

    check_tensor(logit1, "logit1")
    check_choice(backward, "backward", DEPENDENT_PAIR_BACKWARDS)
    check_count(n_samples, "n_samples")
    check_generator(generator)
    shape = (n_samples, *logit1.shape)
    kwargs = {"dtype": logit1.dtype, "device": logit1.device}
    u1 = torch.rand(shape, generator=generator, **kwargs)
    u2 = torch.rand(shape, generator=generator, **kwargs)
    p1 = torch.sigmoid(logit1).expand(shape)
    z1 = (u1 < p1.detach()).to(logit1.dtype) + (p1 - p1.detach())
    a2 = a - c * z1
    q = torch.sigmoid(a2)
    z2 = (u2 < q.detach()).to(logit1.dtype)
    if backward == "identity":
        z2 = z2 + (a2 - a2.detach())
    elif backward == "sigmoid":
        z2 = z2 + (q - q.detach())
    return (z1 + w * z2).mean(0).sum()


def expected_addition_loss(
    logits1: torch.Tensor, logits2: torch.Tensor, sums: torch.Tensor, kind: str = "squared"
) -> torch.Tensor:
    r"""The exact expected loss of the addition program, one value per example, by
    marginalising over the 100 digit pairs.

    With :math:`p_1 = \mathrm{softmax}(\ell_1)` and :math:`p_2 = \mathrm{softmax}(\ell_2)`,

    .. math:: \mathbb{E}[L] = \sum_{i=0}^{9}\sum_{j=0}^{9} p_1(i)\, p_2(j)\, L(i + j, s),

    where :math:`L(\hat s, s) = (\hat s - s)^2` for ``"squared"`` and
    :math:`\mathbf{1}[\hat s \ne s]` for ``"zero_one"`` (then
    :math:`\mathbb{E}[L] = 1 - P(s)`), as in :func:`addition_loss`. Differentiable in
    both logits: its gradient is the exact gradient that every estimator applied to
    :func:`addition_loss` estimates, so training with it separates the choice of
    objective from the estimator's noise. ``logits1`` and ``logits2`` have shape
    ``(B, 10)``, ``sums`` shape ``(B,)``; the result has shape ``(B,)``.
    Introduced in chapter 6.
    """
    check_tensor(logits1, "logits1")
    check_tensor(logits2, "logits2")
    if kind not in ("squared", "zero_one"):
        raise ValueError(f"kind must be 'squared' or 'zero_one', got {kind!r}")
    if logits1.shape != logits2.shape or logits1.dim() != 2 or logits1.shape[-1] != 10:
        raise ValueError(
            f"logits1 and logits2 must both have shape (B, 10), got {tuple(logits1.shape)} "
            f"and {tuple(logits2.shape)}"
        )
    joint = torch.softmax(logits1, -1)[:, :, None] * torch.softmax(logits2, -1)[:, None, :]
    digit = torch.arange(10, dtype=joint.dtype, device=joint.device)
    predicted = (digit[:, None] + digit[None, :])[None]  # (1, 10, 10)
    target = sums.to(joint.dtype)[:, None, None]
    if kind == "squared":
        loss = (predicted - target) ** 2
    else:
        loss = (predicted != target).to(joint.dtype)
    return (joint * loss).sum((-1, -2))
