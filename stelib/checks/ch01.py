"""Checkers for chapter 1's coding exercises ("Motivation: networks with discrete elements").

Every expected value is computed here from the library (``stelib.threshold``,
``stelib.ste_threshold``, ``stelib.exact``), never hard-coded.
"""

from __future__ import annotations

import torch

from .. import exact
from ..problems import logit
from ..ste import ste_threshold
from . import register
from ._core import StudentError, Verdict, as_tensor, call, run_cases

__all__ = ["check_threshold_grad", "check_expected_loss", "check_expected_loss_grad"]


def _fmt(x: torch.Tensor) -> str:
    """A short, rounded rendering of a tensor for messages."""
    values = [f"{round(v, 6):.4g}" for v in x.detach().reshape(-1).tolist()]
    return values[0] if x.dim() == 0 else "[" + ", ".join(values) + "]"


# --- ex-ch01-threshold-grad -----------------------------------------------------------


@register("ex-ch01-threshold-grad", function="threshold_grad")
def check_threshold_grad(fn) -> Verdict:
    """``threshold_grad(f, step)`` returns autograd's d/df sum(step(f)), of f's shape."""
    f_line = torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.5, 3.0])
    f_grid = torch.tensor([[-1.2, 0.3, 0.9], [2.5, -0.1, 0.0]])

    def run(f: torch.Tensor, step=None) -> torch.Tensor:
        f_in = f.clone()
        out = call(fn, f_in) if step is None else call(fn, f_in, step)
        return as_tensor(out, "the gradient", shape=f.shape)

    def case_threshold(fn):
        out = run(f_line)
        assert torch.equal(out, torch.zeros_like(f_line)), (
            f"through stelib.threshold the gradient should be zero everywhere, got {_fmt(out)}"
        )

    def case_threshold_2d(fn):
        out = run(f_grid)
        assert torch.equal(out, torch.zeros_like(f_grid)), (
            f"for f of shape (2, 3) through stelib.threshold expected zeros, got {_fmt(out)}"
        )

    def case_comparison(fn):
        out = run(f_line, lambda f: (f > 0).float())
        assert torch.equal(out, torch.zeros_like(f_line)), (
            f"with step = lambda f: (f > 0).float() expected zeros, got {_fmt(out)}"
        )

    def case_sigmoid(fn):
        out = run(f_line, torch.sigmoid)
        s = torch.sigmoid(f_line)
        expected = s * (1 - s)
        assert torch.allclose(out, expected, atol=1e-6), (
            f"with step = torch.sigmoid expected sigmoid'(f) = {_fmt(expected)}, got {_fmt(out)}: "
            "the function must differentiate `step`, not return a fixed answer"
        )

    def case_ste(fn):
        out = run(f_grid, ste_threshold)
        expected = torch.ones_like(f_grid)
        assert torch.allclose(out, expected), (
            f"with step = stelib.ste_threshold (identity backward) expected ones, got {_fmt(out)}: "
            "the function must differentiate `step`, not return a fixed answer"
        )

    def case_clipped(fn):
        out = run(f_line, lambda f: ste_threshold(f, "clipped"))
        expected = (f_line.abs() <= 1).to(f_line.dtype)
        assert torch.allclose(out, expected), (
            f"with the clipped straight-through step expected 1[|f| <= 1] = {_fmt(expected)}, "
            f"got {_fmt(out)}"
        )

    return run_cases(
        "ex-ch01-threshold-grad",
        fn,
        [case_threshold, case_threshold_2d, case_comparison, case_sigmoid, case_ste, case_clipped],
        hint=(
            "Make a leaf copy `f = f.detach().clone().requires_grad_(True)`, compute "
            "`total = step(f).sum()`, and differentiate it with torch.autograd.grad. If "
            "`total.requires_grad` is False, the step cut the graph: autograd then treats the "
            "output as a constant, whose gradient is torch.zeros_like(f)."
        ),
        success=(
            "autograd's derivative of the threshold is zero everywhere, while differentiable "
            "steps and straight-through steps get their own derivative."
        ),
    )


# --- ex-ch01-expected-loss ------------------------------------------------------------


def _two_bit_losses() -> dict[str, object]:
    """Losses of one outcome ``z`` (shape ``(2,)``) that also accept a stack ``(n, 2)``."""
    t = torch.tensor([0.45, 0.2])
    return {
        "L(z) = (z1 + z2 - 1)^2": lambda z: (z[..., 0] + z[..., 1] - 1) ** 2,
        "L(z) = z1 * z2": lambda z: z[..., 0] * z[..., 1],
        "L(z) = 5 z1 (1 - z2) + 1": lambda z: 5 * z[..., 0] * (1 - z[..., 1]) + 1,
        "L(z) = 3 z1 - 2 z2": lambda z: 3 * z[..., 0] - 2 * z[..., 1],
        "L(z) = sum_i (z_i - t_i)^2": lambda z: ((z - t) ** 2).sum(-1),
    }


_PROBABILITIES = ([0.3, 0.8], [0.5, 0.5], [0.9, 0.45], [0.05, 0.99], [0.7, 0.15])


