"""Checkers for chapter 5's coding exercises ("Failure modes").

Every expected value is computed here from the library (``stelib.exact`` enumeration,
``stelib.problems.dependent_pair_expectation``) or from a closed form evaluated on
enumerated outcomes, never hard-coded.
"""

from __future__ import annotations

import torch

from .. import exact
from ..problems import dependent_pair_expectation
from . import register
from ._core import StudentError, Verdict, as_tensor, call, run_cases

__all__ = ["check_expected_ste", "check_dependent_grad", "check_optimal_baseline"]


def _fmt(x: torch.Tensor) -> str:
    """A short, rounded rendering of a tensor for messages."""
    values = [f"{round(v, 6):.4g}" for v in x.detach().reshape(-1).tolist()]
    return values[0] if x.dim() == 0 else "[" + ", ".join(values) + "]"


def _logit64(p) -> torch.Tensor:
    """The logit of ``p`` in float64, whatever the default dtype."""
    p = torch.as_tensor(p, dtype=torch.float64)
    return torch.log(p) - torch.log1p(-p)


def _close(out: torch.Tensor, expected: torch.Tensor, tol: float = 1e-5) -> bool:
    out = out.detach().to(torch.float64)
    expected = expected.detach().to(torch.float64)
    return bool(torch.allclose(out, expected, atol=tol, rtol=1e-4))


# --- ex-ch05-expected-ste ---------------------------------------------------------------


def expected_ste_reference(loss, p: torch.Tensor) -> torch.Tensor:
    r"""The expected identity-STE gradient with respect to :math:`p`, by enumeration:
    :math:`\sum_z p(z)\, \nabla_z L(z)` over :math:`z \in \{0,1\}^d`, :math:`z_i \sim
    \mathrm{Bern}(p_i)` independent (``loss`` accepts a stack of outcomes, shape ``(N, d)``)."""
    logits = _logit64(p.detach())
    z = exact.outcomes(logits).requires_grad_(True)
    (dz,) = torch.autograd.grad(loss(z).sum(), z)
    weights = exact.joint_log_prob(z.detach(), logits).exp()
    return (weights[:, None] * dz).sum(0)


def _ste_losses() -> dict[str, tuple[object, bool]]:
    """Losses of one outcome ``z`` (shape ``(d,)``) that also accept a stack ``(N, d)``,
    each with a flag saying whether it is multilinear."""
    return {
        "L = (z1 + z2 - 1)^2": (lambda z: (z[..., 0] + z[..., 1] - 1) ** 2, False),
        "L = 1 - z1 - z2 + 2 z1 z2": (
            lambda z: 1 - z[..., 0] - z[..., 1] + 2 * z[..., 0] * z[..., 1],
            True,
        ),
        "L = exp(z1 - 2 z2)": (lambda z: torch.exp(z[..., 0] - 2 * z[..., 1]), False),
        "L = (z1 - 0.3)^2 + 3 z1 z2^3": (
            lambda z: (z[..., 0] - 0.3) ** 2 + 3 * z[..., 0] * z[..., 1] ** 3,
            False,
        ),
    }


_STE_PROBABILITIES = ([0.9, 0.45], [0.5, 0.5], [0.2, 0.7], [0.05, 0.95])


