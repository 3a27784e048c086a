"""Checkers for chapter 3's coding exercises (the Gumbel trick).

Every expected value is computed from the definition (``softmax(logits)`` for the
Gumbel-max frequencies, the Concrete formulas with PyTorch's stable ``softmax`` and
``sigmoid``) or from the library (:func:`stelib.gumbel_softmax`), never hard-coded.
"""

from __future__ import annotations

import math

import torch

from ..gumbel import gumbel_softmax, sample_gumbel
from . import register
from ._core import Verdict, as_tensor, call, run_cases

__all__ = ["check_gumbel_max", "check_relaxed_sample", "check_binary_concrete"]

P_VALUE_MIN = 1e-3
"""A chi-square p-value below this fails the frequency check (a correct sampler fails
it at one fixed seed with probability 0.001)."""


def _fmt(x: torch.Tensor) -> str:
    """A short, rounded rendering of a tensor for messages."""
    values = [f"{v:.4g}" for v in x.detach().reshape(-1).tolist()]
    return values[0] if x.dim() == 0 else "[" + ", ".join(values) + "]"


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _one_hot_rows(out: torch.Tensor, what: str) -> torch.Tensor:
    """``out`` as float64, after checking that every row is a one-hot vector."""
    out = out.detach().to(torch.float64)
    assert bool(((out == 0) | (out == 1)).all()), (
        f"{what} should contain only 0 and 1 (one-hot rows), but some entries are other values"
    )
    sums = out.sum(-1)
    assert bool((sums == 1).all()), (
        f"every row of {what} should contain exactly one 1; found a row with {int(sums.min())} "
        f"to {int(sums.max())} ones"
    )
    return out


# --- ex-ch03-gumbel-max ----------------------------------------------------------------


@register("ex-ch03-gumbel-max", function="gumbel_max_sample")
def check_gumbel_max(fn) -> Verdict:
    """``gumbel_max_sample(logits, n, generator)``: n exact one-hot samples from softmax(logits)."""
    logits = torch.tensor([1.0, 0.0, -1.0, 0.5])
    k = logits.numel()

    def case_shape(fn):
        out = as_tensor(call(fn, logits, 50, _generator(0)), "the returned tensor", shape=(50, k))
        _one_hot_rows(out, "the returned tensor")
        one = as_tensor(call(fn, logits, 1, _generator(1)), "the result for n=1", shape=(1, k))
        _one_hot_rows(one, "the result for n=1")

    def case_frequencies(fn):
        from scipy.stats import chisquare

        n = 20_000
        out = as_tensor(call(fn, logits, n, _generator(2024)), "the returned tensor", shape=(n, k))
        counts = _one_hot_rows(out, "the returned tensor").sum(0)
        probs = torch.softmax(logits.double(), -1)
        stat, p_value = chisquare(counts.numpy(), (probs * n).numpy())
        worst = int((counts / n - probs).abs().argmax())
        assert p_value >= P_VALUE_MIN, (
            f"the frequencies of {n} samples do not match softmax(logits) (chi-square = "
            f"{stat:.1f}, p-value = {p_value:.2g}); e.g. category {worst} was drawn with frequency "
            f"{float(counts[worst]) / n:.3f} but its probability is {float(probs[worst]):.3f}"
        )

    def case_masked(fn):
        masked = torch.tensor([0.0, -math.inf, 1.0, -math.inf, 0.5])
        n = 5_000
        out = as_tensor(
            call(fn, masked, n, _generator(3)), "the result for masked logits", shape=(n, 5)
        )
        counts = _one_hot_rows(out, "the result for masked logits").sum(0)
        drawn = int(counts[torch.isinf(masked)].sum())
        assert drawn == 0, (
            f"categories with logit -inf have probability 0 but were drawn {drawn} times in {n} "
            "samples"
        )

    def case_generator(fn):
        first = as_tensor(call(fn, logits, 200, _generator(7)), "the returned tensor")
        second = as_tensor(call(fn, logits, 200, _generator(7)), "the returned tensor")
        assert torch.equal(first, second), (
            "two calls with generators seeded alike gave different samples: draw all the noise "
            "with the generator you are given (torch.rand(..., generator=generator))"
        )

    return run_cases(
        "ex-ch03-gumbel-max",
        fn,
        [case_shape, case_frequencies, case_masked, case_generator],
        hint=(
            "Draw u = torch.rand((n, K), generator=generator), keep it away from 0 (clamp), "
            "set g = -log(-log u), take the argmax of logits + g over the last dimension and "
            "turn the index into a one-hot row (torch.nn.functional.one_hot)."
        ),
        success=(
            "one-hot samples whose frequencies match softmax(logits), masked categories never "
            "drawn, reproducible with the generator."
        ),
    )


