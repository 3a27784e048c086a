"""Exact ground truth: expectation and exact_gradient against hand-written enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from stelib import exact

# --- hand-written references -----------------------------------------------------------


def hand_bernoulli(f, logits: torch.Tensor) -> torch.Tensor:
    """sum over z in {0,1}^d of prod_i p_i^z_i (1 - p_i)^(1 - z_i) f(z), one outcome at a time."""
    flat = logits.reshape(-1)
    p = 1 / (1 + torch.exp(-flat))
    total = torch.zeros((), dtype=logits.dtype)
    for bits in itertools.product([0, 1], repeat=flat.numel()):
        prob = torch.ones((), dtype=logits.dtype)
        for i, b in enumerate(bits):
            prob = prob * (p[i] if b else 1 - p[i])
        z = torch.tensor(bits, dtype=logits.dtype).reshape(1, *logits.shape)
        total = total + prob * f(z).sum()
    return total


def hand_categorical(f, logits: torch.Tensor) -> torch.Tensor:
    """sum over one category per row of prod_rows softmax(row)[k] f(one-hot z)."""
    rows = logits.reshape(-1, logits.shape[-1])
    e = torch.exp(rows - rows.max(-1, keepdim=True).values)
    p = e / e.sum(-1, keepdim=True)
    m, k = rows.shape
    total = torch.zeros((), dtype=logits.dtype)
    for choice in itertools.product(range(k), repeat=m):
        prob = torch.ones((), dtype=logits.dtype)
        z = torch.zeros(m, k, dtype=logits.dtype)
        for row, c in enumerate(choice):
            prob = prob * p[row, c]
            z[row, c] = 1.0
        total = total + prob * f(z.reshape(1, *logits.shape)).sum()
    return total


def _grad(value: torch.Tensor, wrt) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(value, wrt)


def nonlinear_bernoulli(d: int):
    a = torch.linspace(0.7, 2.1, d, dtype=torch.float64)

    def f(z):
        s = (z * a).sum(-1)
        return torch.sin(3 * s) + 2 * z.prod(-1) + (z[..., 0] - 0.3) ** 2

    return f


# --- Bernoulli ----------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_bernoulli_expectation_matches_enumeration(d):
    logits = torch.linspace(-1.3, 1.7, d, dtype=torch.float64).requires_grad_(True)
    f = nonlinear_bernoulli(d)
    value = exact.expectation(f, logits)
    reference = hand_bernoulli(f, logits)
    torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grad(value, logits)[0], _grad(reference, logits)[0])


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_gradient_reaches_parameters_of_f(d):
    logits = torch.linspace(0.5, -1.0, d, dtype=torch.float64).requires_grad_(True)
    w = nn.Parameter(torch.linspace(-0.4, 1.3, d, dtype=torch.float64))

    def f(z):
        return ((z * w).sum(-1) - 1) ** 2

    value = exact.expectation(f, logits)
    reference = hand_bernoulli(f, logits)
    torch.testing.assert_close(value, reference)
    got_logits, got_w = _grad(value, (logits, w))
    ref_logits, ref_w = _grad(reference, (logits, w))
    assert got_w.abs().sum() > 0
    torch.testing.assert_close(got_w, ref_w)
    torch.testing.assert_close(got_logits, ref_logits)


def test_quadratic_closed_form_gradient():
    # f(b) = sum_i (b_i - t_i)^2: E = sum_i theta_i (1 - 2 t_i) + t_i^2,
    # dE/dl_i = sigmoid'(l_i) (1 - 2 t_i).
    t = torch.tensor([0.1, 0.45, 0.9, 0.5], dtype=torch.float64)
    logits = torch.tensor([-2.0, 0.3, 1.5, 0.0], dtype=torch.float64)

    def f(b):
        return ((b - t) ** 2).sum(-1)

    theta = 1 / (1 + torch.exp(-logits))
    value = exact.expectation(f, logits)
    torch.testing.assert_close(value, (theta * (1 - 2 * t) + t**2).sum())
    grad = exact.exact_gradient(f, logits)
    torch.testing.assert_close(grad, theta * (1 - theta) * (1 - 2 * t))
    assert grad[3] == 0  # t = 1/2: flat


def test_exact_gradient_matches_finite_differences():
    logits = torch.tensor([0.4, -0.9, 1.3], dtype=torch.float64)
    f = nonlinear_bernoulli(3)
    grad = exact.exact_gradient(f, logits)
    h = 1e-6
    fd = torch.zeros(3, dtype=torch.float64)
    for i in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[i] = h
        fd[i] = (hand_bernoulli(f, logits + e) - hand_bernoulli(f, logits - e)) / (2 * h)
    torch.testing.assert_close(grad, fd, rtol=1e-7, atol=1e-9)


def test_exact_gradient_has_shape_of_logits_and_no_graph():
    logits = torch.zeros(2, 3, requires_grad=True)
    grad = exact.exact_gradient(lambda z: (z * z).sum((-2, -1)), logits)
    assert grad.shape == logits.shape and not grad.requires_grad
    assert logits.grad is None


def test_exact_gradient_zero_when_f_ignores_z():
    logits = torch.tensor([0.3, -0.2])
    grad = exact.exact_gradient(lambda z: torch.full((z.shape[0],), 7.0), logits)
    torch.testing.assert_close(grad, torch.zeros(2))
    assert float(exact.expectation(lambda z: torch.full((z.shape[0],), 7.0), logits)) == (
        pytest.approx(7.0)
    )


def test_batched_bernoulli_per_example_losses_are_summed():
    logits = torch.tensor([[0.2, -1.0], [1.5, 0.3], [-0.7, 0.0]], dtype=torch.float64)
    c = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)

    def f(z):  # (N, B, d) -> (N, B)
        return (z.sum(-1) - c) ** 2

    value = exact.expectation(f, logits)
    per_row = [hand_bernoulli(lambda z, b=b: (z.sum(-1) - c[b]) ** 2, logits[b]) for b in range(3)]
    torch.testing.assert_close(value, sum(per_row))


def test_sixteen_variables_are_enumerated():
    # 2**16 = MAX_OUTCOMES outcomes, the largest allowed; E[sum z] = sum sigmoid(l).
    assert exact.MAX_OUTCOMES == 2**16
    logits = torch.linspace(-2, 2, 16, dtype=torch.float64)
    value = exact.expectation(lambda z: z.sum(-1), logits)
    torch.testing.assert_close(value, (1 / (1 + torch.exp(-logits))).sum())


def test_outcomes_order_and_count():
    z = exact.outcomes(torch.zeros(3))
    expected = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)))
    assert torch.equal(z, expected)
    assert exact.num_outcomes(torch.zeros(3)) == 8
    assert exact.num_outcomes(torch.zeros(2, 3), "categorical") == 9
    zc = exact.outcomes(torch.zeros(2, 3), "categorical")
    assert zc.shape == (9, 2, 3)
    assert torch.equal(zc.sum(-1), torch.ones(9, 2))
    assert len({tuple(row.flatten().tolist()) for row in zc}) == 9


# --- categorical ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "logits",
    [
        [0.3, -1.2, 2.0],
        [0.0, 0.5, -0.5, 1.0, 2.0],
        [[0.3, -1.2, 2.0], [1.0, 0.0, -1.0]],
        [[0.1, 0.2], [-0.3, 0.9], [1.2, -1.1]],
    ],
)
def test_categorical_expectation_matches_enumeration(logits):
    logits = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    k = logits.shape[-1]
    values = torch.arange(k, dtype=torch.float64) - 0.7
    w = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)

    def f(z):  # nonlinear in the one-hot code, with a parameter inside
        s = (z * values).reshape(z.shape[0], -1).sum(-1)
        return torch.cos(w * s) + s**2

    value = exact.expectation(f, logits, dist="categorical")
    reference = hand_categorical(f, logits)
    torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-12)
    got = _grad(value, (logits, w))
    ref = _grad(reference, (logits, w))
    torch.testing.assert_close(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])
    torch.testing.assert_close(exact.exact_gradient(f, logits, dist="categorical"), ref[0])


def test_masked_categorical_logits():
    logits = torch.tensor([[0.3, -math.inf, 1.0], [-math.inf, 0.2, -0.4]], requires_grad=True)
    big = torch.tensor([[1.0, 1000.0, 2.0], [1000.0, -1.0, 3.0]])

    def f(z):
        return (z * big).sum((-2, -1)) ** 2

    value = exact.expectation(f, logits, dist="categorical")
    (grad,) = _grad(value, logits)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    # Masked outcomes get probability zero: only the 2 x 2 unmasked choices count.
    p0 = torch.softmax(torch.tensor([0.3, 1.0]), 0)
    p1 = torch.softmax(torch.tensor([0.2, -0.4]), 0)
    reference = sum(
        p0[i] * p1[j] * (torch.tensor([1.0, 2.0])[i] + torch.tensor([-1.0, 3.0])[j]) ** 2
        for i in range(2)
        for j in range(2)
    )
    torch.testing.assert_close(value, reference)
    assert grad[0, 1] == 0 and grad[1, 0] == 0
    torch.testing.assert_close(grad, exact.exact_gradient(f, logits, dist="categorical"))


def test_masked_categorical_matches_dropping_the_category():
    logits = torch.tensor([0.5, -math.inf, -0.3, 1.1], dtype=torch.float64)
    vals = torch.tensor([1.0, 50.0, -2.0, 0.5], dtype=torch.float64)

    def f(z):
        return torch.exp((z * vals).sum(-1) / 10)

    kept = [0, 2, 3]
    reduced = exact.expectation(
        lambda z: torch.exp((z * vals[kept]).sum(-1) / 10), logits[kept], dist="categorical"
    )
    torch.testing.assert_close(exact.expectation(f, logits, dist="categorical"), reduced)
    grad = exact.exact_gradient(f, logits, dist="categorical")
    reduced_grad = exact.exact_gradient(
        lambda z: torch.exp((z * vals[kept]).sum(-1) / 10), logits[kept], dist="categorical"
    )
    assert grad[1] == 0
    torch.testing.assert_close(grad[kept], reduced_grad)


# --- gradcheck ----------------------------------------------------------------------------


def test_gradcheck_bernoulli():
    f = nonlinear_bernoulli(3)
    logits = torch.tensor([0.4, -0.9, 1.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda l: exact.expectation(f, l), (logits,))


def test_gradcheck_categorical_with_parameter():
    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    logits = torch.tensor(
        [[0.1, 0.7, -0.3], [1.0, -1.0, 0.2]], dtype=torch.float64, requires_grad=True
    )

    def expectation(l, w):
        return exact.expectation(
            lambda z: ((z * w).sum((-2, -1)) - 0.5) ** 3, l, dist="categorical"
        )

    assert torch.autograd.gradcheck(expectation, (logits, w))
