"""Checkers for chapter 6's coding exercises ("Beyond the lecture").

Every expected value is computed here from the library (``stelib.exact`` enumeration,
the antithetic surrogates and the conditional Gumbel noise of ``stelib.estimators``)
or from a defining formula, never hard-coded. Random inputs come from local, seeded
generators, so a checker never touches PyTorch's global random state.
"""

from __future__ import annotations

import functools

import torch

from .. import estimators, exact
from . import register
from ._core import Verdict, as_tensor, call, run_cases

__all__ = [
    "check_arm",
    "check_disarm",
    "check_conditional_relaxed",
    "check_rao_blackwell_st",
]

F64 = torch.float64


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


def _logit(p) -> torch.Tensor:
    p = torch.as_tensor(p, dtype=F64)
    return torch.log(p) - torch.log1p(-p)


def _close(out: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float = 0.0) -> bool:
    return bool(
        torch.allclose(out.detach().to(F64), expected.detach().to(F64), atol=atol, rtol=rtol)
    )


# --- ex-ch06-arm and ex-ch06-disarm -------------------------------------------------------


def antithetic_reference(f, logits: torch.Tensor, u: torch.Tensor, kind: str) -> torch.Tensor:
    r"""The ARM (``kind="arm"``) or DisARM (``kind="disarm"``) estimate of
    :math:`\nabla_\ell \mathbb{E}[f(b)]` for one vector of uniforms ``u`` (shape ``(d,)``),
    from the library's antithetic surrogate (:func:`stelib.estimators.arm`,
    :func:`stelib.estimators.disarm`)."""
    leaf = logits.detach().to(F64).clone().requires_grad_(True)
    with torch.enable_grad():
        surrogate = estimators._antithetic_surrogate(f, leaf, u.detach().to(F64)[None], kind)
        (grad,) = torch.autograd.grad(surrogate, leaf)
    return grad


def _antithetic_objectives() -> dict[str, object]:
    """Losses of binary vectors of shape ``(..., d)``, returning shape ``(...)``."""
    t = torch.tensor([0.45, 0.2, 0.7], dtype=F64)
    return {
        "the quadratic toy sum_i (b_i - t_i)^2": lambda b: ((b - t[: b.shape[-1]]) ** 2).sum(-1),
        "sigmoid(2 b1 - 3 b2) + b1 b2": lambda b: (
            torch.sigmoid(2 * b[..., 0] - 3 * b[..., 1]) + b[..., 0] * b[..., 1]
        ),
        "exp(b1 - 2 b2)": lambda b: torch.exp(b[..., 0] - 2 * b[..., 1]),
    }


def _midpoint_grid(d: int, n: int) -> torch.Tensor:
    """Midpoints of an ``n^d`` grid of equal cells on ``(0, 1)^d``, shape ``(n^d, d)``."""
    points = (torch.arange(n, dtype=F64) + 0.5) / n
    return torch.cartesian_prod(*[points] * d).reshape(-1, d)


# Probabilities whose thresholds p and 1 - p fall on the edges of the 20-cell grid: the
# estimates are then constant (DisARM) or linear (ARM) in u on every cell, so the
# midpoint rule gives their expectation exactly.
_QUADRATURE_CELLS = 20
_QUADRATURE_PROBS = ([0.3], [0.75], [0.3, 0.75], [0.65, 0.15])


