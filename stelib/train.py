"""A small, seeded training loop shared by the chapters (chapter 2 onwards)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from ._validation import check_choice, check_count, check_positive

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


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
            raise FloatingPointError(f"the loss is {float(loss)} at step {step}")
        loss.backward()
        opt.step()
        history.loss.append(float(loss))
        if evaluate is not None and (step % eval_every == 0 or step == steps):
            with torch.no_grad():
                metrics = evaluate()
            history.eval_steps.append(step)
            for name, value in metrics.items():
                history.metrics.setdefault(name, []).append(float(value))
    return history
