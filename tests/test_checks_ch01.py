"""Tests of chapter 1's checkers: right answers pass, wrong ones get a readable verdict."""

from __future__ import annotations

import pytest
import torch

import stelib
from stelib.checks import CHECKERS, ch01

# --- reference solutions --------------------------------------------------------------


def threshold_grad(f, step=stelib.threshold):
    f = f.detach().clone().requires_grad_(True)
    total = step(f).sum()
    if not total.requires_grad:
        return torch.zeros_like(f)
    (grad,) = torch.autograd.grad(total, f, allow_unused=True)
    return torch.zeros_like(f) if grad is None else grad


def expected_loss(loss, p):
    total = 0.0
    for z1 in (0.0, 1.0):
        for z2 in (0.0, 1.0):
            prob = (p[0] if z1 else 1 - p[0]) * (p[1] if z2 else 1 - p[1])
            total = total + prob * loss(torch.tensor([z1, z2]))
    return total


def expected_loss_grad(t, theta):
    return 1 - 2 * t + 0 * theta


SOLUTIONS = {
    "threshold": (ch01.check_threshold_grad, threshold_grad),
    "expected": (ch01.check_expected_loss, expected_loss),
    "grad": (ch01.check_expected_loss_grad, expected_loss_grad),
}

# --- wrong, crashing, NaN, wrongly shaped, unimplemented -------------------------------


def _zeros_always(f, step=None):
    return torch.zeros_like(f)


def _uniform_weights(loss, p):
    total = 0.0
    for z1 in (0.0, 1.0):
        for z2 in (0.0, 1.0):
            total = total + 0.25 * loss(torch.tensor([z1, z2]))
    return total


def _swapped_probabilities(loss, p):
    return expected_loss(loss, p.flip(0))


def _not_differentiable(loss, p):
    return float(expected_loss(loss, p.detach()))


def _loss_at_mean(t, theta):
    return 2 * (theta - t)


def _logit_derivative(t, theta):
    return theta * (1 - theta) * (1 - 2 * t)


WRONG = {
    "threshold": [_zeros_always, lambda f, step=None: torch.ones_like(f)],
    "expected": [_uniform_weights, _swapped_probabilities, _not_differentiable],
    "grad": [_loss_at_mean, _logit_derivative],
}


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


NAN = {
    "threshold": lambda f, step=None: torch.full_like(f, float("nan")),
    "expected": lambda loss, p: torch.tensor(float("nan")),
    "grad": lambda t, theta: torch.full_like(
        torch.as_tensor(theta, dtype=torch.float32), float("nan")
    ),
}

BAD_SHAPE = {
    "threshold": lambda f, step=None: torch.zeros(f.numel() + 1),
    "expected": lambda loss, p: torch.zeros(4),
    "grad": lambda t, theta: torch.zeros(7),
}


@pytest.mark.parametrize("key", SOLUTIONS)
def test_solution_passes(key):
    checker, solution = SOLUTIONS[key]
    verdict = checker(solution)
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
    assert "NaN" in repr(verdict)


@pytest.mark.parametrize("key", SOLUTIONS)
def test_wrong_shape_fails(key):
    checker, _ = SOLUTIONS[key]
    verdict = checker(BAD_SHAPE[key])
    assert not verdict.passed
    assert "shape" in repr(verdict)


def test_registered():
    assert CHECKERS["ex-ch01-threshold-grad"] == ("threshold_grad", ch01.check_threshold_grad)
    assert CHECKERS["ex-ch01-expected-loss"] == ("expected_loss", ch01.check_expected_loss)
    assert CHECKERS["ex-ch01-expected-loss-grad"] == (
        "expected_loss_grad",
        ch01.check_expected_loss_grad,
    )