def _check_antithetic(fn, kind: str) -> Verdict:
    label = f"ex-ch06-{kind}"
    objectives = _antithetic_objectives()

    def run(f, logits, u) -> torch.Tensor:
        out = call(fn, f, logits.clone(), u.clone())
        return as_tensor(out, "the gradient estimate", shape=logits.shape)

    def case_pointwise(fn):
        g = _generator(60)
        for title, f in objectives.items():
            for _ in range(4):
                logits = torch.randn(2, generator=g, dtype=F64) * 1.5
                u = torch.rand(2, generator=g, dtype=F64).clamp(1e-6, 1 - 1e-6)
                out = run(f, logits, u)
                expected = antithetic_reference(f, logits, u, kind)
                assert _close(out, expected, atol=1e-8, rtol=1e-6), (
                    f"for f = {title}, logits {_fmt(logits)} and u = {_fmt(u)}: expected the "
                    f"{kind.upper() if kind == 'arm' else 'DisARM'} estimate {_fmt(expected)}, "
                    f"got {_fmt(out)}"
                )

    def case_three_units(fn):
        f = next(iter(objectives.values()))
        logits = torch.tensor([0.8, -0.4, 2.0], dtype=F64)
        u = torch.tensor([0.3, 0.9, 0.55], dtype=F64)
        out = run(f, logits, u)
        expected = antithetic_reference(f, logits, u, kind)
        assert _close(out, expected, atol=1e-8, rtol=1e-6), (
            f"with d = 3 units (logits {_fmt(logits)}, u = {_fmt(u)}): expected "
            f"{_fmt(expected)}, got {_fmt(out)}"
        )

    def case_unbiased(fn):
        one_unit = {
            "(b - 0.45)^2": lambda b: ((b - 0.45) ** 2).sum(-1),
            "exp(2 b)": lambda b: torch.exp(2 * b[..., 0]),
        }
        for probs in _QUADRATURE_PROBS:
            for title, f in (one_unit if len(probs) == 1 else objectives).items():
                logits = _logit(probs)
                grid = _midpoint_grid(len(probs), _QUADRATURE_CELLS)
                total = torch.zeros(len(probs), dtype=F64)
                for u in grid:
                    total = total + run(f, logits, u).to(F64)
                mean = total / len(grid)
                expected = exact.exact_gradient(f, logits)
                assert _close(mean, expected, atol=1e-8, rtol=1e-6), (
                    f"averaged over u (exact quadrature) for f = {title} and p = {probs}, your "
                    f"estimates give {_fmt(mean)}, but the exact gradient (stelib.exact) is "
                    f"{_fmt(expected)}: the estimator is biased"
                )

    cases = [case_pointwise, case_three_units, case_unbiased]
    if kind == "disarm":

        def case_zero_where_pair_agrees(fn):
            f = objectives["sigmoid(2 b1 - 3 b2) + b1 b2"]
            logits = torch.tensor([3.0, -3.0, 0.1], dtype=F64)
            u = torch.tensor([0.5, 0.5, 0.3], dtype=F64)  # units 1 and 2: b = b~
            out = run(lambda b: f(b) + b[..., 2], logits, u)
            assert bool((out[:2] == 0).all()), (
                f"with logits {_fmt(logits)} and u = {_fmt(u)} the antithetic pair agrees on "
                f"units 1 and 2, so DisARM's estimate must be exactly 0 there; got {_fmt(out)}"
            )

        cases.append(case_zero_where_pair_agrees)
        hint = (
            "Draw the antithetic pair from the SAME u: b = 1[u < sigmoid(l)] and "
            "b~ = 1[u > sigmoid(-l)]. DisARM's estimate for unit i is "
            "0.5 (f(b~) - f(b)) (-1)^{b_i} sigmoid(|l_i|) where b_i != b~_i, and 0 where they "
            "agree. f is evaluated only twice, at b and at b~."
        )
        success = (
            "your DisARM estimate matches the library at every u, is exactly zero where the "
            "pair agrees, and its average over u is the exact gradient."
        )
    else:
        hint = (
            "Draw the antithetic pair from the SAME u: b = 1[u < sigmoid(l)] and "
            "b~ = 1[u > sigmoid(-l)], then return (f(b~) - f(b)) (u - 1/2), one entry per "
            "unit. f is evaluated only twice, at b and at b~; mind the order of the difference."
        )
        success = (
            "your ARM estimate matches the library at every u, and its exact average over u "
            "is the exact gradient: ARM is unbiased."
        )
    return run_cases(label, fn, cases, hint=hint, success=success)


@register("ex-ch06-arm", function="arm_grad")
def check_arm(fn) -> Verdict:
    """``arm_grad(f, logits, u)`` is the ARM estimate at ``u``; its mean over u is exact."""
    return _check_antithetic(fn, "arm")


@register("ex-ch06-disarm", function="disarm_grad")
def check_disarm(fn) -> Verdict:
    """``disarm_grad(f, logits, u)`` is the DisARM estimate at ``u``; its mean over u is exact."""
    return _check_antithetic(fn, "disarm")


# --- ex-ch06-rebar-conditional ------------------------------------------------------------


