"""The Gumbel trick (chapter 3): exact categorical samples and their relaxations."""

from __future__ import annotations

import torch

from ._validation import check_dim, check_generator, check_temperature, check_tensor
from .ste import straight_through


def _uniform_open(shape, generator, dtype, device) -> torch.Tensor:
    """Uniform draws in the open interval (0, 1): never exactly 0 (``torch.rand`` can
    return 0), so ``log(u)`` and ``log(1 - u)`` stay finite."""
    u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
    return u.clamp_(min=torch.finfo(u.dtype).tiny)


def sample_gumbel(
    shape,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""Standard Gumbel noise :math:`g = -\log(-\log u)`, :math:`u \sim \mathcal{U}(0, 1)`.

    The uniform draw is kept inside the open interval: ``torch.rand`` returns values in
    :math:`[0, 1)`, and :math:`u = 0` is raised to the smallest positive normal number,
    so every sample is finite (in float32, :math:`-4.47 \le g \le 16.7`). Gumbel (1954);
    Maddison, Tarlow and Minka (2014). Introduced in chapter 3.

    Args:
        shape: the output shape (a ``torch.Size``, tuple or int).
        generator: a ``torch.Generator`` for reproducible draws.
        dtype: floating dtype (default: ``torch.get_default_dtype()``).
        device: device of the result.
    """
    check_generator(generator)
    dtype = dtype or torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    u = _uniform_open(shape, generator, dtype, device)
    return u.log_().neg_().log_().neg_()


def _gumbel_perturbed(logits: torch.Tensor, generator) -> torch.Tensor:
    noise = sample_gumbel(
        logits.shape, generator=generator, dtype=logits.dtype, device=logits.device
    )
    return noise.add_(logits)


def _row_max(scores: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum along ``dim`` and where it is; refuses rows with every category -inf."""
    best, index = scores.max(dim, keepdim=True)
    if torch.isneginf(best).any():
        raise ValueError("logits has a row where every category is -inf (masked out)")
    return best, index


def _one_hot(like: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.zeros_like(like, memory_format=torch.legacy_contiguous_format).scatter_(
        dim, index, 1.0
    )


def gumbel_max(
    logits: torch.Tensor, *, dim: int = -1, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""An exact one-hot sample from :math:`\mathrm{softmax}(\text{logits})`.

    .. math:: k = \arg\max_i\, (\ell_i + g_i), \quad g_i \sim \mathrm{Gumbel}(0, 1)
              \quad\Longrightarrow\quad P(k = i) = \frac{e^{\ell_i}}{\sum_j e^{\ell_j}}.

    Masked categories (logit ``-inf``) are never drawn. Gumbel (1954); Maddison, Tarlow
    and Minka (2014). Introduced in chapter 3.

    Args:
        logits: unnormalised log-probabilities, floating point; categories along ``dim``.
        dim: the category dimension.
        generator: a ``torch.Generator`` for reproducible draws.

    Returns:
        A one-hot tensor of the same shape and dtype as ``logits`` (no gradient).
    """
    check_tensor(logits, "logits")
    check_dim(dim, logits)
    check_generator(generator)
    if torch.isposinf(logits).any():
        raise ValueError("logits must not contain +inf (only -inf, to mask a category)")
    with torch.no_grad():
        scores = _gumbel_perturbed(logits.detach(), generator)
        return _one_hot(scores, _row_max(scores, dim)[1], dim)


def gumbel_softmax(
    logits: torch.Tensor,
    tau: float = 1.0,
    *,
    hard: bool = False,
    dim: int = -1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The Gumbel-softmax (Concrete) relaxation of a categorical sample.

    .. math:: y = \mathrm{softmax}\!\left(\frac{\ell + g}{\tau}\right),
              \qquad g_i \sim \mathrm{Gumbel}(0, 1).

    As :math:`\tau \to 0`, :math:`y` tends to the one-hot Gumbel-max sample; for every
    :math:`\tau` the argmax of :math:`y` is distributed as :math:`\mathrm{softmax}(\ell)`.
    ``hard=True`` returns the one-hot argmax in the forward pass with the gradient of
    :math:`y` (straight-through Gumbel-softmax). Jang, Gu and Poole (2017); Maddison,
    Mnih and Teh (2017). Introduced in chapter 3.

    The scores are shifted by their (detached) maximum before the division by
    :math:`\tau`, so that extreme logits (:math:`\pm 10^4`), ``-inf`` masks and tiny
    temperatures never produce ``inf`` or ``NaN``.

    Args:
        logits: unnormalised log-probabilities, floating point; categories along ``dim``.
        tau: temperature, a positive number.
        hard: return straight-through one-hot samples.
        dim: the category dimension.
        generator: a ``torch.Generator`` for reproducible draws.
    """
    check_tensor(logits, "logits")
    check_temperature(tau, logits.dtype)
    check_dim(dim, logits)
    check_generator(generator)
    scores = _gumbel_perturbed(logits, generator)
    best, index = _row_max(scores.detach(), dim)
    soft = torch.softmax((scores - best) / tau, dim)
    if not hard:
        return soft
    return straight_through(_one_hot(soft, index, dim), soft)


def sample_logistic(
    shape,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""Standard logistic noise :math:`\log u - \log(1 - u)`, always finite.

    It is the difference of two independent Gumbel variables, which is why the
    binary Concrete is the two-category Gumbel-softmax. Introduced in chapter 3.
    """
    check_generator(generator)
    dtype = dtype or torch.get_default_dtype()
    u = _uniform_open(shape, generator, dtype, device)
    return u.log() - torch.log1p(-u)


def binary_concrete(
    logits: torch.Tensor,
    tau: float = 1.0,
    *,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The binary Concrete (relaxed Bernoulli) sample for :math:`z \sim \mathrm{Bern}(\sigma(\ell))`.

    .. math:: y = \sigma\!\left(\frac{\ell + \log u - \log(1-u)}{\tau}\right),
              \qquad u \sim \mathcal{U}(0, 1),

    and :math:`\mathbf{1}[y > 1/2] = \mathbf{1}[\ell + \log u - \log(1 - u) > 0]` is an exact
    Bernoulli sample. ``hard=True`` returns that 0/1 sample with the gradient of
    :math:`y`. Maddison, Mnih and Teh (2017); Jang, Gu and Poole (2017). Introduced in
    chapter 3.

    Args:
        logits: Bernoulli logits :math:`\ell = \log p - \log(1-p)`, any shape.
        tau: temperature, a positive number.
        hard: return straight-through 0/1 samples.
        generator: a ``torch.Generator`` for reproducible draws.
    """
    check_tensor(logits, "logits")
    check_temperature(tau, logits.dtype)
    check_generator(generator)
    noise = sample_logistic(
        logits.shape, generator=generator, dtype=logits.dtype, device=logits.device
    )
    scores = logits + noise
    soft = torch.sigmoid(scores / tau)
    if not hard:
        return soft
    return straight_through((scores.detach() > 0).to(logits.dtype), soft)
