"""Tests of chapter 6's checkers: right answers pass, wrong ones get a readable verdict."""

from __future__ import annotations

import pytest
import torch

from stelib.checks import CHECKERS, ch06

# --- reference solutions (written as a student would, without the checker's helpers) ---


def _pair(logits, u):
    b = (u < torch.sigmoid(logits)).to(logits.dtype)
    b_tilde = (u > torch.sigmoid(-logits)).to(logits.dtype)
    return b, b_tilde


def arm_grad(f, logits, u):
    b, b_tilde = _pair(logits, u)
    return (f(b_tilde) - f(b)) * (u - 0.5)


def disarm_grad(f, logits, u):
    b, b_tilde = _pair(logits, u)
    differ = (b != b_tilde).to(logits.dtype)
    return 0.5 * (f(b_tilde) - f(b)) * (1 - 2 * b) * differ * torch.sigmoid(logits.abs())


def conditional_relaxed(logits, b, v):
    p = torch.sigmoid(logits)
    u = torch.where(b > 0, 1 - p + v * p, v * (1 - p))
    return logits + torch.log(u) - torch.log1p(-u)


def _conditional_scores(logits, D, k, generator):
    u = torch.rand((k, *logits.shape), generator=generator, dtype=logits.dtype)
    e = -torch.log(u.clamp(min=1e-300))
    log_z = torch.logsumexp(logits, -1)
    e_top = (e * D).sum(-1, keepdim=True)
    top = log_z - torch.log(e_top)
    others = -torch.log(e * torch.exp(-logits) + e_top * torch.exp(-log_z))
    return torch.where(D > 0, top, others)


def rao_blackwell_st(logits, D, k, tau, generator):
    with torch.no_grad():
        scores = _conditional_scores(logits, D, k, generator)
    return torch.softmax((scores + logits - logits.detach()) / tau, -1).mean(0)


SOLUTIONS = {
    "arm": (ch06.check_arm, arm_grad),
    "disarm": (ch06.check_disarm, disarm_grad),
    "conditional": (ch06.check_conditional_relaxed, conditional_relaxed),
    "rao": (ch06.check_rao_blackwell_st, rao_blackwell_st),
}

# --- wrong, crashing, NaN, wrongly shaped, unimplemented -----------------------------------


def _arm_swapped(f, logits, u):
    return -arm_grad(f, logits, u)


def _arm_u_not_centred(f, logits, u):
    b, b_tilde = _pair(logits, u)
    return (f(b_tilde) - f(b)) * u


def _arm_same_sample_twice(f, logits, u):
    b, _ = _pair(logits, u)
    b_other = (1 - u < torch.sigmoid(logits)).to(logits.dtype)  # b~ from 1 - u: fine ...
    return (f(b) - f(b_other)) * (u - 0.5) * 2  # ... but twice the ARM estimate


def _disarm_no_half(f, logits, u):
    return 2 * disarm_grad(f, logits, u)


def _disarm_sigmoid_not_abs(f, logits, u):
    b, b_tilde = _pair(logits, u)
    differ = (b != b_tilde).to(logits.dtype)
    return 0.5 * (f(b_tilde) - f(b)) * (1 - 2 * b) * differ * torch.sigmoid(logits)


def _unconditional(logits, b, v):
    return logits + torch.log(v) - torch.log1p(-v)


def _branches_swapped(logits, b, v):
    return conditional_relaxed(logits, 1 - b, v)


def _detached_probability(logits, b, v):
    p = torch.sigmoid(logits).detach()
    u = torch.where(b > 0, 1 - p + v * p, v * (1 - p))
    return logits.detach() + torch.log(u) - torch.log1p(-u)


def _rao_unconditional(logits, D, k, tau, generator):
    u = torch.rand((k, *logits.shape), generator=generator, dtype=logits.dtype)
    g = -torch.log(-torch.log(u.clamp(1e-300, 1 - 1e-16)))
    return torch.softmax((logits + g) / tau, -1).mean(0)


def _rao_ignores_tau(logits, D, k, tau, generator):
    return rao_blackwell_st(logits, D, k, 1.0, generator)


def _rao_through_the_noise(logits, D, k, tau, generator):
    scores = _conditional_scores(logits, D, k, generator)  # differentiable in the logits
    return torch.softmax(scores / tau, -1).mean(0)


def _rao_detached(logits, D, k, tau, generator):
    return rao_blackwell_st(logits.detach(), D, k, tau, generator)


