"""Deterministic straight-through ops: threshold, ste_threshold, ste_sign, straight_through."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stelib

# Hand-picked scores: both signs, the step's jump at 0, the clipped STE's boundary
# |f| = 1 (inside) and points just outside it, and huge magnitudes.
F_VALUES = [-1e8, -3.0, -1.0001, -1.0, -0.5, -1e-30, 0.0, 1e-30, 0.25, 1.0, 1.0001, 2.0, 1e8]


def _scores(dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(F_VALUES, dtype=dtype)


def _grad(op, f: torch.Tensor, upstream: torch.Tensor | None = None) -> torch.Tensor:
    leaf = f.detach().clone().requires_grad_(True)
    out = op(leaf)
    upstream = torch.ones_like(out) if upstream is None else upstream
    (grad,) = torch.autograd.grad(out, leaf, upstream)
    return grad


# --- threshold --------------------------------------------------------------------------


def test_threshold_is_heaviside_step():
    f = _scores()
    z = stelib.threshold(f)
    expected = torch.tensor([1.0 if v > 0 else 0.0 for v in F_VALUES])
    assert z.dtype == f.dtype
    assert torch.equal(z, expected)


def test_threshold_keeps_dtype_float64():
    z = stelib.threshold(_scores(torch.float64))
    assert z.dtype == torch.float64


def test_threshold_has_zero_autograd_gradient():
    f = _scores().requires_grad_(True)
    z = stelib.threshold(f)
    # The comparison cuts the graph: nothing flows back to f.
    assert not z.requires_grad
    loss = (z * 3.0).sum() + (f * 0.0).sum()  # keep f in the graph to get a number
    (grad,) = torch.autograd.grad(loss, f)
    assert torch.equal(grad, torch.zeros_like(f))


# --- ste_threshold ----------------------------------------------------------------------


@pytest.mark.parametrize("backward", ["identity", "clipped", "sigmoid"])
def test_ste_threshold_forward_equals_threshold(backward):
    f = _scores().requires_grad_(True)
    z = stelib.ste_threshold(f, backward)
    assert torch.equal(z.detach(), stelib.threshold(f.detach()))


def test_ste_threshold_identity_backward_is_one():
    upstream = torch.linspace(-2.0, 3.0, len(F_VALUES))
    grad = _grad(lambda x: stelib.ste_threshold(x, "identity"), _scores(), upstream)
    assert torch.equal(grad, upstream)


def test_ste_threshold_clipped_backward_is_indicator_of_unit_interval():
    grad = _grad(lambda x: stelib.ste_threshold(x, "clipped"), _scores())
    # 1[|f| <= 1], written out by hand; the boundary |f| = 1 is inside.
    expected = torch.tensor([1.0 if abs(v) <= 1 else 0.0 for v in F_VALUES])
    assert torch.equal(grad, expected)
    boundary = [i for i, v in enumerate(F_VALUES) if abs(v) == 1.0]
    assert len(boundary) == 2 and all(grad[i] == 1.0 for i in boundary)


def test_ste_threshold_sigmoid_backward_is_sigmoid_derivative():
    f = _scores(torch.float64)
    grad = _grad(lambda x: stelib.ste_threshold(x, "sigmoid"), f)
    expected = torch.tensor(
        [1.0 / (1.0 + torch.exp(torch.tensor(-v, dtype=torch.float64))) for v in F_VALUES],
        dtype=torch.float64,
    )
    expected = expected * (1 - expected)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-300)
    assert grad[F_VALUES.index(0.0)] == 0.25


# --- ste_sign ---------------------------------------------------------------------------


@pytest.mark.parametrize("backward", ["identity", "clipped", "sigmoid"])
def test_ste_sign_forward_is_plus_minus_one_with_sign0_negative(backward):
    f = _scores().requires_grad_(True)
    s = stelib.ste_sign(f, backward).detach()
    expected = torch.tensor([1.0 if v > 0 else -1.0 for v in F_VALUES])
    assert torch.equal(s, expected)
    assert s[F_VALUES.index(0.0)] == -1.0


def test_ste_sign_backwards():
    f = _scores(torch.float64)
    identity = _grad(lambda x: stelib.ste_sign(x, "identity"), f)
    clipped = _grad(lambda x: stelib.ste_sign(x, "clipped"), f)
    sigmoid = _grad(lambda x: stelib.ste_sign(x, "sigmoid"), f)
    assert torch.equal(identity, torch.ones_like(f))
    expected_clipped = torch.tensor([1.0 if abs(v) <= 1 else 0.0 for v in F_VALUES], dtype=f.dtype)
    assert torch.equal(clipped, expected_clipped)
    s = 1.0 / (1.0 + torch.exp(-f))
    torch.testing.assert_close(sigmoid, 2 * s * (1 - s), rtol=1e-12, atol=1e-300)
    assert sigmoid[F_VALUES.index(0.0)] == 0.5


# --- three implementations agree --------------------------------------------------------


class _HandWrittenSTE(torch.autograd.Function):
    """The textbook custom autograd function: step forward, identity backward."""

    @staticmethod
    def forward(ctx, f):
        return (f > 0).to(f.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def _detach_trick(f: torch.Tensor) -> torch.Tensor:
    return f + ((f > 0).to(f.dtype) - f).detach()


def test_three_implementations_agree(make_generator):
    f = torch.randn(200, generator=make_generator(0)) * 2
    upstream = torch.randn(200, generator=make_generator(1))
    impls = {
        "function": _HandWrittenSTE.apply,
        "detach": _detach_trick,
        "stelib": lambda x: stelib.ste_threshold(x, "identity"),
    }
    values = {name: op(f) for name, op in impls.items()}
    grads = {name: _grad(op, f, upstream) for name, op in impls.items()}
    expected = (f > 0).float()
    for name in impls:
        assert torch.equal(values[name].detach(), expected), name
        assert torch.equal(grads[name], upstream), name


# --- exactness of the forward value ------------------------------------------------------


def test_naive_idiom_fails_at_huge_scores_but_library_is_exact():
    f = torch.tensor([1e8, -1e8, 3e7])
    hard = (f > 0).float()
    naive = hard + f - f.detach()  # the common idiom, with the identity surrogate soft = f
    # (1 + 1e8) rounds to 1e8 in float32, so the naive value is 0 instead of 1.
    assert not torch.equal(naive, hard)
    assert naive[0] == 0.0
    for backward in ("identity", "clipped", "sigmoid"):
        assert torch.equal(stelib.ste_threshold(f.requires_grad_(True), backward).detach(), hard)
    # The general op keeps the hard value exactly even when soft is huge.
    assert torch.equal(stelib.straight_through(hard, f).detach(), hard)


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False, width=32),
            st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e8, -1e8, 1e-30]),
        ),
        min_size=1,
        max_size=20,
    ),
    backward=st.sampled_from(["identity", "clipped", "sigmoid"]),
)
def test_ste_forward_is_bitwise_zero_one(values, backward):
    f = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    z = stelib.ste_threshold(f, backward).detach()
    assert torch.equal(z, (f.detach() > 0).float())
    s = stelib.ste_sign(f, backward).detach()
    assert torch.equal(s, torch.where(f.detach() > 0, 1.0, -1.0))


@settings(max_examples=50, deadline=None)
@given(
    hard=st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=10),
    scale=st.sampled_from([1.0, 1e4, 1e8, 1e20]),
)
def test_straight_through_op_value_is_hard_exactly(hard, scale):
    h = torch.tensor(hard)
    soft = (torch.arange(len(hard), dtype=torch.float32) - 3.3) * scale
    assert torch.equal(stelib.straight_through(h, soft.requires_grad_(True)).detach(), h)


# --- straight_through(hard, soft) ------------------------------------------------------


def test_straight_through_value_of_hard_gradient_of_soft():
    x = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    soft = torch.sigmoid(3 * x)
    hard = (x > 0).float()
    out = stelib.straight_through(hard, soft)
    assert torch.equal(out.detach(), hard)
    w = torch.tensor([1.0, -2.0, 0.5])
    (grad,) = torch.autograd.grad((out * w).sum(), x)
    s = torch.sigmoid(3 * x.detach())
    torch.testing.assert_close(grad, w * 3 * s * (1 - s))


def test_straight_through_is_identity_in_soft_for_leaf_inputs():
    # hard + (soft - sg(soft)): the Jacobian with respect to soft is the identity.
    hard = torch.tensor([1.0, 0.0])
    soft = torch.tensor([0.4, 0.6], requires_grad=True)
    upstream = torch.tensor([2.0, -5.0])
    (grad_soft,) = torch.autograd.grad(stelib.straight_through(hard, soft), soft, upstream)
    assert torch.equal(grad_soft, upstream)
