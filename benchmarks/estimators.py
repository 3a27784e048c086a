"""Bias, variance and speed of every estimator in the registry on fixed problems.

    python benchmarks/estimators.py --out benchmarks/results/estimators.json

For each problem and each estimator that supports its distribution (``supports``):

- bias and variance of ONE single-sample gradient (``n_samples=1``), against the exact
  gradient by enumeration. The estimates come from one call on a batch of ``--estimates``
  independent copies of the problem's logits, with ``f`` returning one loss per copy:
  by the batching rule of ``stelib.estimators`` every copy's gradient is a separate
  single-sample estimate (``tests/test_beyond.py`` checks that this agrees with
  ``gradient_stats``' one-call-per-trial loop). ``bias_in_std_errors`` says whether a
  bias is significant (above about 4).
- time per gradient: one call plus ``backward()`` with ``n_samples=1`` on the problem's
  own logits, in CPU seconds of this process with one torch thread (so that other jobs on
  a shared machine do not count), the median over ``--repeats`` rounds, every estimator
  timed in alternation with plain REINFORCE in the same run; reported as seconds and as
  a ratio to REINFORCE.

Options: ``tau=0.5`` for the Gumbel-softmax family (``gumbel_softmax``,
``st_gumbel_softmax``, ``gumbel_rao`` with its default ``k=10``); the defaults for the
others (``reinmax``: ``tau=1``; ``relax``: REBAR's control variate with ``eta=1``,
``tau=0.5``, untrained; ``reinforce``: no baseline). On Bernoulli problems an extra row,
``relax (trained c)``, uses a ``RelaxControlVariate`` first trained for ``--cv-steps``
Adam steps by the variance recipe of ``relax``'s docstring (its time includes that
training gradient; its statistics are measured with the control variate frozen). Reported in the book's chapter 6 and
its Reference -> Benchmarks page.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import time
from pathlib import Path

import torch

from stelib import estimators, exact
from stelib.problems import quadratic

OPTIONS = {
    "gumbel_softmax": {"tau": 0.5},
    "st_gumbel_softmax": {"tau": 0.5},
    "gumbel_rao": {"tau": 0.5},
}
UNBIASED = {"reinforce", "arm", "disarm", "relax"}


def _nonlinear4(z: torch.Tensor) -> torch.Tensor:
    w = z.new_tensor([1.0, -2.0, 0.5, 1.5])
    return (
        torch.sigmoid(3 * (z @ w) - 1)
        + 0.5 * z[..., 0] * z[..., 1]
        - 0.4 * z[..., 2] * z[..., 3]
        + 0.3 * torch.sin(2 * z.sum(-1))
    )


def _digits2x4(z: torch.Tensor) -> torch.Tensor:
    s = (z * torch.arange(4, dtype=z.dtype)).sum(-1).sum(-1)
    return (s - 2.5) ** 2 + 0.5 * torch.cos(s)


def problems() -> dict[str, dict]:
    toy45, toy499 = quadratic(0.45), quadratic(0.499)
    return {
        "quadratic t=0.45": {
            "f": toy45.f,
            "logits": toy45.logits,
            "dist": "bernoulli",
            "description": "f(b) = (b - 0.45)^2, b ~ Bern(0.5)",
        },
        "quadratic t=0.499": {
            "f": toy499.f,
            "logits": toy499.logits,
            "dist": "bernoulli",
            "description": "f(b) = (b - 0.499)^2, b ~ Bern(0.5)",
        },
        "nonlinear d=4": {
            "f": _nonlinear4,
            "logits": torch.tensor([0.5, -1.0, 0.3, 1.2]),
            "dist": "bernoulli",
            "description": "sigmoid(3 b.w - 1) + 0.5 b1 b2 - 0.4 b3 b4 + 0.3 sin(2 sum b), "
            "w = (1, -2, 0.5, 1.5)",
        },
        "categorical 2x4": {
            "f": _digits2x4,
            "logits": torch.tensor([[0.2, -0.3, 0.5, 0.0], [1.0, 0.1, -0.5, 0.3]]),
            "dist": "categorical",
            "description": "two 4-way variables read as digits 0..3, s their sum: "
            "(s - 2.5)^2 + 0.5 cos(s)",
        },
    }


def single_sample_estimates(estimator, f, logits, dist, n, generator, options) -> torch.Tensor:
    """``n`` independent single-sample gradients, shape ``(n, *logits.shape)``, from one call
    on ``n`` stacked copies of ``logits`` (one loss per copy)."""
    leaf = logits.expand(n, *logits.shape).clone().requires_grad_(True)

    def batched(z):
        return f(z.reshape(-1, *logits.shape)).reshape(z.shape[0], n)

    estimator(batched, leaf, dist=dist, generator=generator, **options).backward()
    return leaf.grad


def trained_control_variate(f, logits, generator, steps: int) -> estimators.RelaxControlVariate:
    """A :class:`~stelib.estimators.RelaxControlVariate` (REBAR term plus an MLP) trained by
    minimising the single-sample gradient's squared norm, as in :func:`~stelib.estimators.relax`."""
    torch.manual_seed(0)
    cv = estimators.RelaxControlVariate(n_inputs=logits.numel())
    optimiser = torch.optim.Adam(cv.parameters(), lr=0.05)
    for _ in range(steps):
        optimiser.zero_grad()
        leaf = logits.detach().clone().requires_grad_(True)
        estimators.relax(f, leaf, control_variate=cv, generator=generator).backward()
        optimiser.step()
    return cv


