"""A small, seeded training loop shared by the chapters (chapter 2 onwards)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from ._validation import check_choice, check_count, check_positive


class Adam:
    r"""Adam (Kingma and Ba 2015) with ``torch.optim.Adam``'s default options and update order.

    .. math:: m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,
              \quad \theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,
              \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    Written out because every ``torch.optim`` step imports ``torch._dynamo`` the first
    time it runs, which costs seconds per notebook on a laptop CPU. The unit tests check
    that it follows ``torch.optim.Adam`` step for step. Introduced in chapter 2.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.t
        correction2_sqrt = (1 - beta2**self.t) ** 0.5
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denom = (v.sqrt() / correction2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / correction1)


class SGD:
    r"""Plain gradient descent, :math:`\theta \leftarrow \theta - \eta g`, as ``torch.optim.SGD``
    without momentum (written out for the same reason as :class:`Adam`)."""

    def __init__(self, params, lr: float = 1e-2):
        self.params = list(params)
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-self.lr)


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


@dataclass
class History:
    """What :func:`train` recorded.

    Attributes:
        loss: the training objective's value at every step (the surrogate's value).
        eval_steps: the steps at which ``evaluate`` ran (after the step's update).
        metrics: each metric returned by ``evaluate``, one value per entry of ``eval_steps``.
    """

    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def final(self, name: str) -> float:
        """The last recorded value of metric ``name`` (or of ``"loss"``)."""
        return self.loss[-1] if name == "loss" else self.metrics[name][-1]


def train(
    loss_fn: Callable[[int], torch.Tensor],
    parameters: Iterable[torch.nn.Parameter],
    *,
    steps: int,
    lr: float = 1e-2,
    optimizer: str = "adam",
    evaluate: Callable[[], dict[str, float]] | None = None,
    eval_every: int = 10,
    seed: int | None = None,
) -> History:
    """Minimise ``loss_fn(step)`` over ``parameters`` for ``steps`` steps.

    ``loss_fn`` returns a scalar tensor: a plain loss or an estimator's surrogate.
    ``evaluate`` (run without gradients every ``eval_every`` steps and after the last
    step) returns named metrics. ``seed`` seeds PyTorch's global generator first, so
    that a run is reproducible. Introduced in chapter 2.
    """
    check_count(steps, "steps")
    check_count(eval_every, "eval_every")
    check_positive(lr, "lr")
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    if seed is not None:
        torch.manual_seed(seed)
    parameters = list(parameters)
    if not parameters:
        raise ValueError("parameters is empty: there is nothing to train")
    opt = OPTIMIZERS[optimizer](parameters, lr=lr)
    history = History()
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = loss_fn(step)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss is {float(loss.detach())} at step {step}")
        loss.backward()
        opt.step()
        history.loss.append(float(loss.detach()))
        if evaluate is not None and (step % eval_every == 0 or step == steps):
            with torch.no_grad():
                metrics = evaluate()
            history.eval_steps.append(step)
            for name, value in metrics.items():
                history.metrics.setdefault(name, []).append(float(value))
    return history
