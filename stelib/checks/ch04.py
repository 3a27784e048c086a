"""Checkers for chapter 4's coding exercises ("REINFORCE").

Every expected value is computed here from the library (``stelib.exact.log_prob``,
``stelib.exact.outcomes``, ``stelib.exact.exact_gradient``) or from the defining
formula, never hard-coded. Random inputs come from local, seeded generators, so a
checker never touches PyTorch's global random state.
"""

from __future__ import annotations

import torch

from .. import exact
from . import register
from ._core import StudentError, Verdict, as_tensor, call, run_cases

__all__ = [
    "check_bernoulli_score",
    "check_reinforce_grad",
    "check_rloo_baseline",
    "check_optimal_baseline",
]


def _fmt(x: torch.Tensor) -> str:
    """A short, rounded rendering of a tensor for messages."""
    values = [f"{round(v, 6) + 0.0:.4g}" for v in x.detach().reshape(-1).tolist()]
    if x.dim() == 0:
        return values[0]
    if len(values) > 8:
        values = values[:8] + ["..."]
    return "[" + ", ".join(values) + "]"


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _scalar(value, name: str) -> torch.Tensor:
    """A single number as a 0-dim tensor (a 0-dim or one-element result is accepted)."""
    out = as_tensor(value, name)
    if out.numel() != 1:
        raise StudentError(
            f"{name} should be a single number (shape ()), got shape {tuple(out.shape)}"
        )
    return out.reshape(())


# --- ex-ch04-score ---------------------------------------------------------------------


def _autograd_score(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """d/da log p(z) entry by entry, by autograd through ``stelib.exact.log_prob``."""
    shape = torch.broadcast_shapes(z.shape, a.shape)
    leaf = a.detach().expand(shape).clone().requires_grad_(True)
    with torch.enable_grad():
        total = exact.log_prob(z.expand(shape), leaf, "bernoulli").sum()
        (grad,) = torch.autograd.grad(total, leaf)
    return grad


@register("ex-ch04-score", function="bernoulli_score")
def check_bernoulli_score(fn) -> Verdict:
    """``bernoulli_score(z, a)`` equals autograd's d/da log p(z) for z ~ Bern(sigmoid(a))."""
    gen = _generator(4)
    cases_in = {
        "a scalar (z = 1, a = 0.3)": (torch.tensor(1.0), torch.tensor(0.3)),
        "a scalar (z = 0, a = -1.2)": (torch.tensor(0.0), torch.tensor(-1.2)),
        "vectors of shape (6,)": (
            torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0]),
            torch.tensor([-2.0, -0.5, 0.0, 0.4, 1.5, 3.0]),
        ),
        "matrices of shape (3, 4)": (
            (torch.rand(3, 4, generator=gen) < 0.5).float(),
            torch.randn(3, 4, generator=gen) * 2,
        ),
        "samples z of shape (5, 3) and logits a of shape (3,) (broadcasting)": (
            (torch.rand(5, 3, generator=gen) < 0.5).float(),
            torch.randn(3, generator=gen),
        ),
        "large logits a = [-30, 30, -30, 30] with z = [0, 0, 1, 1]": (
            torch.tensor([0.0, 0.0, 1.0, 1.0]),
            torch.tensor([-30.0, 30.0, -30.0, 30.0]),
        ),
    }

    def make_case(name, z, a):
        def case(fn):
            expected = _autograd_score(z, a)
            out = as_tensor(call(fn, z.clone(), a.clone()), "the score", shape=expected.shape)
            assert torch.allclose(out.to(expected.dtype), expected, atol=1e-5), (
                f"for {name}: expected d/da log p(z) = {_fmt(expected)}, got {_fmt(out)}"
            )

        return case

    return run_cases(
        "ex-ch04-score",
        fn,
        [make_case(name, z, a) for name, (z, a) in cases_in.items()],
        hint=(
            "Write log p(z) = z log sigmoid(a) + (1 - z) log(1 - sigmoid(a)) and differentiate: "
            "d/da log sigmoid(a) = 1 - sigmoid(a) and d/da log(1 - sigmoid(a)) = -sigmoid(a). "
            "The result is one number per entry, with the broadcast shape of z and a."
        ),
        success="your score z - sigmoid(a) matches autograd's derivative of log p(z).",
    )