def _time_rounds(fns: dict, repeats: int, inner: int) -> dict[str, float]:
    """Median over ``repeats`` rounds of the mean CPU time of ``inner`` calls; within a
    round the functions run in alternation, so drifts in machine speed hit all alike.
    CPU time of this process (one torch thread), not wall time, so that other processes
    on a shared machine do not count."""
    samples = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.process_time()
            for _ in range(inner):
                fn()
            samples[name].append((time.process_time() - start) / inner)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in samples.items()}


def _stepper(estimator, f, logits, dist, generator, options):
    def step():
        leaf = logits.detach().clone().requires_grad_(True)
        estimator(f, leaf, dist=dist, generator=generator, **options).backward()

    return step


def _round(x, digits=6):
    if isinstance(x, torch.Tensor):
        x = x.tolist()
    if isinstance(x, list):
        return [_round(v, digits) for v in x]
    if isinstance(x, float) and math.isfinite(x):
        return float(f"{x:.{digits}g}")
    return x


def benchmark_problem(name: str, problem: dict, args) -> list[dict]:
    f, logits, dist = problem["f"], problem["logits"], problem["dist"]
    g = torch.Generator().manual_seed(args.seed)
    # (label, estimator, options, options as reported)
    entries = [
        (n, est, OPTIONS.get(n, {}), OPTIONS.get(n, {}))
        for n, est in estimators.ESTIMATORS.items()
        if estimators.supports(est, dist)
    ]
    if estimators.supports(estimators.relax, dist):
        cv = trained_control_variate(f, logits, g, args.cv_steps)
        described = f"RelaxControlVariate(n_inputs={logits.numel()}), {args.cv_steps} Adam steps"
        entries.append(
            (
                "relax (trained c)",
                estimators.relax,
                {"control_variate": cv},
                {"control_variate": described},
            )
        )
    exact_grad = exact.exact_gradient(f, logits, dist=dist)
    steps = {
        label: _stepper(est, f, logits, dist, g, options) for label, est, options, _ in entries
    }
    seconds = _time_rounds(steps, args.repeats, args.inner)
    rows = []
    for n, est, options, reported in entries:
        if isinstance(options.get("control_variate"), torch.nn.Module):
            options["control_variate"].requires_grad_(False)  # measure, do not train
        samples = single_sample_estimates(est, f, logits, dist, args.estimates, g, options)
        mean = samples.mean(0)
        variance = samples.var(0)
        # floored at float32 rounding, so that a zero-variance estimator is not "biased"
        floor = 1e-6 * float(exact_grad.abs().max())
        std_error = (variance / args.estimates).sqrt().clamp(min=floor)
        bias = mean - exact_grad
        ratio = torch.where(bias == 0, torch.zeros_like(bias), bias.abs() / std_error)
        norm = float(mean.norm() * exact_grad.norm())
        rows.append(
            {
                "problem": name,
                "estimator": n,
                "options": reported,
                "unbiased_in_theory": n.split()[0] in UNBIASED,
                "exact": exact_grad,
                "mean": mean,
                "bias": bias,
                "bias_norm": float(bias.norm()),
                "relative_bias": float(bias.norm() / exact_grad.norm()),
                "bias_in_std_errors": float(ratio.max()),
                "variance": variance,
                "total_variance": float(variance.sum()),
                "mse": float(
                    ((samples - exact_grad) ** 2).reshape(len(samples), -1).sum(-1).mean()
                ),
                "cosine": float((mean * exact_grad).sum()) / norm if norm > 0 else math.nan,
                "cpu_seconds_per_gradient": seconds[n],
            }
        )
    reference = next(r for r in rows if r["estimator"] == "reinforce")
    for r in rows:
        r["variance_ratio_to_reinforce"] = r["total_variance"] / reference["total_variance"]
        r["time_ratio_to_reinforce"] = (
            r["cpu_seconds_per_gradient"] / reference["cpu_seconds_per_gradient"]
        )
    return [{k: _round(v) for k, v in r.items()} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/estimators.json"))
    parser.add_argument(
        "--estimates", type=int, default=100_000, help="single-sample gradients per row"
    )
    parser.add_argument("--repeats", type=int, default=15, help="timing rounds (median)")
    parser.add_argument("--inner", type=int, default=20, help="calls per timing round")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--cv-steps", type=int, default=200, help="RELAX control variate training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = []
    all_problems = problems()
    for name, problem in all_problems.items():
        rows.extend(benchmark_problem(name, problem, args))
    results = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
        "settings": {
            "estimates_per_row": args.estimates,
            "n_samples": 1,
            "timing_repeats": args.repeats,
            "timing_calls_per_round": args.inner,
            "relax_control_variate_steps": args.cv_steps,
            "seed": args.seed,
        },
        "problems": {
            name: {
                "dist": p["dist"],
                "logits": _round(p["logits"]),
                "description": p["description"],
                "exact_gradient": _round(exact.exact_gradient(p["f"], p["logits"], dist=p["dist"])),
            }
            for name, p in all_problems.items()
        },
        "rows": rows,
        "seconds_total": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    header = f"{'problem':<18} {'estimator':<18} {'bias/SE':>8} {'rel.bias':>9} {'variance':>10} {'var/RF':>8} {'time/RF':>8}"
    print(header)
    for r in rows:
        print(
            f"{r['problem']:<18} {r['estimator']:<18} {r['bias_in_std_errors']:>8.1f} "
            f"{r['relative_bias']:>9.3f} {r['total_variance']:>10.3g} "
            f"{r['variance_ratio_to_reinforce']:>8.3g} {r['time_ratio_to_reinforce']:>8.2f}"
        )
    print(f"wrote {args.out} in {results['seconds_total']} s")


if __name__ == "__main__":
    main()
