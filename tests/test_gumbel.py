"""The Gumbel trick: noise, exact samples, relaxations; frequencies and finiteness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import stelib
from stelib import gumbel

N = 20_000  # samples per frequency test: one vectorised call each
EULER_GAMMA = 0.5772156649015329


def _counts(one_hot: torch.Tensor) -> np.ndarray:
    """Category counts of a stack of one-hot rows, shape (n, K) -> (K,)."""
    assert torch.equal(one_hot.sum(-1), torch.ones(one_hot.shape[:-1]))
    return one_hot.sum(0).numpy().astype(float)


def _softmax_by_hand(logits: list[float]) -> np.ndarray:
    e = np.array([math.exp(v) if v != -math.inf else 0.0 for v in logits])
    return e / e.sum()


# --- noise ------------------------------------------------------------------------------


def test_sample_gumbel_moments_and_distribution(make_generator):
    g = stelib.sample_gumbel((N,), generator=make_generator(0), dtype=torch.float64)
    assert g.shape == (N,) and g.dtype == torch.float64
    # Gumbel(0, 1): mean = Euler's gamma, variance = pi^2 / 6.
    se = math.sqrt(math.pi**2 / 6 / N)
    assert abs(float(g.mean()) - EULER_GAMMA) < 4 * se
    assert stats.kstest(g.numpy(), stats.gumbel_r.cdf).pvalue > 0.001
    # The same test rejects a shifted Gumbel: it has power.
    assert stats.kstest(g.numpy() + 0.1, stats.gumbel_r.cdf).pvalue < 0.001


def test_sample_logistic_distribution(make_generator):
    x = stelib.sample_logistic((N,), generator=make_generator(1), dtype=torch.float64)
    se = math.sqrt(math.pi**2 / 3 / N)
    assert abs(float(x.mean())) < 4 * se
    assert stats.kstest(x.numpy(), stats.logistic.cdf).pvalue > 0.001
    assert stats.kstest(x.numpy() * 1.1, stats.logistic.cdf).pvalue < 0.001


def test_sample_gumbel_is_reproducible(make_generator):
    a = stelib.sample_gumbel((3, 4), generator=make_generator(5))
    b = stelib.sample_gumbel((3, 4), generator=make_generator(5))
    c = stelib.sample_gumbel((3, 4), generator=make_generator(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@settings(max_examples=50, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=0, max_size=3),
    seed=st.integers(0, 2**31 - 1),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_sample_gumbel_always_finite(shape, seed, dtype):
    g = stelib.sample_gumbel(
        tuple(shape), generator=torch.Generator().manual_seed(seed), dtype=dtype
    )
    assert g.shape == tuple(shape) and g.dtype == dtype
    assert torch.isfinite(g).all()
    x = stelib.sample_logistic(
        tuple(shape), generator=torch.Generator().manual_seed(seed), dtype=dtype
    )
    assert torch.isfinite(x).all()


def _largest_below_one(dtype):
    return float(torch.nextafter(torch.tensor(1.0, dtype=dtype), torch.tensor(0.0, dtype=dtype)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("edge", ["zero", "one_minus_eps", "largest_below_one"])
def test_uniform_clamp_keeps_noise_finite_at_the_edges(monkeypatch, dtype, edge):
    """``torch.rand`` may return exactly 0 (and up to the largest float below 1): the
    helper must keep log(u) and log(1 - u) finite at both ends."""
    value = {
        "zero": 0.0,
        "one_minus_eps": 1.0 - torch.finfo(dtype).eps,
        "largest_below_one": _largest_below_one(dtype),
    }[edge]
    real_full = torch.full

    def fake_rand(shape, *, generator=None, dtype=None, device=None):
        return real_full(tuple(shape), value, dtype=dtype or torch.get_default_dtype())

    monkeypatch.setattr(torch, "rand", fake_rand)
    u = gumbel._uniform_open((4,), None, dtype, None)
    assert ((u > 0) & (u < 1)).all()
    g = stelib.sample_gumbel((4,), dtype=dtype)
    x = stelib.sample_logistic((4,), dtype=dtype)
    assert torch.isfinite(g).all() and torch.isfinite(x).all()
    if dtype == torch.float32:
        # The docstring's float32 range of the noise.
        assert (g >= -4.48).all() and (g <= 16.7).all()
    logits = torch.tensor([[0.0, 1e4, -1e4, -math.inf]], dtype=dtype, requires_grad=True)
    for hard in (False, True):
        y = stelib.gumbel_softmax(logits, 1e-6, hard=hard)
        b = stelib.binary_concrete(logits[:, :3], 1e-6, hard=hard)
        (y.sum() + (b * torch.arange(3, dtype=dtype)).sum()).backward()
        assert torch.isfinite(y).all() and torch.isfinite(b).all()
        assert torch.isfinite(logits.grad).all()
        logits.grad = None


# --- Gumbel-max is exact ----------------------------------------------------------------


def test_gumbel_max_frequencies_match_softmax(make_generator):
    logits = [1.0, -0.5, 0.3, 2.0, -2.0]
    sample = stelib.gumbel_max(torch.tensor(logits).expand(N, 5), generator=make_generator(0))
    assert not sample.requires_grad
    counts = _counts(sample)
    p = _softmax_by_hand(logits)
    assert stats.chisquare(counts, N * p).pvalue > 0.001
    # Power: a deliberately wrong distribution (two probabilities swapped) is rejected.
    wrong = p.copy()
    wrong[[1, 2]] = wrong[[2, 1]]
    assert stats.chisquare(counts, N * wrong).pvalue < 0.001


def test_gumbel_max_rows_are_independent_categoricals(make_generator):
    logits = [[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]]
    sample = stelib.gumbel_max(torch.tensor(logits).expand(N, 2, 3), generator=make_generator(1))
    for row in range(2):
        counts = _counts(sample[:, row])
        assert stats.chisquare(counts, N * _softmax_by_hand(logits[row])).pvalue > 0.001
        assert stats.chisquare(counts, N * np.full(3, 1 / 3)).pvalue < 0.001


def test_gumbel_max_along_another_dim(make_generator):
    logits = [0.5, -1.0, 1.5]
    sample = stelib.gumbel_max(
        torch.tensor(logits)[:, None].expand(3, N), dim=0, generator=make_generator(2)
    )
    counts = _counts(sample.T)
    assert stats.chisquare(counts, N * _softmax_by_hand(logits)).pvalue > 0.001


def test_gumbel_max_never_draws_masked_categories(make_generator):
    logits = [0.2, -math.inf, 1.0, -math.inf]
    sample = stelib.gumbel_max(torch.tensor(logits).expand(N, 4), generator=make_generator(3))
    counts = _counts(sample)
    assert counts[1] == 0 and counts[3] == 0
    p = _softmax_by_hand(logits)
    assert stats.chisquare(counts[[0, 2]], N * p[[0, 2]]).pvalue > 0.001


def test_binary_concrete_hard_frequencies_match_sigmoid(make_generator):
    logits = torch.tensor([-2.0, -0.5, 0.0, 1.0, 3.0])
    z = stelib.binary_concrete(logits.expand(N, 5), 0.7, hard=True, generator=make_generator(4))
    assert ((z == 0) | (z == 1)).all()
    ones = z.sum(0).double().numpy()

    def chi2_pvalue(p):  # five independent binomials: chi-square with 5 degrees of freedom
        statistic = ((ones - N * p) ** 2 / (N * p * (1 - p))).sum()
        return stats.chi2.sf(statistic, df=len(p))

    p = np.array([1 / (1 + math.exp(-v)) for v in logits.tolist()])
    assert chi2_pvalue(p) > 0.001
    wrong = np.array([1 / (1 + math.exp(-(v + 0.1))) for v in logits.tolist()])
    assert chi2_pvalue(wrong) < 0.001


def test_binary_concrete_at_unit_temperature_and_zero_logit_is_uniform(make_generator):
    # sigmoid(Logistic) is Uniform(0, 1): a closed form for the relaxed sample.
    y = stelib.binary_concrete(
        torch.zeros(N, dtype=torch.float64), 1.0, generator=make_generator(5)
    )
    assert stats.kstest(y.numpy(), stats.uniform.cdf).pvalue > 0.001
    assert stats.kstest(y.numpy() ** 1.05, stats.uniform.cdf).pvalue < 0.001


@pytest.mark.parametrize("tau", [0.05, 1.0, 20.0])
def test_argmax_of_gumbel_softmax_is_gumbel_max_at_any_tau(make_generator, tau):
    logits = [1.0, -0.5, 0.3, 2.0]
    expanded = torch.tensor(logits).expand(N, 4)
    relaxed = stelib.gumbel_softmax(expanded, tau, generator=make_generator(6))
    exact = stelib.gumbel_max(expanded, generator=make_generator(6))
    # Same noise: the argmax is the Gumbel-max sample, sample by sample.
    assert torch.equal(relaxed.argmax(-1), exact.argmax(-1))
    counts = np.bincount(relaxed.argmax(-1).numpy(), minlength=4).astype(float)
    assert stats.chisquare(counts, N * _softmax_by_hand(logits)).pvalue > 0.001


def test_binary_concrete_hard_is_threshold_of_soft(make_generator):
    logits = torch.linspace(-3, 3, 50).expand(100, 50)
    soft = stelib.binary_concrete(logits, 0.5, generator=make_generator(7))
    hard = stelib.binary_concrete(logits, 0.5, hard=True, generator=make_generator(7))
    assert torch.equal(hard, (soft > 0.5).float())


# --- relaxations: values and gradients ------------------------------------------------


def test_gumbel_softmax_rows_sum_to_one_and_low_tau_is_nearly_one_hot(make_generator):
    logits = torch.randn(500, 5, generator=make_generator(8))
    y = stelib.gumbel_softmax(logits, 1.0, generator=make_generator(9))
    torch.testing.assert_close(y.sum(-1), torch.ones(500))
    cold = stelib.gumbel_softmax(logits, 1e-3, generator=make_generator(9))
    one_hot = stelib.gumbel_max(logits, generator=make_generator(9))
    assert float(cold.max(-1).values.mean()) > 0.99
    assert float((cold - one_hot).abs().sum(-1).median()) < 1e-3


@pytest.mark.parametrize("tau", [0.3, 1.0, 4.0])
def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient(make_generator, tau):
    logits = torch.randn(64, 4, generator=make_generator(10)).requires_grad_(True)
    w = torch.randn(64, 4, generator=make_generator(11))
    soft = stelib.gumbel_softmax(logits, tau, generator=make_generator(12))
    hard = stelib.gumbel_softmax(logits, tau, hard=True, generator=make_generator(12))
    expected_hard = torch.nn.functional.one_hot(soft.argmax(-1), 4).float()
    assert torch.equal(hard.detach(), expected_hard)
    (g_soft,) = torch.autograd.grad((soft * w).sum(), logits)
    (g_hard,) = torch.autograd.grad((hard * w).sum(), logits)
    torch.testing.assert_close(g_hard, g_soft)


def test_gumbel_softmax_gradient_is_softmax_jacobian_over_tau(make_generator):
    # y = softmax((l + g)/tau): dy_i/dl_j = y_i (delta_ij - y_j) / tau.
    tau = 0.7
    logits = torch.tensor([0.2, -0.4, 1.1], dtype=torch.float64, requires_grad=True)
    y = stelib.gumbel_softmax(logits, tau, generator=make_generator(13))
    jac = torch.stack([torch.autograd.grad(y[i], logits, retain_graph=True)[0] for i in range(3)])
    yd = y.detach()
    expected = (torch.diag(yd) - yd[:, None] * yd[None, :]) / tau
    torch.testing.assert_close(jac, expected)


# --- finiteness at the extremes ---------------------------------------------------------

EXTREME = st.sampled_from([1e4, -1e4, 0.0, 3.5, -2.0, 1e-3, -math.inf])
TAUS = st.one_of(
    st.sampled_from([1e-6, 1e-4, 0.01, 1.0, 100.0]), st.floats(min_value=1e-6, max_value=100.0)
)


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(st.lists(EXTREME, min_size=2, max_size=6), min_size=1, max_size=4),
    tau=TAUS,
    hard=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_gumbel_softmax_finite_values_and_gradients(rows, tau, hard, seed):
    k = min(len(r) for r in rows)
    rows = [r[:k] for r in rows]
    rows = [r if any(v != -math.inf for v in r) else [1e4, *r[1:]] for r in rows]
    logits = torch.tensor(rows, requires_grad=True)
    y = stelib.gumbel_softmax(logits, tau, hard=hard, generator=torch.Generator().manual_seed(seed))
    assert torch.isfinite(y).all()
    masked = torch.isneginf(logits.detach())
    assert (y.detach()[masked] == 0).all()
    torch.testing.assert_close(y.detach().sum(-1), torch.ones(len(rows)))
    if hard:
        assert ((y == 0) | (y == 1)).all()
    weights = torch.arange(k, dtype=torch.float32) - 1.5
    (y * weights).sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[masked] == 0).all()


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.sampled_from([1e4, -1e4, 0.0]), st.floats(min_value=-1e4, max_value=1e4)),
        min_size=1,
        max_size=8,
    ),
    tau=TAUS,
    hard=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_binary_concrete_finite_values_and_gradients(values, tau, hard, seed):
    logits = torch.tensor(values, requires_grad=True)
    y = stelib.binary_concrete(
        logits, tau, hard=hard, generator=torch.Generator().manual_seed(seed)
    )
    assert torch.isfinite(y).all()
    assert ((y >= 0) & (y <= 1)).all()
    if hard:
        assert ((y == 0) | (y == 1)).all()
    (y * (torch.arange(len(values), dtype=torch.float32) + 1)).sum().backward()
    assert torch.isfinite(logits.grad).all()


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.floats(min_value=-1e4, max_value=1e4), min_size=2, max_size=6))
def test_gumbel_max_is_one_hot_for_any_finite_logits(values):
    y = stelib.gumbel_max(torch.tensor(values), generator=torch.Generator().manual_seed(0))
    assert ((y == 0) | (y == 1)).all() and y.sum() == 1
