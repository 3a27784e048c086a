"""Speed of the library's ops against their bare references, as ratios measured in one run.

    python benchmarks/speed.py [--out benchmarks/results/speed.json] [--repeats 7]

Ratios (library time / reference time) are what matter: both sides run interleaved
in the same process, on one thread, timed in process CPU time, so that other work on
the machine changes both sides alike. Reported in the book (Reference ->
Benchmarks) and in the issue notes. Goals: each op within 1.1x of its reference, and
``reinforce`` with 64 samples well under 64x the cost of one sample.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import stelib
from stelib import estimators

SHAPE = (4096, 64)


def _time(fn, repeats: int, inner: int) -> float:
    """The median over ``repeats`` of the mean time of ``inner`` calls, in seconds."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(inner):
            fn()
        times.append((time.process_time() - start) / inner)
    return sorted(times)[len(times) // 2]


def _interleaved(fns: dict, repeats: int, inner: int) -> dict[str, float]:
    """Time several functions in alternation, so that drifts in machine speed hit all alike."""
    samples = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(_time(fn, 1, inner))
    return {name: sorted(ts)[len(ts) // 2] for name, ts in samples.items()}


def ste_threshold_vs_idiom(repeats: int) -> dict:
    f = torch.randn(SHAPE, requires_grad=True)
    grad = torch.randn(SHAPE)
    results = {}
    for backward, soft_of in {
        "identity": lambda x: x,
        "clipped": lambda x: x.clamp(-1, 1),
        "sigmoid": torch.sigmoid,
    }.items():

        def library(backward=backward):
            stelib.ste_threshold(f, backward).backward(grad)

        def idiom(soft_of=soft_of):
            hard = (f > 0).float()
            soft = soft_of(f)
            (hard + soft - soft.detach()).backward(grad)

        t = _interleaved({"library": library, "reference": idiom}, repeats, inner=20)
        results[backward] = {**t, "ratio": t["library"] / t["reference"]}
    return results


def gumbel_softmax_vs_torch(repeats: int) -> dict:
    logits = torch.randn(SHAPE, requires_grad=True)
    grad = torch.randn(SHAPE)

    def library():
        stelib.gumbel_softmax(logits, 0.5, hard=True).backward(grad)

    def reference():
        F.gumbel_softmax(logits, tau=0.5, hard=True).backward(grad)

    t = _interleaved({"library": library, "reference": reference}, repeats, inner=20)
    return {**t, "ratio": t["library"] / t["reference"]}


def reinforce_scaling(repeats: int) -> dict:
    logits = torch.randn(16, requires_grad=True)
    target = torch.rand(16)

    def f(z):
        return ((z - target) ** 2).sum(-1)

    times = {}
    for n in (1, 2, 4, 8, 16, 32, 64):
        baseline = "rloo" if n > 1 else None

        def step(n=n, baseline=baseline):
            estimators.reinforce(f, logits, n_samples=n, baseline=baseline).backward()

        times[n] = _time(step, repeats, inner=200)
    return {"seconds": times, "ratio_to_one_sample": {n: t / times[1] for n, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/speed.json"))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    results = {
        "machine": {
            "date": datetime.date.today().isoformat(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "clock": "process CPU time",
        },
        "shape": list(SHAPE),
        "ste_threshold": ste_threshold_vs_idiom(args.repeats),
        "gumbel_softmax_hard": gumbel_softmax_vs_torch(args.repeats),
        "reinforce": reinforce_scaling(args.repeats),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for backward, r in results["ste_threshold"].items():
        print(f"ste_threshold({backward!r}) / idiom: {r['ratio']:.3f}")
    print(
        f"gumbel_softmax(hard=True) / F.gumbel_softmax: {results['gumbel_softmax_hard']['ratio']:.3f}"
    )
    ratios = results["reinforce"]["ratio_to_one_sample"]
    print("reinforce time vs n_samples (ratio to 1):", {n: round(r, 2) for n, r in ratios.items()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