# --- ex-ch03-relaxed-sample ------------------------------------------------------------


def _relaxed_reference(logits: torch.Tensor, tau: float, gumbels: torch.Tensor) -> torch.Tensor:
    return torch.softmax((logits + gumbels) / tau, dim=-1)


@register("ex-ch03-relaxed-sample", function="relaxed_sample")
def check_relaxed_sample(fn) -> Verdict:
    """``relaxed_sample(logits, tau, gumbels)`` = softmax((logits + gumbels) / tau), stably."""

    def case_formula(fn):
        logits = torch.randn(5, generator=_generator(10))
        gumbels = sample_gumbel((5,), generator=_generator(11))
        for tau in (0.3, 1.0, 4.0):
            out = as_tensor(call(fn, logits, tau, gumbels), f"the result at tau={tau}", shape=(5,))
            expected = _relaxed_reference(logits, tau, gumbels)
            assert torch.allclose(out.to(expected.dtype), expected, atol=1e-5), (
                f"at tau={tau} the result differs from softmax((logits + gumbels) / tau) by up "
                f"to {float((out - expected).abs().max()):.3g}"
            )

    def case_batch_and_library(fn):
        logits = torch.tensor([0.2, -1.0, 1.5])
        n, tau = 64, 0.5
        gumbels = sample_gumbel((n, 3), generator=_generator(12))
        out = as_tensor(call(fn, logits, tau, gumbels), "the batched result", shape=(n, 3))
        library = gumbel_softmax(logits.expand(n, 3), tau, generator=_generator(12))
        assert torch.allclose(out.to(library.dtype), library, atol=1e-5), (
            "with logits of shape (K,) and gumbels of shape (n, K) the result should be n "
            "relaxed samples, equal to stelib.gumbel_softmax with the same noise; it differs "
            f"by up to {float((out - library).abs().max()):.3g}"
        )

    def case_extreme(fn):
        logits = torch.tensor([1e4, -1e4, 0.0, -math.inf])
        gumbels = sample_gumbel((4,), generator=_generator(13))
        for tau in (1.0, 1e-3):
            out = as_tensor(
                call(fn, logits, tau, gumbels),
                f"the result for extreme logits at tau={tau}",
                shape=(4,),
            )
            expected = _relaxed_reference(logits, tau, gumbels)
            assert torch.allclose(out.to(expected.dtype), expected, atol=1e-5), (
                f"for logits {_fmt(logits)} at tau={tau} the result should be "
                f"{_fmt(expected)}, got {_fmt(out)}"
            )

    def case_gradient(fn):
        leaf = torch.tensor([0.3, -0.2, 0.8, 0.0], requires_grad=True)
        gumbels = sample_gumbel((4,), generator=_generator(14))
        weights = torch.tensor([1.0, -2.0, 0.5, 3.0])
        out = call(fn, leaf, 0.7, gumbels)
        assert isinstance(out, torch.Tensor) and out.requires_grad, (
            "the result carries no gradient: use torch operations only (no .detach(), "
            ".item() or NumPy) so that gradients flow back to the logits"
        )
        (grad,) = torch.autograd.grad((out * weights).sum(), leaf)
        reference = leaf.detach().requires_grad_(True)
        (expected,) = torch.autograd.grad(
            (_relaxed_reference(reference, 0.7, gumbels) * weights).sum(), reference
        )
        assert torch.allclose(grad, expected, atol=1e-5), (
            "the gradient with respect to the logits differs from that of "
            "softmax((logits + gumbels) / tau)"
        )

    return run_cases(
        "ex-ch03-relaxed-sample",
        fn,
        [case_formula, case_batch_and_library, case_extreme, case_gradient],
        hint=(
            "Return torch.softmax((logits + gumbels) / tau, dim=-1): PyTorch's softmax "
            "subtracts the maximum first, so huge logits and tiny temperatures cannot "
            "overflow, which exp(x) / exp(x).sum() does."
        ),
        success=(
            "softmax((logits + gumbels) / tau): exact, batched, stable for extreme logits, "
            "and differentiable."
        ),
    )


