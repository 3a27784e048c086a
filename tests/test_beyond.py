"""Chapter 6 estimators: ARM, DisARM, RELAX, Gumbel-Rao and ReinMax.

Every claim is checked against the exact gradient by enumeration: by Monte Carlo
within 4 standard errors at fixed seeds where the estimator is unbiased, and by exact
expectations (quadrature over the augmenting uniform, enumeration of antithetic pairs
or of one-hot samples) where the estimator's expectation can be computed.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from stelib import estimators as E
from stelib import exact
from stelib.diagnostics import gradient_stats
from stelib.problems import quadratic

BINARY_UNBIASED = ("arm", "disarm", "relax")
NEW = ("arm", "disarm", "relax", "gumbel_rao", "reinmax")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- objectives ------------------------------------------------------------------------


def nonlinear(z: torch.Tensor) -> torch.Tensor:
    """A non-multilinear loss of three binary variables (in relaxed inputs too)."""
    w = z.new_tensor([1.0, -2.0, 0.5])
    return torch.sigmoid(3 * (z @ w) - 0.5) + 0.3 * z[..., 0] * z[..., 1] + torch.sin(z[..., 2])


NONLINEAR_LOGITS = torch.tensor([0.3, -0.7, 1.1])
QUAD3 = quadratic([0.45, 0.2, 0.7], [0.3, 0.6, 0.5])

VALUES = torch.arange(4.0)


def categorical_loss(z: torch.Tensor) -> torch.Tensor:
    """A non-quadratic loss of two 4-way categorical variables (their "digits" summed)."""
    s = (z * VALUES.to(z.dtype)).sum(-1).sum(-1)
    return (s - 2.5) ** 2 + 0.5 * torch.cos(s)


CATEGORICAL_LOGITS = torch.tensor([[0.2, -0.3, 0.5, 0.0], [1.0, 0.1, -0.5, 0.3]])


def fixed_control_variate(z: torch.Tensor, f) -> torch.Tensor:
    """An arbitrary (bad) control variate: RELAX must stay unbiased with it."""
    return 2.0 * torch.sin(z).sum(-1) + torch.sigmoid(z).prod(-1) - 0.7


def assert_unbiased(s, k: float = 4.0) -> None:
    assert s.max_bias_in_std_errors() < k, (s.mean, s.exact, s.std_error)


def copies(name, f, logits, n_copies, seed, **options) -> torch.Tensor:
    """``n_copies`` independent single-sample gradients from ONE call: the logits are
    stacked into a batch of copies and ``f`` returns one loss per copy, so by the batching
    rule each copy's gradient is a separate estimate. Shape ``(n_copies, *logits.shape)``."""
    leaf = logits.expand(n_copies, *logits.shape).clone().requires_grad_(True)

    def batched(z):
        return f(z.reshape(-1, *logits.shape)).reshape(z.shape[0], n_copies)

    E.ESTIMATORS[name](batched, leaf, generator=gen(seed), **options).backward()
    return leaf.grad


# --- registry ---------------------------------------------------------------------------


def test_registry_and_dists():
    for name in NEW:
        assert E.ESTIMATORS[name] is getattr(E, name)
        assert (
            E.ESTIMATORS[name].__doc__ and "Introduced in chapter 6." in E.ESTIMATORS[name].__doc__
        )
    for name in BINARY_UNBIASED:
        assert E.supports(E.ESTIMATORS[name], "bernoulli")
        assert not E.supports(E.ESTIMATORS[name], "categorical")
    assert E.supports(E.gumbel_rao, "categorical") and not E.supports(E.gumbel_rao, "bernoulli")
    assert E.supports(E.reinmax, "categorical") and E.supports(E.reinmax, "bernoulli")


# --- unbiasedness by Monte Carlo --------------------------------------------------------

BINARY_CASES = {
    "quadratic": (QUAD3.f, QUAD3.logits),
    "nonlinear": (nonlinear, NONLINEAR_LOGITS),
}
RELAX_OPTIONS = {
    "rebar": {},
    "fixed": {"control_variate": fixed_control_variate},
}