WRONG = {
    "arm": [_arm_swapped, _arm_u_not_centred, _arm_same_sample_twice, disarm_grad],
    "disarm": [_disarm_no_half, _disarm_sigmoid_not_abs, arm_grad],
    "conditional": [_unconditional, _branches_swapped, _detached_probability],
    "rao": [_rao_unconditional, _rao_ignores_tau, _rao_through_the_noise, _rao_detached],
}


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


NAN = {
    "arm": lambda f, logits, u: torch.full_like(logits, float("nan")),
    "disarm": lambda f, logits, u: torch.full_like(logits, float("nan")),
    "conditional": lambda logits, b, v: torch.full_like(logits, float("nan")),
    "rao": lambda logits, D, k, tau, generator: torch.full_like(logits, float("nan")),
}

BAD_SHAPE = {
    "arm": lambda f, logits, u: torch.zeros(len(logits) + 1),
    "disarm": lambda f, logits, u: torch.zeros(len(logits), 2),
    "conditional": lambda logits, b, v: torch.zeros(1),
    "rao": lambda logits, D, k, tau, generator: torch.zeros(k, len(logits)),
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


def test_gradient_through_the_noise_fails_only_the_gradient_case():
    verdict = ch06.check_rao_blackwell_st(_rao_through_the_noise)
    assert verdict.score == 0.75
    assert any("hold the noise fixed" in detail for detail in verdict.details)


def test_detached_conditional_sample_fails_only_the_gradient_cases():
    verdict = ch06.check_conditional_relaxed(_detached_probability)
    assert 0 < verdict.score < 1
    assert all("gradient" in detail for detail in verdict.details)


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


def test_float32_solutions_pass():
    """A student working in float32 passes too (the checkers compare with tolerances)."""

    def arm32(f, logits, u):
        return arm_grad(f, logits.float(), u.float()).double()

    assert ch06.check_arm(arm32).passed


def test_registered():
    assert CHECKERS["ex-ch06-arm"] == ("arm_grad", ch06.check_arm)
    assert CHECKERS["ex-ch06-disarm"] == ("disarm_grad", ch06.check_disarm)
    assert CHECKERS["ex-ch06-rebar-conditional"] == (
        "conditional_relaxed",
        ch06.check_conditional_relaxed,
    )
    assert CHECKERS["ex-ch06-rao-blackwell"] == ("rao_blackwell_st", ch06.check_rao_blackwell_st)


def test_references_agree_with_closed_forms():
    """The checkers' references against independent closed forms."""
    # one unit: E_u[ARM] = sigma'(l) (f(1) - f(0)) by the midpoint rule on an exact grid
    logits = torch.tensor([ch06._logit(0.3).item()], dtype=torch.float64)

    def f(b):
        return ((b - 0.45) ** 2).sum(-1)

    grid = (torch.arange(20, dtype=torch.float64) + 0.5) / 20
    for kind in ("arm", "disarm"):
        mean = torch.stack(
            [ch06.antithetic_reference(f, logits, u.reshape(1), kind) for u in grid]
        ).mean(0)
        expected = torch.tensor([0.3 * 0.7 * (0.55**2 - 0.45**2)], dtype=torch.float64)
        torch.testing.assert_close(mean, expected)
    # the conditional quantiles threshold back to b and follow the law of z given b:
    # P(z <= x | b = 1) = (sigmoid(x - l) - (1 - p)) / p for x > 0
    v = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000
    lg = torch.full_like(v, 0.7)
    ones = ch06.conditional_quantile(lg, torch.ones_like(v), v)
    zeros = ch06.conditional_quantile(lg, torch.zeros_like(v), v)
    assert (ones > 0).all() and (zeros < 0).all()
    p = torch.sigmoid(torch.tensor(0.7, dtype=torch.float64))
    cdf = (torch.sigmoid(torch.tensor(1.0 - 0.7, dtype=torch.float64)) - (1 - p)) / p
    assert abs((ones <= 1.0).double().mean() - cdf) < 1e-3
    # the Rao-Blackwell reference is conditioned on D: at a tiny temperature it is ~D
    logits = torch.tensor([2.0, 0.0, -1.0, 0.5], dtype=torch.float64)
    one_hot = torch.eye(4, dtype=torch.float64)[2]
    low = ch06.rao_blackwell_reference(logits, one_hot, 256, 0.01, torch.Generator().manual_seed(0))
    assert low[2] > 0.95
