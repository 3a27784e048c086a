"""gradient_stats and estimates: consistent fields, and a biased estimator gets flagged."""

from __future__ import annotations

import math

import pytest
import torch

from stelib import diagnostics, exact, problems
from stelib import estimators as E

QUAD = problems.quadratic([0.1, 0.45, 0.9], p=[0.3, 0.5, 0.8])


def _biased_reinforce(shift: float):
    """REINFORCE plus a constant shift of every gradient coordinate (a known bias)."""

    def estimator(f, logits, **options):
        return E.reinforce(f, logits, **options) + shift * logits.sum()

    return estimator


def test_estimates_shape_and_reproducibility(make_generator):
    a = diagnostics.estimates(
        E.reinforce, QUAD.f, QUAD.logits, n_trials=20, generator=make_generator(0)
    )
    b = diagnostics.estimates(
        E.reinforce, QUAD.f, QUAD.logits, n_trials=20, generator=make_generator(0)
    )
    c = diagnostics.estimates(
        E.reinforce, QUAD.f, QUAD.logits, n_trials=20, generator=make_generator(1)
    )
    assert a.shape == (20, 3)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # Each row is one independent call's logits.grad.
    leaf = QUAD.logits.clone().requires_grad_(True)
    generator = make_generator(0)
    E.reinforce(QUAD.f, leaf, generator=generator).backward()
    torch.testing.assert_close(a[0], leaf.grad)


def test_estimates_does_not_touch_the_callers_logits(make_generator):
    logits = QUAD.logits.clone().requires_grad_(True)
    diagnostics.estimates(E.reinforce, QUAD.f, logits, n_trials=5, generator=make_generator(0))
    assert logits.grad is None


def test_gradient_stats_fields_are_consistent(make_generator):
    n = 400
    stats = diagnostics.gradient_stats(
        E.reinforce, QUAD.f, QUAD.logits, n_trials=n, generator=make_generator(3), n_samples=2
    )
    samples = stats.samples.double()
    assert stats.n_trials == n and samples.shape == (n, 3)
    torch.testing.assert_close(stats.exact, exact.exact_gradient(QUAD.f, QUAD.logits))
    torch.testing.assert_close(stats.mean.double(), samples.mean(0))
    torch.testing.assert_close(stats.bias, stats.mean - stats.exact)
    # Unbiased sample variance, by hand.
    variance = ((samples - samples.mean(0)) ** 2).sum(0) / (n - 1)
    torch.testing.assert_close(stats.variance.double(), variance, rtol=1e-5, atol=1e-9)
    assert stats.total_variance == pytest.approx(float(variance.sum()), rel=1e-5)
    torch.testing.assert_close(
        stats.std_error.double(), (variance / n).sqrt(), rtol=1e-5, atol=1e-9
    )
    mse = ((samples - stats.exact.double()) ** 2).sum(-1).mean()
    assert stats.mse == pytest.approx(float(mse), rel=1e-5)
    m, g = stats.mean.double(), stats.exact.double()
    cosine = float((m * g).sum() / (m.norm() * g.norm()))
    assert stats.cosine == pytest.approx(cosine, rel=1e-5)
    assert -1.0 <= stats.cosine <= 1.0
    agree = sum(
        (math.copysign(1, float(x)) == math.copysign(1, float(e))) if x != 0 else e == 0
        for row in stats.samples
        for x, e in zip(row, stats.exact, strict=True)
    ) / (n * 3)
    assert stats.sign_agreement == pytest.approx(agree)
    assert 0.0 <= stats.sign_agreement <= 1.0
    # mse = |bias|^2 + (n - 1)/n * total variance (bias-variance decomposition).
    decomposition = float((stats.bias.double() ** 2).sum()) + (n - 1) / n * stats.total_variance
    assert stats.mse == pytest.approx(decomposition, rel=1e-4)