@pytest.mark.parametrize("objective", BINARY_CASES)
@pytest.mark.parametrize(
    "name, options",
    [
        ("arm", {}),
        ("disarm", {}),
        ("relax", RELAX_OPTIONS["rebar"]),
        ("relax", RELAX_OPTIONS["fixed"]),
    ],
)
def test_binary_estimators_are_unbiased(objective, name, options):
    f, logits = BINARY_CASES[objective]
    s = gradient_stats(
        E.ESTIMATORS[name], f, logits, n_trials=300, n_samples=20, generator=gen(1), **options
    )
    assert_unbiased(s)
    assert s.total_variance > 0


def test_relax_unbiased_with_a_random_mlp_control_variate():
    torch.manual_seed(0)
    cv = E.RelaxControlVariate(n_inputs=3, eta=0.7, tau=0.3)
    torch.nn.init.normal_(cv.net[2].weight, std=2.0)  # not the zero initialisation
    cv.requires_grad_(False)  # a fixed control variate (and no variance gradient to compute)
    s = gradient_stats(
        E.relax, nonlinear, NONLINEAR_LOGITS, n_trials=300, n_samples=20, generator=gen(2),
        control_variate=cv,
    )  # fmt: skip
    assert_unbiased(s)


@pytest.mark.parametrize("name", BINARY_UNBIASED)
def test_value_estimates_the_expected_loss(name):
    values = torch.stack(
        [E.ESTIMATORS[name](nonlinear, NONLINEAR_LOGITS, n_samples=16, generator=g).detach()
         for g in [gen(3)] for _ in range(150)]
    )  # fmt: skip
    expected = exact.expectation(nonlinear, NONLINEAR_LOGITS)
    se = values.std() / math.sqrt(len(values))
    assert abs(values.mean() - expected) < 4 * se


# --- exact expectations: ARM and DisARM -------------------------------------------------


def _quadrature_gradient(kind, f, logits, points_per_dim):
    """Midpoint-rule quadrature of the estimator over u in (0, 1)^d (d = 1 or 2)."""
    grid = (torch.arange(points_per_dim, dtype=torch.float64) + 0.5) / points_per_dim
    u = torch.cartesian_prod(*[grid] * logits.numel()).reshape(-1, *logits.shape)
    leaf = logits.detach().clone().requires_grad_(True)
    E._antithetic_surrogate(f, leaf, u, kind).backward()
    return leaf.grad


def _cubic(z):
    return (z.sum(-1) - 0.3) ** 3 + 0.4 * z[..., 0]


@pytest.mark.parametrize("kind", ["arm", "disarm"])
@pytest.mark.parametrize("logit", [-1.3, 0.0, 0.4, 2.5])
def test_antithetic_expectation_by_quadrature_1d(kind, logit):
    logits = torch.tensor([logit], dtype=torch.float64)
    for f in (quadratic(0.45).f, _cubic, lambda z: torch.exp(2 * z[..., 0])):
        expected = exact.exact_gradient(f, logits)
        got = _quadrature_gradient(kind, f, logits, 20_000)
        torch.testing.assert_close(got, expected, atol=3e-4, rtol=0)


@pytest.mark.parametrize("kind", ["arm", "disarm"])
def test_antithetic_expectation_by_quadrature_2d(kind):
    logits = torch.tensor([0.6, -0.9], dtype=torch.float64)

    def f(z):
        return torch.sigmoid(2 * z[..., 0] - 3 * z[..., 1]) + z[..., 0] * z[..., 1]

    got = _quadrature_gradient(kind, f, logits, 600)
    torch.testing.assert_close(got, exact.exact_gradient(f, logits), atol=2e-3, rtol=0)


