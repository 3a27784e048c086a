"""Tests of chapter 5's checkers: right answers pass, wrong ones get a readable verdict."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from stelib.checks import CHECKERS, ch05

# --- reference solutions (written as a student would, without the checker's helpers) ---


def expected_ste_grad(loss, p):
    d = len(p)
    total = torch.zeros(d, dtype=torch.float64)
    for bits in itertools.product((0.0, 1.0), repeat=d):
        z = torch.tensor(bits, dtype=torch.float64, requires_grad=True)
        (dz,) = torch.autograd.grad(loss(z), z)
        prob = 1.0
        for zi, pi in zip(bits, p.tolist(), strict=True):
            prob *= pi if zi else 1 - pi
        total = total + prob * dz
    return total


def dependent_pair_exact_grad(p1, a=4.0, c=8.0, w=3.0):
    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    return torch.tensor(1 + w * (sigmoid(a - c) - sigmoid(a)))


def optimal_baseline(f_values, scores, probs):
    norms = (scores**2).reshape(len(probs), -1).sum(-1)
    return (probs * f_values * norms).sum() / (probs * norms).sum()


SOLUTIONS = {
    "ste": (ch05.check_expected_ste, expected_ste_grad),
    "dependent": (ch05.check_dependent_grad, dependent_pair_exact_grad),
    "baseline": (ch05.check_optimal_baseline, optimal_baseline),
}

# --- wrong, crashing, NaN, wrongly shaped, unimplemented -----------------------------------


def _true_gradient_instead(loss, p):
    """d E[L] / dp (the exact gradient), not the expected STE."""
    leaf = p.detach().to(torch.float64).requires_grad_(True)
    total = 0.0
    for bits in itertools.product((0.0, 1.0), repeat=len(p)):
        z = torch.tensor(bits, dtype=torch.float64)
        prob = torch.prod(torch.where(z > 0, leaf, 1 - leaf))
        total = total + prob * loss(z)
    (grad,) = torch.autograd.grad(total, leaf)
    return grad


def _derivative_at_mean(loss, p):
    """dL/dz evaluated at z = p: correct only for multilinear losses."""
    z = p.detach().to(torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(z), z)
    return grad


def _only_four_outcomes(loss, p):
    if len(p) != 2:
        return torch.zeros(len(p))
    return expected_ste_grad(loss, p)


def _ignores_dependency(p1, a=4.0, c=8.0, w=3.0):
    return torch.tensor(1.0)


def _sigmoid_ste(p1, a=4.0, c=8.0, w=3.0):
    s = 1 / (1 + math.exp(-a))
    return torch.tensor(1 - w * c * s * (1 - s))


def _swapped_sign(p1, a=4.0, c=8.0, w=3.0):
    return -dependent_pair_exact_grad(p1, a, c, w) + 2


def _mean_of_f(f_values, scores, probs):
    return (probs * f_values).sum()


def _unweighted(f_values, scores, probs):
    norms = (scores**2).reshape(len(probs), -1).sum(-1)
    return (f_values * norms).sum() / norms.sum()


WRONG = {
    "ste": [_true_gradient_instead, _derivative_at_mean, _only_four_outcomes],
    "dependent": [_ignores_dependency, _sigmoid_ste, _swapped_sign],
    "baseline": [_mean_of_f, _unweighted],
}


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


NAN = {
    "ste": lambda loss, p: torch.full_like(p, float("nan")),
    "dependent": lambda p1, a=4.0, c=8.0, w=3.0: torch.tensor(float("nan")),
    "baseline": lambda f_values, scores, probs: torch.tensor(float("nan")),
}

BAD_SHAPE = {
    "ste": lambda loss, p: torch.zeros(len(p) + 1),
    "dependent": lambda p1, a=4.0, c=8.0, w=3.0: torch.zeros(3),
    "baseline": lambda f_values, scores, probs: torch.zeros(2),
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


def test_derivative_at_mean_passes_the_multilinear_case_only():
    verdict = ch05.check_expected_ste(_derivative_at_mean)
    assert 0 < verdict.score < 1
    assert not any("multilinear" in detail for detail in verdict.details)


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


def test_float_answers_are_accepted():
    def as_float(p1, a=4.0, c=8.0, w=3.0):
        return float(dependent_pair_exact_grad(p1, a, c, w))

    assert ch05.check_dependent_grad(as_float).passed


def test_registered():
    assert CHECKERS["ex-ch05-expected-ste"] == ("expected_ste_grad", ch05.check_expected_ste)
    assert CHECKERS["ex-ch05-dependent-grad"] == (
        "dependent_pair_exact_grad",
        ch05.check_dependent_grad,
    )
    assert CHECKERS["ex-ch05-optimal-baseline"] == (
        "optimal_baseline",
        ch05.check_optimal_baseline,
    )


def test_references_agree_with_closed_forms():
    """The checkers' references against independent closed forms."""
    p = torch.tensor([0.9, 0.45])
    ste = ch05.expected_ste_reference(lambda z: (z[..., 0] + z[..., 1] - 1) ** 2, p)
    assert torch.allclose(ste, torch.full((2,), 2 * (0.9 + 0.45 - 1), dtype=ste.dtype))
    grad = ch05.dependent_grad_reference(0.3, 4.0, 8.0, 3.0)
    s = torch.sigmoid(torch.tensor([-4.0, 4.0], dtype=torch.float64))
    assert torch.allclose(grad, 1 + 3 * (s[0] - s[1]))
