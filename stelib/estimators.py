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

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import gumbel as _gumbel
from ._validation import (
    check_count,
    check_dist,
    check_generator,
    check_logits,
    check_positive,
    check_temperature,
)
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
        u = torch.rand(
            expanded.shape, generator=generator, dtype=logits.dtype, device=logits.device
        )
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
            raise ValueError(
                f"baseline must be None, 'rloo', a number or a tensor, got {baseline!r}"
            )
        n = losses.shape[0]
        if n < 2:
            raise ValueError("baseline='rloo' needs n_samples >= 2 (it averages the other samples)")
        return (losses.sum(0, keepdim=True) - losses) / (n - 1)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float, torch.Tensor)):
        raise TypeError(
            f"baseline must be None, 'rloo', a number or a tensor, got {type(baseline).__name__}"
        )
    baseline = torch.as_tensor(baseline, dtype=losses.dtype, device=losses.device).detach()
    per_example = tuple(losses.shape[1:])
    try:
        fits = torch.broadcast_shapes(baseline.shape, per_example) == per_example
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"baseline of shape {tuple(baseline.shape)} must broadcast to the per-example "
            f"losses' shape {per_example} (a number, or one value per example)"
        )
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
    :math:`\mathrm{softmax}(\ell)` backward. For independent Bernoulli units and a
    multilinear ``f`` its expectation is the exact gradient; otherwise it is biased
    (chapter 5 measures how much). Introduced in
    chapter 2.
    """
    _validate(f, logits, dist, n_samples, generator)
    hard = sample(logits, dist=dist, n_samples=n_samples, generator=generator)
    mean = torch.sigmoid(logits) if dist == "bernoulli" else torch.softmax(logits, dim=-1)
    z = _straight_through_op(hard, mean.expand_as(hard))
    return evaluate(f, z, logits, dist).mean(0).sum()


def _relaxed(f, logits, dist, n_samples, generator, tau, hard) -> torch.Tensor:
    _validate(f, logits, dist, n_samples, generator)
    check_temperature(tau, logits.dtype)
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


# --- Chapter 6: beyond the lecture ---------------------------------------------------


def _only(dist: str, allowed: str, name: str, hint: str) -> None:
    if dist != allowed:
        raise ValueError(f"{name} supports only dist={allowed!r}, got dist={dist!r}; {hint}")


def _per_variable(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """View per-example values, shape ``(n, *batch)``, so that they broadcast against
    per-variable tensors with ``ndim`` dimensions (the sample dimension included)."""
    return values.reshape(*values.shape, *([1] * (ndim - values.dim())))


def _with_gradient(value: torch.Tensor, logits: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``value``, plus a zero-valued term whose gradient with respect to ``logits`` is ``grad``."""
    return value + (grad.detach() * (logits - logits.detach())).sum()


def _uniform(shape, generator, logits: torch.Tensor) -> torch.Tensor:
    return _gumbel._uniform_open(shape, generator, logits.dtype, logits.device)


def _antithetic_surrogate(
    f: Callable, logits: torch.Tensor, u: torch.Tensor, kind: str
) -> torch.Tensor:
    """The ARM (``kind="arm"``) or DisARM (``kind="disarm"``) surrogate for given uniforms
    ``u`` of shape ``(n, *logits.shape)``: one antithetic pair per row of ``u``."""
    with torch.no_grad():
        b = (u < torch.sigmoid(logits.detach())).to(logits.dtype)
        b_tilde = (u > torch.sigmoid(-logits.detach())).to(logits.dtype)
    n = u.shape[0]
    losses = evaluate(f, torch.cat([b, b_tilde]), logits, "bernoulli")
    loss_b, loss_tilde = losses[:n], losses[n:]
    value = 0.5 * (loss_b + loss_tilde).mean(0).sum()
    diff = _per_variable((loss_b - loss_tilde).detach(), u.dim())
    if kind == "arm":
        per_sample = -diff * (u - 0.5)
    else:
        per_sample = 0.5 * diff * _disarm_weight(b, b_tilde, logits.detach())
    return _with_gradient(value, logits, per_sample.mean(0))


