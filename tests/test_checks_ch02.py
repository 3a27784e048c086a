"""Tests of chapter 2's checkers: right answers pass, wrong ones get a readable verdict."""

from __future__ import annotations

import pytest
import torch

import stelib
from stelib.checks import CHECKERS, ch02

# --- reference solutions --------------------------------------------------------------


def sigmoid_ste(f):
    hard = (f > 0).to(f.dtype)
    soft = torch.sigmoid(f)
    return hard + (soft - soft.detach())


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f):
        ctx.save_for_backward(f)
        return torch.where(f > 0, 1.0, -1.0).to(f.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (f,) = ctx.saved_tensors
        return grad_output * (f.abs() <= 1).to(grad_output.dtype)


def sign_ste(f):
    return _SignSTE.apply(f)


SOLUTIONS = {
    "sigmoid": (ch02.check_sigmoid_ste, sigmoid_ste),
    "sign": (ch02.check_sign_ste, sign_ste),
}

# --- wrong answers --------------------------------------------------------------------


def _sigmoid_rounding(f):
    """The naive detach trick: (hard + soft) - soft rounds in floating point."""
    hard = (f > 0).to(f.dtype)
    soft = torch.sigmoid(f)
    return hard + soft - soft.detach()


def _sigmoid_identity_backward(f):
    return stelib.ste_threshold(f, "identity")


def _sigmoid_relaxed_forward(f):
    return torch.sigmoid(f)


def _sigmoid_no_gradient(f):
    return (f > 0).to(f.dtype)


def _sigmoid_ge(f):
    hard = (f >= 0).to(f.dtype)
    soft = torch.sigmoid(f)
    return hard + (soft - soft.detach())


def _sign_strict_boundary(f):
    soft = torch.where(f.abs() < 1, f, f.detach())
    hard = torch.where(f > 0, 1.0, -1.0).to(f.dtype)
    return hard + (soft - soft.detach())


def _sign_identity_backward(f):
    return stelib.ste_sign(f, "identity")


def _sign_torch_sign(f):
    soft = f.clamp(-1, 1)
    return torch.sign(f) + (soft - soft.detach())


def _sign_zero_one(f):
    return stelib.ste_threshold(f, "clipped")


WRONG = {
    "sigmoid": [
        _sigmoid_rounding,
        _sigmoid_identity_backward,
        _sigmoid_relaxed_forward,
        _sigmoid_no_gradient,
        _sigmoid_ge,
    ],
    "sign": [_sign_strict_boundary, _sign_identity_backward, _sign_torch_sign, _sign_zero_one],
}

# --- crashing, NaN, wrongly shaped, unimplemented, not callable -----------------------


def _nan(f):
    return f * float("nan")


def _wrong_shape(f):
    return stelib.ste_threshold(f).reshape(-1)[:3]


def _not_implemented(f):
    raise NotImplementedError


def _wrong_dtype(f):
    return stelib.ste_threshold(f.double() if f.dtype == torch.float32 else f.float())


@pytest.mark.parametrize("key", SOLUTIONS)
def test_solution_passes(key):
    checker, solution = SOLUTIONS[key]
    verdict = checker(solution)
    assert verdict.status == "passed", repr(verdict)
    assert verdict.score == 1.0
    assert "PASSED" in repr(verdict)


def test_library_ops_pass():
    assert ch02.check_sigmoid_ste(lambda f: stelib.ste_threshold(f, "sigmoid")).passed
    assert ch02.check_sign_ste(lambda f: stelib.ste_sign(f, "clipped")).passed


@pytest.mark.parametrize("key,wrong", [(k, w) for k, ws in WRONG.items() for w in ws])
def test_wrong_answer_fails_with_hint(key, wrong):
    checker, _ = SOLUTIONS[key]
    verdict = checker(wrong)
    assert not verdict.passed
    assert verdict.score < 1.0
    assert verdict.hint
    assert verdict.details


def test_rounding_pitfall_is_explained():
    verdict = ch02.check_sigmoid_ste(_sigmoid_rounding)
    assert verdict.status == "failed"
    assert "exactly" in repr(verdict)


def test_missing_gradient_is_explained():
    verdict = ch02.check_sigmoid_ste(_sigmoid_no_gradient)
    assert "no gradient reaches f" in repr(verdict)


@pytest.mark.parametrize("key", SOLUTIONS)
def test_nan_is_reported(key):
    checker, _ = SOLUTIONS[key]
    verdict = checker(_nan)
    assert not verdict.passed
    assert "NaN" in repr(verdict)


@pytest.mark.parametrize("key", SOLUTIONS)
def test_wrong_shape_is_reported(key):
    checker, _ = SOLUTIONS[key]
    verdict = checker(_wrong_shape)
    assert not verdict.passed
    assert "shape" in repr(verdict)


@pytest.mark.parametrize("key", SOLUTIONS)
def test_wrong_dtype_is_reported(key):
    checker, _ = SOLUTIONS[key]
    verdict = checker(_wrong_dtype)
    assert not verdict.passed
    assert "dtype" in repr(verdict)


def test_registry():
    assert CHECKERS["ex-ch02-sigmoid-ste"] == ("sigmoid_ste", ch02.check_sigmoid_ste)
    assert CHECKERS["ex-ch02-sign-ste"] == ("sign_ste", ch02.check_sign_ste)


# --- the library functions chapter 2 appended ------------------------------------------


def test_random_multilinear_rescaling_identity():
    """dE/da_i = sigmoid'(a_i) E[dL/dz_i], exactly, for the random multilinear loss."""
    objective = stelib.problems.random_multilinear(3, generator=torch.Generator().manual_seed(0))
    a = objective.logits
    z = stelib.exact.outcomes(a).requires_grad_(True)
    (dl_dz,) = torch.autograd.grad(objective.f(z).sum(), z)
    weights = stelib.exact.joint_log_prob(z.detach(), a).exp()
    expected_ste = (weights[:, None] * dl_dz).sum(0)
    slope = torch.sigmoid(a) * torch.sigmoid(-a)
    exact = stelib.exact.exact_gradient(objective.f, a)
    assert torch.allclose(exact, slope * expected_ste, atol=1e-6)


def test_random_multilinear_is_affine_in_each_variable():
    objective = stelib.problems.random_multilinear(4, generator=torch.Generator().manual_seed(1))
    z = torch.rand(5, 4, generator=torch.Generator().manual_seed(2))
    for i in range(4):
        lo, mid, hi = z.clone(), z.clone(), z.clone()
        lo[:, i], mid[:, i], hi[:, i] = 0.0, 0.5, 1.0
        assert torch.allclose(objective.f(mid), (objective.f(lo) + objective.f(hi)) / 2, atol=1e-6)


def test_random_multilinear_is_seeded_and_validates():
    first = stelib.problems.random_multilinear(3, generator=torch.Generator().manual_seed(7))
    second = stelib.problems.random_multilinear(3, generator=torch.Generator().manual_seed(7))
    z = stelib.exact.outcomes(first.logits)
    assert torch.equal(first.logits, second.logits)
    assert torch.equal(first.f(z), second.f(z))
    with pytest.raises(ValueError, match="d must be at most 10"):
        stelib.problems.random_multilinear(11)
    with pytest.raises(ValueError, match="d"):
        stelib.problems.random_multilinear(0)


def test_chapter_2_plots_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = torch.linspace(-2, 2, 11)
    fig, axes = stelib.plotting.subplots(2)
    left, right = stelib.plotting.plot_surrogates(
        axes,
        x,
        {"identity": x, "ReLU": x.relu()},
        {"identity": torch.ones_like(x)},
        hard=stelib.threshold(x),
    )
    assert len(left.get_lines()) == 3 and len(right.get_lines()) == 1
    ax = stelib.plotting.plot_threshold_lines(
        axes[0],
        torch.rand(20, 2) * 2 - 1,
        torch.arange(20) % 2,
        torch.tensor([[1.0, 0.5], [0.0, 1.0], [1.0, 0.0]]),
        torch.tensor([0.1, -0.2, 0.0]),
        reference=(torch.eye(2), torch.zeros(2)),
    )
    assert ax.get_xlim() == (-1.0, 1.0)
    plt.close(fig)