# --- ex-ch04-reinforce-grad ------------------------------------------------------------


def _objectives() -> dict[str, tuple[object, torch.Tensor]]:
    """Named losses (estimator convention: samples ``(n, d)`` -> losses ``(n,)``) and logits."""
    gen = _generator(40)
    table = torch.randn(16, generator=gen) * 2 + 1
    weights = 2 ** torch.arange(3, -1, -1)
    t = torch.tensor([0.45, 0.2, 0.8])
    return {
        "f(z) = (z - 0.45)^2 with one unit": (
            lambda z: ((z - 0.45) ** 2).sum(-1),
            torch.tensor([0.3]),
        ),
        "f(z) = sum_i (z_i - t_i)^2 with t = [0.45, 0.2, 0.8]": (
            lambda z: ((z - t) ** 2).sum(-1),
            torch.tensor([0.0, -0.85, 0.4]),
        ),
        "a black box f(z) = 3 * 1[z1 + z2 + z3 == 2] - 2 z1 (no gradient)": (
            lambda z: 3.0 * (z.sum(-1) == 2).float() - 2.0 * z[..., 0].round(),
            torch.tensor([1.0, -0.5, 0.2]),
        ),
        "a random table f(z) = T[z] over 4 units": (
            lambda z: table[(z.long() * weights).sum(-1)],
            torch.randn(4, generator=gen),
        ),
    }


@register("ex-ch04-reinforce-grad", function="reinforce_grad")
def check_reinforce_grad(fn) -> Verdict:
    """``reinforce_grad(f, a, z)``: one estimate f(z_i)(z_i - sigmoid(a)) per sample whose
    exact expectation (enumeration) equals stelib.exact.exact_gradient."""
    objectives = _objectives()

    def make_enumeration_case(name, f, a):
        def case(fn):
            z = exact.outcomes(a)
            weights = exact.joint_log_prob(z, a).exp()
            out = as_tensor(call(fn, f, a.clone(), z.clone()), "the estimates", shape=z.shape)
            mean = (weights[:, None] * out.detach().to(a.dtype)).sum(0)
            expected = exact.exact_gradient(f, a)
            assert torch.allclose(mean, expected, atol=1e-5), (
                f"for {name}: the expectation of your estimator over all {len(z)} outcomes "
                f"is {_fmt(mean)}, but the exact gradient is {_fmt(expected)}"
            )

        return case

    def case_per_sample(fn):
        name, (f, a) = list(objectives.items())[1]
        z = (torch.rand(6, 3, generator=_generator(41)) < torch.sigmoid(a)).float()
        rows = a.detach().expand(6, 3).clone().requires_grad_(True)
        with torch.enable_grad():
            log_p = exact.log_prob(z, rows).sum(-1)
            (expected,) = torch.autograd.grad((f(z).detach() * log_p).sum(), rows)
        out = as_tensor(call(fn, f, a.clone(), z.clone()), "the estimates", shape=z.shape)
        assert torch.allclose(out.detach().to(a.dtype), expected, atol=1e-5), (
            f"for {name} and 6 samples: row i should be f(z_i) * d/da log p(z_i) = "
            f"{_fmt(expected)}, got {_fmt(out)}"
        )

    cases = [case_per_sample]
    cases += [make_enumeration_case(name, f, a) for name, (f, a) in objectives.items()]
    return run_cases(
        "ex-ch04-reinforce-grad",
        fn,
        cases,
        hint=(
            "f(z) returns one loss per sample, shape (n,); the score of each sample is "
            "z - sigmoid(a), shape (n, d). Multiply each row of the score by its own loss: "
            "f(z)[:, None] * (z - torch.sigmoid(a)). Do not differentiate f: it may be a black box."
        ),
        success=(
            "weighting your single-sample estimates by the probability of each outcome gives "
            "exactly the gradient of E[f]: REINFORCE is unbiased."
        ),
    )


# --- ex-ch04-rloo ----------------------------------------------------------------------


def _leave_one_out(losses: torch.Tensor) -> torch.Tensor:
    """The mean of the other samples' losses, by an explicit loop over the samples."""
    n = losses.shape[0]
    rows = [torch.cat([losses[:i], losses[i + 1 :]]).mean(0) for i in range(n)]
    return torch.stack(rows)


