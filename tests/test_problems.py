"""Toy objectives and data sets: closed forms, labels recomputed by hand, brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from stelib import problems
from stelib.ste import threshold

# --- quadratic toy ----------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.0, 0.1, 0.45, 0.499, 0.5, 0.9])
@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.8])
def test_quadratic_expectation_closed_form(t, p):
    obj = problems.quadratic(t, p=p)
    assert obj.dist == "bernoulli" and obj.logits.shape == (1,)
    assert float(torch.sigmoid(obj.logits)) == pytest.approx(p, rel=1e-6)
    # E[(b - t)^2] = theta (1 - t)^2 + (1 - theta) t^2 = theta (1 - 2t) + t^2.
    assert float(obj.expectation()) == pytest.approx(p * (1 - 2 * t) + t**2, rel=1e-5, abs=1e-7)
    assert float(obj.exact_gradient()) == pytest.approx(
        p * (1 - p) * (1 - 2 * t), rel=1e-4, abs=1e-8
    )


def test_quadratic_several_targets_is_a_sum():
    t = [0.1, 0.45, 0.9]
    p = [0.3, 0.5, 0.8]
    obj = problems.quadratic(t, p=p)
    assert obj.logits.shape == (3,)
    expected = sum(pi * (1 - 2 * ti) + ti**2 for pi, ti in zip(p, t, strict=True))
    assert float(obj.expectation()) == pytest.approx(expected, rel=1e-5)
    b = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(obj.f(b), torch.tensor([0.01 + 0.3025 + 0.01, 0.81 + 0.2025 + 0.81]))
    # p broadcasts to every target
    torch.testing.assert_close(
        torch.sigmoid(problems.quadratic(t, p=0.2).logits), torch.full((3,), 0.2)
    )


def test_logit_inverts_sigmoid_and_rejects_bad_p():
    p = torch.tensor([0.01, 0.3, 0.5, 0.99])
    torch.testing.assert_close(torch.sigmoid(problems.logit(p)), p)
    for bad in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(ValueError, match=r"\bp\b"):
            problems.logit(bad)


def test_extension_pair_forms_agree_on_binary_points():
    squared, multi = problems.extension_pair(False), problems.extension_pair(True)
    torch.testing.assert_close(torch.sigmoid(squared.logits), torch.tensor([0.9, 0.45]))
    for z1 in (0.0, 1.0):
        for z2 in (0.0, 1.0):
            z = torch.tensor([[z1, z2]])
            assert float(squared.f(z)) == (z1 + z2 - 1) ** 2
            assert float(multi.f(z)) == 1 - z1 - z2 + 2 * z1 * z2
    # Off the corners they differ (that is the point of d1).
    half = torch.tensor([[0.5, 0.5]])
    assert float(squared.f(half)) != float(multi.f(half))


# --- threshold task and network -----------------------------------------------------------


def test_threshold_task_labels_are_the_documented_xor():
    train, test = problems.threshold_task(300, 200, seed=3)
    assert train.x.shape == (300, 2) and test.x.shape == (200, 2)
    assert train.y.shape == (300,) and test.y.shape == (200,)
    for split in (train, test):
        assert split.x.min() >= -1 and split.x.max() <= 1
        for (x1, x2), y in zip(split.x.tolist(), split.y.tolist(), strict=True):
            h1 = x1 + 0.5 * x2 > 0.2
            h2 = x2 - 0.3 * x1 > -0.1
            assert y == float(h1 != h2)
    # Both classes occur and the splits are different points.
    assert 0.2 < float(train.y.mean()) < 0.8
    assert not torch.equal(train.x[:200], test.x)


def test_threshold_task_is_seeded():
    a, _ = problems.threshold_task(50, 10, seed=1)
    b, _ = problems.threshold_task(50, 10, seed=1)
    c, _ = problems.threshold_task(50, 10, seed=2)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


def _phi_grad(mode: str) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.nn.Module]:
    torch.manual_seed(0)
    net = problems.ThresholdNetwork(mode=mode)
    net.train()
    train, _ = problems.threshold_task(64, 1, seed=0)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(net(train.x), train.y)
    loss.backward()
    return net.f_phi.weight.grad, net.g_theta[0].weight.grad, net


def test_threshold_network_mode_none_gives_no_gradient_to_f_phi():
    phi_grad, theta_grad, _ = _phi_grad("none")
    assert phi_grad is None or torch.equal(phi_grad, torch.zeros_like(phi_grad))
    assert theta_grad is not None and theta_grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["identity", "clipped", "sigmoid", "relaxed"])
def test_threshold_network_surrogate_modes_train_f_phi(mode):
    phi_grad, _, _ = _phi_grad(mode)
    assert phi_grad is not None and phi_grad.abs().sum() > 0


def test_threshold_network_identity_gradient_is_chain_rule_with_dz_df_one():
    phi_grad, _, net = _phi_grad("identity")
    train, _ = problems.threshold_task(64, 1, seed=0)
    # By hand: treat z as a leaf, get dL/dz, then dL/dW = sum_n dL/dz_n x_n^T.
    z = threshold(net.f_phi(train.x)).detach().requires_grad_(True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(net.g_theta(z).squeeze(-1), train.y)
    (dz,) = torch.autograd.grad(loss, z)
    torch.testing.assert_close(phi_grad, dz.T @ train.x)


def test_threshold_network_eval_uses_the_hard_threshold():
    torch.manual_seed(0)
    net = problems.ThresholdNetwork(mode="relaxed")
    x = torch.randn(10, 2)
    net.train()
    assert not ((net.code(x) == 0) | (net.code(x) == 1)).all()
    net.eval()
    code = net.code(x)
    assert torch.equal(code, (net.f_phi(x) > 0).float())
    assert net(x).shape == (10,)


def test_binary_accuracy():
    out = torch.tensor([2.0, -1.0, 0.5, -0.1])
    y = torch.tensor([1.0, 0.0, 0.0, 0.0])
    assert problems.binary_accuracy(out, y) == 0.75


# --- digits addition -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    by_image = {}
    for image, label in zip(data.data / 16.0, data.target, strict=True):
        by_image.setdefault(np.asarray(image, dtype=np.float32).tobytes(), set()).add(int(label))
    return by_image


def _rows(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().astype(np.float32).tobytes() for row in x}


def test_digits_addition_sums_and_labels(digits):
    train, test = problems.digits_addition(300, 200, seed=0)
    assert len(train) == 300 and len(test) == 200
    for pairs in (train, test):
        assert pairs.x1.shape == (len(pairs), 64) and pairs.x2.shape == (len(pairs), 64)
        assert pairs.x1.min() >= 0 and pairs.x1.max() <= 1
        assert torch.equal(pairs.sums, pairs.d1 + pairs.d2)
        # Every image is a bundled digit image carrying its stated label.
        for x, d in ((pairs.x1, pairs.d1), (pairs.x2, pairs.d2)):
            for row, label in zip(x, d.tolist(), strict=True):
                assert label in digits[row.numpy().astype(np.float32).tobytes()]


def test_digits_addition_train_and_test_images_are_disjoint():
    train, test = problems.digits_addition(2000, 1000, seed=1)
    train_rows = _rows(train.x1) | _rows(train.x2)
    test_rows = _rows(test.x1) | _rows(test.x2)
    assert len(test_rows) > 100
    assert train_rows.isdisjoint(test_rows)


def test_digits_addition_is_seeded():
    a, _ = problems.digits_addition(20, 5, seed=4)
    b, _ = problems.digits_addition(20, 5, seed=4)
    c, _ = problems.digits_addition(20, 5, seed=5)
    assert torch.equal(a.x1, b.x1) and torch.equal(a.sums, b.sums)
    assert not torch.equal(a.x1, c.x1)


def test_sum_log_likelihood_matches_brute_force_double_loop():
    generator = torch.Generator().manual_seed(0)
    logits1 = torch.randn(6, 10, generator=generator, dtype=torch.float64) * 2
    logits2 = torch.randn(6, 10, generator=generator, dtype=torch.float64) * 2
    sums = torch.tensor([0, 18, 9, 4, 13, 11])
    got = problems.sum_log_likelihood(logits1, logits2, sums)
    for n in range(6):
        p1 = [math.exp(v) for v in logits1[n].tolist()]
        p2 = [math.exp(v) for v in logits2[n].tolist()]
        z1, z2 = sum(p1), sum(p2)
        total = 0.0
        for i in range(10):
            for j in range(10):
                if i + j == int(sums[n]):
                    total += p1[i] / z1 * p2[j] / z2
        assert float(got[n]) == pytest.approx(math.log(total), rel=1e-10)


def test_sum_log_likelihood_is_differentiable():
    logits1 = torch.zeros(2, 10, requires_grad=True)
    logits2 = torch.zeros(2, 10, requires_grad=True)
    value = problems.sum_log_likelihood(logits1, logits2, torch.tensor([0, 9]))
    # Uniform digits: P(s = 0) = 1/100, P(s = 9) = 10/100.
    torch.testing.assert_close(value, torch.log(torch.tensor([0.01, 0.1])))
    value.sum().backward()
    assert torch.isfinite(logits1.grad).all() and logits1.grad.abs().sum() > 0


def test_addition_loss_kinds():
    d = torch.tensor([[[3, 4], [9, 9], [0, 1]]])  # (n=1, B=3, 2 digits)
    z = torch.nn.functional.one_hot(d, 10).float()  # (1, 3, 2, 10)
    sums = torch.tensor([7, 17, 5])
    squared = problems.addition_loss(z, sums, "squared")
    zero_one = problems.addition_loss(z, sums, "zero_one")
    assert squared.shape == (1, 3) and zero_one.shape == (1, 3)
    torch.testing.assert_close(squared, torch.tensor([[0.0, 1.0, 16.0]]))
    torch.testing.assert_close(zero_one, torch.tensor([[0.0, 1.0, 1.0]]))
    # Relaxed input: a uniform "digit" reads as 4.5, so two of them read as 9.
    uniform = torch.full((2, 1, 2, 10), 0.1)
    torch.testing.assert_close(
        problems.addition_loss(uniform, torch.tensor([9])), torch.zeros(2, 1)
    )
    with pytest.raises(ValueError, match="kind"):
        problems.addition_loss(z, sums, "hinge")


def test_digit_accuracy_of_an_oracle_classifier():
    _, test = problems.digits_addition(5, 40, seed=0)
    lookup = {}
    for x, d in ((test.x1, test.d1), (test.x2, test.d2)):
        for row, label in zip(x, d.tolist(), strict=True):
            lookup[row.numpy().tobytes()] = label

    class Oracle(torch.nn.Module):
        def forward(self, x):
            labels = torch.tensor([lookup[row.numpy().tobytes()] for row in x])
            return torch.nn.functional.one_hot(labels, 10).float()

    assert problems.digit_accuracy(Oracle(), test) == 1.0
    classifier = problems.digit_classifier()
    assert classifier(test.x1).shape == (40, 10)
    assert 0.0 <= problems.digit_accuracy(classifier, test) <= 1.0
