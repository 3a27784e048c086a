"""Checkers for chapter 2's coding exercises (the straight-through estimator).

Both exercises write a straight-through op: a function of the scores ``f`` whose
forward value is a hard step and whose backward pass uses a surrogate derivative.
Each checker compares the student's op with the library's (``stelib.ste_threshold``,
``stelib.ste_sign``): the forward value must match exactly, bit for bit, and the
gradient of a weighted sum ``sum(w * z)`` must equal ``w`` times the surrogate
derivative, on random inputs, at the boundaries and for very large scores.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stelib.checks import register
from stelib.checks._core import StudentError, Verdict, as_tensor, call, run_cases
from stelib.ste import ste_sign, ste_threshold


def _inputs(dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Random scores in [-3, 3], shape (6, 7), with a row of special values."""
    generator = torch.Generator().manual_seed(seed)
    f = torch.rand(6, 7, generator=generator, dtype=dtype) * 6 - 3
    special = torch.tensor([0.0, 1.0, -1.0, 1e-7, -1e-7, 0.5, -0.5], dtype=dtype)
    return torch.cat([f[:5], special[None]])


def _student_output(fn: Callable, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Call ``fn`` on a leaf copy of ``f``; return the leaf and the checked output."""
    leaf = f.detach().clone().requires_grad_(True)
    out = as_tensor(call(fn, leaf), "the result", shape=tuple(f.shape))
    if out.dtype != f.dtype:
        raise StudentError(
            f"the result has dtype {out.dtype}; it should keep the input's {f.dtype}"
        )
    return leaf, out


def _student_gradient(out: torch.Tensor, leaf: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The gradient of ``sum(w * out)`` with respect to ``leaf`` (student code may run)."""
    if not out.requires_grad:
        raise AssertionError(
            "no gradient reaches f: the result does not depend on f in the autograd graph "
            "(was everything detached, or computed with a comparison only?)"
        )
    (grad,) = call(torch.autograd.grad, (w * out).sum(), leaf, allow_unused=True)
    if grad is None:
        raise AssertionError("no gradient reaches f: the result is not connected to f")
    return as_tensor(grad, "the gradient", shape=tuple(leaf.shape))


def _reference(op: Callable, f: torch.Tensor, w: torch.Tensor):
    """The library op's forward value and the gradient of ``sum(w * op(f))``."""
    leaf = f.detach().clone().requires_grad_(True)
    out = op(leaf)
    (grad,) = torch.autograd.grad((w * out).sum(), leaf)
    return out.detach(), grad


def _ste_cases(op: Callable, name: str) -> list[Callable]:
    """The cases shared by both checkers; ``op`` is the library's version of the op."""

    def weights(f: torch.Tensor, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(f.shape, generator=generator, dtype=f.dtype)

    def compare(fn, f: torch.Tensor, seed: int, what: str) -> None:
        w = weights(f, seed + 100)
        leaf, out = _student_output(fn, f)
        expected, expected_grad = _reference(op, f, w)
        flat_f, flat_out, flat_expected = (
            f.reshape(-1),
            out.detach().reshape(-1),
            expected.reshape(-1),
        )
        wrong = flat_out != flat_expected
        if wrong.any():
            i = int(wrong.nonzero()[0, 0])
            raise AssertionError(
                f"{what}: the forward value must equal {name} exactly; at f = "
                f"{float(flat_f[i]):.17g} you returned {float(flat_out[i]):.17g} instead of "
                f"{float(flat_expected[i]):g} ({int(wrong.sum())} of {wrong.numel()} entries differ)"
            )
        grad = _student_gradient(out, leaf, w).reshape(-1)
        expected_grad = expected_grad.reshape(-1)
        if not torch.allclose(grad, expected_grad, rtol=1e-5, atol=1e-6):
            i = int((grad - expected_grad).abs().argmax())
            raise AssertionError(
                f"{what}: the gradient of sum(w * z) is wrong; at f = {float(flat_f[i]):.4g} "
                f"with upstream gradient w = {float(w.reshape(-1)[i]):.4g} you gave "
                f"{float(grad[i]):.4g}, expected {float(expected_grad[i]):.4g}"
            )

    def case_random_float32(fn):
        compare(fn, _inputs(torch.float32, 0), 0, "random float32 scores")

    def case_random_float64(fn):
        compare(fn, _inputs(torch.float64, 1), 1, "random float64 scores")

    def case_boundaries(fn):
        for dtype in (torch.float32, torch.float64):
            one = torch.tensor(1.0, dtype=dtype)
            above = torch.nextafter(one, torch.tensor(2.0, dtype=dtype))
            below = torch.nextafter(one, torch.tensor(0.0, dtype=dtype))
            f = torch.stack([-above, -one, -below, torch.zeros((), dtype=dtype), below, one, above])
            compare(fn, f, 2, f"scores at the boundaries 0 and +-1 ({dtype})")

    def case_large(fn):
        f = torch.tensor([1e8, -1e8, 16777218.0, -16777218.0, 3e38, -3e38, 1e-30])
        compare(fn, f, 3, "very large scores")

    def case_many(fn):
        generator = torch.Generator().manual_seed(4)
        f = torch.randn(4, 250, generator=generator) * 4
        compare(fn, f, 4, "a batch of 1000 scores")

    return [case_random_float32, case_random_float64, case_boundaries, case_large, case_many]


@register("ex-ch02-sigmoid-ste", function="sigmoid_ste")
def check_sigmoid_ste(fn) -> Verdict:
    """The sigmoid-adjusted STE: forward exactly ``threshold(f)``, backward sigmoid'(f)."""
    return run_cases(
        "ex-ch02-sigmoid-ste",
        fn,
        _ste_cases(lambda f: ste_threshold(f, "sigmoid"), "threshold(f) = 1[f > 0]"),
        hint=(
            "Forward: the hard step 1[f > 0] in f's dtype. Backward: the derivative of "
            "soft = sigmoid(f). Combine them as hard + (soft - soft.detach()), brackets "
            "included: the bracket is exactly zero, whereas (hard + soft) - soft can round."
        ),
        success="forward is exactly the threshold and the gradient is sigmoid'(f) times the "
        "upstream gradient, for every input tried.",
    )


@register("ex-ch02-sign-ste", function="sign_ste")
def check_sign_ste(fn) -> Verdict:
    """The binarized-network sign: forward +-1 (sign(0) = -1), backward 1[|f| <= 1]."""
    return run_cases(
        "ex-ch02-sign-ste",
        fn,
        _ste_cases(lambda f: ste_sign(f, "clipped"), "sign(f) (+1 if f > 0, else -1)"),
        hint=(
            "Save f in forward with ctx.save_for_backward and return +1 where f > 0 and -1 "
            "elsewhere (so sign(0) = -1, unlike torch.sign). In backward, multiply "
            "grad_output by the indicator 1[|f| <= 1], boundary included, in f's dtype."
        ),
        success="forward is +-1 with sign(0) = -1 and the gradient is 1[|f| <= 1] times the "
        "upstream gradient, for every input tried.",
    )