def test_disarm_expectation_by_enumerating_antithetic_pairs():
    """E[DisARM] = sum over every joint antithetic pair (b, b~) of its probability times the
    estimate: exact, for d = 3 and a non-linear f."""
    logits = NONLINEAR_LOGITS.double()
    p = torch.sigmoid(logits)
    pairs = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
    # P(b_i, b~_i) for b = 1[u < p], b~ = 1[u > 1 - p]
    probs = torch.stack(
        [(1 - 2 * p).clamp(min=0), torch.minimum(p, 1 - p), torch.minimum(p, 1 - p),
         (2 * p - 1).clamp(min=0)], -1,
    )  # fmt: skip
    index = torch.cartesian_prod(*[torch.arange(4)] * 3)  # (64, 3)
    b, b_tilde = pairs[index][..., 0], pairs[index][..., 1]
    weight = probs.gather(1, index.T).T.prod(-1)  # (64,)
    per_pair = (
        0.5 * (nonlinear(b) - nonlinear(b_tilde))[:, None] * E._disarm_weight(b, b_tilde, logits)
    )
    torch.testing.assert_close(weight.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(
        (weight[:, None] * per_pair).sum(0), exact.exact_gradient(nonlinear, logits)
    )


# --- variance ----------------------------------------------------------------------------


def test_variance_ordering_on_the_quadratic_toy():
    """Single sample: Var(DisARM) <= Var(ARM) <= Var(REINFORCE), with margins."""
    toy = quadratic(0.45)  # p = 0.5: DisARM is exact, ARM ~ 1/75 of REINFORCE
    var = {
        name: gradient_stats(E.ESTIMATORS[name], toy.f, toy.logits, n_trials=400, generator=gen(4)).total_variance
        for name in ("reinforce", "arm", "disarm")
    }  # fmt: skip
    assert var["disarm"] < 0.01 * var["arm"]
    assert var["arm"] < 0.05 * var["reinforce"]
    # d = 3, p != 1/2 (measured 0.62, 0.088, 0.069): DisARM is ARM Rao-Blackwellised over u
    var3 = {
        name: copies(name, QUAD3.f, QUAD3.logits, 20_000, 5).var(0).sum()
        for name in ("reinforce", "arm", "disarm")
    }
    assert var3["disarm"] < 0.9 * var3["arm"]
    assert var3["arm"] < 0.3 * var3["reinforce"]


def test_copies_are_single_sample_estimates():
    """The batch-of-copies shortcut agrees with gradient_stats' one-call-per-trial loop."""
    for name in ("arm", "relax"):
        one = gradient_stats(
            E.ESTIMATORS[name], nonlinear, NONLINEAR_LOGITS, n_trials=300, generator=gen(40)
        )
        many = copies(name, nonlinear, NONLINEAR_LOGITS, 20_000, 41)
        se = (one.std_error**2 + many.var(0) / len(many)).sqrt()
        assert ((one.mean - many.mean(0)).abs() / se).max() < 4
        ratio = many.var(0).sum() / one.total_variance
        assert 0.8 < ratio < 1.25, ratio


def test_disarm_is_zero_where_the_pair_agrees():
    logits = torch.tensor([3.0, -3.0, 0.1])  # pairs of the first two mostly agree
    grads = []
    for _ in range(50):
        leaf = logits.clone().requires_grad_(True)
        E.disarm(nonlinear, leaf, generator=gen(len(grads))).backward()
        grads.append(leaf.grad)
    grads = torch.stack(grads)
    assert (grads[:, :2] == 0).float().mean() > 0.8
    assert (grads[:, 2] != 0).float().mean() > 0.8


# --- RELAX ------------------------------------------------------------------------------


def test_relax_conditional_sample():
    """z~ | b has H(z~) = b, and marginally z~ is logistic(l) like z."""
    logits = torch.full((20_000,), 0.7, dtype=torch.float64)
    g = gen(6)
    u = E._uniform(logits.shape, g, logits)
    v = E._uniform(logits.shape, g, logits)
    z, b, z_tilde = E._relaxed_pair(logits, u, v)
    assert torch.equal((z_tilde > 0).double(), b)
    assert abs(b.mean() - torch.sigmoid(torch.tensor(0.7))) < 0.015
    ks = stats.kstest(z_tilde.numpy(), stats.logistic(loc=0.7).cdf)
    assert ks.pvalue > 1e-3


def test_relax_psi_gradient_is_the_gradient_of_the_squared_estimate():
    """backward() puts d||g||^2/dpsi into the control variate's .grad (finite differences)."""
    logits = NONLINEAR_LOGITS.double()
    torch.manual_seed(1)
    cv = E.RelaxControlVariate(n_inputs=3, eta=0.8, tau=0.6).double()
    torch.nn.init.normal_(cv.net[2].weight)

    def estimate(eta: float):
        with torch.no_grad():
            cv.eta.fill_(eta)
        leaf = logits.clone().requires_grad_(True)
        cv.zero_grad()
        E.relax(nonlinear, leaf, n_samples=3, generator=gen(7), control_variate=cv).backward()
        return leaf.grad, cv.eta.grad.clone(), cv.log_tau.grad.clone()

    g, eta_grad, tau_grad = estimate(0.8)
    h = 1e-6
    numeric = ((estimate(0.8 + h)[0] ** 2).sum() - (estimate(0.8 - h)[0] ** 2).sum()) / (2 * h)
    torch.testing.assert_close(eta_grad, numeric, rtol=1e-5, atol=1e-8)
    assert torch.isfinite(tau_grad) and tau_grad != 0
    assert all(p.grad is not None for p in cv.parameters())


def test_relax_training_the_control_variate_reduces_variance():
    toy = quadratic(0.499)
    torch.manual_seed(0)
    cv = E.RelaxControlVariate(n_inputs=1)
    before = copies("relax", toy.f, toy.logits, 5000, 8, control_variate=cv).var(0).sum()
    optimiser = torch.optim.Adam(cv.parameters(), lr=0.05)
    g = gen(9)
    for _ in range(120):
        optimiser.zero_grad()
        leaf = toy.logits.clone().requires_grad_(True)
        E.relax(toy.f, leaf, control_variate=cv, generator=g).backward()
        optimiser.step()
    cv.requires_grad_(False)
    after = gradient_stats(
        E.relax, toy.f, toy.logits, n_trials=300, generator=gen(10), control_variate=cv
    )
    # measured: 0.022 before, 1e-5 to 3e-4 after (seeds 0-3); REINFORCE: 0.016
    assert after.total_variance < 0.05 * before
    assert_unbiased(after)


def test_relax_under_no_grad_returns_the_value():
    with torch.no_grad():
        value = E.relax(nonlinear, NONLINEAR_LOGITS, n_samples=4, generator=gen(11))
    assert value.dim() == 0 and torch.isfinite(value)


# --- Gumbel-Rao -------------------------------------------------------------------------


def test_conditional_gumbel_scores():
    """The argmax is the conditioning sample, and over D ~ softmax the noise is standard Gumbel."""
    logits = torch.tensor([0.5, -1.0, 1.5, 0.0], dtype=torch.float64).expand(20_000, 4)
    g = gen(12)
    one_hot = E.sample(logits[0], dist="categorical", n_samples=20_000, generator=g)
    scores = E._conditional_gumbel_scores(logits, one_hot, 1, g)[0]
    assert torch.equal(torch.nn.functional.one_hot(scores.argmax(-1), 4).double(), one_hot)
    noise = scores - logits
    euler_gamma = 0.5772156649
    se = math.pi / math.sqrt(6) / math.sqrt(20_000)
    assert (noise.mean(0) - euler_gamma).abs().max() < 4 * se
    ks = stats.kstest(noise[:, 1].numpy(), stats.gumbel_r.cdf)
    assert ks.pvalue > 1e-3


def test_gumbel_rao_keeps_the_mean_of_st_gumbel_and_lowers_the_variance():
    exact_grad = exact.exact_gradient(categorical_loss, CATEGORICAL_LOGITS, dist="categorical")
    options = {"dist": "categorical", "tau": 0.5}
    st = copies("st_gumbel_softmax", categorical_loss, CATEGORICAL_LOGITS, 8000, 13, **options)
    rao = copies("gumbel_rao", categorical_loss, CATEGORICAL_LOGITS, 8000, 14, k=10, **options)
    se = ((st.var(0) + rao.var(0)) / 8000).sqrt()
    assert ((st.mean(0) - rao.mean(0)).abs() / se).max() < 4
    # both are biased, so the means really are compared:
    assert ((st.mean(0) - exact_grad).abs() / se).max() > 8
    assert rao.var(0).sum() < 0.8 * st.var(0).sum()  # measured ratio 0.62


def test_gumbel_rao_with_one_draw_is_st_gumbel_softmax():
    options = {"dist": "categorical", "tau": 0.5}
    st = copies("st_gumbel_softmax", categorical_loss, CATEGORICAL_LOGITS, 4000, 15, **options)
    rao = copies("gumbel_rao", categorical_loss, CATEGORICAL_LOGITS, 4000, 16, k=1, **options)
    for i, j in [(0, 0), (0, 2), (1, 1), (1, 3)]:
        assert stats.ks_2samp(st[:, i, j].numpy(), rao[:, i, j].numpy()).pvalue > 1e-3
    assert abs(math.log(st.var(0).sum() / rao.var(0).sum())) < 0.1


def test_gumbel_rao_masked_categories():
    logits = torch.tensor([[0.3, -math.inf, 1.0], [-math.inf, 0.0, 0.5]], requires_grad=True)
    z_seen = []

    def f(z):
        z_seen.append(z.detach())
        return (z * torch.tensor([1.0, 2.0, 3.0])).sum((-1, -2))

    for name in ("gumbel_rao", "reinmax"):
        E.ESTIMATORS[name](
            f, logits, dist="categorical", n_samples=64, generator=gen(17)
        ).backward()
        assert torch.isfinite(logits.grad).all()
        assert logits.grad[0, 1] == 0 and logits.grad[1, 0] == 0
        assert z_seen[-1][:, 0, 1].sum() == 0 and z_seen[-1][:, 1, 0].sum() == 0
        logits.grad = None


# --- ReinMax ----------------------------------------------------------------------------


def _reinmax_expected_gradient(f, logits, dist, tau=1.0, straight_through=False):
    """The exact expectation of the ReinMax (or straight-through) gradient, by enumerating
    every one-hot sample D."""
    leaf = logits.detach().clone().requires_grad_(True)
    outcomes = exact.outcomes(leaf.detach(), dist)
    theta = leaf
    one_hot = outcomes
    if dist == "bernoulli":
        theta = torch.stack([torch.zeros_like(leaf), leaf], -1)
        one_hot = torch.stack([1 - outcomes, outcomes], -1)
    theta = theta.expand_as(one_hot)
    if straight_through:
        z = E._straight_through_op(one_hot, torch.softmax(theta / tau, -1))
    else:
        z = E._reinmax_straight_through(theta, one_hot, tau)
    if dist == "bernoulli":
        z = z[..., 1]
    weights = exact.joint_log_prob(outcomes, leaf.detach(), dist).exp()
    (weights * f(z)).sum().backward()
    return leaf.grad


def _random_quadratic(n, seed, cubic=False):
    g = gen(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    c = torch.randn(n, generator=g, dtype=torch.float64)
    t = torch.randn(n, n, n, generator=g, dtype=torch.float64)

    def f(z):
        x = z.reshape(z.shape[0], -1)
        out = (x @ a * x).sum(-1) + x @ c
        if cubic:
            out = out + torch.einsum("ni,nj,nk,ijk->n", x, x, x, t)
        return out

    return f


@pytest.mark.parametrize(
    "dist, logits",
    [
        ("categorical", torch.tensor([[0.4, -1.0, 0.7], [0.0, 1.2, -0.3]], dtype=torch.float64)),
        ("bernoulli", torch.tensor([0.4, -1.0, 0.7, 1.5], dtype=torch.float64)),
    ],
)
def test_reinmax_is_exact_in_expectation_for_quadratic_losses(dist, logits):
    """Heun's method (the trapezoidal rule) is exact for quadratics: with tau = 1, the
    expected ReinMax gradient equals the exact gradient for any quadratic f of the one-hot
    variables; it does not for a cubic f or tau != 1, and straight-through does not."""
    n = logits.numel()
    f = _random_quadratic(n, 18)
    expected = exact.exact_gradient(f, logits, dist=dist)
    got = _reinmax_expected_gradient(f, logits, dist)
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=1e-10)
    assert (_reinmax_expected_gradient(f, logits, dist, tau=0.5) - expected).abs().max() > 1e-2
    st = _reinmax_expected_gradient(f, logits, dist, straight_through=True)
    assert (st - expected).abs().max() > 1e-2
    cubic = _random_quadratic(n, 18, cubic=True)
    got_cubic = _reinmax_expected_gradient(cubic, logits, dist)
    assert (got_cubic - exact.exact_gradient(cubic, logits, dist=dist)).abs().max() > 1e-2


def test_reinmax_matches_the_papers_algorithm():
    """Algorithm 2 of Liu et al. (2023), written literally with logs, softmaxes and stop-gradients."""
    g = gen(19)
    theta = torch.randn(5, 4, generator=g, dtype=torch.float64)
    one_hot = E.sample(theta, dist="categorical", generator=g)[0]
    upstream = torch.randn(5, 4, generator=g, dtype=torch.float64)
    for tau in (1.0, 2.0, 0.7):
        leaf = theta.clone().requires_grad_(True)
        pi0 = leaf.softmax(-1)
        pi1 = (one_hot + (leaf / tau).softmax(-1)) / 2
        pi1 = ((pi1.log() - leaf).detach() + leaf).softmax(-1)
        pi2 = 2 * pi1 - 0.5 * pi0
        d = pi2 - pi2.detach() + one_hot
        (reference,) = torch.autograd.grad((d * upstream).sum(), leaf)
        leaf2 = theta.clone().requires_grad_(True)
        ours = E._reinmax_straight_through(leaf2, one_hot, tau)
        assert torch.equal(ours.detach(), one_hot)
        (got,) = torch.autograd.grad((ours * upstream).sum(), leaf2)
        torch.testing.assert_close(got, reference)


@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
def test_reinmax_monte_carlo_is_unbiased_for_a_quadratic(dist):
    """The public function (sampling and all) agrees with the enumeration above."""
    if dist == "bernoulli":
        s = gradient_stats(
            E.reinmax, QUAD3.f, QUAD3.logits, n_trials=300, n_samples=20, generator=gen(20)
        )
    else:
        logits = torch.tensor([[0.4, -1.0, 0.7], [0.0, 1.2, -0.3]])

        def f(z):
            s = (z * z.new_tensor([0.0, 1.0, 2.0])).sum(-1).sum(-1)
            return (s - 1.7) ** 2

        s = gradient_stats(
            E.reinmax, f, logits, n_trials=300, n_samples=20, generator=gen(21), dist="categorical"
        )
    assert_unbiased(s)


# --- parameters of f, batches, extreme logits ---------------------------------------------


CATEGORICAL_ONLY = {"gumbel_rao"}


@pytest.mark.parametrize("name", NEW)
def test_parameters_of_f_get_unbiased_gradients(name):
    """f's own parameters get the pathwise gradient at exact samples: unbiased for all."""
    dist = "categorical" if name in CATEGORICAL_ONLY else "bernoulli"
    logits = CATEGORICAL_LOGITS if dist == "categorical" else NONLINEAR_LOGITS
    weight = torch.tensor([0.5, -1.0, 2.0, 0.3][: logits.shape[-1]], requires_grad=True)

    def f(z):
        return torch.tanh(z @ weight).reshape(z.shape[0], -1).sum(-1) ** 2

    (expected,) = torch.autograd.grad(exact.expectation(f, logits, dist=dist), weight)
    grads = []
    for seed in range(200):
        weight.grad = None
        leaf = logits.clone().requires_grad_(True)
        E.ESTIMATORS[name](f, leaf, dist=dist, n_samples=10, generator=gen(seed)).backward()
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
        grads.append(weight.grad.clone())
    grads = torch.stack(grads)
    se = grads.std(0) / math.sqrt(len(grads))
    assert ((grads.mean(0) - expected).abs() / se).max() < 4


@pytest.mark.parametrize("name", BINARY_UNBIASED + ("reinmax",))
def test_batched_logits_with_per_example_losses(name):
    """Logits (B, d), f returns (n, B): unbiased for the sum of the examples' losses, and
    an example whose loss is constant gets no gradient from the antithetic estimators."""
    logits = torch.tensor([[0.3, -0.7, 1.1], [-0.2, 0.9, 0.4]])
    scale = torch.tensor([1.0, 0.0])  # example 1's loss is constant

    def f(z):
        return nonlinear(z) * scale + 0.3 * (1 - scale)

    def quad(z):
        return ((z - z.new_tensor([0.45, 0.2, 0.7])) ** 2).sum(-1)

    if name == "reinmax":
        s = gradient_stats(E.reinmax, quad, logits, n_trials=300, n_samples=10, generator=gen(22))
        assert_unbiased(s)
        return
    s = gradient_stats(E.ESTIMATORS[name], f, logits, n_trials=300, n_samples=10, generator=gen(22))
    assert ((s.bias[0] / s.std_error[0]).abs() < 4).all()
    assert s.exact[1].abs().max() < 1e-6
    assert (s.samples[:, 1] == 0).all()  # no cross-talk: f(b) - f(b~) or f(b) - c is zero


@pytest.mark.parametrize("name", BINARY_UNBIASED)
def test_batched_logits_with_one_shared_loss(name):
    logits = torch.tensor([[0.3, -0.7], [-0.2, 0.9]])

    def f(z):
        return torch.sigmoid(z.reshape(z.shape[0], -1) @ z.new_tensor([1.0, -2.0, 0.5, 1.5]))

    s = gradient_stats(E.ESTIMATORS[name], f, logits, n_trials=300, n_samples=10, generator=gen(23))
    assert_unbiased(s)


def test_gumbel_rao_batched_per_example():
    logits = torch.randn(2, 2, 3, generator=gen(24))

    def f(z):
        return ((z * z.new_tensor([0.0, 1.0, 2.0])).sum(-1).sum(-1) - 1.5) ** 2

    leaf = logits.clone().requires_grad_(True)
    value = E.gumbel_rao(f, leaf, dist="categorical", n_samples=5, generator=gen(25))
    value.backward()
    assert value.dim() == 0 and leaf.grad.shape == logits.shape


@pytest.mark.parametrize("name", NEW)
def test_extreme_logits_stay_finite(name):
    dist = "categorical" if name in CATEGORICAL_ONLY else "bernoulli"
    logits = torch.tensor([[30.0, -30.0, 0.0]] if dist == "categorical" else [30.0, -30.0, 0.0])
    leaf = logits.clone().requires_grad_(True)

    def f(z):
        return (z.reshape(z.shape[0], -1) ** 2).sum(-1) + z.reshape(z.shape[0], -1)[:, 0]

    value = E.ESTIMATORS[name](f, leaf, dist=dist, n_samples=16, generator=gen(26))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(leaf.grad).all()


# --- bad input --------------------------------------------------------------------------


def test_distribution_restrictions_are_named():
    with pytest.raises(ValueError, match="arm supports only dist='bernoulli'"):
        E.arm(categorical_loss, CATEGORICAL_LOGITS, dist="categorical")
    with pytest.raises(ValueError, match="disarm supports only dist='bernoulli'"):
        E.disarm(categorical_loss, CATEGORICAL_LOGITS, dist="categorical")
    with pytest.raises(ValueError, match="relax supports only dist='bernoulli'"):
        E.relax(categorical_loss, CATEGORICAL_LOGITS, dist="categorical")
    with pytest.raises(ValueError, match="gumbel_rao supports only dist='categorical'"):
        E.gumbel_rao(nonlinear, NONLINEAR_LOGITS)
    with pytest.raises(ValueError, match="dist must be one of"):
        E.arm(nonlinear, NONLINEAR_LOGITS, dist="gaussian")


@pytest.mark.parametrize("name", NEW)
def test_common_bad_input(name):
    est = E.ESTIMATORS[name]
    dist = "categorical" if name in CATEGORICAL_ONLY else "bernoulli"
    logits = CATEGORICAL_LOGITS if dist == "categorical" else NONLINEAR_LOGITS
    f = categorical_loss if dist == "categorical" else nonlinear
    with pytest.raises(ValueError, match="n_samples"):
        est(f, logits, dist=dist, n_samples=0)
    with pytest.raises(TypeError, match="n_samples"):
        est(f, logits, dist=dist, n_samples=2.0)
    with pytest.raises(TypeError, match="logits"):
        est(f, logits.long(), dist=dist)
    with pytest.raises(TypeError, match="generator"):
        est(f, logits, dist=dist, generator=0)
    with pytest.raises(TypeError, match="f must be callable"):
        est(None, logits, dist=dist)
    with pytest.raises(ValueError, match="f must return one loss per sample"):
        est(lambda z: z.sum(), logits, dist=dist)
    if name in ("gumbel_rao", "reinmax", "relax"):
        with pytest.raises(ValueError, match="tau"):
            est(f, logits, dist=dist, tau=0.0)
        with pytest.raises(ValueError, match="tau=1e-50 is too small for torch.float32"):
            est(f, logits, dist=dist, tau=1e-50)
        with pytest.raises(TypeError, match="tau"):
            est(f, logits, dist=dist, tau="1")


def test_option_errors():
    logits = CATEGORICAL_LOGITS
    with pytest.raises(ValueError, match="k must be >= 1"):
        E.gumbel_rao(categorical_loss, logits, dist="categorical", k=0)
    with pytest.raises(TypeError, match="k must be an int"):
        E.gumbel_rao(categorical_loss, logits, dist="categorical", k=2.5)
    with pytest.raises(ValueError, match="tau must be positive"):
        E.relax(nonlinear, NONLINEAR_LOGITS, tau=-1.0)
    with pytest.raises(ValueError, match="tau sets the temperature"):
        E.relax(nonlinear, NONLINEAR_LOGITS, tau=0.5, control_variate=fixed_control_variate)
    with pytest.raises(TypeError, match="control_variate must be callable"):
        E.relax(nonlinear, NONLINEAR_LOGITS, control_variate=3.0)
    with pytest.raises(ValueError, match="control_variate must return one value per loss"):
        E.relax(nonlinear, NONLINEAR_LOGITS, n_samples=2, control_variate=lambda z, f: z.sum())
    with pytest.raises(TypeError, match="control_variate must return a tensor"):
        E.relax(nonlinear, NONLINEAR_LOGITS, control_variate=lambda z, f: 1.0)
    with pytest.raises(ValueError, match="control_variate returned NaN"):
        E.relax(nonlinear, NONLINEAR_LOGITS, control_variate=lambda z, f: z.sum(-1) * math.nan)
    with pytest.raises(ValueError, match="use_f=False needs an MLP"):
        E.RelaxControlVariate(use_f=False)
    with pytest.raises(ValueError, match="tau must be positive"):
        E.RelaxControlVariate(tau=0.0)
    with pytest.raises(ValueError, match="n_inputs must be >= 1"):
        E.RelaxControlVariate(n_inputs=0)
    with pytest.raises(TypeError, match="eta must be a finite number"):
        E.RelaxControlVariate(eta=math.inf)
    with pytest.raises(ValueError, match="cannot group"):
        E.relax(nonlinear, NONLINEAR_LOGITS, control_variate=E.RelaxControlVariate(n_inputs=2))