@register("ex-ch05-expected-ste", function="expected_ste_grad")
def check_expected_ste(fn) -> Verdict:
    """``expected_ste_grad(loss, p)`` equals E_z[dL/dz] by enumeration, shape of ``p``."""

    def run(loss, p_list) -> torch.Tensor:
        p = torch.tensor(p_list)
        out = call(fn, loss, p.clone())
        return as_tensor(out, "the expected STE gradient", shape=p.shape)

    def make_case(name, loss):
        def case(fn):
            for p_list in _STE_PROBABILITIES:
                out = run(loss, p_list)
                expected = expected_ste_reference(loss, torch.tensor(p_list))
                assert _close(out, expected), (
                    f"for {name} and p = {p_list}: expected E[dL/dz] = {_fmt(expected)}, "
                    f"got {_fmt(out)}"
                )

        return case

    def case_multilinear_is_exact(fn):
        name = "L = 1 - z1 - z2 + 2 z1 z2"
        loss, _ = _ste_losses()[name]
        p_list = [0.3, 0.8]
        out = run(loss, p_list)
        logits = _logit64(p_list)
        s = torch.sigmoid(logits)
        true_grad = exact.exact_gradient(loss, logits) / (s * (1 - s))
        assert _close(out, true_grad), (
            f"for the multilinear {name} at p = {p_list} the expected STE equals the true "
            f"derivative dE[L]/dp = {_fmt(true_grad)}; got {_fmt(out)}"
        )

    def case_three_bits(fn):
        t = torch.tensor([0.45, 0.2, 0.7])

        def loss(z):
            return ((z - t) ** 2).sum(-1) + z[..., 0] * z[..., 2]

        p_list = [0.3, 0.6, 0.9]
        out = run(loss, p_list)
        expected = expected_ste_reference(loss, torch.tensor(p_list))
        assert _close(out, expected), (
            f"for d = 3 bits, L = sum_i (z_i - t_i)^2 + z1 z3 with t = [0.45, 0.2, 0.7] and "
            f"p = {p_list}: expected {_fmt(expected)}, got {_fmt(out)} (loop over all 2^d "
            "outcomes, not only four)"
        )

    cases = [make_case(name, loss) for name, (loss, _) in _ste_losses().items()]
    cases += [case_multilinear_is_exact, case_three_bits]
    return run_cases(
        "ex-ch05-expected-ste",
        fn,
        cases,
        hint=(
            "For each outcome z in {0,1}^d make z a leaf tensor with requires_grad=True, "
            "differentiate loss(z) with torch.autograd.grad to get dL/dz at that binary point, "
            "and add it with weight prod_i (p_i if z_i == 1 else 1 - p_i). The derivative is "
            "taken at the sample, before any expectation."
        ),
        success=(
            "your enumeration gives the expected identity-STE gradient; for the multilinear "
            "loss it coincides with the true derivative dE[L]/dp, for the others it does not."
        ),
    )


# --- ex-ch05-dependent-grad ---------------------------------------------------------------


def dependent_grad_reference(p1: float, a: float, c: float, w: float) -> torch.Tensor:
    r""":math:`\mathrm{d}\mathbb{E}[L]/\mathrm{d}p_1` for the dependent pair, by autograd
    through :func:`stelib.problems.dependent_pair_expectation` (enumeration of the four
    outcomes) and the chain rule :math:`\mathrm{d}p_1/\mathrm{d}\ell_1 = p_1(1 - p_1)`."""
    leaf = _logit64(p1).requires_grad_(True)
    value = dependent_pair_expectation(leaf, a=a, c=c, w=w)
    (grad,) = torch.autograd.grad(value, leaf)
    return grad / (p1 * (1 - p1))


_DEPENDENT_CASES = (
    (0.5, 4.0, 8.0, 3.0),
    (0.2, 4.0, 8.0, 3.0),
    (0.7, 1.0, 3.0, 2.0),
    (0.35, -2.0, -5.0, 1.5),
    (0.9, 0.0, 2.0, -1.0),
)


@register("ex-ch05-dependent-grad", function="dependent_pair_exact_grad")
def check_dependent_grad(fn) -> Verdict:
    """``dependent_pair_exact_grad(p1, a, c, w)`` equals dE[L]/dp1 by enumeration."""

    def make_case(p1, a, c, w):
        def case(fn):
            out = as_tensor(call(fn, p1, a=a, c=c, w=w), "the derivative")
            if out.numel() != 1:
                raise StudentError(
                    f"the derivative should be a single number, got shape {tuple(out.shape)}"
                )
            expected = dependent_grad_reference(p1, a, c, w)
            assert _close(out.reshape(()), expected), (
                f"for p1 = {p1}, a = {a}, c = {c}, w = {w}: expected dE[L]/dp1 = "
                f"{_fmt(expected)}, got {_fmt(out.reshape(()))}"
            )

        return case

    return run_cases(
        "ex-ch05-dependent-grad",
        fn,
        [make_case(*args) for args in _DEPENDENT_CASES],
        hint=(
            "Write E[L] = sum over (z1, z2) of p(z1) p(z2 | z1) (z1 + w z2) with "
            "p(z2 = 1 | z1) = sigmoid(a - c z1) and differentiate in p1 (by hand, or with "
            "autograd on a tensor p1 with requires_grad=True). The second unit's law depends "
            "on z1: that dependence is part of the derivative."
        ),
        success=(
            "your derivative matches the enumeration: raising p1 changes the loss both "
            "directly and through the law of z2."
        ),
    )


# --- ex-ch05-optimal-baseline -----------------------------------------------------------


