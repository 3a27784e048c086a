"""Tests of chapter 4's checkers: right answers pass, wrong ones get a readable verdict."""

from __future__ import annotations

import pytest
import torch

from stelib import exact
from stelib.checks import CHECKERS, Verdict, ch04

# --- reference solutions (the notebook's) ----------------------------------------------


def bernoulli_score(z, a):
    return z - torch.sigmoid(a)


def reinforce_grad(f, a, z):
    return f(z)[:, None] * (z - torch.sigmoid(a))


def rloo_baseline(losses):
    n = losses.shape[0]
    return (losses.sum(0, keepdim=True) - losses) / (n - 1)


def optimal_baseline(f, a):
    z = exact.outcomes(a)
    p = exact.joint_log_prob(z, a).exp()
    s2 = ((z - torch.sigmoid(a)) ** 2).sum(-1)
    return (p * f(z) * s2).sum() / (p * s2).sum()


SOLUTIONS = {
    "score": (ch04.check_bernoulli_score, bernoulli_score),
    "reinforce": (ch04.check_reinforce_grad, reinforce_grad),
    "rloo": (ch04.check_rloo_baseline, rloo_baseline),
    "optimal": (ch04.check_optimal_baseline, optimal_baseline),
}

# --- wrong, crashing, NaN, wrongly shaped, unimplemented -------------------------------


def _expected_f(f, a):
    z = exact.outcomes(a)
    return (exact.joint_log_prob(z, a).exp() * f(z)).sum()


WRONG = {
    "score": [
        lambda z, a: torch.sigmoid(a) - z,
        lambda z, a: z * (1 - torch.sigmoid(a)),
        lambda z, a: z - a,
    ],
    "reinforce": [
        lambda f, a, z: z - torch.sigmoid(a),
        lambda f, a, z: f(z)[:, None] * (torch.sigmoid(a) - z),
        lambda f, a, z: f(z)[:, None] * z,
        lambda f, a, z: f(z).mean() * (z - torch.sigmoid(a)),
    ],
    "rloo": [
        lambda losses: losses.mean(0, keepdim=True).expand_as(losses),
        lambda losses: losses.sum(0, keepdim=True) - losses,
        lambda losses: (losses.sum(0, keepdim=True) - losses) / losses.shape[0],
    ],
    "optimal": [
        _expected_f,
        lambda f, a: _expected_f(f, a) + 0.1,
        lambda f, a: torch.tensor(0.0),
    ],
}


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


NAN = {
    "score": lambda z, a: torch.full(torch.broadcast_shapes(z.shape, a.shape), float("nan")),
    "reinforce": lambda f, a, z: torch.full_like(z, float("nan")),
    "rloo": lambda losses: torch.full_like(losses, float("nan")),
    "optimal": lambda f, a: torch.tensor(float("nan")),
}

BAD_SHAPE = {
    "score": lambda z, a: torch.zeros(7, 7),
    "reinforce": lambda f, a, z: f(z) * 0,
    "rloo": lambda losses: losses.mean(0),
    "optimal": lambda f, a: torch.zeros(3),
}


@pytest.mark.parametrize("key", SOLUTIONS)
def test_solution_passes(key):
    checker, solution = SOLUTIONS[key]
    verdict = checker(solution)
    assert isinstance(verdict, Verdict)
    assert verdict.status == "passed", verdict
    assert verdict.score == 1
    assert "PASSED" in repr(verdict)


@pytest.mark.parametrize("key, wrong", [(k, w) for k, ws in WRONG.items() for w in ws])
def test_wrong_fails_with_hint(key, wrong):
    checker, _ = SOLUTIONS[key]
    verdict = checker(wrong)
    assert verdict.status == "failed", verdict
    assert verdict.score < 1
    assert verdict.hint
    assert "NOT YET" in repr(verdict)


@pytest.mark.parametrize("key", SOLUTIONS)
def test_nan_fails(key):
    checker, _ = SOLUTIONS[key]
    verdict = checker(NAN[key])
    assert not verdict.passed
    assert verdict.score < 1
    assert "NaN" in repr(verdict)


@pytest.mark.parametrize("key", SOLUTIONS)
def test_wrong_shape_fails(key):
    checker, _ = SOLUTIONS[key]
    verdict = checker(BAD_SHAPE[key])
    assert not verdict.passed
    assert "shape" in repr(verdict)


def test_score_checker_accepts_autograd_solution():
    def autograd_score(z, a):
        shape = torch.broadcast_shapes(z.shape, a.shape)
        leaf = a.expand(shape).clone().requires_grad_(True)
        log_p = z * torch.nn.functional.logsigmoid(leaf) + (1 - z) * torch.nn.functional.logsigmoid(
            -leaf
        )
        return torch.autograd.grad(log_p.sum(), leaf)[0]

    assert ch04.check_bernoulli_score(autograd_score).passed


def test_reinforce_checker_rejects_differentiating_f():
    """A pathwise answer (the derivative of f, as a straight-through estimator would use)
    is biased, so the enumeration cases catch it."""

    def pathwise(f, a, z):
        z = z.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(z).sum(), z, allow_unused=True)
        grad = torch.zeros_like(z) if grad is None else grad
        s = torch.sigmoid(a)
        return grad * s * (1 - s)

    verdict = ch04.check_reinforce_grad(pathwise)
    assert verdict.status in ("failed", "error")
    assert verdict.score < 1


def test_optimal_baseline_one_unit_zero_variance():
    """For one unit the optimal constant makes the estimator deterministic (exercise text)."""
    f = lambda z: ((z - 0.45) ** 2).sum(-1)  # noqa: E731
    a = torch.tensor([0.3])
    b = optimal_baseline(f, a)
    s = torch.sigmoid(a)
    closed_form = (1 - s) * f(torch.ones(1, 1)) + s * f(torch.zeros(1, 1))
    assert torch.allclose(b, closed_form.reshape(()))
    assert float(ch04._baseline_variance(f, a, b)) < 1e-10


def test_registered():
    assert CHECKERS["ex-ch04-score"] == ("bernoulli_score", ch04.check_bernoulli_score)
    assert CHECKERS["ex-ch04-reinforce-grad"] == ("reinforce_grad", ch04.check_reinforce_grad)
    assert CHECKERS["ex-ch04-rloo"] == ("rloo_baseline", ch04.check_rloo_baseline)
    assert CHECKERS["ex-ch04-optimal-baseline"] == (
        "optimal_baseline",
        ch04.check_optimal_baseline,
    )