def _disarm_weight(b: torch.Tensor, b_tilde: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r""":math:`(-1)^{\tilde b_i}\, \mathbf{1}[b_i \ne \tilde b_i]\, \sigma(|\ell_i|)`."""
    return (1 - 2 * b_tilde) * (b != b_tilde).to(logits.dtype) * torch.sigmoid(logits.abs())


def arm(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""ARM, the Augment-REINFORCE-Merge estimator for binary variables (unbiased).

    Each draw is one antithetic pair built from a single uniform vector
    :math:`u \sim \mathcal{U}(0, 1)^d`,

    .. math:: b = \mathbf{1}[u < \sigma(\ell)], \qquad
              \tilde b = \mathbf{1}[u > \sigma(-\ell)], \qquad
              \hat g_{\mathrm{ARM}} = \bigl(f(\tilde b) - f(b)\bigr)\bigl(u - \tfrac12\bigr),

    so that :math:`\nabla_\ell\, \mathbb{E}[f(z)] = \mathbb{E}_u[\hat g_{\mathrm{ARM}}]`
    (Yin and Zhou 2019, "ARM: Augment-REINFORCE-Merge Gradient for Stochastic Binary
    Networks", Theorem 1, with :math:`\phi = \ell`). Both members of the pair are exact
    samples of :math:`\mathrm{Bern}(\sigma(\ell))`, but they are negatively correlated,
    which cancels most of the noise of :math:`f`. ``n_samples`` pairs cost ``2 n_samples``
    evaluations of ``f`` (one call); the surrogate's value is the mean of ``f`` over all of
    them, and its gradient is the mean of the ``n_samples`` ARM estimates (plus the
    pathwise gradient of ``f``'s own parameters at the exact samples). ``f`` needs no
    gradient with respect to ``z``. Bernoulli only; batched logits follow the module's
    rule (per-example losses weight only their own variables). Introduced in chapter 6.
    """
    _validate(f, logits, dist, n_samples, generator)
    _only(
        dist, "bernoulli", "arm", "for categorical variables use reinforce, gumbel_rao or reinmax"
    )
    u = _uniform((n_samples, *logits.shape), generator, logits)
    return _antithetic_surrogate(f, logits, u, "arm")


def disarm(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""DisARM: ARM with the augmenting uniform integrated out analytically (unbiased).

    With the antithetic pair :math:`b = \mathbf{1}[u < \sigma(\ell)]`,
    :math:`\tilde b = \mathbf{1}[1 - u < \sigma(\ell)]` of one uniform vector :math:`u`,

    .. math:: \hat g_{\mathrm{DisARM}, i} = \tfrac12 \bigl(f(b) - f(\tilde b)\bigr)\,
              (-1)^{\tilde b_i}\, \mathbf{1}[b_i \ne \tilde b_i]\, \sigma(|\ell_i|),

    which is :math:`\mathbb{E}[\hat g_{\mathrm{ARM}} \mid b, \tilde b]`, the ARM estimate
    (see :func:`arm`) Rao-Blackwellised over :math:`u`: it is unbiased, never has a larger
    variance than ARM, costs the same, and is exactly zero for the coordinates where the
    pair agrees (Dong, Mnih and Tucker 2020, "DisARM: An Antithetic Gradient Estimator for
    Binary Latent Variables", Sec. 3). ``n_samples`` pairs cost ``2 n_samples``
    evaluations of ``f`` (one call); the surrogate's value is the mean of ``f`` over all of
    them. Bernoulli only; batched logits follow the module's rule. Introduced in chapter 6.
    """
    _validate(f, logits, dist, n_samples, generator)
    _only(
        dist,
        "bernoulli",
        "disarm",
        "for categorical variables use reinforce, gumbel_rao or reinmax",
    )
    u = _uniform((n_samples, *logits.shape), generator, logits)
    return _antithetic_surrogate(f, logits, u, "disarm")


# --- RELAX ----------------------------------------------------------------------------


def _relaxed_pair(logits: torch.Tensor, u: torch.Tensor, v: torch.Tensor):
    r"""The relaxed sample :math:`z = \ell + \log u - \log(1 - u)`, its threshold
    :math:`b = \mathbf{1}[z > 0]` and the conditional relaxed sample :math:`\tilde z \sim p(z \mid b)`
    (Tucker et al. 2017, Appendix), reparameterised by ``v`` so that it is differentiable
    in ``logits``."""
    z = logits + u.log() - torch.log1p(-u)
    b = (z.detach() > 0).to(logits.dtype)
    log_v, log_1mv = v.log(), torch.log1p(-v)
    # b = 1: u is uniform on (1 - sigma(l), 1); b = 0: uniform on (0, 1 - sigma(l)).
    upper = F.softplus(logits + log_v) - log_1mv
    lower = log_v - F.softplus(-logits + log_1mv)
    return z, b, torch.where(b > 0, upper, lower)


class RelaxControlVariate(nn.Module):
    r"""A learnable control variate :math:`c_\psi` for :func:`relax`.

    .. math:: c_\psi(z) = \eta\, f\bigl(\sigma(z/\tau)\bigr) + r_\rho\bigl(\sigma(z/\tau)\bigr),

    where :math:`z` is the relaxed (logit-space) sample, :math:`\eta` and :math:`\tau` are
    learnable scalars (REBAR's scale and temperature; Tucker et al. 2017) and
    :math:`r_\rho` an optional small MLP (``n_inputs -> n_hidden -> 1``; Grathwohl et al.
    2018). The MLP's last layer starts at zero, so at initialisation :math:`c_\psi` is
    REBAR's control variate. ``use_f=False`` drops the first term (for a black-box ``f``
    that cannot take relaxed inputs; then ``n_inputs`` is required). The MLP reads the
    relaxed variables in groups of ``n_inputs``: use the number of variables per example
    (``d`` for logits of shape ``(B, d)`` with per-example losses), or ``logits.numel()``
    for one shared loss. :math:`\psi = (\eta, \tau, \rho)` are ordinary parameters: see
    :func:`relax` for how they are trained. Introduced in chapter 6.

    Args:
        n_inputs: the MLP's input size, or ``None`` for no MLP.
        n_hidden: the MLP's hidden width.
        eta: the initial :math:`\eta`.
        tau: the initial temperature :math:`\tau > 0`.
        use_f: include the term :math:`\eta f(\sigma(z/\tau))`.
    """

    def __init__(
        self,
        n_inputs: int | None = None,
        n_hidden: int = 16,
        *,
        eta: float = 1.0,
        tau: float = 0.5,
        use_f: bool = True,
    ):
        super().__init__()
        if n_inputs is not None:
            check_count(n_inputs, "n_inputs")
        check_count(n_hidden, "n_hidden")
        check_positive(tau, "tau")
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta):
            raise TypeError(f"eta must be a finite number, got {eta!r}")
        if not use_f and n_inputs is None:
            raise ValueError("use_f=False needs an MLP: pass n_inputs (variables per example)")
        self.use_f = bool(use_f)
        self.n_inputs = n_inputs
        self.log_tau = nn.Parameter(torch.tensor(math.log(tau)))
        self.eta = nn.Parameter(torch.tensor(float(eta))) if self.use_f else None
        self.net = None
        if n_inputs is not None:
            self.net = nn.Sequential(
                nn.Linear(n_inputs, n_hidden), nn.Tanh(), nn.Linear(n_hidden, 1)
            )
            nn.init.zeros_(self.net[2].weight)
            nn.init.zeros_(self.net[2].bias)

    @property
    def tau(self) -> torch.Tensor:
        """The current temperature :math:`\\tau = e^{\\log \\tau}`."""
        return self.log_tau.exp()

    def forward(self, z: torch.Tensor, f: Callable) -> torch.Tensor:
        """:math:`c_\\psi(z)` for relaxed samples ``z`` of shape ``(n, *logits.shape)``."""
        soft = torch.sigmoid(z / self.tau)
        out = self.eta * f(soft) if self.use_f else None
        if self.net is not None:
            if soft.numel() % (z.shape[0] * self.n_inputs):
                raise ValueError(
                    f"RelaxControlVariate(n_inputs={self.n_inputs}) cannot group relaxed "
                    f"samples of shape {tuple(z.shape)} into inputs of size {self.n_inputs}"
                )
            net_in = soft.reshape(z.shape[0], -1, self.n_inputs).to(self.net[0].weight.dtype)
            r = self.net(net_in).squeeze(-1).to(z.dtype)
            if out is None:
                out = r.squeeze(-1) if r.shape[-1] == 1 else r
            else:
                out = out + r.reshape(out.shape)
        return out


def _rebar_control_variate(tau: float) -> Callable:
    def control_variate(z: torch.Tensor, f: Callable) -> torch.Tensor:
        return f(torch.sigmoid(z / tau))

    return control_variate


def _control_values(control_variate, z, f, shape) -> torch.Tensor:
    out = control_variate(z, f)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"control_variate must return a tensor, got {type(out).__name__}")
    if out.shape != shape:
        if out.numel() != math.prod(shape):
            raise ValueError(
                f"control_variate must return one value per loss, shape {tuple(shape)}, "
                f"got {tuple(out.shape)}"
            )
        out = out.reshape(shape)
    if not torch.isfinite(out).all():
        raise ValueError("control_variate returned NaN or infinite values")
    return out


def relax(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    control_variate: Callable | None = None,
    tau: float | None = None,
) -> torch.Tensor:
    r"""RELAX: REINFORCE with a control variate from the relaxation, unbiased for any :math:`c`.

    With :math:`z = \ell + \log u - \log(1 - u)` (a relaxed logistic sample),
    :math:`b = H(z) = \mathbf{1}[z > 0] \sim \mathrm{Bern}(\sigma(\ell))` and
    :math:`\tilde z \sim p(z \mid b)` (the conditional relaxed sample of REBAR, Tucker et al.
    2017), both reparameterised so that they are differentiable in :math:`\ell`,

    .. math:: \hat g_{\mathrm{RELAX}} = \bigl[f(b) - c_\psi(\tilde z)\bigr]\,
              \nabla_\ell \log p_\ell(b) + \nabla_\ell c_\psi(z) - \nabla_\ell c_\psi(\tilde z)

    (Grathwohl et al. 2018, "Backpropagation through the Void", Sec. 3.3). The gradient of
    :math:`\mathbb{E}[c_\psi(z)]` can be written two ways: by reparameterising :math:`z`,
    :math:`\mathbb{E}[\nabla_\ell c_\psi(z)]`, or through :math:`b` and then
    :math:`\tilde z \mid b`, :math:`\mathbb{E}[c_\psi(\tilde z) \nabla_\ell \log p(b)
    + \nabla_\ell c_\psi(\tilde z)]`. The three control-variate terms are their difference,
    with mean zero, so the estimator is unbiased for *every* differentiable control
    variate; a good one makes the score term small. ``f`` is only evaluated at the exact samples :math:`b`
    (the value is the mean of :math:`f(b)`, and ``f``'s parameters get the pathwise
    gradient there); the control variate may evaluate ``f`` on relaxed inputs.

    ``control_variate(z, f)`` receives the relaxed samples ``z`` (logit space, shape
    ``(n_samples, *logits.shape)``) and ``f``, and returns one value per loss. The default
    is REBAR's :math:`c(z) = f(\sigma(z/\tau))` with :math:`\eta = 1` and ``tau`` (default
    0.5), which needs an ``f`` that accepts relaxed inputs in :math:`[0, 1]`; ``tau`` is
    only for that default. Unbiasedness needs a control variate that is differentiable in
    :math:`z`: as :math:`\tau \to 0`, :math:`f(\sigma(z/\tau))` tends to a step and the
    pathwise terms' variance grows; at a tiny ``tau`` (say :math:`10^{-20}`) the sigmoid
    saturates in floating point, :math:`c` is numerically a step, and its jump, which the
    pathwise terms cannot see, makes the estimate biased.

    Training the control variate. When ``control_variate`` is an ``nn.Module`` (for
    example :class:`RelaxControlVariate`), ``surrogate.backward()`` also writes
    :math:`\partial \lVert \hat g \rVert^2 / \partial \psi` into the ``.grad`` of its
    parameters, where :math:`\hat g` is this call's gradient estimate for ``logits``.
    Because :math:`\mathbb{E}[\hat g]` does not depend on :math:`\psi`, that is an unbiased
    estimate of :math:`\partial\, \mathrm{Var}[\hat g] / \partial \psi` (Grathwohl et al.
    2018, Sec. 3.2), so one optimiser over the model's and the control variate's
    parameters trains both (the variance minimised is that of the logits' gradient)::

        cv = RelaxControlVariate(n_inputs=d)
        optimiser = torch.optim.Adam([*model.parameters(), *cv.parameters()], lr=1e-2)
        for step in range(n_steps):
            optimiser.zero_grad()
            relax(f, model(x), control_variate=cv, generator=g).backward()
            optimiser.step()

    The value is unaffected (the extra term is zero). Bernoulli only; batched logits follow
    the module's rule. Introduced in chapter 6.
    """
    _validate(f, logits, dist, n_samples, generator)
    _only(dist, "bernoulli", "relax", "for categorical variables use reinforce or gumbel_rao")
    if control_variate is None:
        tau = 0.5 if tau is None else check_temperature(tau, logits.dtype)
        control_variate = _rebar_control_variate(tau)
    elif tau is not None:
        raise ValueError(
            "tau sets the temperature of relax's default control variate; with a "
            "control_variate given, set the temperature inside it"
        )
    elif not callable(control_variate):
        raise TypeError(
            f"control_variate must be callable as control_variate(z, f), got "
            f"{type(control_variate).__name__}"
        )
    shape = (n_samples, *logits.shape)
    u, v = _uniform(shape, generator, logits), _uniform(shape, generator, logits)
    with torch.enable_grad():
        leaf = logits.detach().requires_grad_(True)
        z, b, z_tilde = _relaxed_pair(leaf, u, v)
        losses = evaluate(f, b, logits, "bernoulli")
        value = losses.mean(0).sum()
        c_z = _control_values(control_variate, z, f, losses.shape)
        c_tilde = _control_values(control_variate, z_tilde, f, losses.shape)
        psi = []
        if isinstance(control_variate, nn.Module):
            psi = [p for p in control_variate.parameters() if p.requires_grad]
        train = bool(psi) and torch.is_grad_enabled()
        weight = _per_variable(losses.detach() - c_tilde, len(shape))
        grad = (weight * (b - torch.sigmoid(leaf.detach()))).mean(0)
        correction = (c_z - c_tilde).mean(0).sum()
        if correction.requires_grad:
            (pathwise,) = torch.autograd.grad(
                correction, leaf, create_graph=train, allow_unused=True
            )
            if pathwise is not None:
                grad = grad + pathwise
    surrogate = _with_gradient(value, logits, grad)
    if train and grad.requires_grad:
        psi_grads = torch.autograd.grad((grad**2).sum(), psi, allow_unused=True)
        for p, g in zip(psi, psi_grads, strict=True):
            if g is not None:
                surrogate = surrogate + (g.detach() * (p - p.detach())).sum()
    return surrogate


# --- Gumbel-Rao ---------------------------------------------------------------------


def _conditional_gumbel_scores(
    logits: torch.Tensor, one_hot: torch.Tensor, k: int, generator
) -> torch.Tensor:
    r"""``k`` draws of the perturbed scores :math:`\ell + G` conditioned on
    :math:`\arg\max(\ell + G) = ` ``one_hot``, shape ``(k, *logits.shape)``, no gradient.

    With :math:`E_j \sim \mathrm{Exp}(1)` and :math:`Z = \sum_j e^{\ell_j}`, the maximum is
    :math:`\log Z - \log E_i` (a :math:`\mathrm{Gumbel}(\log Z)` variable) and every other
    score is a :math:`\mathrm{Gumbel}(\ell_j)` truncated below it,
    :math:`-\log(E_j e^{-\ell_j} + E_i / Z)` (Paulus, Maddison and Krause 2021, Appendix;
    Maddison, Tarlow and Minka 2014).
    """
    with torch.no_grad():
        logits = logits.detach()
        e = -_uniform((k, *logits.shape), generator, logits).log()
        log_e = e.log()
        log_z = torch.logsumexp(logits, -1, keepdim=True)
        log_e_top = (one_hot * log_e).sum(-1, keepdim=True)
        top = log_z - log_e_top
        others = -torch.logaddexp(log_e - logits, log_e_top - log_z)
        return torch.where(one_hot > 0, top, others)


def gumbel_rao(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    k: int = 10,
    tau: float = 1.0,
) -> torch.Tensor:
    r"""Gumbel-Rao: straight-through Gumbel-softmax Rao-Blackwellised over the Gumbel noise.

    The forward pass uses an exact one-hot sample :math:`D`; the backward pass averages
    the straight-through Gumbel-softmax Jacobian over ``k`` perturbations drawn from the
    Gumbel noise *conditioned on* :math:`\arg\max(\ell + G) = D`,

    .. math:: \hat g_{\mathrm{GR}} = \frac{\partial f}{\partial D}\,\frac{1}{k}\sum_{j=1}^{k}
              \frac{\partial}{\partial \ell}\, \mathrm{softmax}\!\Bigl(\frac{\ell + G_j}{\tau}\Bigr),
              \qquad G_j \sim p(G \mid D),

    a Monte Carlo estimate of :math:`\mathbb{E}[\hat g_{\mathrm{ST\text{-}GS}} \mid D]`
    (Paulus, Maddison and Krause 2021, "Rao-Blackwellizing the Straight-Through
    Gumbel-Softmax Gradient Estimator", Sec. 3; the conditional noise by the truncated
    Gumbel construction). It has the same expectation as :func:`st_gumbel_softmax` at the
    same ``tau`` (so the same bias) and a variance that never exceeds it and falls with
    ``k``; ``k=1`` has exactly the distribution of :func:`st_gumbel_softmax`. The noise
    :math:`G_j` is held fixed when differentiating, as in straight-through Gumbel-softmax
    (the paper's text mentions a total derivative through :math:`G_j` as well; with it the
    mean would no longer be that of ST-GS). ``f`` is called once, on the exact samples;
    the ``k`` softmaxes cost only in the backward graph. Categorical only: pass
    ``dist="categorical"`` (the default ``"bernoulli"`` keeps the common signature and
    :func:`stelib.diagnostics.gradient_stats`' default). Introduced in chapter 6.
    """
    _validate(f, logits, dist, n_samples, generator)
    _only(
        dist,
        "categorical",
        "gumbel_rao",
        "pass dist='categorical' (for binary variables use disarm, relax or reinmax)",
    )
    check_count(k, "k")
    check_temperature(tau, logits.dtype)
    expanded = _expand(logits, n_samples)
    one_hot = _gumbel.gumbel_max(expanded.detach(), generator=generator)
    scores = _conditional_gumbel_scores(expanded, one_hot, k, generator)
    finite = torch.isfinite(expanded)
    shift = torch.where(finite, expanded - expanded.detach(), torch.zeros_like(expanded))
    perturbed = scores + shift
    perturbed = perturbed - perturbed.detach().amax(-1, keepdim=True)
    soft = torch.softmax(perturbed / tau, dim=-1).mean(0)
    z = _straight_through_op(one_hot, soft)
    return evaluate(f, z, logits, dist).mean(0).sum()


# --- ReinMax --------------------------------------------------------------------------


def _reinmax_straight_through(
    theta: torch.Tensor, one_hot: torch.Tensor, tau: float
) -> torch.Tensor:
    r"""The value of ``one_hot`` with ReinMax's Jacobian
    :math:`2 J(\pi_1) - \tfrac12 J(\pi_0)` with respect to ``theta`` (categories last),
    where :math:`J(\pi) = \mathrm{diag}(\pi) - \pi\pi^\top` is the softmax Jacobian at
    :math:`\pi`, :math:`\pi_0 = \mathrm{softmax}(\theta)` and
    :math:`\pi_1 = (D + \mathrm{softmax}(\theta/\tau))/2`."""
    finite = torch.isfinite(theta)
    safe = torch.where(finite, theta, torch.zeros_like(theta))
    with torch.no_grad():
        pi0 = torch.softmax(theta.detach(), dim=-1)
        pi1 = 0.5 * (one_hot + torch.softmax(theta.detach() / tau, dim=-1))

    def linearised_softmax(pi: torch.Tensor) -> torch.Tensor:
        # a function of theta whose Jacobian is J(pi) (its value is irrelevant)
        return pi * (safe - (pi * safe).sum(-1, keepdim=True))

    soft = 2 * linearised_softmax(pi1) - 0.5 * linearised_softmax(pi0)
    return _straight_through_op(one_hot, soft)


def reinmax(
    f: Callable,
    logits: torch.Tensor,
    *,
    dist: str = "bernoulli",
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    tau: float = 1.0,
) -> torch.Tensor:
    r"""ReinMax: a second-order (Heun's method) straight-through estimator.

    The forward pass uses an exact one-hot sample :math:`D \sim \mathrm{softmax}(\ell)`.
    The backward pass follows Liu et al. (2023, "Bridging Discrete and Backpropagation:
    Straight-Through and Beyond", Algorithm 2, and the authors' ``reinmax`` package):

    .. math:: \pi_0 = \mathrm{softmax}(\ell), \qquad
              \pi_1 = \tfrac12\bigl(D + \mathrm{softmax}(\ell/\tau)\bigr), \qquad
              \hat g = \Bigl(2\, J(\pi_1) - \tfrac12 J(\pi_0)\Bigr)\,
              \frac{\partial f}{\partial D},

    with :math:`J(\pi) = \mathrm{diag}(\pi) - \pi\pi^\top` (in the paper:
    :math:`\pi_1 \leftarrow \mathrm{softmax}(\mathrm{sg}(\ln \pi_1 - \ell) + \ell)`,
    :math:`\pi_2 = 2\pi_1 - \tfrac12\pi_0`, :math:`D \leftarrow \pi_2 - \mathrm{sg}(\pi_2) + D`).
    Straight-through is the forward-Euler (first-order) approximation of
    :math:`f(I_i) - f(I_j)`; ReinMax is the trapezoidal rule, exact for quadratic ``f``,
    so with ``tau=1`` its expected gradient equals the exact gradient whenever ``f`` is a
    quadratic function of the one-hot variables (straight-through needs a linear ``f``).
    The authors recommend ``tau >= 1``; any ``tau > 0`` is accepted. ``dist="bernoulli"``
    uses the two-category view :math:`\theta = (0, \ell)`, :math:`D = (1 - b, b)`.
    Introduced in chapter 6.
    """
    _validate(f, logits, dist, n_samples, generator)
    check_temperature(tau, logits.dtype)
    theta = logits
    if dist == "bernoulli":
        theta = torch.stack([torch.zeros_like(logits), logits], dim=-1)
    expanded = _expand(theta, n_samples)
    one_hot = _gumbel.gumbel_max(expanded.detach(), generator=generator)
    z = _reinmax_straight_through(expanded, one_hot, tau)
    if dist == "bernoulli":
        z = z[..., 1]
    return evaluate(f, z, logits, dist).mean(0).sum()


def supports(estimator: Callable, dist: str) -> bool:
    """Whether ``estimator`` handles ``dist`` (its ``dists`` attribute; all do both unless
    they say otherwise)."""
    return dist in getattr(estimator, "dists", ("bernoulli", "categorical"))


for _estimator in (reinforce, straight_through, gumbel_softmax, st_gumbel_softmax, reinmax):
    _estimator.dists = ("bernoulli", "categorical")
for _estimator in (arm, disarm, relax):
    _estimator.dists = ("bernoulli",)
gumbel_rao.dists = ("categorical",)

ESTIMATORS: dict[str, Callable[..., torch.Tensor]] = {
    "reinforce": reinforce,
    "straight_through": straight_through,
    "gumbel_softmax": gumbel_softmax,
    "st_gumbel_softmax": st_gumbel_softmax,
    "arm": arm,
    "disarm": disarm,
    "relax": relax,
    "gumbel_rao": gumbel_rao,
    "reinmax": reinmax,
}
"""Every estimator by name, so notebooks and benchmarks can loop over them; each has a
``dists`` attribute naming the distributions it handles (see :func:`supports`)."""
