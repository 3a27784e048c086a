"""The shared training loop: it minimises, it is reproducible, it records what it says."""

from __future__ import annotations

import math

import pytest
import torch

from stelib import estimators as E
from stelib import problems
from stelib.train import History, train


def _convex(w: torch.nn.Parameter):
    target = torch.tensor([3.0, -1.0])

    def loss_fn(step: int) -> torch.Tensor:
        return ((w - target) ** 2).sum()

    return loss_fn


@pytest.mark.parametrize(("optimizer", "lr"), [("adam", 0.1), ("sgd", 0.1)])
def test_train_decreases_a_convex_loss(optimizer, lr):
    w = torch.nn.Parameter(torch.zeros(2))
    history = train(_convex(w), [w], steps=200, lr=lr, optimizer=optimizer)
    assert len(history.loss) == 200
    assert history.loss[0] == pytest.approx(10.0)  # (0 - 3)^2 + (0 + 1)^2 at the start
    assert history.loss[-1] < 1e-3 * history.loss[0]
    torch.testing.assert_close(w.detach(), torch.tensor([3.0, -1.0]), atol=0.05, rtol=0)


def test_sgd_step_is_the_textbook_update():
    w = torch.nn.Parameter(torch.tensor([0.0, 0.0]))
    train(_convex(w), [w], steps=1, lr=0.1, optimizer="sgd")
    # w <- w - lr * 2 (w - target)
    torch.testing.assert_close(w.detach(), torch.tensor([0.6, -0.2]))


def _noisy_run(seed: int | None) -> tuple[list[float], torch.Tensor]:
    w = torch.nn.Parameter(torch.zeros(3))

    def loss_fn(step: int) -> torch.Tensor:
        noise = torch.randn(3)  # global generator: seeded by train(seed=...)
        return ((w - 1 + 0.3 * noise) ** 2).sum()

    history = train(loss_fn, [w], steps=30, lr=0.05, seed=seed)
    return history.loss, w.detach().clone()


def test_train_is_reproducible_with_a_seed():
    loss_a, w_a = _noisy_run(7)
    loss_b, w_b = _noisy_run(7)
    loss_c, w_c = _noisy_run(8)
    assert loss_a == loss_b and torch.equal(w_a, w_b)
    assert loss_a != loss_c and not torch.equal(w_a, w_c)


def test_evaluate_runs_every_eval_every_steps_and_at_the_end():
    w = torch.nn.Parameter(torch.zeros(2))
    calls = []

    def evaluate():
        calls.append(torch.is_grad_enabled())
        return {"w0": float(w[0]), "twice": 2 * float(w[0])}

    history = train(_convex(w), [w], steps=25, lr=0.1, evaluate=evaluate, eval_every=10)
    assert history.eval_steps == [10, 20, 25]
    assert calls == [False, False, False]  # run without gradients
    assert set(history.metrics) == {"w0", "twice"}
    assert history.metrics["twice"] == [2 * v for v in history.metrics["w0"]]
    assert history.final("w0") == pytest.approx(float(w.detach()[0]))
    assert history.final("loss") == history.loss[-1]


def test_train_refuses_a_non_finite_loss():
    w = torch.nn.Parameter(torch.zeros(1))

    def loss_fn(step):
        return (w * 0).sum() + (math.inf if step == 3 else 1.0)

    with pytest.raises(FloatingPointError, match="step 3"):
        train(loss_fn, [w], steps=5)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"optimizer": "lbfgs"}, ValueError, "optimizer"),
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": -1e-3}, ValueError, "lr"),
        ({"lr": math.nan}, ValueError, "lr"),
        ({"eval_every": 0}, ValueError, "eval_every"),
    ],
)
def test_train_bad_arguments(kwargs, error, name):
    w = torch.nn.Parameter(torch.zeros(2))
    options = {"steps": 3, **kwargs}
    with pytest.raises(error, match=name):
        train(_convex(w), [w], **options)


def test_train_refuses_empty_parameters():
    with pytest.raises(ValueError, match="parameters"):
        train(lambda step: torch.zeros(()), [], steps=3)


class _NoScalarWhileGrad(torch.Tensor):
    """A loss tensor that refuses float() / item() while it still requires grad. PyTorch
    warns about that conversion only once per process, so a warnings filter cannot
    reliably catch it; this subclass does, in any test order."""

    def __float__(self):
        assert not self.requires_grad, "float() of a loss that requires grad"
        return super().__float__()

    def item(self):
        assert not self.requires_grad, "item() of a loss that requires grad"
        return super().item()


def test_train_records_the_loss_without_converting_a_graph_tensor():
    w = torch.nn.Parameter(torch.zeros(2))
    history = train(lambda step: _convex(w)(step).as_subclass(_NoScalarWhileGrad), [w], steps=2)
    assert history.loss[0] == pytest.approx(10.0)


def test_history_defaults():
    h = History()
    assert h.loss == [] and h.eval_steps == [] and h.metrics == {}


def test_ste_and_reinforce_go_to_different_fixed_points():
    """CURRICULUM d3 in training: on E[(b - 0.45)^2] the STE drives theta up to its wrong
    fixed point 0.45 (its expected gradient 2 (theta - 0.45) sigmoid'(l) vanishes there),
    while REINFORCE follows the true gradient (1 - 2t) sigmoid'(l) > 0 down towards 0."""
    obj = problems.quadratic(0.45, p=0.2)
    generator = torch.Generator().manual_seed(0)
    finals = {}
    for name, options in (("straight_through", {}), ("reinforce", {"baseline": "rloo"})):
        logits = torch.nn.Parameter(obj.logits.clone())
        estimator = E.ESTIMATORS[name]
        train(
            lambda step, est=estimator, p=logits, o=options: est(
                obj.f, p, n_samples=16, generator=generator, **o
            ),
            [logits],
            steps=300,
            lr=0.05,
        )
        finals[name] = float(torch.sigmoid(logits.detach()))
    assert 0.35 < finals["straight_through"] < 0.55
    assert finals["reinforce"] < 0.1