@register("ex-ch04-rloo", function="rloo_baseline")
def check_rloo_baseline(fn) -> Verdict:
    """``rloo_baseline(losses)``: b_i = mean of the other n - 1 losses, shape of ``losses``."""
    gen = _generator(42)
    cases_in = {
        "losses = [1, 2, 3, 6]": torch.tensor([1.0, 2.0, 3.0, 6.0]),
        "two samples, losses = [0.5, -1.5]": torch.tensor([0.5, -1.5]),
        "losses of shape (8,)": torch.randn(8, generator=gen),
        "per-example losses of shape (5, 3) (5 samples, 3 examples)": torch.randn(
            5, 3, generator=gen
        ),
        "per-example losses of shape (2, 4)": torch.randn(2, 4, generator=gen),
    }

    def make_case(name, losses):
        def case(fn):
            expected = _leave_one_out(losses)
            out = as_tensor(call(fn, losses.clone()), "the baseline", shape=losses.shape)
            assert torch.allclose(out.to(losses.dtype), expected, atol=1e-5), (
                f"for {name}: expected b_i = mean of the other samples = {_fmt(expected)}, "
                f"got {_fmt(out)}"
            )

        return case

    return run_cases(
        "ex-ch04-rloo",
        fn,
        [make_case(name, losses) for name, losses in cases_in.items()],
        hint=(
            "Sample i's baseline must not use sample i: b_i = (sum_j f_j - f_i) / (n - 1), "
            "with the sum over the first (sample) dimension and keepdim=True so that the shape "
            "of losses is kept."
        ),
        success="your leave-one-out baseline averages exactly the other n - 1 samples.",
    )


# --- ex-ch04-optimal-baseline ----------------------------------------------------------


def _baseline_variance(f, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Total variance of the one-sample estimator (f(z) - b)(z - sigmoid(a)), by enumeration."""
    z = exact.outcomes(a)
    weights = exact.joint_log_prob(z, a).exp()
    g = (f(z) - b)[:, None] * (z - torch.sigmoid(a))
    mean = (weights[:, None] * g).sum(0)
    return (weights[:, None] * (g - mean) ** 2).sum()


def _reference_optimal_baseline(f, a: torch.Tensor) -> torch.Tensor:
    z = exact.outcomes(a)
    weights = exact.joint_log_prob(z, a).exp()
    norm2 = ((z - torch.sigmoid(a)) ** 2).sum(-1)
    return (weights * f(z) * norm2).sum() / (weights * norm2).sum()


@register("ex-ch04-optimal-baseline", function="optimal_baseline")
def check_optimal_baseline(fn) -> Verdict:
    """``optimal_baseline(f, a)`` is E[f |s|^2] / E[|s|^2] (enumeration) and minimises the
    exact total variance of the one-sample REINFORCE estimator."""
    objectives = _objectives()

    def make_case(name, f, a):
        def case(fn):
            out = _scalar(call(fn, f, a.clone()), "the baseline").detach().to(a.dtype)
            expected = _reference_optimal_baseline(f, a)
            expectation = exact.expectation(f, a)
            assert torch.allclose(out, expected, atol=1e-4), (
                f"for {name}: expected b* = E[f |s|^2] / E[|s|^2] = {_fmt(expected)}, got "
                f"{_fmt(out)} (E[f] = {_fmt(expectation)})"
            )
            variance = _baseline_variance(f, a, out)
            for other in (expectation, out - 0.05, out + 0.05):
                assert variance <= _baseline_variance(f, a, other) + 1e-6, (
                    f"for {name}: the variance with your baseline {_fmt(out)} is larger than "
                    f"with b = {_fmt(other)}"
                )

        return case

    return run_cases(
        "ex-ch04-optimal-baseline",
        fn,
        [make_case(name, f, a) for name, (f, a) in objectives.items()],
        hint=(
            "Enumerate the outcomes with stelib.exact.outcomes(a), weight them by their "
            "probabilities (stelib.exact.joint_log_prob(z, a).exp()), and return "
            "sum_z p(z) f(z) |z - sigmoid(a)|^2 / sum_z p(z) |z - sigmoid(a)|^2: the squared "
            "score weights the losses, so b* is not E[f]."
        ),
        success=(
            "your baseline is the variance-minimising constant b* = E[f |s|^2] / E[|s|^2]; "
            "no other constant, E[f] included, gives a smaller variance."
        ),
    )