@register("ex-ch01-expected-loss", function="expected_loss")
def check_expected_loss(fn) -> Verdict:
    """``expected_loss(loss, p)`` equals stelib.exact.expectation for d = 2 Bernoulli bits."""
    losses = _two_bit_losses()

    def make_value_case(name, loss):
        def case(fn):
            for p_list in _PROBABILITIES:
                p = torch.tensor(p_list)
                out = as_tensor(call(fn, loss, p.clone()), "the expected loss")
                if out.numel() != 1:
                    raise StudentError(
                        f"the expected loss should be a single number, got shape {tuple(out.shape)}"
                    )
                expected = exact.expectation(loss, logit(p))
                assert torch.allclose(out.reshape(()).to(expected.dtype), expected, atol=1e-5), (
                    f"for {name} and p = {p_list}: expected {expected.item():.4g}, "
                    f"got {out.reshape(()).item():.4g}"
                )

        return case

    def case_differentiable(fn):
        name = "L(z) = 5 z1 (1 - z2) + 1"
        loss = losses[name]
        p_list = [0.3, 0.8]
        p = torch.tensor(p_list, requires_grad=True)
        out = call(fn, loss, p)
        value = as_tensor(out, "the expected loss")
        if value.numel() != 1:
            raise StudentError(
                f"the expected loss should be a single number, got shape {tuple(value.shape)}"
            )
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            raise AssertionError(
                "the result is not differentiable with respect to p: build it from p with torch "
                "operations (no .item(), float() or numpy), so that autograd can follow it"
            )
        (grad,) = torch.autograd.grad(out.sum(), p, allow_unused=True)
        grad = torch.zeros_like(p) if grad is None else grad
        q = torch.tensor(p_list, requires_grad=True)
        (expected,) = torch.autograd.grad(exact.expectation(loss, logit(q)), q)
        assert torch.allclose(grad, expected, atol=1e-5), (
            f"for {name} and p = {p_list}: d/dp of your expected loss is {_fmt(grad)}, "
            f"expected {_fmt(expected)}"
        )

    cases = [make_value_case(name, loss) for name, loss in losses.items()]
    cases.append(case_differentiable)
    return run_cases(
        "ex-ch01-expected-loss",
        fn,
        cases,
        hint=(
            "Loop over the four outcomes z in {(0,0), (0,1), (1,0), (1,1)}; the probability of "
            "z is (p1 if z1 == 1 else 1 - p1) * (p2 if z2 == 1 else 1 - p2). Weight loss(z) by it "
            "and add the four terms, keeping everything a torch tensor."
        ),
        success="your sum over the four outcomes equals the exact expectation E[L(z)].",
    )


# --- ex-ch01-expected-loss-grad -------------------------------------------------------


def _exact_theta_gradient(t: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    r"""d/dtheta of E[sum_i (b_i - t_i)^2], b_i ~ Bern(theta_i), by enumeration and autograd."""
    t = t.to(torch.float64)
    leaf = theta.detach().to(torch.float64).requires_grad_(True)
    logits = torch.log(leaf) - torch.log1p(-leaf)  # float64, differentiable in theta
    value = exact.expectation(lambda b: ((b - t) ** 2).sum(-1), logits)
    (grad,) = torch.autograd.grad(value, leaf)
    return grad


@register("ex-ch01-expected-loss-grad", function="expected_loss_grad")
def check_expected_loss_grad(fn) -> Verdict:
    """``expected_loss_grad(t, theta)`` equals d/dtheta E[(b - t)^2] computed by enumeration."""
    scalar_cases = [(0.45, 0.3), (0.499, 0.9), (0.8, 0.5), (0.1, 0.05), (0.5, 0.6)]

    def case_scalars(fn):
        for t, theta in scalar_cases:
            out = as_tensor(call(fn, t, theta), "the derivative")
            if out.numel() != 1:
                raise StudentError(
                    f"for numbers t and theta the derivative should be one number, "
                    f"got shape {tuple(out.shape)}"
                )
            expected = _exact_theta_gradient(torch.tensor([t]), torch.tensor([theta]))
            got = out.reshape(1).to(expected.dtype)
            assert torch.allclose(got, expected, atol=1e-5), (
                f"for t = {t}, theta = {theta}: expected d/dtheta E[(b - t)^2] = "
                f"{expected.item():.4g}, got {got.item():.4g}"
            )

    def case_tensors(fn):
        t = torch.tensor([0.45, 0.2, 0.7, 0.5])
        theta = torch.tensor([0.3, 0.5, 0.9, 0.1])
        out = as_tensor(call(fn, t.clone(), theta.clone()), "the derivative", shape=theta.shape)
        expected = _exact_theta_gradient(t, theta)
        assert torch.allclose(out.to(expected.dtype), expected, atol=1e-5), (
            f"for tensors t = {_fmt(t)}, theta = {_fmt(theta)} (one variable each): expected "
            f"{_fmt(expected)}, got {_fmt(out)}"
        )

    return run_cases(
        "ex-ch01-expected-loss-grad",
        fn,
        [case_scalars, case_tensors],
        hint=(
            "Write E[(b - t)^2] = theta (1 - t)^2 + (1 - theta) t^2 and differentiate with "
            "respect to theta (not the logit, and not (theta - t)^2, the loss at the mean). For "
            "tensor inputs return one derivative per entry, with theta's shape."
        ),
        success="d/dtheta E[(b - t)^2] = 1 - 2t: constant in theta, and zero only at t = 1/2.",
    )