def optimal_baseline_reference(
    f_values: torch.Tensor, scores: torch.Tensor, probs: torch.Tensor
) -> torch.Tensor:
    r"""The constant :math:`b` minimising the total variance of :math:`(f(z) - b)\, s(z)`:
    :math:`b^* = \mathbb{E}[f\, \lVert s \rVert^2] / \mathbb{E}[\lVert s \rVert^2]`."""
    norms = (scores.to(torch.float64) ** 2).reshape(len(probs), -1).sum(-1)
    probs = probs.to(torch.float64)
    return (probs * f_values.to(torch.float64) * norms).sum() / (probs * norms).sum()


def _total_variance(b, f_values, scores, probs) -> torch.Tensor:
    g = (f_values - b)[:, None] * scores
    mean = (probs[:, None] * g).sum(0)
    return (probs[:, None] * g**2).sum() - (mean**2).sum()


def _bernoulli_problem(f, logits):
    z = exact.outcomes(logits)
    f_values = f(z)
    scores = z - torch.sigmoid(logits)
    probs = exact.joint_log_prob(z, logits).exp()
    return f_values, scores, probs


def _baseline_problems() -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    dtype = torch.float64
    t = torch.tensor([0.45, 0.2, 0.7], dtype=dtype)
    problems = {
        "the quadratic toy with t = [0.45, 0.2, 0.7], p = [0.3, 0.5, 0.8]": _bernoulli_problem(
            lambda b: ((b - t) ** 2).sum(-1), _logit64([0.3, 0.5, 0.8])
        ),
        "L = exp(2 z1 - z2) at p = [0.9, 0.2]": _bernoulli_problem(
            lambda z: torch.exp(2 * z[..., 0] - z[..., 1]),
            _logit64([0.9, 0.2]),
        ),
    }
    cat_logits = torch.tensor([0.5, -1.0, 1.5, 0.0], dtype=dtype)
    z = exact.outcomes(cat_logits, "categorical")
    values = torch.tensor([3.0, -1.0, 0.5, 2.0], dtype=dtype)
    problems["one categorical variable, K = 4 (scores one-hot minus softmax)"] = (
        (z * values).sum(-1) ** 2,
        z - torch.softmax(cat_logits, -1),
        exact.joint_log_prob(z, cat_logits, "categorical").exp(),
    )
    return problems


@register("ex-ch05-optimal-baseline", function="optimal_baseline")
def check_optimal_baseline(fn) -> Verdict:
    """``optimal_baseline(f_values, scores, probs)`` is the variance-minimising constant."""
    problems = _baseline_problems()

    def run(f_values, scores, probs) -> torch.Tensor:
        out = as_tensor(call(fn, f_values.clone(), scores.clone(), probs.clone()), "the baseline")
        if out.numel() != 1:
            raise StudentError(
                f"the baseline should be a single number, got shape {tuple(out.shape)}"
            )
        return out.reshape(()).detach().to(torch.float64)

    def make_case(name, f_values, scores, probs):
        def case(fn):
            out = run(f_values, scores, probs)
            expected = optimal_baseline_reference(f_values, scores, probs)
            v_out = _total_variance(out, f_values, scores, probs)
            v_best = _total_variance(expected, f_values, scores, probs)
            assert _close(out, expected, tol=1e-6), (
                f"for {name}: expected b* = {_fmt(expected)} (total variance "
                f"{_fmt(v_best)}), got {_fmt(out)} (total variance {_fmt(v_out)})"
            )

        return case

    def case_shift(fn):
        name, (f_values, scores, probs) = next(iter(problems.items()))
        base = run(f_values, scores, probs)
        shifted = run(f_values + 10.0, scores, probs)
        assert _close(shifted, base + 10.0, tol=1e-6), (
            f"adding 10 to every f value should add 10 to the optimal baseline; got "
            f"{_fmt(base)} and then {_fmt(shifted)}"
        )

    cases = [make_case(name, *problem) for name, problem in problems.items()]
    cases.append(case_shift)
    return run_cases(
        "ex-ch05-optimal-baseline",
        fn,
        cases,
        hint=(
            "The total variance of (f - b) s is E[(f - b)^2 |s|^2] minus a term that does not "
            "depend on b (E[s] = 0). Set its derivative in b to zero: b* = E[f |s|^2] / E[|s|^2], "
            "with the expectations weighted by probs and |s|^2 summed over the score's entries. "
            "It is not E[f] unless f and |s|^2 are uncorrelated."
        ),
        success="your baseline is the variance-minimising constant b* = E[f |s|^2] / E[|s|^2].",
    )
