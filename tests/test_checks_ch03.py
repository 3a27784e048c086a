"""Tests of chapter 3's checkers: right answers pass, wrong ones get a readable verdict."""

from __future__ import annotations

import pytest
import torch

from stelib.checks import CHECKERS, Verdict, ch03

# --- reference solutions (the notebook's) ----------------------------------------------


def gumbel_max_sample(logits, n, generator=None):
    u = torch.rand((n, logits.shape[-1]), generator=generator, dtype=logits.dtype)
    u = u.clamp(min=torch.finfo(logits.dtype).tiny)
    index = (logits - torch.log(-torch.log(u))).argmax(-1)
    return torch.nn.functional.one_hot(index, logits.shape[-1]).to(logits.dtype)


def relaxed_sample(logits, tau, gumbels):
    return torch.softmax((logits + gumbels) / tau, dim=-1)


def binary_concrete_sample(logit, tau, u):
    return torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / tau)


# --- wrong answers ---------------------------------------------------------------------


def _max_plus_uniform(logits, n, generator=None):
    """Uniform instead of Gumbel noise: one-hot, but the wrong frequencies."""
    u = torch.rand((n, logits.shape[-1]), generator=generator)
    return torch.nn.functional.one_hot((logits + u).argmax(-1), logits.shape[-1]).float()


def _probabilities_plus_gumbel(logits, n, generator=None):
    """Gumbel noise added to the probabilities instead of the logits."""
    u = torch.rand((n, logits.shape[-1]), generator=generator).clamp(min=1e-30)
    scores = torch.softmax(logits, -1) - torch.log(-torch.log(u))
    return torch.nn.functional.one_hot(scores.argmax(-1), logits.shape[-1]).float()


def _global_rng(logits, n, generator=None):
    """Ignores the generator: right distribution, not reproducible."""
    return gumbel_max_sample(logits, n, None)


def _soft_rows(logits, n, generator=None):
    """Returns probabilities, not one-hot samples."""
    return torch.softmax(logits, -1).expand(n, -1).clone()


def _naive_softmax(logits, tau, gumbels):
    """exp / sum without the max shift: overflows for extreme logits and small tau."""
    e = torch.exp((logits + gumbels) / tau)
    return e / e.sum(-1, keepdim=True)


def _forgot_tau(logits, tau, gumbels):
    return torch.softmax(logits + gumbels, dim=-1)


def _detached(logits, tau, gumbels):
    return relaxed_sample(logits.detach(), tau, gumbels)


def _flattened(logits, tau, gumbels):
    return relaxed_sample(logits, tau, gumbels).reshape(-1)


def _gumbel_in_binary(logit, tau, u):
    """Gumbel noise where logistic noise belongs: wrong values and wrong frequencies."""
    return torch.sigmoid((logit - torch.log(-torch.log(u))) / tau)


def _tau_multiplied(logit, tau, u):
    return torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) * tau)


# --- common bad behaviours -------------------------------------------------------------


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


def _nan_like_first(first, second, third):
    shape = torch.broadcast_shapes(torch.as_tensor(first).shape, torch.as_tensor(third).shape)
    return torch.full(shape, float("nan"))


def _nan_gumbel_max(logits, n, generator=None):
    return torch.full((n, logits.shape[-1]), float("nan"))


def _wrong_shape_gumbel_max(logits, n, generator=None):
    return gumbel_max_sample(logits, n, generator).T


def _wrong_shape_binary(logit, tau, u):
    return binary_concrete_sample(logit, tau, u)[..., None]


CHECKS = {
    "gumbel-max": (
        ch03.check_gumbel_max,
        gumbel_max_sample,
        _nan_gumbel_max,
        _wrong_shape_gumbel_max,
    ),
    "relaxed": (ch03.check_relaxed_sample, relaxed_sample, _nan_like_first, _flattened),
    "binary": (
        ch03.check_binary_concrete,
        binary_concrete_sample,
        _nan_like_first,
        _wrong_shape_binary,
    ),
}

WRONG = [
    (ch03.check_gumbel_max, _max_plus_uniform),
    (ch03.check_gumbel_max, _probabilities_plus_gumbel),
    (ch03.check_gumbel_max, _global_rng),
    (ch03.check_gumbel_max, _soft_rows),
    (ch03.check_relaxed_sample, _naive_softmax),
    (ch03.check_relaxed_sample, _forgot_tau),
    (ch03.check_relaxed_sample, _detached),
    (ch03.check_binary_concrete, _gumbel_in_binary),
    (ch03.check_binary_concrete, _tau_multiplied),
]


def test_registered():
    labels = {"ex-ch03-gumbel-max", "ex-ch03-relaxed-sample", "ex-ch03-binary-concrete"}
    assert labels <= set(CHECKERS)
    assert CHECKERS["ex-ch03-gumbel-max"] == ("gumbel_max_sample", ch03.check_gumbel_max)
    assert CHECKERS["ex-ch03-relaxed-sample"] == ("relaxed_sample", ch03.check_relaxed_sample)
    assert CHECKERS["ex-ch03-binary-concrete"] == (
        "binary_concrete_sample",
        ch03.check_binary_concrete,
    )


@pytest.mark.parametrize("name", CHECKS)
def test_solution_passes(name):
    check, solution, _, _ = CHECKS[name]
    verdict = check(solution)
    assert isinstance(verdict, Verdict)
    assert verdict.status == "passed", repr(verdict)
    assert verdict.score == 1.0
    assert "PASSED" in repr(verdict)


@pytest.mark.parametrize(("check", "wrong"), WRONG, ids=[w.__name__ for _, w in WRONG])
def test_wrong_answer_fails_with_hint(check, wrong):
    verdict = check(wrong)
    assert verdict.status in ("failed", "error"), repr(verdict)
    assert verdict.score < 1.0
    assert verdict.hint
    assert "Hint:" in repr(verdict)


def test_naive_softmax_is_caught_by_overflow():
    verdict = ch03.check_relaxed_sample(_naive_softmax)
    assert not verdict.passed
    assert any("NaN" in d for d in verdict.details), verdict.details
    assert verdict.score == 0.75


def test_global_rng_is_reported_as_not_reproducible():
    verdict = ch03.check_gumbel_max(_global_rng)
    assert any("generator" in d for d in verdict.details), verdict.details
    assert verdict.score == 0.75


@pytest.mark.parametrize("name", CHECKS)
def test_nan_is_reported(name):
    check, _, nan_fn, _ = CHECKS[name]
    verdict = check(nan_fn)
    assert not verdict.passed
    assert verdict.score < 1.0
    assert "NaN" in repr(verdict)


@pytest.mark.parametrize("name", CHECKS)
def test_wrong_shape_is_reported(name):
    check, _, _, wrong_shape = CHECKS[name]
    verdict = check(wrong_shape)
    assert not verdict.passed
    assert verdict.score < 1.0
    assert "shape" in repr(verdict)


def test_checkers_are_deterministic():
    first = ch03.check_gumbel_max(_max_plus_uniform)
    second = ch03.check_gumbel_max(_max_plus_uniform)
    assert repr(first) == repr(second)
