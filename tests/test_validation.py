"""Bad input: a ValueError or TypeError that names the argument, never a silent NaN."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stelib
from stelib import diagnostics, exact, problems
from stelib import estimators as E
from stelib.train import train

REQUIRED = ("reinforce", "straight_through", "gumbel_softmax", "st_gumbel_softmax")
L3 = torch.tensor([0.1, -0.2, 0.3])
LC = torch.tensor([[0.1, -0.2, 0.3], [0.0, 1.0, -1.0]])


def f_sum(z):
    return z.reshape(z.shape[0], -1).sum(-1)


def _w():
    return torch.nn.Parameter(torch.zeros(1))


CASES = {
    # temperature
    "tau=0 gumbel_softmax": (lambda: stelib.gumbel_softmax(LC, 0.0), ValueError, "tau"),
    "tau<0 gumbel_softmax": (lambda: stelib.gumbel_softmax(LC, -1.0), ValueError, "tau"),
    "tau=inf gumbel_softmax": (lambda: stelib.gumbel_softmax(LC, math.inf), ValueError, "tau"),
    "tau=nan gumbel_softmax": (lambda: stelib.gumbel_softmax(LC, math.nan), ValueError, "tau"),
    "tau=0 binary_concrete": (lambda: stelib.binary_concrete(L3, 0.0), ValueError, "tau"),
    "tau=nan binary_concrete": (lambda: stelib.binary_concrete(L3, math.nan), ValueError, "tau"),
    "tau=inf binary_concrete": (lambda: stelib.binary_concrete(L3, math.inf), ValueError, "tau"),
    "tau str": (lambda: stelib.binary_concrete(L3, "1"), TypeError, "tau"),
    "tau tensor<=0": (lambda: stelib.gumbel_softmax(LC, torch.tensor(0.0)), ValueError, "tau"),
    "tau=0 estimator": (lambda: E.gumbel_softmax(f_sum, L3, tau=0.0), ValueError, "tau"),
    "tau=-1 st estimator": (
        lambda: E.st_gumbel_softmax(f_sum, LC, dist="categorical", tau=-1.0),
        ValueError,
        "tau",
    ),
    "tau=inf st estimator": (
        lambda: E.st_gumbel_softmax(f_sum, L3, tau=math.inf),
        ValueError,
        "tau",
    ),
    # sample counts
    "n_samples=0": (lambda: E.reinforce(f_sum, L3, n_samples=0), ValueError, "n_samples"),
    "n_samples=-3": (lambda: E.straight_through(f_sum, L3, n_samples=-3), ValueError, "n_samples"),
    "n_samples float": (lambda: E.reinforce(f_sum, L3, n_samples=2.0), TypeError, "n_samples"),
    "n_samples bool": (lambda: E.reinforce(f_sum, L3, n_samples=True), TypeError, "n_samples"),
    "n_samples sample()": (lambda: E.sample(L3, n_samples=0), ValueError, "n_samples"),
    "rloo n_samples=1": (
        lambda: E.reinforce(f_sum, L3, n_samples=1, baseline="rloo"),
        ValueError,
        "rloo",
    ),
    "rloo names n_samples": (
        lambda: E.reinforce(f_sum, L3, baseline="rloo"),
        ValueError,
        "n_samples",
    ),
    # distributions and surrogates
    "unknown dist estimator": (lambda: E.reinforce(f_sum, L3, dist="gaussian"), ValueError, "dist"),
    "unknown dist exact": (
        lambda: exact.expectation(f_sum, L3, dist="poisson"),
        ValueError,
        "dist",
    ),
    "unknown dist gradient": (
        lambda: exact.exact_gradient(f_sum, L3, dist="Bernoulli"),
        ValueError,
        "dist",
    ),
    "unknown dist sample": (lambda: E.sample(L3, dist="beta"), ValueError, "dist"),
    "unknown backward threshold": (
        lambda: stelib.ste_threshold(L3, "tanh"),
        ValueError,
        "backward",
    ),
    "unknown backward sign": (lambda: stelib.ste_sign(L3, backward="relu"), ValueError, "backward"),
    # logits
    "integer logits exact": (
        lambda: exact.expectation(f_sum, torch.tensor([1, 2])),
        TypeError,
        "logits",
    ),
    "integer logits estimator": (
        lambda: E.reinforce(f_sum, torch.tensor([0, 1])),
        TypeError,
        "logits",
    ),
    "integer logits gumbel_max": (
        lambda: stelib.gumbel_max(torch.tensor([0, 1])),
        TypeError,
        "logits",
    ),
    "integer logits concrete": (
        lambda: stelib.binary_concrete(torch.tensor([0, 1])),
        TypeError,
        "logits",
    ),
    "list logits": (lambda: E.reinforce(f_sum, [0.1, 0.2]), TypeError, "logits"),
    "integer f for threshold": (lambda: stelib.threshold(torch.tensor([1, -1])), TypeError, "f"),
    "categorical K=1": (
        lambda: exact.expectation(f_sum, torch.tensor([0.3]), dist="categorical"),
        ValueError,
        "logits",
    ),
    "categorical (3, 1)": (
        lambda: E.reinforce(f_sum, torch.zeros(3, 1), dist="categorical"),
        ValueError,
        "logits",
    ),
    "categorical 0-dim": (
        lambda: exact.expectation(f_sum, torch.tensor(0.5), dist="categorical"),
        ValueError,
        "logits",
    ),
    "categorical 0-dim estimator": (
        lambda: E.straight_through(f_sum, torch.tensor(0.5), dist="categorical"),
        ValueError,
        "logits",
    ),
    "empty logits": (lambda: exact.expectation(f_sum, torch.zeros(0)), ValueError, "logits"),
    "17 bernoulli": (lambda: exact.expectation(f_sum, torch.zeros(17)), ValueError, "MAX_OUTCOMES"),
    "17 bernoulli gradient": (
        lambda: exact.exact_gradient(f_sum, torch.zeros(17)),
        ValueError,
        "logits",
    ),
    "4**9 categorical": (
        lambda: exact.expectation(f_sum, torch.zeros(9, 4), dist="categorical"),
        ValueError,
        "MAX_OUTCOMES",
    ),
    "too big for gradient_stats": (
        lambda: diagnostics.gradient_stats(E.reinforce, f_sum, torch.zeros(20), n_trials=2),
        ValueError,
        "logits",
    ),
    "nan logits exact": (
        lambda: exact.expectation(f_sum, torch.tensor([0.1, math.nan])),
        ValueError,
        "logits",
    ),
    "nan logits estimator": (
        lambda: E.reinforce(f_sum, torch.tensor([math.nan, 0.0])),
        ValueError,
        "logits",
    ),
    "nan logits gumbel_softmax": (
        lambda: stelib.gumbel_softmax(torch.tensor([math.nan, 0.0])),
        ValueError,
        "logits",
    ),
    "nan logits concrete": (
        lambda: stelib.binary_concrete(torch.tensor([math.nan])),
        ValueError,
        "logits",
    ),
    "nan scores ste": (lambda: stelib.ste_threshold(torch.tensor([math.nan])), ValueError, "f"),
    "inf bernoulli logits": (
        lambda: E.reinforce(f_sum, torch.tensor([math.inf, 0.0])),
        ValueError,
        "logits",
    ),
    "all -inf categorical row": (
        lambda: exact.expectation(
            f_sum, torch.tensor([[-math.inf, -math.inf], [0.0, 1.0]]), dist="categorical"
        ),
        ValueError,
        "logits",
    ),
    "all -inf row estimator": (
        lambda: E.reinforce(f_sum, torch.tensor([-math.inf, -math.inf]), dist="categorical"),
        ValueError,
        "logits",
    ),
    "dim out of range": (lambda: stelib.gumbel_softmax(LC, dim=2), ValueError, "dim"),
    "dim not int": (lambda: stelib.gumbel_max(LC, dim=1.0), TypeError, "dim"),
    "straight_through shapes": (
        lambda: stelib.straight_through(torch.zeros(2), torch.zeros(3)),
        ValueError,
        "hard and soft",
    ),
    "integer dtype noise": (
        lambda: stelib.sample_gumbel((2,), dtype=torch.int64),
        TypeError,
        "dtype",
    ),
    # the loss f
    "f wrong length exact": (
        lambda: exact.expectation(lambda z: torch.zeros(3), L3),
        ValueError,
        "f",
    ),
    "f scalar exact": (lambda: exact.expectation(lambda z: z.sum(), L3), ValueError, "f"),
    "f wrong length estimator": (
        lambda: E.reinforce(lambda z: torch.zeros(z.shape[0] + 1), L3),
        ValueError,
        "f",
    ),
    "f per-variable wrong": (
        lambda: E.straight_through(lambda z: z[..., :2], L3, n_samples=2),
        ValueError,
        "f",
    ),
    "f NaN exact": (
        lambda: exact.expectation(lambda z: z.sum(-1) * math.nan, L3),
        ValueError,
        "f returned NaN",
    ),
    "f NaN estimator": (
        lambda: E.reinforce(lambda z: z.sum(-1) / 0 * 0, L3),
        ValueError,
        "f returned NaN",
    ),
    "f NaN relaxed": (
        lambda: E.gumbel_softmax(lambda z: torch.log(z.sum(-1) - 10), L3),
        ValueError,
        "NaN",
    ),
    "f returns string": (lambda: exact.expectation(lambda z: "loss", L3), TypeError, "f"),
    "f not callable estimator": (lambda: E.reinforce(3, L3), TypeError, "f must be callable"),
    "f not callable st": (lambda: E.straight_through(None, L3), TypeError, "f must be callable"),
    # baselines and generators
    "baseline string": (
        lambda: E.reinforce(f_sum, L3, n_samples=2, baseline="mean"),
        ValueError,
        "baseline",
    ),
    "baseline list": (lambda: E.reinforce(f_sum, L3, baseline=[0.1]), TypeError, "baseline"),
    "baseline bool": (lambda: E.reinforce(f_sum, L3, baseline=True), TypeError, "baseline"),
    "baseline nan": (lambda: E.reinforce(f_sum, L3, baseline=math.nan), ValueError, "baseline"),
    "baseline bad shape batch": (
        lambda: E.reinforce(
            lambda z: z.sum(-1), torch.zeros(3, 2), n_samples=2, baseline=torch.zeros(4)
        ),
        ValueError,
        "baseline",
    ),
    "generator int estimator": (
        lambda: E.reinforce(f_sum, L3, generator=0),
        TypeError,
        "generator",
    ),
    "generator int gumbel": (
        lambda: stelib.sample_gumbel((2,), generator=42),
        TypeError,
        "generator",
    ),
    "generator int concrete": (
        lambda: stelib.binary_concrete(L3, generator="seed"),
        TypeError,
        "generator",
    ),
    "generator int gumbel_max": (
        lambda: stelib.gumbel_max(LC, generator=1),
        TypeError,
        "generator",
    ),
    # training, models, data
    "unknown optimizer": (
        lambda: train(lambda s: _w().sum(), [_w()], steps=1, optimizer="rmsprop"),
        ValueError,
        "optimizer",
    ),
    "threshold network mode": (
        lambda: problems.ThresholdNetwork(mode="straight"),
        ValueError,
        "mode",
    ),
    "threshold_task n_train": (lambda: problems.threshold_task(0), ValueError, "n_train"),
    "digits test_fraction": (
        lambda: problems.digits_addition(10, 10, test_fraction=1.0),
        ValueError,
        "test_fraction",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_with_the_argument_named(case):
    call, error, name = CASES[case]
    with pytest.raises(error, match=rf"\b{name}\b"):  # the argument, as a word
        call()


@pytest.mark.parametrize(
    "logits", [torch.tensor([0.2, math.nan]), torch.tensor([[math.nan, 0.0], [0.0, 1.0]])]
)
@pytest.mark.parametrize("name", REQUIRED)
def test_every_estimator_refuses_nan_logits(name, logits):
    with pytest.raises(ValueError, match="logits"):
        E.ESTIMATORS[name](f_sum, logits)


@settings(max_examples=50, deadline=None)
@given(
    tau=st.one_of(
        st.floats(max_value=0.0), st.just(math.inf), st.just(-math.inf), st.just(math.nan)
    )
)
def test_no_non_positive_or_non_finite_tau_gets_through(tau):
    with pytest.raises(ValueError, match="tau"):
        stelib.gumbel_softmax(LC, tau)
    with pytest.raises(ValueError, match="tau"):
        stelib.binary_concrete(L3, tau)
    with pytest.raises(ValueError, match="tau"):
        E.st_gumbel_softmax(f_sum, L3, tau=tau)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(max_value=0))
def test_no_non_positive_n_samples_gets_through(n):
    for name in REQUIRED:
        with pytest.raises(ValueError, match="n_samples"):
            E.ESTIMATORS[name](f_sum, L3, n_samples=n)


def test_valid_edge_values_are_accepted():
    # The boundaries of the checks are on the allowed side.
    assert torch.isfinite(stelib.gumbel_softmax(LC, 1e-6)).all()
    assert E.reinforce(f_sum, L3, n_samples=2, baseline="rloo").dim() == 0
    assert E.reinforce(f_sum, L3, n_samples=1).dim() == 0
    assert exact.expectation(f_sum, torch.zeros(16)).item() == pytest.approx(8.0)
    assert exact.expectation(f_sum, torch.zeros(8, 4), dist="categorical").item() == pytest.approx(
        8.0
    )
    assert (
        E.reinforce(
            lambda z: z.sum(-1), torch.zeros(3, 2), n_samples=2, baseline=torch.zeros(3)
        ).dim()
        == 0
    )


# --- regressions: bugs found by these tests, now fixed ------------------------------------


@pytest.mark.parametrize("function", [exact.expectation, exact.exact_gradient])
def test_exact_refuses_non_callable_f_naming_it(function):
    with pytest.raises(TypeError, match=r"\bf\b"):
        function(3, L3)


@pytest.mark.parametrize("n_samples", [3, 4])
def test_baseline_of_the_wrong_shape_is_refused(n_samples):
    with pytest.raises(ValueError, match="baseline"):
        E.reinforce(f_sum, L3, n_samples=n_samples, baseline=torch.zeros(3))


@pytest.mark.parametrize("where", ["expectation", "reinforce"])
def test_positive_infinite_categorical_logits_give_no_silent_nan(where):
    logits = torch.tensor([math.inf, 0.0])

    def f(z):
        return z[..., 0] + 2 * z[..., 1]

    try:
        if where == "expectation":
            value = exact.expectation(f, logits, dist="categorical")
        else:
            value = E.reinforce(f, logits, dist="categorical", n_samples=2)
    except ValueError as error:
        assert "logits" in str(error)
    else:
        assert torch.isfinite(value)


@pytest.mark.parametrize("op", ["gumbel_softmax", "gumbel_max"])
def test_all_masked_row_is_refused_by_the_gumbel_ops(op):
    logits = torch.tensor([[-math.inf, -math.inf], [0.0, 1.0]])
    with pytest.raises(ValueError, match="logits"):
        getattr(stelib, op)(logits)


@pytest.mark.parametrize("op", ["gumbel_softmax", "binary_concrete"])
@pytest.mark.parametrize("hard", [False, True])
def test_tau_that_underflows_in_float32_gives_no_silent_nan(op, hard):
    logits = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    try:
        y = getattr(stelib, op)(
            logits, 1e-50, hard=hard, generator=torch.Generator().manual_seed(0)
        )
    except ValueError as error:
        assert "tau" in str(error)
        return
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(logits.grad).all()


def test_numpy_integers_are_counts():
    import numpy as np

    logits = torch.tensor([0.2, -0.4])
    value = E.reinforce(lambda z: z.sum(-1), logits, n_samples=np.int64(3), baseline="rloo")
    assert value.shape == ()
    with pytest.raises(TypeError, match="n_samples"):
        E.reinforce(lambda z: z.sum(-1), logits, n_samples=np.float64(3.0))