def test_cosine_of_an_opposite_estimator_is_minus_one(make_generator):
    def backwards(f, logits, **options):  # minus the exact gradient, deterministically
        return -exact.expectation(f, logits)

    stats = diagnostics.gradient_stats(
        backwards, QUAD.f, QUAD.logits, n_trials=3, generator=make_generator(0)
    )
    assert stats.cosine == pytest.approx(-1.0, abs=1e-6)
    assert stats.sign_agreement == 0.0
    torch.testing.assert_close(stats.bias, -2 * stats.exact)


def test_max_bias_flags_a_deliberately_biased_estimator(make_generator):
    honest = diagnostics.gradient_stats(
        E.reinforce,
        QUAD.f,
        QUAD.logits,
        n_trials=600,
        generator=make_generator(4),
        n_samples=4,
        baseline="rloo",
    )
    biased = diagnostics.gradient_stats(
        _biased_reinforce(0.05),
        QUAD.f,
        QUAD.logits,
        n_trials=600,
        generator=make_generator(4),
        n_samples=4,
        baseline="rloo",
    )
    assert honest.max_bias_in_std_errors() < 4
    assert biased.max_bias_in_std_errors() > 4
    # Same draws, so the bias moved by exactly the shift and the variance did not change.
    torch.testing.assert_close(biased.bias - honest.bias, torch.full((3,), 0.05))
    torch.testing.assert_close(biased.variance, honest.variance, rtol=1e-4, atol=1e-8)
    ratio = (biased.bias.abs() / biased.std_error).max()
    assert biased.max_bias_in_std_errors() == pytest.approx(float(ratio))


def test_max_bias_of_a_deterministic_biased_estimator_is_infinite():
    def shifted(f, logits, **options):  # zero variance, bias 0.5 in every coordinate
        return exact.expectation(f, logits) + 0.5 * logits.sum()

    stats = diagnostics.gradient_stats(shifted, QUAD.f, QUAD.logits, n_trials=3)
    assert torch.equal(stats.variance, torch.zeros(3))
    torch.testing.assert_close(stats.bias, torch.full((3,), 0.5))
    assert stats.max_bias_in_std_errors() == math.inf


def test_max_bias_of_an_exact_zero_variance_estimator_is_not_flagged(make_generator):
    a = torch.tensor([1.5, -2.0, 0.25])
    logits = torch.tensor([0.3, -1.0, 2.0])

    def f(z):  # linear: the straight-through estimate is a * sigmoid'(l), always
        return (z * a).sum(-1) + 0.5

    stats = diagnostics.gradient_stats(
        E.straight_through, f, logits, n_trials=10, generator=make_generator(0)
    )
    torch.testing.assert_close(stats.samples, stats.exact.expand(10, 3))
    assert stats.max_bias_in_std_errors() < 4


def test_gradient_stats_categorical_uses_dist_option(make_generator):
    logits = torch.tensor([[0.3, -0.5, 0.1], [1.0, 0.0, -1.0]])

    def f(z):
        return (z * torch.arange(3.0)).sum((-2, -1)) ** 2

    stats = diagnostics.gradient_stats(
        E.reinforce,
        f,
        logits,
        n_trials=300,
        generator=make_generator(5),
        dist="categorical",
        n_samples=3,
        baseline="rloo",
    )
    torch.testing.assert_close(stats.exact, exact.exact_gradient(f, logits, dist="categorical"))
    assert stats.samples.shape == (300, 2, 3)
    assert stats.max_bias_in_std_errors() < 4
    assert stats.cosine > 0.9


def test_bad_arguments():
    with pytest.raises(TypeError, match="estimator"):
        diagnostics.estimates("reinforce", QUAD.f, QUAD.logits, n_trials=3)
    with pytest.raises(ValueError, match="n_trials"):
        diagnostics.gradient_stats(E.reinforce, QUAD.f, QUAD.logits, n_trials=1)
    with pytest.raises(TypeError, match="n_trials"):
        diagnostics.estimates(E.reinforce, QUAD.f, QUAD.logits, n_trials=2.0)
    with pytest.raises(TypeError, match="generator"):
        diagnostics.gradient_stats(E.reinforce, QUAD.f, QUAD.logits, n_trials=3, generator=0)