def conditional_quantile(logits: torch.Tensor, b: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""The quantile function of the relaxed score :math:`z = \ell + \log u - \log(1 - u)`
    given :math:`b = \mathbf{1}[z > 0]`, at levels ``v``: :math:`u` is uniform on
    :math:`(1 - \sigma(\ell), 1)` when :math:`b = 1` and on :math:`(0, 1 - \sigma(\ell))`
    when :math:`b = 0` (Tucker et al. 2017)."""
    p = torch.sigmoid(logits)
    u = torch.where(b > 0, 1 - p + v * p, v * (1 - p))
    return logits + torch.log(u) - torch.log1p(-u)


@register("ex-ch06-rebar-conditional", function="conditional_relaxed")
def check_conditional_relaxed(fn) -> Verdict:
    """``conditional_relaxed(logits, b, v)`` draws z~ ~ p(z | b), reparameterised in the logits."""

    def run(logits, b, v) -> torch.Tensor:
        out = call(fn, logits, b.clone(), v.clone())
        return as_tensor(out, "the conditional sample", shape=logits.shape)

    def case_threshold(fn):
        g = _generator(61)
        logits = torch.randn(12, generator=g, dtype=F64) * 2
        b = (torch.rand(12, generator=g, dtype=F64) < 0.5).to(F64)
        v = torch.rand(12, generator=g, dtype=F64).clamp(1e-6, 1 - 1e-6)
        out = run(logits.clone(), b, v)
        agree = (out > 0).to(F64) == b
        assert bool(agree.all()), (
            f"the threshold of your sample must give back b: for b = {_fmt(b[~agree])} you "
            f"returned {_fmt(out[~agree])} (logits {_fmt(logits[~agree])})"
        )

    def make_law_case(logit: float, bit: float):
        def case(fn):
            n = 50
            v = (torch.arange(n, dtype=F64) + 0.5) / n
            logits = torch.full((n,), logit, dtype=F64)
            b = torch.full((n,), bit, dtype=F64)
            out = run(logits.clone(), b, v)
            expected = conditional_quantile(logits, b, v)
            assert _close(out.sort().values, expected.sort().values, atol=1e-6, rtol=1e-6), (
                f"for logit {logit} and b = {bit:g}, your samples at 50 evenly spread v do not "
                f"follow the law of z given b: sorted, the first ones are "
                f"{_fmt(out.sort().values[:4])}, expected {_fmt(expected.sort().values[:4])}"
            )

        return case

    def make_gradient_case(logit: float, bit: float):
        def case(fn):
            n = 50
            v = (torch.arange(n, dtype=F64) + 0.5) / n
            b = torch.full((n,), bit, dtype=F64)
            leaf = torch.full((n,), logit, dtype=F64, requires_grad=True)
            out = run(leaf, b, v)
            if not out.requires_grad:
                raise AssertionError(
                    "your sample carries no gradient with respect to the logits: compute it "
                    "from the logits with differentiable operations (a reparameterisation), "
                    "not from detached values"
                )
            (grad,) = torch.autograd.grad(out.sum(), leaf, allow_unused=True)
            grad = torch.zeros_like(leaf) if grad is None else grad
            ref_leaf = torch.full((n,), logit, dtype=F64, requires_grad=True)
            (expected,) = torch.autograd.grad(conditional_quantile(ref_leaf, b, v).sum(), ref_leaf)
            assert _close(grad.sum(), expected.sum(), atol=1e-6, rtol=1e-6), (
                f"for logit {logit} and b = {bit:g}, the derivative of the sum of your samples "
                f"over 50 evenly spread v with respect to the logit is {_fmt(grad.sum())}, "
                f"expected {_fmt(expected.sum())} (keep sigmoid(logits) attached to the graph)"
            )

        return case

    cases = [case_threshold]
    cases += [make_law_case(lg, bit) for lg in (0.7, -1.5) for bit in (1.0, 0.0)]
    cases += [make_gradient_case(lg, bit) for lg in (0.7, -1.5) for bit in (1.0, 0.0)]
    return run_cases(
        "ex-ch06-rebar-conditional",
        fn,
        cases,
        hint=(
            "z = l + log u - log(1 - u) is positive exactly when u > 1 - sigmoid(l). So given "
            "b = 1, u is uniform on (1 - sigmoid(l), 1): u = 1 - sigmoid(l) + v sigmoid(l); "
            "given b = 0 it is uniform on (0, 1 - sigmoid(l)): u = v (1 - sigmoid(l)). Return "
            "l + log u - log(1 - u), with torch.where to choose the branch."
        ),
        success=(
            "your conditional sample thresholds back to b, has the law of z given b, and is "
            "differentiable in the logits: REBAR's z~."
        ),
    )


# --- ex-ch06-rao-blackwell ------------------------------------------------------------------


def rao_blackwell_reference(
    logits: torch.Tensor, one_hot: torch.Tensor, k: int, tau: float, generator
) -> torch.Tensor:
    r"""The mean of ``k`` relaxed samples :math:`\mathrm{softmax}((\ell + G_j)/\tau)` with
    :math:`G_j \sim p(G \mid \arg\max(\ell + G) = D)`, the noise held fixed when
    differentiating (as in :func:`stelib.estimators.gumbel_rao`)."""
    scores = estimators._conditional_gumbel_scores(logits.detach(), one_hot, k, generator)
    perturbed = scores + (logits - logits.detach())
    return torch.softmax(perturbed / tau, dim=-1).mean(0)


_RB_LOGITS = (2.0, 0.0, -1.0, 0.5)
_RB_WEIGHTS = (1.0, -2.0, 0.5, 3.0)


@functools.lru_cache(maxsize=8)
def _rb_expected(index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For D = category ``index`` at temperature 1: the mean relaxed sample given D and the
    gradient of ``_RB_WEIGHTS . mean`` with respect to the logits, from 100000 draws."""
    leaf = torch.tensor(_RB_LOGITS, dtype=F64, requires_grad=True)
    one_hot = torch.eye(len(_RB_LOGITS), dtype=F64)[index]
    mean = rao_blackwell_reference(leaf, one_hot, 100_000, 1.0, _generator(80 + index))
    (grad,) = torch.autograd.grad((torch.tensor(_RB_WEIGHTS, dtype=F64) * mean).sum(), leaf)
    return mean.detach(), grad


@register("ex-ch06-rao-blackwell", function="rao_blackwell_st")
def check_rao_blackwell_st(fn) -> Verdict:
    """``rao_blackwell_st(logits, D, k, tau, generator)``: the mean relaxed sample given D."""
    eye = torch.eye(len(_RB_LOGITS), dtype=F64)

    def run(logits, index: int, k: int, tau: float, seed: int) -> torch.Tensor:
        out = call(fn, logits, eye[index].clone(), k, tau, _generator(seed))
        return as_tensor(out, "the Rao-Blackwellised relaxed sample", shape=logits.shape)

    def case_simplex(fn):
        logits = torch.tensor(_RB_LOGITS, dtype=F64)
        out = run(logits.clone(), 1, 8, 0.5, 62)
        assert bool((out >= -1e-12).all()) and _close(out.sum(), torch.tensor(1.0), 1e-6), (
            f"a mean of softmax vectors lies on the simplex (entries >= 0, sum 1); got {_fmt(out)}"
        )

    def case_conditioned(fn):
        logits = torch.tensor(_RB_LOGITS, dtype=F64)
        probs = torch.softmax(logits, -1)
        for index in range(len(_RB_LOGITS)):
            out = run(logits.clone(), index, 64, 0.02, 63 + index)
            assert out[index] > 0.9, (
                f"at temperature 0.02 every relaxed sample is nearly one-hot at the argmax of "
                f"l + G, which must be D = category {index}; your mean puts only "
                f"{_fmt(out[index])} on it (softmax(l) gives it {_fmt(probs[index])}): is the "
                f"noise conditioned on D?"
            )

    def case_law(fn):
        logits = torch.tensor(_RB_LOGITS, dtype=F64)
        for index in (2, 0):
            out = run(logits.clone(), index, 10_000, 1.0, 70 + index)
            expected, _ = _rb_expected(index)
            assert _close(out, expected, atol=0.02), (
                f"for D = category {index} at temperature 1, the mean of 10000 of your relaxed "
                f"samples is {_fmt(out)}; E[softmax(l + G) | D] is about {_fmt(expected)}: the "
                f"noise does not have the conditional law"
            )

    def case_gradient(fn):
        w = torch.tensor(_RB_WEIGHTS, dtype=F64)
        for index in (2, 0):
            leaf = torch.tensor(_RB_LOGITS, dtype=F64, requires_grad=True)
            out = run(leaf, index, 10_000, 1.0, 90 + index)
            if not out.requires_grad:
                raise AssertionError(
                    "your result carries no gradient with respect to the logits: add the logits "
                    "to the (detached) noise inside the softmax"
                )
            (grad,) = torch.autograd.grad((w * out).sum(), leaf, allow_unused=True)
            grad = torch.zeros_like(leaf) if grad is None else grad
            _, expected = _rb_expected(index)
            assert _close(grad, expected, atol=0.03), (
                f"for D = category {index}, the gradient of w . result with respect to the "
                f"logits (w = {_fmt(w)}) is {_fmt(grad)}, expected about {_fmt(expected)}: hold "
                f"the noise fixed (sample it without gradient) and differentiate "
                f"softmax((l + G) / tau) through l only"
            )

    return run_cases(
        "ex-ch06-rao-blackwell",
        fn,
        [case_simplex, case_conditioned, case_law, case_gradient],
        hint=(
            "Sample the noise given D with the truncated-Gumbel construction: E_j ~ Exp(1) "
            "(-log of a uniform), Z = sum_j exp(l_j); the top score is log Z - log E_D and "
            "every other score is -log(E_j exp(-l_j) + E_D / Z). Do this without gradient, "
            "k times; then add (l - l.detach()) so that the gradient flows, and average "
            "softmax(scores / tau) over the k draws."
        ),
        success=(
            "your relaxed samples are conditioned on D, have the right law, and carry the "
            "straight-through Gumbel gradient averaged over the noise: Gumbel-Rao's backward pass."
        ),
    )