# --- ex-ch03-binary-concrete -----------------------------------------------------------


def _binary_reference(logit: torch.Tensor, tau: float, u: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / tau)


@register("ex-ch03-binary-concrete", function="binary_concrete_sample")
def check_binary_concrete(fn) -> Verdict:
    """``binary_concrete_sample(logit, tau, u)`` = sigmoid((logit + log u - log(1-u)) / tau)."""

    def case_formula(fn):
        logit = torch.tensor([-2.0, -0.3, 0.0, 0.7, 2.5, 1.0])
        u = torch.rand(6, generator=_generator(20)).clamp(min=1e-6)
        for tau in (0.2, 1.0, 3.0):
            out = as_tensor(call(fn, logit, tau, u), f"the result at tau={tau}", shape=(6,))
            expected = _binary_reference(logit, tau, u)
            assert torch.allclose(out.to(expected.dtype), expected, atol=1e-5), (
                f"at tau={tau} the result differs from sigmoid((logit + log u - log(1 - u)) / tau) "
                f"by up to {float((out - expected).abs().max()):.3g}"
            )

    def case_bernoulli(fn):
        n = 10_000
        u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        for value in (-2.0, -0.3, 0.0, 1.5):
            logit = torch.tensor(value, dtype=torch.float64)
            out = as_tensor(
                call(fn, logit, 0.5, u), f"the result for a scalar logit {value}", shape=(n,)
            )
            frequency = float((out > 0.5).double().mean())
            expected = float(torch.sigmoid(logit))
            assert abs(frequency - expected) <= 2.0 / n, (
                f"with u spread evenly over (0, 1), the fraction of samples above 1/2 should be "
                f"sigmoid({value}) = {expected:.4f} (an exact Bernoulli sample), got {frequency:.4f}"
            )

    def case_extreme(fn):
        logit = torch.tensor([30.0, -30.0, 0.0, 5.0, -5.0])
        u = torch.tensor([1e-30, 1e-12, 0.5, 1 - 1e-7, 0.999])
        for tau in (1.0, 0.05):
            out = as_tensor(
                call(fn, logit, tau, u), f"the result for extreme inputs at tau={tau}", shape=(5,)
            )
            expected = _binary_reference(logit, tau, u)
            assert torch.allclose(out.to(expected.dtype), expected, atol=1e-5), (
                f"for logit {_fmt(logit)}, u {_fmt(u)} at tau={tau} the result should be "
                f"{_fmt(expected)}, got {_fmt(out)}"
            )

    def case_gradient(fn):
        leaf = torch.tensor([0.4, -1.2, 2.0], requires_grad=True)
        u = torch.tensor([0.3, 0.6, 0.9])
        out = call(fn, leaf, 0.5, u)
        assert isinstance(out, torch.Tensor) and out.requires_grad, (
            "the result carries no gradient: use torch operations only (no .detach(), "
            ".item() or NumPy) so that gradients flow back to the logit"
        )
        (grad,) = torch.autograd.grad(out.sum(), leaf)
        reference = leaf.detach().requires_grad_(True)
        (expected,) = torch.autograd.grad(_binary_reference(reference, 0.5, u).sum(), reference)
        assert torch.allclose(grad, expected, atol=1e-5), (
            "the gradient with respect to the logit differs from that of "
            "sigmoid((logit + log u - log(1 - u)) / tau)"
        )

    return run_cases(
        "ex-ch03-binary-concrete",
        fn,
        [case_formula, case_bernoulli, case_extreme, case_gradient],
        hint=(
            "Logistic noise is log(u) - log(1 - u) (torch.log1p(-u) is accurate for small u); "
            "add it to the logit, divide by tau and apply torch.sigmoid."
        ),
        success=(
            "sigmoid((logit + log u - log(1 - u)) / tau): exact, its hard version is an exact "
            "Bernoulli(sigmoid(logit)) sample, stable and differentiable."
        ),
    )
