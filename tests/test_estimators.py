"""Stochastic gradient estimators: unbiasedness where theory says so, bias where it fixes its sign.

Every statistical assertion compares a Monte Carlo mean with a value derived by hand
(closed form or enumeration) or with ``exact_gradient`` (itself checked against hand
enumeration in test_exact.py), within a stated number of standard errors, at a fixed
seed. A coordinate whose estimates are all identical has a standard error of zero, so
the comparisons allow an absolute slack of 1e-6 (far below every standard error here).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from stelib import diagnostics, exact, problems
from stelib import estimators as E

K_SE = 4.0  # tolerance of every statistical assertion, in standard errors
SLACK = 1e-6
N_TRIALS = 1000


def mean_and_se(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    samples = samples.double()
    return samples.mean(0), samples.std(0) / math.sqrt(samples.shape[0])


def assert_within_se(samples: torch.Tensor, target, k: float = K_SE) -> None:
    mean, se = mean_and_se(samples)
    target = torch.as_tensor(target, dtype=torch.float64)
    gap = (mean - target).abs()
    assert torch.all(gap < k * se + SLACK), (
        f"mean {mean.tolist()} vs target {target.tolist()}: |gap| / se = {(gap / se).tolist()}"
    )


def sigmoid_prime(logits: torch.Tensor) -> torch.Tensor:
    p = 1 / (1 + torch.exp(-logits))
    return p * (1 - p)


# --- objectives -----------------------------------------------------------------------

A3 = torch.tensor([0.8, -1.1, 0.5])
V23 = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.2, -0.7]])
V4 = torch.tensor([1.0, 100.0, -2.0, 0.5])


def _nonlinear(z):
    return torch.sin(3 * (z * A3).sum(-1)) + 2 * z[..., 0] * z[..., 2] + torch.exp(z[..., 1])


def _categorical(z):
    return ((z * V23).sum((-2, -1)) - 1.5) ** 2


def _masked_categorical(z):
    return (z * V4).sum(-1) ** 2


def _black_box(z):
    # A symbolic rule with no gradient at all: "at least two units are on".
    return (z.detach().sum(-1) >= 2).to(z.dtype)


QUAD = problems.quadratic([0.1, 0.45, 0.9], p=[0.3, 0.5, 0.8])
OBJECTIVES = {
    "quadratic": (QUAD.f, QUAD.logits, "bernoulli"),
    "nonlinear": (_nonlinear, torch.tensor([0.4, -0.7, 1.2]), "bernoulli"),
    "black_box": (_black_box, torch.tensor([0.4, -0.7, 1.2]), "bernoulli"),
    "categorical": (
        _categorical,
        torch.tensor([[0.3, -0.5, 0.1], [1.0, 0.0, -1.0]]),
        "categorical",
    ),
    "masked": (_masked_categorical, torch.tensor([0.2, -math.inf, 0.9, -0.5]), "categorical"),
}

BASELINES = {
    "none-1": (None, 1),
    "none-4": (None, 4),
    "rloo-2": ("rloo", 2),
    "rloo-5": ("rloo", 5),
    "const": (0.7, 1),
    "tensor": (torch.tensor(0.3), 2),
}
# Every baseline on the quadratic toy, most on the categorical objective, and the plain
# and leave-one-out ones on all the others.
GRID = (
    [("quadratic", b) for b in BASELINES]
    + [("categorical", b) for b in ("none-1", "rloo-2", "const", "tensor")]
    + [(o, b) for o in ("nonlinear", "black_box", "masked") for b in ("none-1", "rloo-5")]
)


# --- REINFORCE is unbiased ------------------------------------------------------------


@pytest.mark.parametrize(("objective", "baseline"), GRID)
def test_reinforce_mean_gradient_is_exact(objective, baseline, make_generator):
    f, logits, dist = OBJECTIVES[objective]
    b, n_samples = BASELINES[baseline]
    target = exact.exact_gradient(f, logits, dist=dist)
    assert target.abs().max() > 1e-3  # a non-trivial gradient to estimate
    samples = diagnostics.estimates(
        E.reinforce,
        f,
        logits,
        n_trials=N_TRIALS,
        generator=make_generator(GRID.index((objective, baseline))),
        dist=dist,
        n_samples=n_samples,
        baseline=b,
    )
    assert samples.shape == (N_TRIALS, *logits.shape)
    assert_within_se(samples, target)


@pytest.mark.parametrize(
    ("estimator", "options"),
    [
        (E.reinforce, {}),
        (E.reinforce, {"n_samples": 3, "baseline": "rloo"}),
        (E.straight_through, {}),
        (E.st_gumbel_softmax, {"tau": 0.5}),
    ],
)
@pytest.mark.parametrize("objective", ["nonlinear", "categorical"])
def test_surrogate_value_is_unbiased_for_expectation(estimator, options, objective, make_generator):
    f, logits, dist = OBJECTIVES[objective]
    generator = make_generator(11)
    with torch.no_grad():
        values = torch.stack(
            [
                estimator(f, logits, dist=dist, generator=generator, **options)
                for _ in range(N_TRIALS)
            ]
        )
    assert values.shape == (N_TRIALS,)
    assert values.std() > 0
    assert_within_se(values[:, None], exact.expectation(f, logits, dist=dist).reshape(1))


def test_reinforce_gradient_reaches_parameters_of_f(make_generator):
    logits = torch.tensor([0.3, -0.8, 1.1])
    w = torch.tensor([0.5, 1.5, -0.4], requires_grad=True)

    def f(z):
        return ((z * w).sum(-1) - 1) ** 2

    (exact_w,) = torch.autograd.grad(exact.expectation(f, logits), w)
    exact_l = exact.exact_gradient(f, logits)
    generator = make_generator(12)
    grads_w, grads_l = [], []
    for _ in range(N_TRIALS):
        leaf = logits.clone().requires_grad_(True)
        surrogate = E.reinforce(f, leaf, n_samples=2, baseline="rloo", generator=generator)
        g_l, g_w = torch.autograd.grad(surrogate, (leaf, w))
        grads_l.append(g_l)
        grads_w.append(g_w)
    assert exact_w.abs().min() > 1e-2
    assert_within_se(torch.stack(grads_w), exact_w)
    assert_within_se(torch.stack(grads_l), exact_l)


def test_backward_fills_logits_grad_and_parameter_grad(make_generator):
    logits = torch.tensor([0.3, -0.8], requires_grad=True)
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    E.reinforce(
        lambda z: (z * w).sum(-1) ** 2, logits, n_samples=3, generator=make_generator(0)
    ).backward()
    assert logits.grad is not None and w.grad is not None
    assert logits.grad.shape == (2,) and torch.isfinite(logits.grad).all()


# --- batched logits ---------------------------------------------------------------------

W_BATCH = torch.tensor([[1.0, -0.5], [0.3, 2.0], [-1.2, 0.7]])
C_BATCH = torch.tensor([0.5, 1.0, -0.3])
L_BATCH = torch.tensor([[0.2, -1.0], [1.5, 0.3], [-0.7, 0.0]])


def _per_example(z):  # (n, B, d) -> (n, B): example b reads only its own variables
    return ((z * W_BATCH).sum(-1) - C_BATCH) ** 2


@pytest.mark.parametrize(("baseline", "n_samples"), [(None, 1), ("rloo", 4)])
def test_batched_reinforce_matches_per_example_exact_gradients(baseline, n_samples, make_generator):
    target = exact.exact_gradient(_per_example, L_BATCH)
    # The per-example exact gradients, one example at a time.
    for b in range(3):
        row = exact.exact_gradient(
            lambda z, b=b: ((z * W_BATCH[b]).sum(-1) - C_BATCH[b]) ** 2, L_BATCH[b]
        )
        torch.testing.assert_close(target[b], row)
    samples = diagnostics.estimates(
        E.reinforce,
        _per_example,
        L_BATCH,
        n_trials=N_TRIALS,
        generator=make_generator(21),
        n_samples=n_samples,
        baseline=baseline,
    )
    assert_within_se(samples, target)


@pytest.mark.parametrize("baseline", [None, "rloo"])
def test_batched_reinforce_weights_each_score_by_its_own_loss(baseline, make_generator):
    """One call, redone by hand with the same draws: example b's score is weighted by
    example b's loss, and the leave-one-out baseline averages that example's other draws."""
    n = 4
    logits = L_BATCH.clone().requires_grad_(True)
    E.reinforce(
        _per_example, logits, n_samples=n, baseline=baseline, generator=make_generator(5)
    ).backward()
    z = E.sample(L_BATCH, n_samples=n, generator=make_generator(5))  # the same draws
    losses = _per_example(z)  # (n, B)
    if baseline is None:
        b = torch.zeros_like(losses)
    else:
        b = torch.stack([(losses.sum(0) - losses[i]) / (n - 1) for i in range(n)])
    score = z - torch.sigmoid(L_BATCH)  # d log p / d logits, (n, B, d)
    expected = ((losses - b)[..., None] * score).mean(0)
    torch.testing.assert_close(logits.grad, expected)
    # A baseline shared across the batch (the sum of the examples' losses) would differ.
    shared = losses.sum(1, keepdim=True)
    shared_b = torch.stack([(shared.sum(0) - shared[i]) / (n - 1) for i in range(n)])
    cross_talk = ((shared - (shared_b if baseline else 0))[..., None] * score).mean(0)
    assert not torch.allclose(cross_talk, expected)


def test_batched_value_is_sum_of_per_example_means(make_generator):
    value = E.reinforce(_per_example, L_BATCH, n_samples=5, generator=make_generator(6))
    z = E.sample(L_BATCH, n_samples=5, generator=make_generator(6))
    torch.testing.assert_close(value, _per_example(z).mean(0).sum())


# --- straight-through: unbiased for linear f, exact forward --------------------------


def test_straight_through_is_exact_for_linear_bernoulli(make_generator):
    a = torch.tensor([1.5, -2.0, 0.25])
    logits = torch.tensor([0.3, -1.0, 2.0])

    def f(z):
        return (z * a).sum(-1) + 0.5

    samples = diagnostics.estimates(
        E.straight_through, f, logits, n_trials=200, generator=make_generator(0)
    )
    # Linear f: every single estimate is a * sigmoid'(l), the exact gradient.
    expected = a * sigmoid_prime(logits)
    torch.testing.assert_close(exact.exact_gradient(f, logits), expected)
    torch.testing.assert_close(samples, expected.expand(200, 3))


def test_straight_through_is_exact_for_linear_categorical(make_generator):
    logits = torch.tensor([[0.3, -0.5, 0.1], [1.0, 0.0, -1.0]])

    def f(z):
        return (z * V23).sum((-2, -1))

    samples = diagnostics.estimates(
        E.straight_through, f, logits, n_trials=200, generator=make_generator(1), dist="categorical"
    )
    target = exact.exact_gradient(f, logits, dist="categorical")
    # By hand: d/dl_j sum_k V_k softmax_k = p_j (V_j - sum_k p_k V_k).
    p = torch.softmax(logits, -1)
    torch.testing.assert_close(target, p * (V23 - (p * V23).sum(-1, keepdim=True)))
    torch.testing.assert_close(samples, target.expand(200, 2, 3))


def _captured(estimator, logits, dist, **options):
    seen = []

    def f(z):
        seen.append(z.detach().clone())
        return (z * 1e8).reshape(z.shape[0], -1).sum(-1)

    surrogate = estimator(f, logits, dist=dist, **options)
    return seen[0], surrogate


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.sampled_from([1e4, -1e4, 0.0, 30.0, -30.0]), st.floats(-50, 50)),
        min_size=2,
        max_size=6,
    ),
    tau=st.sampled_from([1e-6, 0.1, 1.0, 10.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_hard_estimators_forward_is_bitwise_zero_one(values, tau, seed):
    logits = torch.tensor(values, requires_grad=True)
    for estimator, options in [(E.straight_through, {}), (E.st_gumbel_softmax, {"tau": tau})]:
        for dist in ("bernoulli", "categorical"):
            z, surrogate = _captured(
                estimator,
                logits,
                dist,
                n_samples=3,
                generator=torch.Generator().manual_seed(seed),
                **options,
            )
            assert ((z == 0) | (z == 1)).all()
            if dist == "categorical":
                assert torch.equal(z.sum(-1), torch.ones(3))
            # The value is exactly the mean of f over the hard samples, even with |f| ~ 1e8.
            assert float(surrogate.detach()) == pytest.approx(float((z * 1e8).sum() / 3), rel=1e-6)
            (grad,) = torch.autograd.grad(surrogate, logits)
            assert torch.isfinite(grad).all()


# --- CURRICULUM d1: the STE depends on how L is extended off {0,1}^2 ---------------------

P1, P2 = 0.9, 0.45


def _dL_dz(z1: int, z2: int, multilinear: bool) -> tuple[float, float]:
    if multilinear:  # L = 1 - z1 - z2 + 2 z1 z2
        return (-1 + 2 * z2, -1 + 2 * z1)
    return (2 * (z1 + z2 - 1), 2 * (z1 + z2 - 1))  # L = (z1 + z2 - 1)^2


def _expected_ste_by_enumeration(multilinear: bool) -> torch.Tensor:
    """E[dL/dz_i(z) * sigmoid'(l_i)], summing the four outcomes by hand."""
    slope = torch.tensor([P1 * (1 - P1), P2 * (1 - P2)], dtype=torch.float64)
    total = torch.zeros(2, dtype=torch.float64)
    for z1, z2 in itertools.product([0, 1], repeat=2):
        prob = (P1 if z1 else 1 - P1) * (P2 if z2 else 1 - P2)
        total += prob * torch.tensor(_dL_dz(z1, z2, multilinear), dtype=torch.float64) * slope
    return total


def test_d1_both_forms_have_the_same_exact_gradient():
    squared, multi = problems.extension_pair(False), problems.extension_pair(True)
    z = exact.outcomes(torch.zeros(2))
    assert torch.equal(squared.f(z), multi.f(z))  # they agree on every binary point
    torch.testing.assert_close(squared.expectation(), multi.expectation())
    torch.testing.assert_close(squared.exact_gradient(), multi.exact_gradient())
    # Closed form: dE/dl1 = (2 p2 - 1) sigmoid'(l1), dE/dl2 = (2 p1 - 1) sigmoid'(l2).
    closed = torch.tensor([(2 * P2 - 1) * P1 * (1 - P1), (2 * P1 - 1) * P2 * (1 - P2)])
    torch.testing.assert_close(squared.exact_gradient(), closed)


def test_d1_squared_form_ste_is_biased_with_the_sign_theory_gives(make_generator):
    """For L = (z1 + z2 - 1)^2, dL/dz1 = 2(z1 + z2 - 1) while the multilinear form (which
    has the exact expected derivative) gives 2 z2 - 1; the difference is 2 z1 - 1, so

        E[STE_1] - exact_1 = (2 p1 - 1) sigmoid'(l1) > 0 for p1 = 0.9.

    Here exact_1 = (2 p2 - 1) sigmoid'(l1) = -0.1 sigmoid'(l1) < 0 and
    E[STE_1] = 2 (p1 + p2 - 1) sigmoid'(l1) = +0.7 sigmoid'(l1) > 0: the STE points the
    wrong way."""
    obj = problems.extension_pair(multilinear=False)
    exact_grad = obj.exact_gradient().double()
    hand = _expected_ste_by_enumeration(multilinear=False)
    slope1 = P1 * (1 - P1)
    assert hand[0] == pytest.approx(2 * (P1 + P2 - 1) * slope1)
    assert float(hand[0] - exact_grad[0]) == pytest.approx((2 * P1 - 1) * slope1, rel=1e-5)
    assert exact_grad[0] < 0 < hand[0]
    samples = diagnostics.estimates(
        E.straight_through,
        obj.f,
        obj.logits,
        n_trials=N_TRIALS,
        n_samples=4,
        generator=make_generator(31),
    )
    assert_within_se(samples, hand)
    mean, se = mean_and_se(samples)
    assert mean[0] - K_SE * se[0] > 0  # positive beyond 4 SE ...
    assert mean[0] - exact_grad[0] > K_SE * se[0]  # ... and above the exact (negative) value


def test_d1_multilinear_form_ste_is_unbiased(make_generator):
    obj = problems.extension_pair(multilinear=True)
    exact_grad = obj.exact_gradient().double()
    hand = _expected_ste_by_enumeration(multilinear=True)
    # Single layer, multilinear L, independent units: E[dL/dz_i] = dE[L]/dp_i exactly.
    torch.testing.assert_close(hand, exact_grad, rtol=1e-5, atol=1e-7)
    samples = diagnostics.estimates(
        E.straight_through,
        obj.f,
        obj.logits,
        n_trials=N_TRIALS,
        n_samples=4,
        generator=make_generator(32),
    )
    assert_within_se(samples, exact_grad)


# --- CURRICULUM d3: the STE's wrong fixed point ---------------------------------------

T = 0.45


@pytest.mark.parametrize("p", [0.05, 0.2, 0.45, 0.7, 0.95])
def test_d3_ste_mean_is_2_p_minus_t_times_slope(p, make_generator):
    obj = problems.quadratic(T, p=p)
    slope = p * (1 - p)
    # The exact gradient, (1 - 2t) sigmoid'(l) = 0.1 sigmoid'(l), is positive for every p:
    # the optimum is theta = 0.
    exact_grad = obj.exact_gradient()
    assert float(exact_grad) == pytest.approx((1 - 2 * T) * slope, rel=1e-4)
    assert exact_grad > 0
    # The STE's expected gradient: E[2 (b - t)] sigmoid'(l) = 2 (p - t) sigmoid'(l).
    ste = 2 * (p - T) * slope
    samples = diagnostics.estimates(
        E.straight_through,
        obj.f,
        obj.logits,
        n_trials=1000,
        n_samples=8,
        generator=make_generator(40),
    )
    assert_within_se(samples, torch.tensor([ste]))
    mean, se = mean_and_se(samples)
    if p < T:
        assert mean + K_SE * se < 0  # the STE pushes theta up, towards 0.45
    if p == T:
        assert exact_grad - mean > K_SE * se  # STE at rest where the true gradient is not zero


def test_d3_reinforce_points_the_right_way_where_ste_does_not(make_generator):
    obj = problems.quadratic(T, p=0.2)
    samples = diagnostics.estimates(
        E.reinforce,
        obj.f,
        obj.logits,
        n_trials=1000,
        n_samples=8,
        baseline="rloo",
        generator=make_generator(41),
    )
    mean, se = mean_and_se(samples)
    assert mean - K_SE * se > 0
    assert_within_se(samples, obj.exact_gradient())


# --- relaxed Gumbel-softmax: biased, with a closed form at l = 0 ----------------------


def _relaxed_gradient_by_quadrature(logit: float, tau: float, t: float) -> float:
    """d/dl E[(y - t)^2] with y = sigmoid((l + X)/tau), X ~ Logistic: the integral of
    2 (y - t) y (1 - y) / tau against the logistic density sigmoid'(x)."""

    def s(x):
        return 1 / (1 + math.exp(-x)) if x > -700 else 0.0

    def integrand(x):
        y = s((logit + x) / tau)
        return s(x) * (1 - s(x)) * 2 * (y - t) * y * (1 - y) / tau

    value, _ = integrate.quad(integrand, -60, 60, points=[-logit], limit=400)
    return value


def test_relaxed_gradient_closed_form_at_zero_logit():
    """At l = 0 and tau = 1, y = sigmoid(X) is Uniform(0, 1), so the relaxed gradient is
    E[2 (y - t) y (1 - y)] = 2 (1/12) - 2t (1/6) = (1 - 2t)/6, two thirds of the exact
    (1 - 2t)/4: the relaxation shrinks the gradient (bias -(1 - 2t)/12)."""
    assert _relaxed_gradient_by_quadrature(0.0, 1.0, T) == pytest.approx((1 - 2 * T) / 6, rel=1e-6)


def test_relaxed_gumbel_softmax_bias_at_high_and_low_temperature(make_generator):
    """Theory (at l = 0, by the symmetry y <-> 1 - y): relaxed gradient = (1 - 2t) q_tau(0),
    with q_tau the density of X + tau Y (X, Y logistic) at 0; q_1(0) = 1/6 and
    q_tau(0) -> 1/4 as tau -> 0. So the bias -(1 - 2t)(1/4 - q_tau(0)) is negative and
    significant at tau = 1, and shrinks towards 0 as tau falls, while the variance grows."""
    obj = problems.quadratic(T, p=0.5)
    exact_grad = float(obj.exact_gradient())
    assert exact_grad == pytest.approx((1 - 2 * T) / 4)
    results = {}
    for tau in (1.0, 0.1):
        samples = diagnostics.estimates(
            E.gumbel_softmax,
            obj.f,
            obj.logits,
            n_trials=1000,
            n_samples=8,
            tau=tau,
            generator=make_generator(50),
        )
        theory = (1 - 2 * T) / 6 if tau == 1.0 else _relaxed_gradient_by_quadrature(0.0, tau, T)
        assert_within_se(samples, torch.tensor([theory]))
        mean, se = mean_and_se(samples)
        results[tau] = (float(mean), float(se), float(samples.var()), theory)
    mean, se, _, _ = results[1.0]
    assert exact_grad - mean > K_SE * se  # significant, and negative, bias at tau = 1
    # Smaller bias (in theory) at low temperature, larger variance.
    assert abs(results[0.1][3] - exact_grad) < abs(results[1.0][3] - exact_grad) / 10
    assert results[0.1][2] > results[1.0][2]


def test_relaxed_gumbel_softmax_matches_quadrature_off_centre(make_generator):
    obj = problems.quadratic(T, p=0.3)
    logit = math.log(0.3 / 0.7)
    theory = _relaxed_gradient_by_quadrature(logit, 0.5, T)
    samples = diagnostics.estimates(
        E.gumbel_softmax,
        obj.f,
        obj.logits,
        n_trials=1000,
        n_samples=8,
        tau=0.5,
        generator=make_generator(51),
    )
    assert_within_se(samples, torch.tensor([theory]))
    # Its value estimates the relaxed loss, not E[f]: at tau = 1, l = 0, E[(y - t)^2] for
    # y ~ U(0, 1) is 1/3 - t + t^2, not the discrete 1/2 - t + t^2.
    generator = make_generator(52)
    with torch.no_grad():
        values = torch.stack(
            [
                E.gumbel_softmax(obj.f, torch.zeros(1), generator=generator, n_samples=8)
                for _ in range(1000)
            ]
        )
    assert_within_se(values[:, None], torch.tensor([1 / 3 - T + T**2]))


# --- registry ------------------------------------------------------------------------------


def test_registry_lists_the_required_estimators(make_generator):
    for name in ("reinforce", "straight_through", "gumbel_softmax", "st_gumbel_softmax"):
        assert name in E.ESTIMATORS
        estimator = E.ESTIMATORS[name]
        for dist, logits in (("bernoulli", torch.zeros(3)), ("categorical", torch.zeros(2, 3))):
            leaf = logits.clone().requires_grad_(True)
            surrogate = estimator(
                lambda z: (z * torch.arange(3.0) * np.pi).reshape(z.shape[0], -1).sum(-1) ** 2,
                leaf,
                dist=dist,
                n_samples=2,
                generator=make_generator(0),
            )
            assert surrogate.dim() == 0
            surrogate.backward()
            assert leaf.grad is not None and leaf.grad.shape == logits.shape
            assert leaf.grad.abs().sum() > 0, name
