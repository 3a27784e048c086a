"""Deterministic straight-through operations (chapter 2, "The straight-through estimator").

The lecture's network is ``y = g_theta(Threshold(f_phi(x)))``. The chain rule for
``phi`` contains ``dz/df``, which is zero almost everywhere, so autograd returns a zero
gradient. The straight-through estimator (STE) keeps ``Threshold`` in the forward pass
and, "for the backward pass alone, pretends that z is the result of the identity
function" (Hinton 2012; Bengio, Leonard and Courville 2013).
"""

from __future__ import annotations

import torch

from ._validation import check_choice, check_tensor

SURROGATES = ("identity", "clipped", "sigmoid")


def threshold(f: torch.Tensor) -> torch.Tensor:
    r"""The Heaviside step :math:`z = \mathrm{Threshold}(f) = \mathbf{1}[f > 0]` as a float tensor.

    Autograd sees no path through it: the comparison is not differentiable, so the
    result carries no ``grad_fn`` and the gradient reaching ``f`` through it is zero
    (``torch.autograd.grad`` needs ``materialize_grads=True`` to return those zeros).
    This is exactly the problem the lecture starts from. Introduced in chapter 1.

    Args:
        f: real scores of any shape, floating point.

    Returns:
        A tensor of the same shape and dtype as ``f`` holding 0.0 and 1.0.
    """
    check_tensor(f, "f")
    return _step(f, signed=False)


def _step(f: torch.Tensor, signed: bool) -> torch.Tensor:
    if signed:
        return torch.where(f > 0, 1.0, -1.0).to(f.dtype)
    return (f > 0).to(f.dtype)


class _IdentityStraightThrough(torch.autograd.Function):
    """Forward: the step (0/1, or -1/+1 when ``signed``); backward: the incoming gradient."""

    @staticmethod
    def forward(f: torch.Tensor, signed: bool) -> torch.Tensor:  # type: ignore[override]
        return _step(f, signed)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None


def straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    r"""The general straight-through trick: the value of ``hard`` with the gradient of ``soft``.

    .. math::
        \mathrm{ST}(h, s) = h + \bigl(s - \mathrm{sg}(s)\bigr),
        \qquad \mathrm{ST} = h, \qquad \frac{\partial\, \mathrm{ST}}{\partial s} = 1,

    where :math:`\mathrm{sg}` is stop-gradient (``detach``). Writing it this way, rather
    than the common ``hard + soft - soft.detach()``, keeps the forward value exactly
    equal to ``hard`` in floating point: ``s - sg(s)`` is exactly zero, whereas
    ``(h + s) - s`` can round (for ``s = 1e8`` in float32 it returns 0 instead of 1).
    Introduced in chapter 2 (Bengio, Leonard and Courville 2013).

    Args:
        hard: the forward value (for example a threshold or a one-hot sample).
        soft: a differentiable tensor of the same shape with finite values, whose
            gradient is used in the backward pass.
    """
    check_tensor(hard, "hard")
    check_tensor(soft, "soft")
    if hard.shape != soft.shape:
        raise ValueError(
            f"hard and soft must have the same shape, got {tuple(hard.shape)} and {tuple(soft.shape)}"
        )
    return hard + (soft - soft.detach())


def _surrogate(f: torch.Tensor, backward: str, signed: bool) -> torch.Tensor:
    """The function whose derivative replaces the step's zero derivative."""
    if backward == "clipped":
        return f.clamp(-1.0, 1.0)
    sigmoid = torch.sigmoid(f)
    return 2.0 * sigmoid - 1.0 if signed else sigmoid


def ste_threshold(f: torch.Tensor, backward: str = "identity") -> torch.Tensor:
    r"""``threshold(f)`` in the forward pass, a surrogate derivative in the backward pass.

    Forward: :math:`z = \mathbf{1}[f > 0]`. Backward: :math:`\partial z/\partial f` is
    replaced by

    - ``"identity"``: :math:`1` (Hinton 2012; Bengio, Leonard and Courville 2013);
    - ``"clipped"``: :math:`\mathbf{1}[|f| \le 1]`, the saturated STE (Hubara et al. 2016);
    - ``"sigmoid"``: :math:`\sigma(f)\,(1 - \sigma(f))`, the sigmoid-adjusted STE
      (Chung, Ahn and Bengio 2017).

    The forward value is exactly ``threshold(f)``. Introduced in chapter 2.

    Args:
        f: real scores, floating point, any shape.
        backward: one of ``"identity"``, ``"clipped"``, ``"sigmoid"``.
    """
    check_tensor(f, "f")
    check_choice(backward, "backward", SURROGATES)
    if backward == "identity":
        return _IdentityStraightThrough.apply(f, False)
    soft = _surrogate(f, backward, signed=False)
    return _step(f, False) + (soft - soft.detach())


def ste_sign(f: torch.Tensor, backward: str = "identity") -> torch.Tensor:
    r"""The :math:`\pm 1` version: forward :math:`2\,\mathbf{1}[f > 0] - 1` (so ``sign(0) = -1``).

    Backward replaces the zero derivative by

    - ``"identity"``: :math:`1`;
    - ``"clipped"``: :math:`\mathbf{1}[|f| \le 1]`, the derivative of
      :math:`\mathrm{hardtanh}(f)` used by binarized networks (Hubara et al. 2016);
    - ``"sigmoid"``: :math:`2\,\sigma(f)(1 - \sigma(f))`, the derivative of
      :math:`2\sigma(f) - 1`.

    Introduced in chapter 2.

    Args:
        f: real scores, floating point, any shape.
        backward: one of ``"identity"``, ``"clipped"``, ``"sigmoid"``.
    """
    check_tensor(f, "f")
    check_choice(backward, "backward", SURROGATES)
    if backward == "identity":
        return _IdentityStraightThrough.apply(f, True)
    soft = _surrogate(f, backward, signed=True)
    return _step(f, True) + (soft - soft.detach())
